"""Projections as their own process: ``etrack projections run``.

Follows the store and keeps every projection current. On PostgreSQL a LISTEN/NOTIFY
subscription wakes it as soon as events are committed; on SQLite, where eventsourcing has no
subscription, it polls. Each projection records its position in the same transaction as its
view, so a runner stopped (SIGTERM) or killed (SIGKILL) resumes exactly where it was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from engagement_tracker.adapters.bootstrap import read_model_backend, read_models
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.projections import tracking
from engagement_tracker.projections.tracking import StoredEvents, TrackedProjection


class ProjectionRunner:
    """Every projection of the app's store (``bootstrap.read_models``), kept current in one process."""

    def __init__(
        self, app: EngagementTracker, poll_interval: float = 0.25, on_page: Callable[[int], None] | None = None,
        projections: list[TrackedProjection[Any]] | None = None, events: StoredEvents | None = None,
    ) -> None:
        self.app = app
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
        return tracking.rebuild(self.projections, self.events)

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
        """Catch up, then follow the store until stop() (or ``until()`` is true). Returns events projected."""
        total = 0
        if self.app.env.get("PERSISTENCE_MODULE", "").endswith("postgres"):
            self._subscription = self.app.recorder.subscribe(gt=self.app.recorder.max_notification_id())
            self._listener = threading.Thread(target=self._listen, name="etrack-listen", daemon=True)
            self._listener.start()
        try:
            while not self._stop.is_set():
                n = self.catch_up()
                total += n
                if n and on_progress:
                    on_progress(n)
                if until is not None and until():
                    break
                self._wake.wait(self.poll_interval)
                self._wake.clear()
        finally:
            if self._subscription is not None:
                self._subscription.stop()
        return total

    def stop(self) -> None:
        """Ask the loop to finish its current page and return (safe from a signal handler)."""
        self._stop.set()
        self._wake.set()
