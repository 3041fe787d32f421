"""What every projection shares: the records it reads, its view, and the exactly-once catch-up loop.

A projection is handed its view (where it keeps its tables and its position, eventsourcing's
``TrackingRecorder``) and a reader of the store (:class:`StoredEvents`), as eventsourcing hands
a view to a ``Projection``. Which backend's classes those are is decided in one place,
``adapters/bootstrap.py``; nothing here knows how events are stored.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from eventsourcing.persistence import IntegrityError, OperationalError, TrackingRecorder

from engagement_tracker.domain.errors import StoreError

PAGE = 2_000
#: A rebuild reads larger pages: every projection starts from nothing, so fewer pages mean fewer
#: commits (one per projection and page) and fewer rewrites of the rows a page touches again
#: (analytics' tallies, the directory's entries). Memory stays bounded by the page.
REBUILD_PAGE = 5_000
BUSY_PATIENCE = 60.0  # seconds of contention on one catch-up before a busy database is reported

#: Who recorded an event and when, as the trail states them: (actor party id, role, ISO 8601 time).
Stamp = tuple[str | None, str | None, str | None]
UNKNOWN: Stamp = (None, None, None)


class Record(Protocol):
    """One stored event, as projections read it, decoded only as far as one needs.

    ``id`` is its position in the store, ``originator_id`` the aggregate's id as canonical
    text (the UUID's 36-character form), ``state`` the state bytes exactly as stored (ciphertext
    stays ciphertext). :attr:`stamp` says who recorded it and when, and :attr:`to_state` where it
    led, without building domain objects; :attr:`event` is the domain event. A record that cannot be read (tampered bytes,
    unknown topic, missing or wrong cipher key) gives :data:`UNKNOWN` and ``None``: the caller
    decides.
    """

    @property
    def id(self) -> int: ...

    @property
    def originator_id(self) -> str: ...

    @property
    def originator_version(self) -> int: ...

    @property
    def topic(self) -> str: ...

    @property
    def state(self) -> bytes: ...

    @property
    def stamp(self) -> Stamp: ...

    @property
    def to_state(self) -> str | None:
        """The workflow state the event led to, read from the stored JSON without decoding the
        event; ``None`` when it has none or cannot be read (then decode :attr:`event`)."""
        ...

    @property
    def event(self) -> Any: ...  # a domain event, or None when the record cannot be decoded


class StoredEvents(Protocol):
    """The event store, as projections read it."""

    def page(self, start: int, limit: int) -> Sequence[Record]:
        """Up to ``limit`` records from position ``start`` on, in position order."""
        ...


class View(TrackingRecorder, ABC):
    """Where a projection keeps what it derives, with its position, written in one transaction."""

    @abstractmethod
    def clear(self) -> None:
        """Drop everything derived and the tracked position (before a rebuild)."""


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
        # anything else (a full disk, a read-only file): the page was rolled back, the events stay
        raise StoreError(f"the store could not write a projection's page: {exc}; the page was not projected "
                         "(the next catch-up or `etrack projections run` resumes from the same position)") from exc


V = TypeVar("V", bound=View)


class TrackedProjection(ABC, Generic[V]):
    """A read model that records its position with its view, in the same transaction."""

    name: ClassVar[str]

    def __init__(self, view: V, events: StoredEvents) -> None:
        self.view = view
        self.events = events
        #: False on a read replica: the view is kept by the primary's runner and replicated; this
        #: process only reads it (``catch_up`` projects nothing, so nothing is written there).
        self.follows = True

    def position(self) -> int:
        return self.view.max_tracking_id(self.name) or 0

    @abstractmethod
    def apply(self, page: Sequence[Record]) -> int:
        """Project one page of records that follows the position; returns how many items were added."""

    def catch_up(self) -> int:
        """Project every stored event not projected yet; returns how many items were added."""
        if not self.follows:
            return 0
        return catch_up([self], self.events)

    def rebuild(self) -> int:
        """Drop the view and project the whole store again."""
        return rebuild([self], self.events)


def catch_up(
    projections: Sequence[TrackedProjection[Any]], events: StoredEvents, on_page: Callable[[int], None] | None = None,
    page_size: int = PAGE,
) -> int:
    """Bring every projection up to date, reading (and decoding) each stored record once for all of them.

    Each page is applied to each projection in its own transaction with its position; a page a
    clash or a busy database rolled back is re-read from the positions and tried again.
    ``on_page`` is called after each page read and projected, with its number of records.
    """
    added = 0
    contention = Contention()
    while True:
        positions = [p.position() for p in projections]
        page = events.page(min(positions) + 1, page_size)
        if not page:
            return added
        for p, position in zip(projections, positions, strict=True):  # the page is shared: decoded once
            todo = page if page[0].id > position else [r for r in page if r.id > position]
            if not todo:
                continue
            try:
                added += p.apply(todo)
                contention.ok()
            except (IntegrityError, OperationalError) as exc:
                contention.absorb(exc)  # rolled back whole: the next round re-reads positions
        if on_page is not None:
            on_page(len(page))


def rebuild(projections: Sequence[TrackedProjection[Any]], events: StoredEvents,
            on_page: Callable[[int], None] | None = None) -> int:
    """Every projection from scratch, in one shared decoding pass (``on_page`` as in :func:`catch_up`)."""
    for p in projections:
        p.view.clear()
    return catch_up(projections, events, on_page, REBUILD_PAGE)
