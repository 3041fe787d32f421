"""The fixed vocabularies: roles, kinds, themes, statuses and outcomes, persisted by value.

Renaming a member changes the public format: it needs an upcaster and a test that reads the old
form. Each vocabulary that a value object converts to has a named converter beside it.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from engagement_tracker.domain.checks import require_member, tuple_of_members


class Role(StrEnum):
    COACH = "coach"
    COACHEE = "coachee"
    SPONSOR = "sponsor"
    MEMBER = "member"
    AUDITOR = "auditor"
    ANALYST = "analyst"
    ADMIN = "admin"
    SYSTEM = "system"  # the deadline clock (tick); acts as SYSTEM_PARTY


def _to_Role(raw: object) -> Role:
    return require_member(Role, raw, "Role")


def _to_Role_tuple(raw: object) -> tuple[Role, ...]:
    return tuple_of_members(Role, raw)


#: The pseudonymous party of the system actor that records missed deadlines.
SYSTEM_PARTY = UUID(int=0)


class PartyKind(StrEnum):
    PERSON = "person"
    TEAM = "team"


class Billing(StrEnum):
    """How a session counts in the coach's ICF hours log: paid, or pro bono (persisted by value)."""

    PAID = "paid"
    PRO_BONO = "pro_bono"


#: The fixed items a testimonial rates, each 1 (poor) to 5 (excellent); persisted by name.
TESTIMONIAL_ITEMS = (
    "clarity_of_objectives",
    "quality_of_listening",
    "progress_on_objectives",
    "autonomy_gained",
    "would_recommend",
)


class SponsorFunction(StrEnum):
    LINE_MANAGER = "line_manager"
    HR = "hr"
    TRAINING = "training"


class SessionTheme(StrEnum):
    """The fixed list of themes a session may touch (no free text reaches a theme)."""

    LEADERSHIP = "leadership"
    COMMUNICATION = "communication"
    CONFLICT = "conflict"
    DELEGATION = "delegation"
    DECISION_MAKING = "decision_making"
    PRIORITIES = "priorities"
    STRESS_AND_BALANCE = "stress_and_balance"
    CAREER = "career"
    TEAM_DYNAMICS = "team_dynamics"
    ORGANISATIONAL_CHANGE = "organisational_change"
    TECHNICAL_PRACTICES = "technical_practices"
    DELIVERY_FLOW = "delivery_flow"
    QUALITY = "quality"


def _to_SessionTheme_tuple(raw: object) -> tuple[SessionTheme, ...]:
    return tuple_of_members(SessionTheme, raw)


class ObjectiveLevel(StrEnum):
    ORGANISATION = "organisation"
    COACHEE = "coachee"


def _to_ObjectiveLevel(raw: object) -> ObjectiveLevel:
    return require_member(ObjectiveLevel, raw, "ObjectiveLevel")


class IndicatorKind(StrEnum):
    OBSERVABLE_RESULT = "observable_result"
    ORGANISATION_PERFORMANCE = "organisation_performance"


def _to_IndicatorKind(raw: object) -> IndicatorKind:
    return require_member(IndicatorKind, raw, "IndicatorKind")


class Outcome(StrEnum):
    ACHIEVED = "achieved"
    PARTLY = "partly"
    NOT_ACHIEVED = "not_achieved"


def _to_Outcome(raw: object) -> Outcome:
    return require_member(Outcome, raw, "Outcome")


class ActionStatus(StrEnum):
    COMMITTED = "committed"
    DONE = "done"
    DROPPED = "dropped"


def _to_ActionStatus(raw: object) -> ActionStatus:
    return require_member(ActionStatus, raw, "ActionStatus")


class DisclosureItem(StrEnum):
    """What the coachee and the sponsor may agree to share with the sponsor (never session content)."""

    OBJECTIVES = "objectives"
    INDICATORS = "indicators"
    EVALUATIONS = "evaluations"
    DATES = "dates"


class EndReason(StrEnum):
    """Why an engagement ended early: a category; any detail is sealed free text."""

    COACHEE_WITHDREW = "coachee_withdrew"
    SPONSOR_WITHDREW = "sponsor_withdrew"
    COACH_WITHDREW = "coach_withdrew"
    ORGANISATIONAL_CHANGE = "organisational_change"
    MISMATCH = "mismatch"
    OTHER = "other"


class RitualKind(StrEnum):
    WEEKLY_STANDUP = "weekly_standup"
    METRICS_REVIEW = "metrics_review"  # every two weeks
    MONTHLY_RETROSPECTIVE = "monthly_retrospective"


def _to_RitualKind(raw: object) -> RitualKind:
    return require_member(RitualKind, raw, "RitualKind")


class ArtefactKind(StrEnum):
    PLAYBOOK_UPDATE = "playbook_update"
    CHECKLIST = "checklist"
    CONTROLLED_TRIAL = "controlled_trial"


def _to_ArtefactKind(raw: object) -> ArtefactKind:
    return require_member(ArtefactKind, raw, "ArtefactKind")


class CohortRoleName(StrEnum):
    FACILITATOR = "facilitator"
    SCRIBE = "scribe"
    METRICS_KEEPER = "metrics_keeper"


class ExperimentStatus(StrEnum):
    PLANNED = "planned"
    RUNNING = "running"
    ENDED = "ended"


def _to_ExperimentStatus(raw: object) -> ExperimentStatus:
    return require_member(ExperimentStatus, raw, "ExperimentStatus")


class PracticeStatus(StrEnum):
    STANDARDISED = "standardised"
    ABANDONED = "abandoned"


def _to_PracticeStatus(raw: object) -> PracticeStatus:
    return require_member(PracticeStatus, raw, "PracticeStatus")


class SignalContext(StrEnum):
    TECH = "tech"
    BUSINESS = "business"
    MANAGEMENT = "management"


def _to_SignalContext(raw: object) -> SignalContext:
    return require_member(SignalContext, raw, "SignalContext")


class Polarity(StrEnum):
    DRAINS = "drains"  # a problem that consumes energy
    GIVES = "gives"  # a dynamic that gives energy


def _to_Polarity(raw: object) -> Polarity:
    return require_member(Polarity, raw, "Polarity")


#: The reading grid's themes (DOMAIN.md); an application may add its own (ETRACK_SIGNAL_THEMES).
SIGNAL_THEMES = (
    "turnover", "demotivation", "bureaucratic_friction", "expectation_gap", "misalignment",
    "information_flow", "energy_drain", "energy_gain", "learning_dip", "shared_stakes",
    "segmented_stakes", "drifting_from_users", "delivery_control",
)
