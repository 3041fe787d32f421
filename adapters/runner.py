"""Projections as their own process: ``etrack projections run``.

Follows the store and keeps every projection current. On PostgreSQL a LISTEN/NOTIFY
subscription wakes it as soon as events are committed; on SQLite, where eventsourcing has no
subscription, it polls. Each projection records its position in the same transaction as its
view, so a runner stopped (SIGTERM) or killed (SIGKILL) resumes exactly where it was.

A lost store (a cut connection, a server restart, a busy file) does not stop it: it logs the
outage, waits with a doubling back-off (0.5 s up to 30 s), reconnects and resumes from its
recorded positions. Only an outage longer than ``max_outage`` seconds
(``ETRACK_RUNNER_MAX_OUTAGE``, 300 by default) stops it, with a StoreError.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import PersistenceError

from engagement_tracker.adapters.bootstrap import read_model_backend, read_models
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.errors import StoreError
from engagement_tracker.projections import tracking
from engagement_tracker.projections.tracking import StoredEvents, TrackedProjection

log = logging.getLogger("etrack.runner")

#: Back-off between attempts while the store is lost: doubling from the first to the last.
BACKOFF_FIRST, BACKOFF_LAST = 0.5, 30.0


def _recoverable() -> tuple[type[BaseException], ...]:
    """Errors a lost store raises: ours, eventsourcing's, and the drivers' own (where installed)."""
    import sqlite3

    kinds: list[type[BaseException]] = [StoreError, PersistenceError, sqlite3.OperationalError]
    try:
        import psycopg
        import psycopg_pool

        kinds += [psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout]
    except ImportError:  # pragma: no cover - the [postgres] extra is not installed
        pass
    return tuple(kinds)


class ProjectionRunner:
    """Every projection of the app's store (``bootstrap.read_models``), kept current in one process."""

    def __init__(
        self, app: EngagementTracker, poll_interval: float = 0.25, on_page: Callable[[int], None] | None = None,
        projections: list[TrackedProjection[Any]] | None = None, events: StoredEvents | None = None,
        max_outage: float | None = None,
    ) -> None:
        self.app = app
        #: How long the store may stay lost before the runner gives up (StoreError).
        self.max_outage = app.settings.runner_max_outage if max_outage is None else max_outage
        #: Outages survived so far (each logged when it starts and when it ends).
        self.outages = 0
        self.poll_interval = poll_interval
        self.on_page = on_page  # called after each page read and projected, with its number of records
        self.projections = projections if projections is not None else read_models(app)
        self.events = events if events is not None else read_model_backend(app).records
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._subscription: Any = None
        self._listener: threading.Thread | None = None

    def catch_up(self) -> int:
        """Bring every projection up to date, decoding each stored record once for all of them."""
        return tracking.catch_up(self.projections, self.events, self.on_page)

    def rebuild(self) -> int:
        """Every projection from scratch, in one shared decoding pass."""
        return tracking.rebuild(self.projections, self.events, self.on_page)

    def _listen(self) -> None:
        """PostgreSQL: wake the loop on every notification (LISTEN/NOTIFY)."""
        try:
            with self._subscription as subscription:
                for _ in subscription:
                    self._wake.set()
                    if self._stop.is_set():
                        return
        except Exception:
            return

    def run(self, on_progress: Callable[[int], None] | None = None, until: Callable[[], bool] | None = None) -> int:
        """Catch up, then follow the store until stop() (or ``until()`` is true). Returns events projected.

        A lost store is retried with back-off (see the module's docstring); an outage longer
        than ``max_outage`` seconds raises StoreError naming the store and the last error."""
        total = 0
        recoverable = _recoverable()
        lost_since: float | None = None
        delay = 0.0
        self._subscribe()
        try:
            while not self._stop.is_set():
                try:
                    n = self.catch_up()
                except recoverable as exc:
                    now = time.monotonic()
                    if lost_since is None:
                        lost_since, self.outages = now, self.outages + 1
                        log.warning("store lost (%s): retrying with back-off", _first_line(exc))
                    if now - lost_since >= self.max_outage:
                        raise StoreError(
                            f"the projection runner lost the store for {now - lost_since:.0f} s "
                            f"(ETRACK_RUNNER_MAX_OUTAGE={self.max_outage:g}): {_first_line(exc)}"
                        ) from exc
                    delay = min(max(delay * 2, BACKOFF_FIRST), BACKOFF_LAST)
                    self._stop.wait(delay)
                    continue
                if lost_since is not None:
                    log.warning("store back after %.1f s; resuming from the recorded positions",
                                time.monotonic() - lost_since)
                    lost_since, delay = None, 0.0
                    self._resubscribe()
                total += n
                if n and on_progress:
                    on_progress(n)
                if until is not None and until():
                    break
                self._wake.wait(self.poll_interval)
                self._wake.clear()
        finally:
            self._unsubscribe()
        return total

    def _subscribe(self) -> None:
        """PostgreSQL: LISTEN for new events (polling still wakes the loop if the listener dies)."""
        if not self.app.env.get("PERSISTENCE_MODULE", "").lower().endswith(("postgres", "postgresfactory")):
            return
        if self.app.env.get("POSTGRES_POOLER") == "transaction":  # LISTEN needs a session of its own
            log.warning("the store's URL goes through a transaction pooler (pooler=transaction): no LISTEN, "
                        "polling every %g s; run projection runners on a direct URL", self.poll_interval)
            return
        try:
            self._subscription = self.app.recorder.subscribe(gt=self.app.recorder.max_notification_id())
        except _recoverable() as exc:
            log.warning("could not LISTEN for new events (%s): polling every %g s", _first_line(exc),
                        self.poll_interval)
            self._subscription = None
            return
        self._listener = threading.Thread(target=self._listen, name="etrack-listen", daemon=True)
        self._listener.start()

    def _resubscribe(self) -> None:
        if self._listener is not None and self._listener.is_alive():
            return
        self._unsubscribe()
        self._subscribe()

    def _unsubscribe(self) -> None:
        if self._subscription is not None:
            try:
                self._subscription.stop()
            except _recoverable():  # the session is gone already
                pass
            self._subscription = None

    def stop(self) -> None:
        """Ask the loop to finish its current page and return (safe from a signal handler)."""
        self._stop.set()
        self._wake.set()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__
