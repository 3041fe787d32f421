"""What every projection shares: its view chosen by backend, and the exactly-once catch-up loop."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.errors import StoreError
from engagement_tracker.projections.audit_trail import UNKNOWN, Stamp, canonical_id, scan_stamp, stamp_of_state

PAGE = 2_000
BUSY_PATIENCE = 60.0  # seconds of contention on one catch-up before a busy database is reported


class Contention:
    """Back-off for a page another writer kept us from projecting; it will be re-read and retried.

    Two outcomes are expected when projections run beside writers and other runners: a tracking
    clash (another runner projected the page first: ``IntegrityError``) and, on SQLite, a busy or
    locked database. Both roll the page back whole, so a retry is always safe. A database still
    busy ``BUSY_PATIENCE`` seconds after the first refusal is reported as a ``StoreError`` rather
    than retried forever (an attempt may itself wait up to ``SQLITE_LOCK_TIMEOUT`` for a lock).
    """

    def __init__(self) -> None:
        self.busy = 0
        self.since: float | None = None

    def ok(self) -> None:
        """A page went through: the database answers again, patience starts afresh."""
        self.busy, self.since = 0, None

    def absorb(self, exc: Exception) -> None:
        if isinstance(exc, IntegrityError):
            return
        if isinstance(exc, OperationalError) and any(w in str(exc).lower() for w in ("locked", "busy")):
            self.busy += 1
            now = time.monotonic()
            if self.since is None:
                self.since = now
            elif now - self.since > BUSY_PATIENCE:
                raise StoreError(f"the database stayed busy for {now - self.since:.0f} s while projecting: "
                                 f"{exc}") from exc
            time.sleep(min(0.01 * 2 ** min(self.busy, 5), 0.25))
            return
        raise exc


def view_for(app: EngagementTracker, sqlite_cls: type, memory_cls: type, postgres_cls_name: str) -> Any:
    """The view class for the application's backend, created (tables included) by its factory."""
    module = app.env.get("PERSISTENCE_MODULE", "")
    if module.endswith("sqlite"):
        cls = sqlite_cls
    elif module.endswith("popo"):
        cls = memory_cls
    elif module.endswith("postgres"):
        from engagement_tracker.adapters import postgres_views

        cls = getattr(postgres_views, postgres_cls_name)
    else:
        raise StoreError(f"no read model for the backend {module!r}")
    return app.factory.tracking_recorder(cls)  # type: ignore[arg-type]


def read_page(app: EngagementTracker, start: int, limit: int) -> list[Decoded]:
    """Stored events from position ``start`` on, ready to project (on SQLite straight from the rows)."""
    recorder = app.recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        table = recorder.events_table_name
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
                      "WHERE rowid >= ? ORDER BY rowid LIMIT ?", (start, limit))
            rows = c.sqlite_cursor.fetchall()
        return [Decoded(app, r[0], canonical_id(r[1]), r[2], r[3], r[4]) for r in rows]
    return [Decoded.of(app, n) for n in recorder.select_notifications(start, limit)]


def _acted_topics() -> frozenset[str]:
    """Topics of the events that carry top-level ``timestamp`` and ``actor`` fields: all of ours."""
    from eventsourcing.domain import Aggregate

    from engagement_tracker.domain import Engagement
    from engagement_tracker.domain.coach_load import CoachLoad
    from engagement_tracker.domain.cohort import Cohort
    from engagement_tracker.domain.party import Party

    topics = set()
    for aggregate in (Engagement, Cohort, Party, CoachLoad):
        for value in vars(aggregate).values():
            if isinstance(value, type) and issubclass(value, Aggregate.Event) and getattr(value, "TOPIC", None):
                fields = {name for klass in value.__mro__ for name in getattr(klass, "__annotations__", {})}
                if {"actor", "timestamp"} <= fields:
                    topics.add(value.TOPIC)
    return frozenset(topics)


_ACTED = _acted_topics()


class Decoded:
    """One stored event, read once for every projection, and decoded only as far as one needs.

    It carries what projections read of the stored record (position ``id``, ``originator_id``
    as canonical id text, see ``canonical_id``, ``originator_version``, ``topic``, ``state``).
    The audit trail reads only who recorded the event and when (:attr:`stamp`, from the stored
    JSON, no domain objects built); analytics decodes the domain event (:attr:`event`) only for
    the few event types it counts. Both are cached, so a page shared by every projection is
    decoded at most once. A record that cannot be read (tampered bytes, unknown topic, missing
    or wrong cipher key) gives an unknown stamp and a ``None`` event: the caller decides.
    """

    __slots__ = ("_app", "_event", "_stamp", "id", "originator_id", "originator_version", "state", "topic")

    def __init__(self, app: EngagementTracker, position: int, originator_id: str, version: int, topic: str,
                 state: bytes) -> None:
        self._app, self.id, self.originator_id, self.originator_version = app, position, originator_id, version
        self.topic, self.state = topic, state
        self._stamp: Stamp | None = None
        self._event: Any = Decoded

    @classmethod
    def of(cls, app: EngagementTracker, n: Any) -> Decoded:
        """From an eventsourcing ``Notification`` (or any record with its attributes)."""
        return cls(app, n.id, canonical_id(n.originator_id), n.originator_version, n.topic, n.state)

    def _state(self) -> bytes:
        data = self.state
        mapper = self._app.mapper
        if mapper.cipher:
            data = mapper.cipher.decrypt(data)
        if mapper.compressor:
            data = mapper.compressor.decompress(data)
        return data  # type: ignore[no-any-return]

    @property
    def stamp(self) -> Stamp:
        if self._stamp is None:
            try:
                data = self._state()
                if self.topic in _ACTED:  # read the two fields straight from the bytes when certain
                    self._stamp = scan_stamp(data)
                if self._stamp is None:
                    state = json.loads(data)
                    self._stamp = stamp_of_state(state) if type(state) is dict else UNKNOWN
            except Exception:  # noqa: BLE001 - an unreadable record is still chained, unstamped
                self._stamp = UNKNOWN
        return self._stamp

    @property
    def event(self) -> Any:
        if self._event is Decoded:
            try:
                # the aggregate's id type, as eventsourcing's own reads give it
                stored = StoredEvent(UUID(self.originator_id), self.originator_version, self.topic, self.state)
                self._event = self._app.mapper.to_domain_event(stored)
            except Exception:  # noqa: BLE001 - tampered bytes, unknown topic, missing key
                self._event = None
        return self._event


class TrackedProjection:
    """A read model that records its position with its view, in the same transaction."""

    name: str
    app: EngagementTracker
    view: Any

    def position(self) -> int:
        return self.view.max_tracking_id(self.name) or 0  # type: ignore[no-any-return]

    def apply(self, page: Sequence[Decoded]) -> int:
        """Project one page of records that follows the position."""
        raise NotImplementedError

    def catch_up(self) -> int:
        """Project every stored event not projected yet; returns how many items were added."""
        added = 0
        contention = Contention()
        while True:
            page = read_page(self.app, self.position() + 1, PAGE)
            if not page:
                return added
            try:
                added += self.apply(page)
                contention.ok()
            except (IntegrityError, OperationalError) as exc:
                contention.absorb(exc)  # rolled back whole: re-read the position and try again

    def rebuild(self) -> int:
        """Drop the view and project the whole store again."""
        self.view.clear()
        return self.catch_up()
