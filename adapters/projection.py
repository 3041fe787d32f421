"""What every projection shares: its view chosen by backend, and the exactly-once catch-up loop."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, OperationalError

from domain.application import EngagementTracker
from domain.errors import StoreError

PAGE = 500
BUSY_RETRIES = 40  # about 10 s of back-off in all before a busy database is reported


class Contention:
    """Back-off for a page another writer kept us from projecting; it will be re-read and retried.

    Two outcomes are expected when projections run beside writers and other runners: a tracking
    clash (another runner projected the page first: ``IntegrityError``) and, on SQLite, a busy or
    locked database. Both roll the page back whole, so a retry is always safe. A database that
    stays busy is reported as a ``StoreError`` rather than retried forever.
    """

    def __init__(self) -> None:
        self.busy = 0

    def absorb(self, exc: Exception) -> None:
        if isinstance(exc, IntegrityError):
            return
        if isinstance(exc, OperationalError) and any(w in str(exc).lower() for w in ("locked", "busy")):
            self.busy += 1
            if self.busy > BUSY_RETRIES:
                raise StoreError(f"the database stayed busy while projecting: {exc}") from exc
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
        from adapters import postgres_views

        cls = getattr(postgres_views, postgres_cls_name)
    else:
        raise StoreError(f"no read model for the backend {module!r}")
    return app.factory.tracking_recorder(cls)  # type: ignore[arg-type]


class TrackedProjection:
    """A read model that records its position with its view, in the same transaction."""

    name: str
    app: EngagementTracker
    view: Any

    def position(self) -> int:
        return self.view.max_tracking_id(self.name) or 0  # type: ignore[no-any-return]

    def apply(self, page: Sequence[Any], events: Sequence[Any] | None = None) -> int:
        """Project one page that follows the position (``events``: the page, decoded already)."""
        raise NotImplementedError

    def catch_up(self) -> int:
        """Project every stored event not projected yet; returns how many items were added."""
        added = 0
        contention = Contention()
        while True:
            page = self.app.recorder.select_notifications(self.position() + 1, PAGE)
            if not page:
                return added
            try:
                added += self.apply(page)
            except (IntegrityError, OperationalError) as exc:
                contention.absorb(exc)  # rolled back whole: re-read the position and try again

    def rebuild(self) -> int:
        """Drop the view and project the whole store again."""
        self.view.clear()
        return self.catch_up()
