"""Frozen value objects carried by events and held in aggregate state.

No clock, no I/O. Every class here is registered with ``@value("name")``: the name is its
stable, persisted transcoding name (a public format, like event topics). Collections are
tuples with a ``tuple`` converter so a value decoded from JSON lists equals the original.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TypeVar
from uuid import UUID

import attrs

from engagement_tracker.domain.actor import Actor as Actor  # noqa: PLC0414 - re-exported: values are imported from here
from engagement_tracker.domain.checks import (
    require_date,
    require_int,
    require_label,
)
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.vocabulary import (
    SIGNAL_THEMES,
    ActionStatus,
    ArtefactKind,
    CohortRoleName,
    ExperimentStatus,
    IndicatorKind,
    ObjectiveLevel,
    Outcome,
    Polarity,
    PracticeStatus,
    RitualKind,
    Role,
    SessionTheme,
    SignalContext,
    _to_ActionStatus,
    _to_ArtefactKind,
    _to_ExperimentStatus,
    _to_IndicatorKind,
    _to_ObjectiveLevel,
    _to_Outcome,
    _to_Polarity,
    _to_PracticeStatus,
    _to_RitualKind,
    _to_Role_tuple,
    _to_SessionTheme_tuple,
    _to_SignalContext,
)

#: Values persisted inside events, by stable transcoding name.
VALUE_TYPES: dict[str, type] = {}

T = TypeVar("T")


def value(name: str) -> Callable[[type[T]], type[T]]:
    """Register a value class under its persisted transcoding name."""

    def register(cls: type[T]) -> type[T]:
        if name in VALUE_TYPES:
            raise ValueError(f"transcoding name {name!r} already used by {VALUE_TYPES[name]}")
        VALUE_TYPES[name] = cls
        cls.TRANSCODING_NAME = name  # type: ignore[attr-defined]
        return cls

    return register


# --- value objects ---------------------------------------------------------------------------


value("etrack.actor")(Actor)  # its own module: a read that only checks a grant builds no other value


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
    level: ObjectiveLevel = attrs.field(converter=_to_ObjectiveLevel)
    statement: Sealed


@value("etrack.indicator")
@attrs.frozen
class Indicator:
    """A progress indicator tied to one objective, with a baseline and a target."""

    key: str
    objective: str
    kind: IndicatorKind = attrs.field(converter=_to_IndicatorKind)
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
    themes: tuple[SessionTheme, ...] = attrs.field(converter=_to_SessionTheme_tuple)
    notes: Sealed | None


@value("etrack.action")
@attrs.frozen
class Action:
    """An intersession action the coachee commits to."""

    key: str
    description: Sealed
    due: date | None
    status: ActionStatus = attrs.field(converter=_to_ActionStatus)


@value("etrack.evaluation")
@attrs.frozen
class Evaluation:
    """The closing evaluation of one indicator."""

    indicator: str
    outcome: Outcome = attrs.field(converter=_to_Outcome)
    evidence: Sealed


@value("etrack.amendment")
@attrs.frozen
class Amendment:
    """A proposed change of contract: extra sessions and/or a later end; needs all three parties."""

    extra_sessions: int
    new_end: date | None
    agreed_by: tuple[Role, ...] = attrs.field(converter=_to_Role_tuple)


# --- cohorts, team capacity, deadlines -------------------------------------------------------


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
    status: ExperimentStatus = attrs.field(converter=_to_ExperimentStatus)
    ended_at: datetime | None = None
    feedback_at: datetime | None = None


@value("etrack.ritual")
@attrs.frozen
class Ritual:
    number: int
    kind: RitualKind = attrs.field(converter=_to_RitualKind)
    held_on: date
    facilitator: UUID
    scribe: UUID
    metrics_keeper: UUID
    artefact_kind: ArtefactKind = attrs.field(converter=_to_ArtefactKind)
    artefact: Sealed

    def holder(self, role: CohortRoleName) -> UUID:
        return {
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


@value("etrack.metric_reading")
@attrs.frozen
class MetricReading:
    """A reading of a cohort metric: its value on a date, at a ritual (its metrics keeper read it) or none."""

    metric: str
    value: float
    read_on: date
    ritual: int | None = None


@value("etrack.key_result_target")
@attrs.frozen
class KeyResultTarget:
    """A key result made numeric: the metric it is measured by and the value to reach by its date."""

    key_result: int
    metric: str
    target: float


@value("etrack.testimonial")
@attrs.frozen
class Testimonial:
    """A voluntary testimonial at closing: ratings (item -> 1..5), an optional text sealed under the
    author's key, whether it may be quoted (never with a name or an identifier), and whether it is
    anonymous (the default)."""

    ratings: dict[str, int]
    text: Sealed | None
    quote_consent: bool = False
    anonymous: bool = True


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
    status: PracticeStatus = attrs.field(converter=_to_PracticeStatus)
    conditions: Sealed


@value("etrack.quarterly_decisions")
@attrs.frozen
class QuarterlyDecisions:
    """What a quarterly review between coach and management decided."""

    objectives_realigned: bool
    coaches_added: int = 0
    coaches_removed: int = 0


# --- weak signals (seeds 003 and 004) --------------------------------------------------------


@value("etrack.signal")
@attrs.frozen
class Signal:
    """A weak (or strong) signal: a fixed taxonomy, a coarse unit, a date; any free text sealed."""

    theme: str
    context: SignalContext = attrs.field(converter=_to_SignalContext)
    polarity: Polarity = attrs.field(converter=_to_Polarity)
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
