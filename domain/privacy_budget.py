"""PrivacyBudget: how much differential-privacy loss (epsilon) one analyst may still spend.

One aggregate per analyst. An admin grants epsilon (``BudgetGranted``); each differentially
private release spends some (``BudgetSpent``, naming the query's digest, never its answer).
Events only assign state; the commands decide. A spend that would take the analyst past what
was granted is refused (:class:`BudgetExceeded`) and records nothing. A budget pays for one
query digest once: a second spend for the same digest records nothing (the query is paid for).
Two releases at the same instant by the same analyst clash on the aggregate's version: the
second re-reads and re-decides, so the budget is checked once per spend, one after the other,
and never exceeded, and of identical queries racing, one pays and the others find it paid.
"""

from __future__ import annotations

import math
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.checks import require_time
from engagement_tracker.domain.command_ids import Stamped
from engagement_tracker.domain.errors import BudgetExceeded, InvalidInput
from engagement_tracker.domain.values import Actor

_NAMESPACE = uuid5(NAMESPACE_URL, "https://engagement-tracker.invalid/privacy-budget")
#: The most epsilon one grant or one release may carry: beyond it, "privacy" means little.
MAX_EPSILON = 10.0
#: Rounding slack when adding spends (floats): never enough to matter, always in the analyst's disfavour.
_SLACK = 1e-9


def require_epsilon(value: object, field: str = "epsilon") -> float:
    """A privacy-loss parameter: a finite number above 0 and at most :data:`MAX_EPSILON`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, f"expected a number above 0 and at most {MAX_EPSILON:g}, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or not 0 < number <= MAX_EPSILON:
        raise InvalidInput(field, f"{value!r}: expected a number above 0 and at most {MAX_EPSILON:g}")
    return number


class PrivacyBudget(Aggregate):
    TOPIC = "etrack:PrivacyBudget"

    class Event(Stamped, Aggregate.Event):
        """Every event carries the id of the command that recorded it (``command_ids.py``)."""

    class Created(Aggregate.Created):
        TOPIC = "etrack:PrivacyBudget.Created"
        analyst: UUID

    class BudgetGranted(Aggregate.Event):
        TOPIC = "etrack:PrivacyBudget.BudgetGranted"
        actor: Actor
        epsilon: float

        def apply(self, budget: PrivacyBudget) -> None:
            budget.granted += self.epsilon

    class BudgetSpent(Aggregate.Event):
        TOPIC = "etrack:PrivacyBudget.BudgetSpent"
        actor: Actor
        epsilon: float
        query: str  # the digest of the query and of the data it read

        def apply(self, budget: PrivacyBudget) -> None:
            budget.spent += self.epsilon
            budget.releases += 1
            budget.paid[self.query] = self.epsilon

    def __init__(self, analyst: UUID) -> None:
        self.analyst = analyst
        self.granted = 0.0
        self.spent = 0.0
        self.releases = 0
        #: The digests of the queries this budget paid for (each paid once), with the epsilon paid
        #: (a dict, not a set: the state stays JSON, should budgets ever be snapshotted).
        self.paid: dict[str, float] = {}

    @staticmethod
    def id_for(analyst: UUID) -> UUID:
        return uuid5(_NAMESPACE, str(analyst))

    @classmethod
    def start(cls, analyst: UUID, at: datetime) -> PrivacyBudget:
        return cls._create(cls.Created, id=cls.id_for(analyst), timestamp=require_time(at), analyst=analyst)

    @property
    def remaining(self) -> float:
        return max(0.0, self.granted - self.spent)

    def grant(self, admin: Actor, epsilon: float, at: datetime) -> None:
        self.trigger_event(self.BudgetGranted, timestamp=require_time(at), actor=admin,
                           epsilon=require_epsilon(epsilon))

    def affords(self, epsilon: float, query: str) -> bool:
        """Whether paying ``epsilon`` for the query ``query`` stays within the budget (a query paid for
        already costs nothing): what :meth:`spend` checks, asked before any noise is drawn."""
        return query in self.paid or self.spent + epsilon <= self.granted + _SLACK

    def spend(self, analyst: Actor, epsilon: float, query: str, at: datetime) -> bool:
        """Pay ``epsilon`` for the query whose digest is ``query``: True once recorded, False (and
        nothing recorded) when this budget paid for that digest already."""
        epsilon = require_epsilon(epsilon)
        if not self.affords(epsilon, query):
            raise BudgetExceeded(
                "release with differential privacy",
                f"it would spend epsilon {epsilon:g}, and {self.remaining:g} of the {self.granted:g} granted "
                "remains: ask with a smaller epsilon, repeat an earlier query (free on unchanged data), or ask "
                "an admin for more (etrack privacy-budget grant)")
        if query in self.paid:
            return False
        self.trigger_event(self.BudgetSpent, timestamp=require_time(at), actor=analyst, epsilon=epsilon, query=query)
        return True
