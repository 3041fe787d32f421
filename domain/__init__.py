"""engagement-tracker's domain core: aggregates, workflows, values, errors and the application.

Embed it with ``adapters.open_tracker(url)``, which wires a backend, a key vault, a clock and an
id factory into :class:`EngagementTracker`; or construct the application yourself with your own.

Importing this package imports none of its modules: each name below is imported on first use
(PEP 562), so that ``domain.errors`` (which every command line failure needs) does not bring in
the whole application.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engagement_tracker.domain.application import ERASED, CohortService, EngagementTracker
    from engagement_tracker.domain.application.steps import STEPS, Step
    from engagement_tracker.domain.cohort import Cohort
    from engagement_tracker.domain.engagement import Engagement
    from engagement_tracker.domain.errors import (
        AlreadyExists,
        BudgetExceeded,
        CalendarReserved,
        CapacityExceeded,
        ConcurrencyConflict,
        DisclosureRisk,
        EtrackError,
        HistoryRewritten,
        InconsistentCheckpoint,
        InvalidInput,
        NotFound,
        NotPermitted,
        PeriodCut,
        RuleViolation,
        SealingError,
        StepNotAllowed,
        StoreError,
        SubjectErased,
        WitnessRefusal,
    )
    from engagement_tracker.domain.party import Party
    from engagement_tracker.domain.sealing import Sealer
    from engagement_tracker.domain.values import Actor, CohortRules, Contract, Sealed
    from engagement_tracker.domain.vocabulary import (
        EndReason,
        IndicatorKind,
        Outcome,
        PartyKind,
        Role,
        SessionTheme,
        SponsorFunction,
    )
    from engagement_tracker.domain.workflow import COHORT_WORKFLOW, ENGAGEMENT_WORKFLOW, Workflow

_WHERE: dict[str, str] = {
    "COHORT_WORKFLOW": "engagement_tracker.domain.workflow",
    "ENGAGEMENT_WORKFLOW": "engagement_tracker.domain.workflow",
    "ERASED": "engagement_tracker.domain.application",
    "STEPS": "engagement_tracker.domain.application.steps",
    "Actor": "engagement_tracker.domain.values",
    "AlreadyExists": "engagement_tracker.domain.errors",
    "BudgetExceeded": "engagement_tracker.domain.errors",
    "CapacityExceeded": "engagement_tracker.domain.errors",
    "Cohort": "engagement_tracker.domain.cohort",
    "CohortService": "engagement_tracker.domain.application",
    "CohortRules": "engagement_tracker.domain.values",
    "ConcurrencyConflict": "engagement_tracker.domain.errors",
    "Contract": "engagement_tracker.domain.values",
    "DisclosureRisk": "engagement_tracker.domain.errors",
    "CalendarReserved": "engagement_tracker.domain.errors",
    "PeriodCut": "engagement_tracker.domain.errors",
    "EndReason": "engagement_tracker.domain.vocabulary",
    "Engagement": "engagement_tracker.domain.engagement",
    "EngagementTracker": "engagement_tracker.domain.application",
    "EtrackError": "engagement_tracker.domain.errors",
    "HistoryRewritten": "engagement_tracker.domain.errors",
    "InconsistentCheckpoint": "engagement_tracker.domain.errors",
    "IndicatorKind": "engagement_tracker.domain.vocabulary",
    "InvalidInput": "engagement_tracker.domain.errors",
    "NotFound": "engagement_tracker.domain.errors",
    "NotPermitted": "engagement_tracker.domain.errors",
    "Outcome": "engagement_tracker.domain.vocabulary",
    "Party": "engagement_tracker.domain.party",
    "PartyKind": "engagement_tracker.domain.vocabulary",
    "Role": "engagement_tracker.domain.vocabulary",
    "RuleViolation": "engagement_tracker.domain.errors",
    "Sealed": "engagement_tracker.domain.values",
    "Sealer": "engagement_tracker.domain.sealing",
    "SealingError": "engagement_tracker.domain.errors",
    "SessionTheme": "engagement_tracker.domain.vocabulary",
    "SponsorFunction": "engagement_tracker.domain.vocabulary",
    "Step": "engagement_tracker.domain.application.steps",
    "StepNotAllowed": "engagement_tracker.domain.errors",
    "StoreError": "engagement_tracker.domain.errors",
    "SubjectErased": "engagement_tracker.domain.errors",
    "WitnessRefusal": "engagement_tracker.domain.errors",
    "Workflow": "engagement_tracker.domain.workflow",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "COHORT_WORKFLOW",
    "ENGAGEMENT_WORKFLOW",
    "ERASED",
    "STEPS",
    "Actor",
    "AlreadyExists",
    "BudgetExceeded",
    "CalendarReserved",
    "CapacityExceeded",
    "Cohort",
    "CohortRules",
    "CohortService",
    "ConcurrencyConflict",
    "Contract",
    "DisclosureRisk",
    "EndReason",
    "Engagement",
    "EngagementTracker",
    "EtrackError",
    "HistoryRewritten",
    "InconsistentCheckpoint",
    "IndicatorKind",
    "InvalidInput",
    "NotFound",
    "NotPermitted",
    "Outcome",
    "Party",
    "PartyKind",
    "PeriodCut",
    "Role",
    "RuleViolation",
    "Sealed",
    "Sealer",
    "SealingError",
    "SessionTheme",
    "SponsorFunction",
    "Step",
    "StepNotAllowed",
    "StoreError",
    "SubjectErased",
    "WitnessRefusal",
    "Workflow",
]
