"""Frozen value objects carried by events and held in aggregate state.

No clock, no I/O. Every class here is registered with ``@value("name")``: the name is its
stable, persisted transcoding name (a public format, like event topics). Collections are
tuples with a ``tuple`` converter so a value decoded from JSON lists equals the original.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

import attrs

from engagement_tracker.domain.errors import InvalidInput

#: Values persisted inside events, by stable transcoding name.
VALUE_TYPES: dict[str, type] = {}

T = TypeVar("T")

# Limits, stated in every refusal that applies them.
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 20_000
MAX_SESSION_MINUTES = 8 * 60
MAX_CONTRACT_SESSIONS = 200
MAX_OBJECTIVES_PER_LEVEL = 10
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")

# The only text kept in clear: short labels analysts group by or auditors match on. Their
# patterns keep free text (sentences, notes) out; they must never hold a person's name.
CLEAR_LABELS = {
    "org_unit": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9 &/_.-]{0,79}$"),
                 "letters, digits, spaces and & / _ . - (at most 80), e.g. 'Operations/Lyon'"),
    "reference": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:#-]{0,199}$"),
                  "a document reference without spaces (at most 200), e.g. 'DMS/2026/0042'"),
    "unit": (re.compile(r"^[A-Za-z%€$#][A-Za-z0-9 %/€$#.-]{0,39}$"),
             "a unit of measure (at most 40), e.g. 'hours', '%', 'tickets/week'"),
}


def require_label(text: object, field: str) -> str:
    """A clear-text label (org unit, document reference, unit of measure) matching its pattern."""
    pattern, accepted = CLEAR_LABELS[field]
    if not isinstance(text, str) or not pattern.match(text.strip()):
        shown = text if not isinstance(text, str) or len(text) <= 40 else text[:40] + "…"
        raise InvalidInput(field, f"{shown!r} is not {accepted}")
    return text.strip()


def value(name: str) -> Callable[[type[T]], type[T]]:
    """Register a value class under its persisted transcoding name."""

    def register(cls: type[T]) -> type[T]:
        if name in VALUE_TYPES:
            raise ValueError(f"transcoding name {name!r} already used by {VALUE_TYPES[name]}")
        VALUE_TYPES[name] = cls
        cls.TRANSCODING_NAME = name  # type: ignore[attr-defined]
        return cls

    return register


# --- checks shared by value objects and commands -------------------------------------------


def require_text(text: object, field: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Return ``text`` stripped, or raise InvalidInput naming the field and the limit."""
    if not isinstance(text, str):
        raise InvalidInput(field, f"expected text, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise InvalidInput(field, "must not be empty")
    if len(stripped) > max_chars:
        raise InvalidInput(field, f"{len(stripped)} characters; the limit is {max_chars}")
    return stripped


def require_int(number: object, field: str, low: int, high: int) -> int:
    """Return ``number`` if it is an int in [low, high], else raise InvalidInput."""
    if isinstance(number, bool) or not isinstance(number, int):
        raise InvalidInput(field, f"expected a whole number, got {type(number).__name__}")
    if not low <= number <= high:
        raise InvalidInput(field, f"{number} is outside {low}..{high}")
    return number


def require_number(number: object, field: str) -> float:
    """Return ``number`` as a finite float, else raise InvalidInput."""
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise InvalidInput(field, f"expected a number, got {type(number).__name__}")
    result = float(number)
    if not math.isfinite(result):
        raise InvalidInput(field, "must be a finite number")
    return result


def require_date(day: object, field: str) -> date:
    """Return ``day`` if it is a date (not a datetime), else raise InvalidInput."""
    if not isinstance(day, date) or hasattr(day, "hour"):
        raise InvalidInput(field, f"expected a date, got {type(day).__name__}")
    return day


def require_key(key: object, field: str) -> str:
    """Return ``key`` if it is a short identifier (letters, digits, '_', '.', '-'; 1-32)."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidInput(field, f"{key!r} is not a key of 1-32 letters, digits, '_', '.', '-'")
    return key


E = TypeVar("E", bound=StrEnum)


def require_member(enum: type[E], raw: object, field: str) -> E:
    """Return ``raw`` as a member of ``enum``, or raise InvalidInput listing the accepted values."""
    try:
        return enum(raw)
    except ValueError:
        accepted = ", ".join(m.value for m in enum)
        raise InvalidInput(field, f"{raw!r} is not one of: {accepted}") from None


def _enum_converter(enum: type[E]) -> Callable[[Any], E]:
    def convert(raw: Any) -> E:
        return require_member(enum, raw, enum.__name__)

    return convert


def _tuple_of(enum: type[E]) -> Callable[[Iterable[Any]], tuple[E, ...]]:
    def convert(raw: Iterable[Any]) -> tuple[E, ...]:
        if isinstance(raw, (str, bytes)):
            raise InvalidInput(enum.__name__, "expected a list of values, got a string")
        return tuple(require_member(enum, item, enum.__name__) for item in raw)

    return convert


def end_of(day: date) -> datetime:
    """The first instant after ``day`` (UTC): when a deadline that falls on ``day`` has passed."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


# --- enumerations (persisted by value: renaming a member needs an upcaster) ----------------


class Role(StrEnum):
    COACH = "coach"
    COACHEE = "coachee"
    SPONSOR = "sponsor"
    MEMBER = "member"
    AUDITOR = "auditor"
    ANALYST = "analyst"
    ADMIN = "admin"
    SYSTEM = "system"  # the deadline clock (tick); acts as SYSTEM_PARTY


#: The pseudonymous party of the system actor that records missed deadlines.
SYSTEM_PARTY = UUID(int=0)


class PartyKind(StrEnum):
    PERSON = "person"
    TEAM = "team"


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


class ObjectiveLevel(StrEnum):
    ORGANISATION = "organisation"
    COACHEE = "coachee"


class IndicatorKind(StrEnum):
    OBSERVABLE_RESULT = "observable_result"
    ORGANISATION_PERFORMANCE = "organisation_performance"


class Outcome(StrEnum):
    ACHIEVED = "achieved"
    PARTLY = "partly"
    NOT_ACHIEVED = "not_achieved"


class ActionStatus(StrEnum):
    COMMITTED = "committed"
    DONE = "done"
    DROPPED = "dropped"


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


# --- value objects ---------------------------------------------------------------------------


@value("etrack.actor")
@attrs.frozen
class Actor:
    """Who acts: a pseudonymous party id and the role it acts in."""

    party: UUID = attrs.field(converter=lambda p: p if isinstance(p, UUID) else UUID(str(p)))
    role: Role = attrs.field(converter=_enum_converter(Role))

    def __str__(self) -> str:
        return f"{self.role.value}:{self.party}"


@value("etrack.sealed")
@attrs.frozen(repr=False)
class Sealed:
    """Confidential content: ciphertext under one subject's key, and a keyed digest of the plaintext.

    The domain never sees the key; a :class:`domain.sealing.Sealer` seals and unseals.
    """

    subject: str
    ciphertext: bytes
    digest: str

    def __repr__(self) -> str:
        return f"Sealed(subject={self.subject!r}, digest={self.digest[:12]}…, {len(self.ciphertext)} bytes)"


@value("etrack.contract")
@attrs.frozen
class Contract:
    """The duration fixed at framing: a number of sessions over a period.

    Only structural invariants are checked here (they hold for every stored contract); policy
    limits such as MAX_CONTRACT_SESSIONS are checked by the command, so that a later change of
    policy never breaks the replay of old history.
    """

    sessions: int
    start: date
    end: date

    def __attrs_post_init__(self) -> None:
        if isinstance(self.sessions, bool) or not isinstance(self.sessions, int) or self.sessions < 1:
            raise InvalidInput("sessions", f"{self.sessions!r}: a contract has at least 1 session")
        require_date(self.start, "start")
        require_date(self.end, "end")
        if self.end <= self.start:
            raise InvalidInput(
                "end", f"the period must end after it starts: it ends {self.end} and starts {self.start}"
            )


@value("etrack.objective")
@attrs.frozen
class Objective:
    key: str
    level: ObjectiveLevel = attrs.field(converter=_enum_converter(ObjectiveLevel))
    statement: Sealed


@value("etrack.indicator")
@attrs.frozen
class Indicator:
    """A progress indicator tied to one objective, with a baseline and a target."""

    key: str
    objective: str
    kind: IndicatorKind = attrs.field(converter=_enum_converter(IndicatorKind))
    label: Sealed
    baseline: float
    target: float
    unit: str


@value("etrack.measurement")
@attrs.frozen
class Measurement:
    indicator: str
    value: float
    measured_on: date


@value("etrack.session")
@attrs.frozen
class Session:
    number: int
    held_on: date
    duration_minutes: int
    themes: tuple[SessionTheme, ...] = attrs.field(converter=_tuple_of(SessionTheme))
    notes: Sealed | None


@value("etrack.action")
@attrs.frozen
class Action:
    """An intersession action the coachee commits to."""

    key: str
    description: Sealed
    due: date | None
    status: ActionStatus = attrs.field(converter=_enum_converter(ActionStatus))


@value("etrack.evaluation")
@attrs.frozen
class Evaluation:
    """The closing evaluation of one indicator."""

    indicator: str
    outcome: Outcome = attrs.field(converter=_enum_converter(Outcome))
    evidence: Sealed


@value("etrack.amendment")
@attrs.frozen
class Amendment:
    """A proposed change of contract: extra sessions and/or a later end; needs all three parties."""

    extra_sessions: int
    new_end: date | None
    agreed_by: tuple[Role, ...] = attrs.field(converter=_tuple_of(Role))


# --- cohorts, team capacity, deadlines -------------------------------------------------------


class RitualKind(StrEnum):
    WEEKLY_STANDUP = "weekly_standup"
    METRICS_REVIEW = "metrics_review"  # every two weeks
    MONTHLY_RETROSPECTIVE = "monthly_retrospective"


class ArtefactKind(StrEnum):
    PLAYBOOK_UPDATE = "playbook_update"
    CHECKLIST = "checklist"
    CONTROLLED_TRIAL = "controlled_trial"


class CohortRoleName(StrEnum):
    FACILITATOR = "facilitator"
    SCRIBE = "scribe"
    METRICS_KEEPER = "metrics_keeper"


class ExperimentStatus(StrEnum):
    PLANNED = "planned"
    RUNNING = "running"
    ENDED = "ended"


class PracticeStatus(StrEnum):
    STANDARDISED = "standardised"
    ABANDONED = "abandoned"


@value("etrack.cohort_rules")
@attrs.frozen
class CohortRules:
    """A cohort's numbers, fixed when it opens (the seed's as defaults)."""

    min_members: int = 5
    max_members: int = 8
    metrics: int = 3
    experiments: int = 2
    feedback_hours: int = 72
    cycle_weeks: int = 4

    def __attrs_post_init__(self) -> None:
        require_int(self.min_members, "min_members", 3, 1000)
        require_int(self.max_members, "max_members", self.min_members, 1000)
        require_int(self.metrics, "metrics", 1, 100)
        require_int(self.experiments, "experiments", 1, 100)
        require_int(self.feedback_hours, "feedback_hours", 1, 24 * 365)
        require_int(self.cycle_weeks, "cycle_weeks", 1, 52)


@value("etrack.key_result")
@attrs.frozen
class KeyResult:
    number: int
    statement: Sealed
    due: date


@value("etrack.metric")
@attrs.frozen
class Metric:
    key: str
    name: Sealed


@value("etrack.experiment")
@attrs.frozen
class Experiment:
    key: str
    key_result: int
    hypothesis: Sealed
    status: ExperimentStatus = attrs.field(converter=_enum_converter(ExperimentStatus))
    ended_at: datetime | None = None
    feedback_at: datetime | None = None


@value("etrack.ritual")
@attrs.frozen
class Ritual:
    number: int
    kind: RitualKind = attrs.field(converter=_enum_converter(RitualKind))
    held_on: date
    facilitator: UUID
    scribe: UUID
    metrics_keeper: UUID
    artefact_kind: ArtefactKind = attrs.field(converter=_enum_converter(ArtefactKind))
    artefact: Sealed

    def holder(self, role: CohortRoleName) -> UUID:
        return {  # type: ignore[no-any-return]
            CohortRoleName.FACILITATOR: self.facilitator,
            CohortRoleName.SCRIBE: self.scribe,
            CohortRoleName.METRICS_KEEPER: self.metrics_keeper,
        }[role]


@value("etrack.data_point")
@attrs.frozen
class DataPoint:
    """The evidence a decision rests on: a metric of the cohort and its value."""

    metric: str
    value: float


@value("etrack.decision")
@attrs.frozen
class Decision:
    number: int
    statement: Sealed
    data_point: DataPoint
    decided_on: date
    owner: UUID


@value("etrack.practice")
@attrs.frozen
class Practice:
    key: str
    status: PracticeStatus = attrs.field(converter=_enum_converter(PracticeStatus))
    conditions: Sealed


@value("etrack.quarterly_decisions")
@attrs.frozen
class QuarterlyDecisions:
    """What a quarterly review between coach and management decided."""

    objectives_realigned: bool
    coaches_added: int = 0
    coaches_removed: int = 0


# --- weak signals (seeds 003 and 004) --------------------------------------------------------


class SignalContext(StrEnum):
    TECH = "tech"
    BUSINESS = "business"
    MANAGEMENT = "management"


class Polarity(StrEnum):
    DRAINS = "drains"  # a problem that consumes energy
    GIVES = "gives"  # a dynamic that gives energy


#: The reading grid's themes (DOMAIN.md); an application may add its own (ETRACK_SIGNAL_THEMES).
SIGNAL_THEMES = (
    "turnover", "demotivation", "bureaucratic_friction", "expectation_gap", "misalignment",
    "information_flow", "energy_drain", "energy_gain", "learning_dip", "shared_stakes",
    "segmented_stakes", "drifting_from_users", "delivery_control",
)
THEME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


@value("etrack.signal")
@attrs.frozen
class Signal:
    """A weak (or strong) signal: a fixed taxonomy, a coarse unit, a date; any free text sealed."""

    theme: str
    context: SignalContext = attrs.field(converter=_enum_converter(SignalContext))
    polarity: Polarity = attrs.field(converter=_enum_converter(Polarity))
    intensity: int
    unit: str
    observed_on: date
    note: Sealed | None


def check_signal(signal: object, themes: Iterable[str] = SIGNAL_THEMES) -> Signal:
    """A signal fit for recording: a known theme, intensity 1-5, a unit label, a date."""
    if not isinstance(signal, Signal):
        raise InvalidInput("signal", "expected Signal(theme, context, polarity, intensity, unit, observed_on, note)")
    known = tuple(themes)
    if signal.theme not in known:
        raise InvalidInput("theme", f"{signal.theme!r} is not in the taxonomy: {', '.join(known)}")
    require_int(signal.intensity, "intensity", 1, 5)
    require_label(signal.unit, "org_unit")
    require_date(signal.observed_on, "observed_on")
    return signal
