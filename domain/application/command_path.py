"""The command path shared by every command: load, decide, save, and retry on a clash.

A refused command raises a typed error (naming the current state) and saves nothing; a version
clash means another writer committed first (progress): the command re-reads and re-decides for
as long as clashes keep coming, within ``retry_seconds`` (``ETRACK_RETRY_SECONDS``, 10 s by
default), and only then raises ConcurrencyConflict. A decision that fails on re-read raises its
own typed error (a full team capacity is CapacityExceeded, never a conflict).
"""

from __future__ import annotations

import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, Repository
from eventsourcing.domain import Aggregate, OriginatorVersionError, Snapshot
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    MapperDeserialisationError,
    PersistenceError,
    Transcoder,
)

from engagement_tracker.domain.access import Grants, GrantsMoved, grant_guard, note_register_version, recheck_moved
from engagement_tracker.domain.application.stored_format import CheckedMapper
from engagement_tracker.domain.application.transcodings import register_value_transcodings
from engagement_tracker.domain.checks import MAX_TEXT_CHARS, read_settings, require_member, require_text
from engagement_tracker.domain.coach_load import CapacityPolicy
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.command_ids import CommandOutcome, CommandResult, command_id_of, derived_id, require_command_id
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    EtrackError,
    InvalidInput,
    NotFound,
    RecordedOutOfOrder,
    StoreError,
    SubjectErased,
)
from engagement_tracker.domain.grants import AccessRegister
from engagement_tracker.domain.party import Party
from engagement_tracker.domain.sealing import Sealer
from engagement_tracker.domain.values import Sealed, Signal
from engagement_tracker.domain.vocabulary import SIGNAL_THEMES, PartyKind, Polarity, SignalContext
from engagement_tracker.domain.workflow_aggregate import StaleSnapshot

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")

Clock = Callable[[], datetime]
IdFactory = Callable[[], UUID]

ERASED = "[erased]"


def as_uuid(value: object, field: str) -> UUID:
    """Accept a UUID or its string form; anything else is InvalidInput."""
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise InvalidInput(field, f"{value!r} is not an id (a UUID)")


def require_in_order(kind: str, agg: Aggregate, previous: object) -> None:
    """Refuse what a command is about to record when an event is timed before the one before it
    (``previous``: the aggregate's last recorded event's time): history reads forwards."""
    last = previous
    for event in getattr(agg, "pending_events", ()):
        at = getattr(event, "timestamp", None)
        if isinstance(at, datetime) and isinstance(last, datetime) and at < last:
            raise RecordedOutOfOrder(kind, agg.id, at.isoformat(), last.isoformat())
        last = at if isinstance(at, datetime) else last


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


class CommandPath(Application):  # type: ignore[type-arg]  # eventsourcing's Application is generic in its id type; ours are UUIDs
    """Load, decide, save, retry: the path every command takes, and the ports it uses.

    The sealer (the key vault's port), the clock and the id factory are handed in, so history
    replays exactly and the domain chooses no backend.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        sealer: Sealer,
        clock: Clock,
        ids: IdFactory,
        max_retries: int | None = None,
    ) -> None:
        super().__init__({self.AGGREGATE_CACHE_MAXSIZE: str(self.CACHED_AGGREGATES), **(env or {})})
        self.snapshot_failures = 0
        #: Per aggregate id: the version of the snapshot it was last loaded from or snapshotted at.
        self._snapshot_bases: dict[Any, int] = {}
        self._outcomes = threading.local()
        self.sealer = sealer
        self.clock = clock
        self.ids = ids
        if max_retries is not None and (
            isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0
        ):
            raise InvalidInput("max_retries", f"{max_retries!r}: expected a whole number >= 0, or None")
        #: An optional cap on retries; by default only ``retry_seconds`` bounds them.
        self.max_retries = max_retries
        #: Every ETRACK_* setting, checked now: a malformed one refuses to open the tracker.
        self.settings = read_settings(self.env.get)
        if self.settings.snapshot_interval is not None:
            interval = self.settings.snapshot_interval
            self.snapshotting_intervals = {Engagement: interval, Cohort: interval}  # type: ignore[misc]  # eventsourcing reads it per instance
        self.capacity = CapacityPolicy(self.settings.teams_warn_above, self.settings.teams_refuse_above)
        self.retry_seconds = self.settings.retry_seconds
        #: The signal taxonomy in force: the reading grid's themes plus this deployment's own.
        self.signal_themes: tuple[str, ...] = tuple(dict.fromkeys([*SIGNAL_THEMES, *self.settings.signal_themes]))

    def construct_repository(self) -> Repository:  # type: ignore[type-arg]
        repository = super().construct_repository()
        repository.__class__ = SnapshotTolerantRepository  # the same repository, tolerant of stale snapshots
        return repository

    def close(self) -> None:
        """Close the event store and the key vault."""
        super().close()
        closer = getattr(self.sealer, "close", None)
        if callable(closer):
            closer()

    #: Loads remembered per thread, to snapshot lazily; forgotten past this many unsaved loads.
    MAX_REMEMBERED_LOADS = 10_000

    def _loaded(self) -> dict[Any, int]:
        """Per thread: the snapshot version (0: none) each aggregate loaded by a command started from."""
        loaded: dict[Any, int] | None = getattr(self._outcomes, "loaded", None)
        if loaded is None or len(loaded) > self.MAX_REMEMBERED_LOADS:
            loaded = self._outcomes.loaded = {}
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

    def _take_snapshots(self, processing_event: Any) -> None:
        """Snapshot lazily, from memory, in one write: an aggregate a command loaded and saved whose
        history runs at least an interval past the snapshot it was loaded from.

        Nothing is snapshotted at import (aggregates saved without a command's load): the first
        command that loads one replays its events once and snapshots it then. eventsourcing's
        default reloads each aggregate at the interval's exact version and writes each snapshot in
        its own transaction. The snapshot is the aggregate at hand, at its latest version; its time
        is the aggregate's own (from the injected clock), so a store recorded twice with the same
        clock is the same.
        """
        if not self.snapshots or not self.snapshotting_intervals:
            return
        loaded = self._loaded()
        crossed: dict[Any, Any] = {}
        for ident, aggregate in processing_event.aggregates.items():
            base = loaded.pop(ident, None)
            interval = self.snapshotting_intervals.get(type(aggregate))
            if base is not None and interval and aggregate.version - base >= interval:
                crossed[ident] = aggregate
        if crossed:
            for ident, aggregate in crossed.items():
                self._snapshot_bases[ident] = aggregate.version
            taken = [Snapshot.take(a) for a in crossed.values()]
            try:
                self.snapshots.put(
                    [
                        Snapshot(
                            originator_id=t.originator_id,
                            originator_version=t.originator_version,
                            timestamp=a.modified_on,
                            topic=t.topic,
                            state=t.state,
                        )
                        for t, a in zip(taken, crossed.values(), strict=True)
                    ]
                )
            except PersistenceError:  # the events are committed; a snapshot is only a cache
                self.snapshot_failures += 1

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)  # type: ignore[arg-type]
        register_value_transcodings(transcoder)

    def construct_mapper(self) -> Mapper[UUID]:
        """Every read refuses a record newer than this version or lacking a field (``stored_format.py``)."""
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=CheckedMapper)

    # --- plumbing ---------------------------------------------------------------------------

    def now(self) -> datetime:
        at = self.clock()
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise InvalidInput("clock", "the injected clock must return timezone-aware datetimes")
        return at

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
        with reading(kind, ident):
            events = list(self.events.get(ident, lte=version))
        if not events or not isinstance(events[0], cls.Created):
            raise NotFound(kind, ident)
        return events

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

    def update(
        self,
        cls: type[A],
        agg_id: object,
        kind: str,
        command: Callable[[A, datetime], R],
        companions: Callable[[A, datetime, bool], list[Aggregate]] | None = None,
        command_id: object = None,
        *,
        start: Callable[[datetime], A] | None = None,
    ) -> CommandResult[R]:
        """Load, decide, save; on a version clash re-read and re-decide (see :meth:`attempts`).

        Returns the command's :class:`Outcome`: the decision's value, and whether this call
        recorded it. ``companions`` returns other aggregates the command changed (for example the
        coach's load when a team engagement ends); they are saved in the same transaction. A
        command whose id (``command_id``, see ``command_ids.py``) is already stored writes nothing
        more. ``start`` makes the aggregate when there is none yet (a register, a budget): a
        writer that started it first makes this call re-read and decide on theirs. A decision that
        leaves nothing to record records nothing ("already recorded", no version).
        """
        ident = as_uuid(agg_id, f"{kind}_id")
        cid = self.resolve_command_id(command_id)
        for _attempt in self.attempts(f"{kind} {ident}"):
            started = False
            try:
                agg = self.load(cls, ident, kind)
            except NotFound:
                if start is None:
                    raise
                agg, started = start(self.now()), True
            else:
                if command_id is not None:  # asked of the state the decision is taken on: a save clashes if it moved
                    stored = self.stored_versions(ident, cid, agg.version)
                    if stored:
                        return self._replay_outcome(cls, ident, kind, command, cid, stored)
            # the time is read after the load: another writer's event, committed before it, is never later
            at = self.now()
            was_ended = bool(getattr(agg, "is_ended", False))
            previous = getattr(agg, "modified_on", None)
            try:
                result = command(agg, at)
                others = companions(agg, at, was_ended) if companions else []
            except EtrackError as exc:
                state = getattr(agg, "state", None)  # a workflow's; a register or a budget has none
                raise (exc if state is None else _with_state(exc, kind, state)) from None
            if not getattr(agg, "pending_events", ()) and not others:
                return CommandResult(result, cid, False, ident)  # nothing to record (a query paid for already)
            require_in_order(kind, agg, previous)
            try:
                done = self.commit(cid, kind, agg, *others)
            except AlreadyExists:
                if not started:
                    raise
                continue  # another writer started it first: re-read, then decide on theirs
            if done is not None:
                return CommandResult.of(result, done)
        raise AssertionError("unreachable")  # pragma: no cover

    def create(
        self,
        kind: str,
        make: Callable[[UUID, datetime], Sequence[Aggregate]],
        given_id: object = None,
        command_id: object = None,
    ) -> CommandResult[UUID]:
        """Create exactly once: the one path of every creating command (party, engagement, cohort).

        The new id is ``given_id``, else derived from the caller's ``command_id`` (so a retry of the
        same command finds what it created), else new. ``make(id, at)`` returns the new aggregate
        first, then any other aggregate it changed (saved in the same transaction); it is called
        again after a clash with another writer. An id already taken is AlreadyExists, unless the
        same command took it: then nothing more is written and the outcome says "already recorded".
        """
        cid = self.resolve_command_id(command_id)
        ident = self.new_id(given_id, command_id, cid, kind)
        for _attempt in self.attempts(f"{kind} {ident}"):
            if self.exists(ident):
                if command_id is not None and command_id_of(self._stored_event(ident, 1, kind, cid)) == cid:
                    return CommandResult.of(ident, self.tell(CommandOutcome(cid, False, ident, (1,))))
                raise AlreadyExists(kind, ident)
            created, *others = make(ident, self.now())
            recorded = self.commit(cid, kind, created, *others)
            if recorded is not None:
                return CommandResult.of(ident, recorded)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- exactly once -----------------------------------------------------------------------

    @property
    def last_command(self) -> CommandOutcome | None:
        """Deprecated: every command returns its :class:`Outcome`. What the last command called from
        this thread did: recorded now, or already recorded."""
        warnings.warn("app.last_command is deprecated: a command returns its outcome (outcome.status)",
                      DeprecationWarning, stacklevel=2)
        return getattr(self._outcomes, "last", None)

    def tell(self, outcome: CommandOutcome) -> CommandOutcome:
        """Keep ``outcome`` for the deprecated ``last_command`` (this thread's last), and return it."""
        self._outcomes.last = outcome
        return outcome

    def resolve_command_id(self, given: object) -> str:
        return str(self.ids()) if given is None else require_command_id(given)

    def save(self, *objs: Any, command_id: str | None = None, **kwargs: Any) -> Any:
        """Save aggregates in one transaction, each new event stamped with ``command_id``."""
        for obj in objs:
            for event in getattr(obj, "_pending_events", ()):
                object.__setattr__(event, "command_id", command_id)
        return super().save(*objs, **kwargs)

    def commit(self, cid: str, kind: str, agg: Aggregate, *others: Aggregate) -> CommandOutcome | None:
        """Save one command's aggregates: what was recorded, or None after a clash with another writer.

        A clash or a lost connection may hide our own commit (the acknowledgement was lost and
        the driver retried) or the same command recorded by another caller: the first new
        version is read back, and if it holds our command id the command is recorded (once),
        by this call if the stored event is ours, else already. Otherwise a lost write is a
        StoreError saying nothing was recorded, or, when the store cannot be asked, that a retry
        with the same id is safe.
        """
        pending = list(getattr(agg, "_pending_events", ()))
        first = agg.version - len(pending) + 1
        versions = tuple(range(first, agg.version + 1))
        try:
            self.save(agg, *others, command_id=cid, **self.write_guard())
        except GrantsMoved:  # rolled back: the grants relied on are read again (refused if one was revoked)
            recheck_moved(self.held_grants)
            return None
        except IntegrityError:
            stored = self._stored_event(agg.id, first, kind, cid)
            if command_id_of(stored) != cid:
                if first == 1 and stored is not None:
                    raise AlreadyExists(kind, agg.id) from None
                return None  # another writer committed first: re-read and re-decide
            return self.tell(CommandOutcome(cid, bool(pending) and stored == pending[0], agg.id, versions))
        except PersistenceError as exc:
            try:
                stored = self._stored_event(agg.id, first, kind, cid)
            except StoreError:
                raise StoreError(
                    f"the store failed while writing {kind} {agg.id} ({exc}) and could not be asked whether "
                    f"command {cid} was recorded; retry with command_id={cid}: it is recorded at most once",
                    command_id=cid,
                ) from exc
            if command_id_of(stored) != cid:
                raise _unwritten(kind, agg.id, exc) from exc
            return self.tell(CommandOutcome(cid, bool(pending) and stored == pending[0], agg.id, versions))
        return self.tell(CommandOutcome(cid, True, agg.id, versions))

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

    def _replay_outcome(
        self,
        cls: type[A],
        ident: UUID,
        kind: str,
        command: Callable[[A, datetime], R],
        cid: str,
        stored: tuple[int, ...],
    ) -> CommandResult[R]:
        """The outcome of a command already recorded: its decision taken again on the state it was
        taken on (the version before its first event), and nothing saved."""
        result: Any = None
        if stored[0] > 1:
            before = self.load(cls, ident, kind, version=stored[0] - 1)
            try:
                result = command(before, self.now())
            except EtrackError:
                result = None  # the rules changed since; the command stays recorded as it was
        return CommandResult.of(cast(R, result), self.tell(CommandOutcome(cid, False, ident, stored)))

    def attempts(self, what: str) -> Iterator[int]:
        """Attempts at one command. Each clash is another writer's commit, that is progress, so the
        command tries again, after a short randomised pause (so racing writers spread out), until it
        goes through, its decision fails on the new state, or ``retry_seconds`` have passed (or the
        optional ``max_retries``): then ConcurrencyConflict, with nothing recorded."""
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        while True:
            yield attempt
            attempt += 1
            if time.monotonic() >= deadline or (self.max_retries is not None and attempt > self.max_retries):
                raise ConcurrencyConflict(
                    f"{what} was changed by other writers {attempt} times in a row "
                    f"for {self.retry_seconds:g} s; nothing was recorded, try again"
                )
            time.sleep(random.uniform(0, min(0.05, 0.002 * attempt)))  # noqa: S311 - spreading retries, not secrecy

    def seal(self, subject: UUID, text: object, field: str, max_chars: int = MAX_TEXT_CHARS) -> Sealed:
        """Validate ``text`` and seal it under ``subject``'s key."""
        return self.sealer.seal(str(subject), require_text(text, field, max_chars))

    def make_signal(
        self,
        subject: UUID,
        theme: str,
        context: SignalContext | str,
        polarity: Polarity | str,
        intensity: int,
        unit: str,
        observed_on: date,
        note: str | None,
    ) -> Signal:
        """A signal to record: its context and polarity checked, its note sealed under ``subject``'s key."""
        return Signal(
            theme,
            require_member(SignalContext, context, "context"),
            require_member(Polarity, polarity, "polarity"),
            intensity,
            unit,
            observed_on,
            None if note is None else self.seal(subject, note, "note", 2_000),
        )

    def seal_optional(self, subject: UUID, text: object, field: str) -> Sealed | None:
        return None if text is None else self.seal(subject, text, field)

    def unseal(self, sealed: Sealed | None) -> str | None:
        """Plaintext of ``sealed``, or "[erased]" once its subject was erased."""
        if sealed is None:
            return None
        try:
            return self.sealer.unseal(sealed)
        except SubjectErased:
            return ERASED

    def access_register(self) -> AccessRegister | None:
        """The store's access register (None until ``initialise`` ran).

        A damaged register (a deleted or reordered event) is a StoreError: no grant can be trusted,
        so every privileged call is refused; the trail's chain still verifies from the stored bytes.
        """
        try:
            return self.load(AccessRegister, AccessRegister.ID, "access register")
        except NotFound:
            return None
        except OriginatorVersionError as exc:
            raise StoreError(
                f"the access register {AccessRegister.ID} is damaged ({exc!r}): no grant can be checked; "
                "verify the audit trail from the stored bytes to find where"
            ) from None

    def write_guard(self) -> dict[str, Any]:
        """What a recording transaction must check before it commits: the grants the running command
        relied on (``access.relying_on_grants``), as a ``grant_guard`` the recorder checks against the
        access register's version, read in the same transaction once it holds the lock that orders it
        against any change to the register (``access.GrantGuard``). Nothing relied on: no check."""
        guard = grant_guard()
        return {} if guard is None else {"grant_guard": guard}

    def held_grants(self) -> Grants:
        """Who holds which organisation-wide roles, read now (the gates call it at each privileged call)."""
        register = self.access_register()
        note_register_version(0 if register is None else register.version)
        return {} if register is None else register.grants()

    def party(self, party_id: object) -> Party:
        return self.load(Party, party_id, "party")

    def party_name(self, party_id: object) -> str:
        name = self.unseal(self.party(party_id).name)
        return name if name is not None else ERASED

    def new_party(self, kind: PartyKind, name: str, contact: str | None, pid: UUID, at: datetime) -> Party:
        """A party to save: its key made first (a key alone holds no personal data), then its name sealed."""
        self.sealer.create_subject(str(pid))
        return Party.register(
            pid, kind, self.sealer.seal(str(pid), name), None if contact is None else self.sealer.seal(str(pid), contact), at
        )

    def new_id(self, given: object, command_id: object, cid: str, kind: str) -> UUID:
        """The id of what a creating command makes: given, derived from the caller's command id, or new."""
        if given is not None:
            return as_uuid(given, f"{kind}_id")
        return self.ids() if command_id is None else derived_id(cid, kind)


def _unwritten(kind: str, ident: object, exc: Exception) -> StoreError:
    """A write the store refused (disk full, read-only file, server gone): nothing was recorded."""
    return StoreError(f"the store could not write {kind} {ident}: {exc}; nothing was recorded")


def _with_state(exc: EtrackError, kind: str, state: str) -> EtrackError:
    """Name the current state in a refusal that does not already (every refusal says where it stood)."""
    if getattr(exc, "state", None) is None:
        exc.state = state  # type: ignore[attr-defined]
        if exc.args:
            exc.args = (f"{exc.args[0]} [{kind} state: {state}]", *exc.args[1:])
    return exc


#: What the tripartite contract shares with the sponsor of the steps taken (never sessions'
