"""The in-memory store (``memory:``, for unit and property tests): eventsourcing's POPO recorder,
which re-checks a command's grants under the lock that orders every write, as the SQLite and
PostgreSQL recorders do inside their transactions (``access.GrantGuard``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory, POPOTrackingRecorder

from engagement_tracker.adapters.grant_guards import guard_of, register_version_before
from engagement_tracker.domain.grants import AccessRegister

MEMORY_FACTORY_TOPIC = "engagement_tracker.adapters.memory_store:GuardedPOPOFactory"


class GuardedPOPORecorder(POPOApplicationRecorder):
    """POPO events; a write whose command relied on grants re-checks them under the store's lock."""

    def _insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self._database_lock:  # the lock every write takes: no revocation commits before this one
            guard = guard_of(kwargs)
            if guard is not None:
                guard.require(register_version_before(stored_events, self.register_version()))
            return super()._insert_events(stored_events, **kwargs)

    def register_version(self) -> int | None:
        """The access register's latest version (call it holding the store's lock)."""
        return max(self._stored_events_index.get(str(AccessRegister.ID), {}), default=None)


class GuardedPOPOFactory(POPOFactory):
    """POPO infrastructure whose views share the event recorder's lock: a release recorded in a view
    (``views/memory.py``) is ordered against a revocation exactly as the SQL backends order them."""

    _recorder: GuardedPOPORecorder | None = None

    def application_recorder(self) -> ApplicationRecorder:
        self._recorder = GuardedPOPORecorder()
        return self._recorder

    def tracking_recorder(self, tracking_recorder_class: type[POPOTrackingRecorder] | None = None) -> POPOTrackingRecorder:
        view = super().tracking_recorder(tracking_recorder_class)
        if self._recorder is not None:
            view._database_lock = self._recorder._database_lock
            view.events_recorder = self._recorder  # type: ignore[attr-defined]  # the register's version, for a release's guard
        return view
