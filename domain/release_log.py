"""ReleaseLog: what one analyst released, as events, so every release is a leaf of the audit log.

One aggregate per analyst (:meth:`ReleaseLog.id_for`): ``Created`` names the analyst, then one
``Released`` per release recorded in the release ledger: who (the analyst's party id, in
``actor``), when (``timestamp``), the family, the shape asked (``by``, ``unit``, ``period``, the
window ``since``/``until``), the level it was released at, ``k`` (exact), the ledger row's id
(``release``; for a differentially private release, ``epsilon`` and ``answer``: the digest of
the query its budget paid for, as ``PrivacyBudget.BudgetSpent`` names it), how many rows the
analyst received and ``rows_sha256``, the digest of those rows
(``projections/release_ledger.py`` says how to recompute it). Never a released value.

Why an aggregate, written in the ledger's transaction: the audit trail is a projection of
eventsourcing's store, record by record, and every verifier of it (the chain, the Merkle tree,
the seals, Go's sumdb) reads that store only. A release that is an event of the store becomes a
leaf by the same rule as every other record, with no second source of leaves to order, prove or
forget; the ledger row and its event commit or roll back together (``adapters/release_leaves.py``),
so a refused or failed command, or a trial, records neither. One aggregate per analyst makes
``etrack audit prove`` of that aggregate the proof of everything the analyst released, versions
1, 2, 3... with no gap. Events are built by :meth:`ReleaseLog.recorded` from the version the
store holds, read inside the recording transaction (which serialises releases).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.checks import require_time
from engagement_tracker.domain.command_ids import Stamped
from engagement_tracker.domain.values import Actor

_NAMESPACE = uuid5(NAMESPACE_URL, "https://engagement-tracker.invalid/release-log")


class ReleaseLog(Aggregate):
    TOPIC = "etrack:ReleaseLog"

    class Event(Stamped, Aggregate.Event):
        """Every event carries the id of the command that recorded it (``command_ids.py``)."""

    class Created(Aggregate.Created):
        TOPIC = "etrack:ReleaseLog.Created"
        analyst: UUID

    class Released(Aggregate.Event):
        TOPIC = "etrack:ReleaseLog.Released"
        actor: Actor  # the analyst
        release: int | None  # the release ledger's row id (exact); None for a differentially private one
        answer: str | None  # DP: the query's digest, as the budget's BudgetSpent names it; None when exact
        family: str
        privacy: str  # exact | dp
        by: list[str]
        unit: str | None
        period: str
        since: str | None
        until: str | None
        level: str  # 'quarter/None': the time level and unit depth released at
        k: int | None
        epsilon: float | None
        rho: float | None  # DP: the zCDP loss the analyst's budget paid; None when exact
        delta: float | None  # DP: the delta the release is (epsilon, delta)-DP at
        mechanism: str | None  # DP: how the noise was drawn
        threshold: int | None  # DP: the noisy count a cell had to reach to be shown
        rows: int
        rows_sha256: str

        def apply(self, log: ReleaseLog) -> None:
            log.releases += 1

    def __init__(self, analyst: UUID) -> None:
        self.analyst = analyst
        #: How many releases this analyst made.
        self.releases = 0

    @staticmethod
    def id_for(analyst: UUID) -> UUID:
        return uuid5(_NAMESPACE, str(analyst))

    @classmethod
    def recorded(cls, analyst: Actor, version: int, releases: Sequence[tuple[datetime, dict[str, Any]]],
                 ) -> list[Aggregate.Event]:
        """The events recording ``releases`` (each its time and the fields of a ``Released``) after the
        ``version`` events the analyst's log holds (0: none, so ``Created`` comes first)."""
        log_id = cls.id_for(analyst.party)
        events: list[Aggregate.Event] = []
        if version == 0 and releases:
            version = 1
            created: dict[str, Any] = {"originator_id": log_id, "originator_version": version,
                                       "timestamp": require_time(releases[0][0]), "originator_topic": cls.TOPIC,
                                       "analyst": analyst.party}
            events.append(cls.Created(**created))
        for at, fields in releases:
            version += 1
            released: dict[str, Any] = {"originator_id": log_id, "originator_version": version,
                                        "timestamp": require_time(at), "actor": analyst, **fields}
            events.append(cls.Released(**released))
        for event in events:
            object.__setattr__(event, "command_id", None)  # recorded by an analyst's read, not a command
        return events


__all__ = ["ReleaseLog"]
