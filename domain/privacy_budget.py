"""PrivacyBudget: how much differential-privacy loss one analyst may still spend, in zCDP's rho.

One aggregate per analyst. Budgets are kept in **rho**, the privacy loss of zero-concentrated
differential privacy (zCDP), because rho composes by addition: an analyst who made releases of
rho_1, rho_2, ... has spent rho_1 + rho_2 + ... in all, exactly. An admin grants rho
(``BudgetGranted``); each differentially private release spends some (``BudgetSpent``, naming the
query's digest, never its answer, and stating what the release was made under: mechanism, rho,
and the epsilon and delta it is worth). Events only assign state; the commands decide. A spend
that would take the analyst past what was granted is refused (:class:`BudgetExceeded`) and
records nothing. A budget pays for one query digest once: a second spend for the same digest
records nothing (the query is paid for). Two releases at the same instant by the same analyst
clash on the aggregate's version: the second re-reads and re-decides, so the budget is checked
once per spend, one after the other, and never exceeded, and of identical queries racing, one
pays and the others find it paid.

**Budgets before class version 3** were kept in pure-DP epsilon. A pure epsilon-DP release is
(epsilon^2 / 2)-zCDP (Bun and Steinke 2016, Proposition 1.4), so the upcasters read an old grant
or spend of epsilon as rho = epsilon^2 / 2 (:func:`rho_of_pure_epsilon`); an old spend keeps its
epsilon, its delta (1e-6, the constant of those releases) and its mechanism
(``laplace_threshold``); its threshold was not recorded (None).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs
from eventsourcing.domain import Aggregate

from engagement_tracker.domain.checks import require_time
from engagement_tracker.domain.command_ids import Stamped
from engagement_tracker.domain.errors import BudgetExceeded, InvalidInput
from engagement_tracker.domain.values import Actor

_NAMESPACE = uuid5(NAMESPACE_URL, "https://engagement-tracker.invalid/privacy-budget")
#: The most epsilon one release may be worth: beyond it, "privacy" means little.
MAX_EPSILON = 10.0
#: The most rho one grant or one release may carry: what a pure-DP release at :data:`MAX_EPSILON` costs.
MAX_RHO = MAX_EPSILON**2 / 2
#: The delta of every release recorded before class version 3 (its partition selection's).
OLD_DELTA = 1e-6
#: The mechanism of every release recorded before class version 3.
OLD_MECHANISM = "laplace_threshold"
#: Rounding slack when adding spends (floats): never enough to matter, always in the analyst's disfavour.
_SLACK = 1e-12


def _require_loss(value: object, field: str, most: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, f"expected a number above 0 and at most {most:g}, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or not 0 < number <= most:
        raise InvalidInput(field, f"{value!r}: expected a number above 0 and at most {most:g}")
    return number


def require_epsilon(value: object, field: str = "epsilon") -> float:
    """A privacy-loss parameter: a finite number above 0 and at most :data:`MAX_EPSILON`."""
    return _require_loss(value, field, MAX_EPSILON)


def require_rho(value: object, field: str = "rho") -> float:
    """A zCDP privacy loss: a finite number above 0 and at most :data:`MAX_RHO`."""
    return _require_loss(value, field, MAX_RHO)


def rho_of_pure_epsilon(epsilon: float) -> float:
    """The rho of a pure epsilon-DP release: epsilon^2 / 2 (the conversion of old budgets)."""
    return epsilon * epsilon / 2


def _require_delta(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < float(value) < 1:
        raise InvalidInput("delta", f"{value!r}: expected a number above 0 and below 1")
    return float(value)


@attrs.frozen
class DpCost:
    """What one differentially private release costs and is worth: ``rho`` (zCDP, what the budget pays),
    the ``epsilon`` and ``delta`` of (epsilon, delta)-DP it amounts to on its own, its ``mechanism``,
    and the ``threshold`` a noisy cell must reach to be shown."""

    rho: float = attrs.field(converter=require_rho)
    epsilon: float = attrs.field(converter=require_epsilon)
    delta: float = attrs.field(converter=_require_delta)
    mechanism: str = attrs.field(validator=attrs.validators.instance_of(str))
    threshold: int = attrs.field(validator=attrs.validators.instance_of(int))


class PrivacyBudget(Aggregate):
    TOPIC = "etrack:PrivacyBudget"

    class Event(Stamped, Aggregate.Event):
        """Every event carries the id of the command that recorded it (``command_ids.py``)."""

    class Created(Aggregate.Created):
        TOPIC = "etrack:PrivacyBudget.Created"
        analyst: UUID

    class BudgetGranted(Aggregate.Event):
        TOPIC = "etrack:PrivacyBudget.BudgetGranted"
        class_version = 3
        actor: Actor
        rho: float

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """Version 2 granted pure-DP epsilon: that much epsilon is rho = epsilon^2 / 2."""
            state["rho"] = rho_of_pure_epsilon(float(state.pop("epsilon")))

        def apply(self, budget: PrivacyBudget) -> None:
            budget.granted += self.rho

    class BudgetSpent(Aggregate.Event):
        TOPIC = "etrack:PrivacyBudget.BudgetSpent"
        class_version = 3
        actor: Actor
        rho: float
        epsilon: float
        delta: float
        mechanism: str
        threshold: int | None
        query: str  # the digest of the query and of the data it read

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """Version 2 spent pure-DP epsilon (Laplace noise, delta 1e-6 from partition selection)."""
            state.update(rho=rho_of_pure_epsilon(float(state["epsilon"])), delta=OLD_DELTA,
                         mechanism=OLD_MECHANISM, threshold=None)

        def apply(self, budget: PrivacyBudget) -> None:
            budget.spent += self.rho
            budget.releases += 1
            budget.paid[self.query] = self.rho

    def __init__(self, analyst: UUID) -> None:
        self.analyst = analyst
        self.granted = 0.0
        self.spent = 0.0
        self.releases = 0
        #: The digests of the queries this budget paid for (each paid once), with the rho paid
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
        """The rho still to spend."""
        return max(0.0, self.granted - self.spent)

    def grant(self, admin: Actor, rho: float, at: datetime) -> None:
        self.trigger_event(self.BudgetGranted, timestamp=require_time(at), actor=admin, rho=require_rho(rho))

    def affords(self, rho: float, query: str) -> bool:
        """Whether paying ``rho`` for the query ``query`` stays within the budget (a query paid for
        already costs nothing): what :meth:`spend` checks, asked before any noise is drawn."""
        return query in self.paid or self.spent + rho <= self.granted + _SLACK

    def spend(self, analyst: Actor, cost: DpCost, query: str, at: datetime) -> bool:
        """Pay ``cost.rho`` for the query whose digest is ``query``: True once recorded, False (and
        nothing recorded) when this budget paid for that digest already."""
        if not isinstance(cost, DpCost):
            raise InvalidInput("cost", f"expected DpCost(rho, epsilon, delta, mechanism, threshold), got "
                                       f"{type(cost).__name__}")
        if not self.affords(cost.rho, query):
            raise BudgetExceeded(
                "release with differential privacy",
                f"it would spend rho {cost.rho:.6g}, and rho {self.remaining:.6g} of the {self.granted:.6g} granted "
                "remains: ask with a smaller epsilon, repeat an earlier query (free on unchanged data), or ask "
                "an admin for more (etrack privacy-budget grant)")
        if query in self.paid:
            return False
        self.trigger_event(self.BudgetSpent, timestamp=require_time(at), actor=analyst, rho=cost.rho,
                           epsilon=cost.epsilon, delta=cost.delta, mechanism=cost.mechanism,
                           threshold=cost.threshold, query=query)
        return True
