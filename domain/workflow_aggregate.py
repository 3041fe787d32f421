"""What engagements and cohorts share: a workflow-driven aggregate.

Every command of a workflow aggregate takes the same path, written once here:

1. ``precheck(step, actor)`` refuses early, before any content is sealed, when the actor may not
   take the step (``access.py``) or the workflow does not allow it from the current state;
2. ``_step(step, actor, at, facts)`` checks again and asks the workflow where the step leads
   (``Workflow.decide``), raising a typed error naming the state and what would be accepted;
3. ``_record(event, actor, at, to_state, **fields)`` triggers one event carrying the actor and
   the destination state.

Events only assign state (``evolve``), so replaying old history never re-runs a rule. The
signal and missed-deadline events, common to both workflows, are defined here once; each
concrete aggregate subclasses them only to give them their stable, persisted topic.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.checks import require_time
from engagement_tracker.domain.command_ids import Stamped
from engagement_tracker.domain.copying import aggregate_copy
from engagement_tracker.domain.errors import InvalidInput, StepNotAllowed
from engagement_tracker.domain.values import Actor, Sealed, Signal, check_signal
from engagement_tracker.domain.vocabulary import SIGNAL_THEMES
from engagement_tracker.domain.workflow import Workflow


def require_actor(actor: object) -> Actor:
    """The acting party: an ``Actor(party, role)``."""
    if not isinstance(actor, Actor):
        raise InvalidInput("actor", f"expected Actor(party, role), got {type(actor).__name__}")
    return actor


def require_sealed(content: object, field: str) -> Sealed:
    """Confidential content arrives sealed; the aggregate never sees a plaintext or a key."""
    if not isinstance(content, Sealed):
        raise InvalidInput(field, "expected sealed content (seal it with the application's sealer)")
    return content


def optional_sealed(content: object, field: str) -> Sealed | None:
    return None if content is None else require_sealed(content, field)


def events_of(history: type[Aggregate]) -> dict[str, type[Aggregate.Event]]:
    """The event classes nested in ``history``, to bind in the body of the aggregate that
    extends it: eventsourcing then registers their topics on that aggregate as they are, instead
    of defining a subclass of each one (which doubles the cost of importing the domain)."""
    return {name: value for name, value in vars(history).items()
            if isinstance(value, type) and issubclass(value, Aggregate.Event)}


class StaleSnapshot(Exception):
    """A snapshot of an aggregate's earlier state layout: ignored, the aggregate is replayed from
    its events (snapshots are a cache, not a public format; events are)."""


def stale_snapshot(state: dict[str, Any]) -> None:
    """The upcaster of a snapshot version that is no longer read: raises :class:`StaleSnapshot`."""
    raise StaleSnapshot(sorted(state)[:3])


#: Steps the application records itself (the deadline clock, ``tick``): offered to no one.
#: (A module constant: an annotated class attribute would become an aggregate field.)
SYSTEM_STEPS = frozenset({"miss_deadline"})


class WorkflowAggregate(Aggregate):
    """An aggregate whose steps are decided by a :class:`Workflow` and recorded as events."""

    if TYPE_CHECKING:  # declared for type checkers only: class annotations make eventsourcing build a dataclass
        WORKFLOW: ClassVar[Workflow]
        state: str
        missed: dict[str, datetime]
        signals_recorded: int

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """The copy each command gets from the cache: containers copied, frozen values shared (``copying.py``)."""
        return aggregate_copy(self, memo)

    class Event(Stamped, Aggregate.Event):
        """A step taken: who took it, and the state it led to (and the command that took it: ``command_ids.py``)."""

        actor: Actor
        to_state: str

        def apply(self, aggregate: Any) -> None:
            aggregate.state = self.to_state
            self.evolve(aggregate)

        def evolve(self, aggregate: Any) -> None:
            """Assign the state this event changes (no rules here)."""

        def keep(self, record: Any) -> None:
            """Add what this event carries for reads only (sealed content, every date) to a record
            folded from the events (``engagement_record.py``); the aggregate never holds it."""

    class SignalRecorded(Event):
        """A weak or strong signal noticed through this engagement or cohort (taxonomy only)."""

        signal: Signal

        def evolve(self, aggregate: Any) -> None:
            aggregate.signals_recorded += 1

    class DeadlineMissed(Event):
        """The deadline clock (tick) found a deadline past due: recorded once, with when it was due."""

        deadline: str
        due_at: datetime

        def evolve(self, aggregate: Any) -> None:
            aggregate.missed[self.deadline] = self.due_at

    # --- derived facts ----------------------------------------------------------------------

    @property
    def phase(self) -> str:
        """The top-level phase: framing, accompaniment, closing, or a final state."""
        return self.WORKFLOW.phase(self.state)

    @property
    def is_ended(self) -> bool:
        return self.state in self.WORKFLOW.final

    def allowed_steps(self) -> list[str]:
        """Every step the workflow allows now (as 0.1.0 read it: the views keep this list)."""
        return self.WORKFLOW.allowed(self.state)

    def offered_steps(self) -> list[str]:
        """The steps a person may take now: never the ones the application records itself."""
        return [s for s in self.WORKFLOW.allowed(self.state) if s not in SYSTEM_STEPS]

    def due_deadlines(self, now: datetime) -> list[tuple[str, datetime]]:
        """Deadlines that fell due by ``now`` and are not yet recorded (see ``deadlines.py``)."""
        raise NotImplementedError

    # --- the command path -------------------------------------------------------------------

    def require_party(self, step: str, actor: Actor) -> None:
        """Raise NotPermitted unless ``actor`` holds a role here that may take ``step`` (access.py)."""
        raise NotImplementedError

    def precheck(self, step: str, actor: Actor) -> None:
        """Refuse early (before any content is sealed) if ``actor`` may not take ``step`` now."""
        self.require_party(step, require_actor(actor))
        if not self.WORKFLOW.permits(step, self.state):
            raise StepNotAllowed(self.WORKFLOW.name, self.state, step, self.offered_steps())

    def _step(self, step: str, actor: Actor, at: datetime, facts: dict[str, Any] | None = None) -> str:
        """Check who acts and where the step leads; raise if refused; return the destination."""
        require_time(at)
        self.require_party(step, require_actor(actor))
        return self.WORKFLOW.decide(step, self.state, self, **(facts or {}))

    def _record(self, event_class: type[Event], actor: Actor, at: datetime, to_state: str, **fields: Any) -> None:
        self.trigger_event(event_class, timestamp=at, actor=actor, to_state=to_state, **fields)

    def require_since_created(self, day: object, field: str, what: str) -> None:
        """InvalidInput when ``day`` falls before this engagement or cohort was recorded (its first event's
        date, UTC): nothing is dated before what it belongs to existed."""
        created = getattr(self, "created_on", None)
        if isinstance(day, date) and isinstance(created, datetime) and day < created.date():
            kind = self.WORKFLOW.name
            raise InvalidInput(field, f"{day} is before this {kind} existed (recorded on {created.date()}): "
                                      f"{what} is dated on or after {created.date()}")

    # --- steps every workflow has -----------------------------------------------------------

    def record_signal(self, actor: Actor, at: datetime, signal: Signal, themes: Iterable[str] = SIGNAL_THEMES) -> None:
        """The coach records a weak or strong signal noticed through this engagement or cohort."""
        to = self._step("record_signal", actor, at)
        check_signal(signal, themes)
        self.require_since_created(signal.observed_on, "observed_on", "a signal")
        self._record(self.SignalRecorded, actor, at, to, signal=signal)

    def miss_deadline(self, actor: Actor, at: datetime, deadline: str, due_at: datetime) -> None:
        """Recorded by the deadline clock (tick): once per deadline, however often it runs."""
        to = self._step("miss_deadline", actor, at, {"deadline": deadline})
        self._record(self.DeadlineMissed, actor, at, to, deadline=deadline, due_at=require_time(due_at, "due_at"))
