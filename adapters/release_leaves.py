"""Releases as leaves of the audit log: their events written in the release ledger's transaction, and read back.

``ReleaseLeaves`` is handed to the analytics view by bootstrap (``view.release_leaves``). When the
view records a command's releases (``record_releases``, one transaction), it asks :meth:`events`
for the ``ReleaseLog`` events of those releases (encoded by the application's mapper: cipher
and compression as configured) and inserts them with the events table's own recorder code, in
its transaction, before it commits: each backend's view does the inserting
(``adapters/views/{sqlite,postgres,memory}.py``), sealed like every record. A trial or a refused
release rolls back with them: no leaf. The store's version of each analyst's log is read inside
the same transaction, which the ledger's lock serialises.

For auditors it reads the releases back from the store (:meth:`logged`: every
``ReleaseLog.Released`` with its position) and the ledger's rows (:meth:`ledger`), which the
trail's check (``AuditTrail.verify``, ``projections/release_ledger.check_ledger``) and
``app.audit.releases`` use: bootstrap hands the trail one (``AuditTrail.release_log``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, Recorder, StoredEvent

from engagement_tracker.domain.application.analysts import PendingDpLeaf, PendingRelease
from engagement_tracker.domain.privacy_budget import PrivacyBudget
from engagement_tracker.domain.release_log import ReleaseLog
from engagement_tracker.domain.values import Actor
from engagement_tracker.projections.release_ledger import (
    RELEASED_TOPIC,
    LedgerRow,
    LoggedRelease,
    dp_leaf_fields,
    event_fields,
    leaf_fields,
)

#: Notifications read at a time when the releases are listed.
PAGE = 1_000
#: The topic of a budget's spend (what a DP leaf's answer must be named by).
SPENT_TOPIC = PrivacyBudget.BudgetSpent.TOPIC


class ReleaseLeaves:
    """The release log of one store: its events made for a batch of releases, and read back."""

    def __init__(self, mapper: Mapper[UUID], recorder: Recorder,
                 ledger: Callable[[], dict[int, LedgerRow]] | None = None,
                 dp_answer: Callable[[], Callable[[str], str | None]] | None = None) -> None:
        self.mapper = mapper
        self.recorder = recorder
        #: The release ledger's rows (the analytics view's ``ledger_rows``): what the trail's check compares.
        self._ledger = ledger
        #: The recorded DP answers' reader (the analytics view's ``dp_answer``), made when the check runs.
        self._dp_answer = dp_answer

    def dp_answers(self, keys: Iterable[str]) -> dict[str, str | None]:
        """The recorded DP answers (JSON documents) under ``keys``: None for a key with none."""
        if self._dp_answer is None:
            return {}
        read = self._dp_answer()
        return {key: read(key) for key in keys}

    def paid(self) -> dict[str, set[str]]:
        """Per analyst (party id), the query digests their budget's ``BudgetSpent`` events name."""
        paid: dict[str, set[str]] = {}
        start = 1
        while True:
            page = self.recorder.select_notifications(start, PAGE, topics=[SPENT_TOPIC])  # type: ignore[attr-defined]
            for n in page:
                event = self.mapper.to_domain_event(n)
                paid.setdefault(str(event.actor.party), set()).add(str(event.query))  # type: ignore[attr-defined]
            if len(page) < PAGE:
                return paid
            start = page[-1].id + 1

    def ledger(self) -> dict[int, LedgerRow]:
        """Every row of the release ledger, by id (none when no ledger was handed in)."""
        return self._ledger() if self._ledger is not None else {}

    def events(self, items: Sequence[PendingRelease], ids: Sequence[int], version_of: Callable[[UUID], int],
               ) -> list[StoredEvent]:
        """The stored events logging ``items`` (numbered ``ids`` in the ledger), each analyst's after the
        ``version_of(log id)`` events its log holds (read by the caller inside its transaction)."""
        grouped: dict[tuple[str, str], list[tuple[datetime, dict[str, Any]]]] = {}
        for item, release in zip(items, ids, strict=True):
            grouped.setdefault((item.analyst, item.role), []).append(
                (datetime.fromisoformat(item.at), leaf_fields(release, item.family, item.query, item.internal)))
        stored: list[StoredEvent] = []
        for (party, role), releases in grouped.items():
            actor = Actor(UUID(party), role)
            events = ReleaseLog.recorded(actor, version_of(ReleaseLog.id_for(actor.party)), releases)
            stored.extend(self.mapper.to_stored_event(e) for e in events)
        return stored

    def dp_events(self, answer: str, leaf: PendingDpLeaf, version_of: Callable[[UUID], int]) -> list[StoredEvent]:
        """The stored events logging a differentially private release whose answer is recorded under ``answer``."""
        actor = Actor(UUID(leaf.analyst), leaf.role)
        fields = dp_leaf_fields(answer, leaf.family, leaf.query, leaf.release)
        events = ReleaseLog.recorded(actor, version_of(ReleaseLog.id_for(actor.party)),
                                     [(datetime.fromisoformat(leaf.at), fields)])
        return [self.mapper.to_stored_event(e) for e in events]

    def logged(self) -> Iterator[LoggedRelease]:
        """Every logged release, in store order, with its position."""
        start = 1
        while True:
            page = self.recorder.select_notifications(start, PAGE, topics=[RELEASED_TOPIC])  # type: ignore[attr-defined]
            for n in page:
                yield LoggedRelease(n.id, event_fields(self.mapper.to_domain_event(n)))
            if len(page) < PAGE:
                return
            start = page[-1].id + 1

    def stored_states(self, analyst: UUID) -> dict[int, bytes]:
        """The analyst's log as stored: version -> state bytes (what a leaf's ``state_sha256`` covers)."""
        return {int(s.originator_version): bytes(s.state)
                for s in self.recorder.select_events(ReleaseLog.id_for(analyst))}  # type: ignore[attr-defined]


__all__ = ["ReleaseLeaves"]
