"""engagement-tracker's domain core: aggregates, workflows, values, errors and the application.

Embed it with ``adapters.open_tracker(url)``, which wires a backend, a key vault, a clock and an
id factory into :class:`EngagementTracker`; or construct the application yourself with your own.
"""

from engagement_tracker.domain.application import ERASED, CohortCommands, EngagementTracker
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import (
    AlreadyExists,
    BudgetExceeded,
    CapacityExceeded,
    ConcurrencyConflict,
    DisclosureRisk,
    EtrackError,
    HistoryRewritten,
    InconsistentCheckpoint,
    InvalidInput,
    NotFound,
    NotPermitted,
    RuleViolation,
    SealingError,
    StepNotAllowed,
    StoreError,
    SubjectErased,
    WitnessRefusal,
)
from engagement_tracker.domain.party import Party
from engagement_tracker.domain.sealing import Sealer
from engagement_tracker.domain.steps import STEPS, Step
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

__all__ = [
    "COHORT_WORKFLOW",
    "ENGAGEMENT_WORKFLOW",
    "ERASED",
    "STEPS",
    "Actor",
    "AlreadyExists",
    "BudgetExceeded",
    "CapacityExceeded",
    "Cohort",
    "CohortCommands",
    "CohortRules",
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
