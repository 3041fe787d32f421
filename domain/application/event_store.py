"""The event store as every command and read meets it: eventsourcing's ``Application`` with lazy
snapshots taken from memory, records checked on read, and the reads (load, history, ids, exists,
what a command id recorded) that turn a failing or unreadable store into a typed ``StoreError``.

:class:`~engagement_tracker.domain.application.command_path.CommandPath` builds the command
path (decide, save, retry, exactly once) on it; nothing here decides anything.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, Repository
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import Mapper, MapperDeserialisationError, PersistenceError, Transcoder

from engagement_tracker.domain.application.stored_format import CheckedMapper
from engagement_tracker.domain.application.transcodings import register_value_transcodings
from engagement_tracker.domain.checks import as_uuid
from engagement_tracker.domain.command_ids import command_id_of
from engagement_tracker.domain.errors import NotFound, StoreError
from engagement_tracker.domain.workflow_aggregate import StaleSnapshot

A = TypeVar("A", bound=Aggregate)




@contextmanager
def reading(kind: str, ident: UUID) -> Iterator[None]:
    """Unreadable records (a wrong or missing cipher key, a corrupted record) and a failing store
    raise a StoreError naming what was being read."""
    try:
        yield
    except MapperDeserialisationError as exc:
        raise StoreError(
            f"cannot decode {kind} {ident}: the store is encrypted and ETRACK_CIPHER_KEY is missing or "
            f"wrong, or a record was corrupted ({str(exc)[:120]})"
        ) from None
    except PersistenceError as exc:
        raise StoreError(f"the store failed while reading {kind} {ident}; try again: {exc}") from exc


class SnapshotTolerantRepository(Repository):  # type: ignore[type-arg]  # ids are UUIDs
    """eventsourcing's repository, which replays from the events when the latest snapshot has an
    earlier state layout (its upcaster raises :class:`StaleSnapshot`): snapshots are a cache."""

    def _reconstruct_aggregate(self, aggregate_id: Any, version: int | None, projector_func: Any) -> Any:
        try:
            return super()._reconstruct_aggregate(aggregate_id, version, projector_func)
        except StaleSnapshot:
            aggregate = projector_func(None, self.event_store.get(originator_id=aggregate_id, lte=version))
            if aggregate is None:
                raise AggregateNotFoundError(f"Aggregate {aggregate_id!r} version {version!r} not found.") from None
            return aggregate


class EventStore(Application):  # type: ignore[type-arg]  # eventsourcing's Application is generic in its id type; ours are UUIDs
    """eventsourcing's application as a store: snapshots, checked records, typed read errors."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__({self.AGGREGATE_CACHE_MAXSIZE: str(self.CACHED_AGGREGATES), **(env or {})})
        #: Snapshots that could not be written (the events were committed; a snapshot is a cache).
        self.snapshot_failures = 0
        #: Per aggregate id: the version of the snapshot it was last loaded from or snapshotted at.
        self._snapshot_bases: dict[Any, int] = {}
        self._loads = threading.local()
        #: Per aggregate id, its events as last read (frozen, so shared): a later :meth:`history` reads
        #: only the events stored since, as the repository's cache fast-forwards an aggregate.
        self._histories: OrderedDict[UUID, list[Any]] = OrderedDict()
        self._histories_lock = threading.Lock()

    def construct_repository(self) -> Repository:  # type: ignore[type-arg]
        repository = super().construct_repository()
        repository.__class__ = SnapshotTolerantRepository  # the same repository, tolerant of stale snapshots
        return repository

    #: Event histories remembered (:meth:`history`), the least recently read forgotten first.
    REMEMBERED_HISTORIES = 256

    #: Loads remembered per thread, to snapshot lazily; forgotten past this many unsaved loads.
    MAX_REMEMBERED_LOADS = 10_000

    def _loaded(self) -> dict[Any, int]:
        """Per thread: the snapshot version (0: none) each aggregate loaded by a command started from."""
        loaded: dict[Any, int] | None = getattr(self._loads, "loaded", None)
        if loaded is None or len(loaded) > self.MAX_REMEMBERED_LOADS:
            loaded = self._loads.loaded = {}
        return loaded

    #: Aggregates kept in memory (eventsourcing's repository cache): a load takes the cached state
    #: and fast-forwards it with the events stored since (another process's too), so a command
    #: decodes only what it has not seen. ETRACK_CACHED_AGGREGATES is not a setting: the
    #: eventsourcing variable AGGREGATE_CACHE_MAXSIZE overrides it (0 turns the cache off).
    CACHED_AGGREGATES = 2_000

    def _replaying(self, aggregate: Any, events: Any) -> Any:
        """eventsourcing's projection (less its per-event runtime Protocol check, 6-7% of a load),
        noting which snapshot (if any) the aggregate's state started from."""
        base = None if aggregate is None else self._snapshot_bases.get(aggregate.id)
        for i, event in enumerate(events):
            if i == 0 and isinstance(event, Snapshot):
                base = event.originator_version
            aggregate = event.mutate(aggregate)
        if aggregate is not None:
            base = base or 0
            if len(self._snapshot_bases) > self.MAX_REMEMBERED_LOADS:
                self._snapshot_bases.clear()
            self._snapshot_bases[aggregate.id] = base
            self._loaded()[aggregate.id] = base
        return aggregate

    def _due_snapshots(self, processing_event: Any) -> dict[Any, Any]:
        """The aggregates a command loaded and saved whose history runs at least an interval past the
        snapshot it was loaded from (nothing is taken from the thread's loads yet)."""
        if not self.snapshots or not self.snapshotting_intervals:
            return {}
        loaded = self._loaded()
        crossed: dict[Any, Any] = {}
        for ident, aggregate in processing_event.aggregates.items():
            base = loaded.get(ident)
            interval = self.snapshotting_intervals.get(type(aggregate))
            if base is not None and interval and aggregate.version - base >= interval:
                crossed[ident] = aggregate
        return crossed

    @staticmethod
    def _snapshots_of(crossed: Mapping[Any, Any]) -> list[Snapshot]:
        """Each aggregate at hand as a snapshot at its latest version, timed by the aggregate's own clock."""
        taken = [Snapshot.take(a) for a in crossed.values()]
        return [Snapshot(originator_id=t.originator_id, originator_version=t.originator_version,
                         timestamp=a.modified_on, topic=t.topic, state=t.state)
                for t, a in zip(taken, crossed.values(), strict=True)]

    def _record(self, processing_event: Any) -> Any:
        """The events, and the snapshots they make due in the same transaction when the recorder stores
        them beside its events (its ``snapshots_table``, ``adapters/sealed_recorders.py``): one commit,
        and a snapshot never outlives a write that failed."""
        crossed = self._due_snapshots(processing_event)
        if crossed and self.snapshots is not None and getattr(self.recorder, "snapshots_table", None) is not None:
            to_stored = self.snapshots.mapper.to_stored_event
            processing_event.saved_kwargs["snapshots"] = [to_stored(s) for s in self._snapshots_of(crossed)]
        return super()._record(processing_event)

    def _take_snapshots(self, processing_event: Any) -> None:
        """Snapshot lazily, from memory, in one write: an aggregate a command loaded and saved whose
        history runs at least an interval past the snapshot it was loaded from.

        Nothing is snapshotted at import (aggregates saved without a command's load): the first
        command that loads one replays its events once and snapshots it then. eventsourcing's
        default reloads each aggregate at the interval's exact version and writes each snapshot in
        its own transaction. The snapshot is the aggregate at hand, at its latest version; its time
        is the aggregate's own (from the injected clock), so a store recorded twice with the same
        clock is the same. A recorder that stores snapshots beside its events has written them
        already, in the events' transaction (:meth:`_record`); any other gets them here, after.
        """
        crossed = self._due_snapshots(processing_event)
        loaded = self._loaded()
        for ident in processing_event.aggregates:
            loaded.pop(ident, None)
        if not crossed:
            return
        for ident, aggregate in crossed.items():
            self._snapshot_bases[ident] = aggregate.version
        if "snapshots" in processing_event.saved_kwargs or self.snapshots is None:
            return
        try:
            self.snapshots.put(self._snapshots_of(crossed))
        except PersistenceError:  # the events are committed; a snapshot is only a cache
            self.snapshot_failures += 1

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)  # type: ignore[arg-type]
        register_value_transcodings(transcoder)

    def construct_mapper(self) -> Mapper[UUID]:
        """Every read refuses a record newer than this version or lacking a field (``stored_format.py``)."""
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=CheckedMapper)

    def load(self, cls: type[A], agg_id: object, kind: str, version: int | None = None) -> A:
        """Load an aggregate; unknown ids are NotFound, unreadable records a StoreError."""
        ident = as_uuid(agg_id, f"{kind}_id")
        try:
            with reading(kind, ident):
                agg: object = (self.repository.get(ident, projector_func=self._replaying) if version is None
                               else self.repository.get(ident, version=version))
        except AggregateNotFoundError:
            raise NotFound(kind, ident) from None
        if not isinstance(agg, cls):
            raise NotFound(kind, ident)
        return agg

    def history(self, cls: type[Aggregate], agg_id: object, kind: str, version: int | None = None) -> list[Any]:
        """Every event of one aggregate of type ``cls``, from its first (no snapshot), up to ``version``;
        unknown ids are NotFound, unreadable records a StoreError (as :meth:`_get`)."""
        ident = as_uuid(agg_id, f"{kind}_id")
        with self._histories_lock:
            seen = self._histories.get(ident)
            if seen is not None:
                self._histories.move_to_end(ident)
        if seen is not None and version is not None and seen[-1].originator_version >= version:
            events = [e for e in seen if e.originator_version <= version]
        else:
            after = None if seen is None else seen[-1].originator_version
            with reading(kind, ident):
                events = list(self.events.get(ident, gt=after, lte=version))
            if seen is not None:
                events = seen + events
        if not events or not isinstance(events[0], cls.Created):
            raise NotFound(kind, ident)
        if version is None or seen is None or version > seen[-1].originator_version:
            with self._histories_lock:  # a newer history replaces the one remembered (never mutated in place)
                known = self._histories.get(ident)
                if known is None or known[-1].originator_version < events[-1].originator_version:
                    self._histories[ident] = events
                    self._histories.move_to_end(ident)
                    while len(self._histories) > self.REMEMBERED_HISTORIES:
                        self._histories.popitem(last=False)
        return list(events)

    def ids_of(self, topic: str) -> Iterator[UUID]:
        """The ids of the aggregates whose first event has ``topic``, in the order they were created."""
        start = 1
        while True:
            page = self.recorder.select_notifications(start, 500, topics=[topic])
            for n in page:
                yield UUID(str(n.originator_id))
            if len(page) < 500:
                return
            start = page[-1].id + 1

    def exists(self, agg_id: UUID) -> bool:
        """True if anything (engagement, party, ...) was recorded under ``agg_id``."""
        return bool(self.recorder.select_events(agg_id, limit=1))

    def _stored_event(self, ident: UUID, version: int, kind: str, cid: str) -> object | None:
        """The event stored at ``version`` of ``ident`` (None when there is none)."""
        try:
            rows = self.recorder.select_events(ident, gt=version - 1, lte=version, limit=1)
            return self.mapper.to_domain_event(rows[0]) if rows else None
        except (PersistenceError, MapperDeserialisationError) as exc:
            raise StoreError(
                f"the store could not be asked whether command {cid} recorded {kind} {ident}: {exc}", command_id=cid
            ) from exc

    def stored_versions(self, ident: UUID, cid: str, upto: int | None = None) -> tuple[int, ...]:
        """The versions of ``ident`` recorded by command ``cid``, read back from the newest (none: never).

        In a plain store the raw bytes are searched first, so only a candidate is decoded; the
        scan stops at the command's first event, so a recent command costs one page.
        """
        plain = self.mapper.cipher is None and self.mapper.compressor is None
        needle = cid.encode()
        found: list[int] = []
        try:
            while True:
                page = self.recorder.select_events(ident, lte=upto, desc=True, limit=64)
                for row in page:
                    mine = (not plain or needle in row.state) and command_id_of(self.mapper.to_domain_event(row)) == cid
                    if mine:
                        found.append(row.originator_version)
                    elif found:
                        return tuple(sorted(found))
                if len(page) < 64:
                    return tuple(sorted(found))
                upto = page[-1].originator_version - 1
        except (PersistenceError, MapperDeserialisationError) as exc:
            raise StoreError(f"the store could not be asked whether command {cid} was recorded: {exc}") from exc
