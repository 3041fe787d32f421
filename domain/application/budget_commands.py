"""Privacy budgets of the application: an admin grants rho (zCDP) to an analyst; differentially
private releases spend it; an analyst (or admin) reads what remains, in rho and in the epsilon it
is worth at the deployment's delta (``ETRACK_DP_DELTA``).

The budget itself (``domain/privacy_budget.py``) decides; this service checks grants and saves
through the command path: a clash (two spends at the same instant) re-reads and re-decides.
Converting rho to epsilon takes OpenDP, a backend library: bootstrap hands the conversion in
(:attr:`BudgetService.epsilon_of`); without it, budgets are stated in rho only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from engagement_tracker.domain.access import grant_checked, require_analyst, require_grant
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.errors import BudgetExceeded, InvalidInput, NotPermitted
from engagement_tracker.domain.privacy_budget import DpCost, PrivacyBudget, require_rho
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role

R = TypeVar("R")


class BudgetService:
    """``app.budgets.grant / spend / balance``: an analyst's privacy budget (rho, zCDP)."""

    def __init__(self, path: CommandPath) -> None:
        self.path = path
        #: The epsilon that rho amounts to at a delta (``projections.privacy.epsilon_of``, from bootstrap).
        self.epsilon_of: Callable[[float, float], float] | None = None
        #: The largest epsilon one release may ask for a rho at a delta (``projections.privacy.largest_epsilon``).
        self.largest_epsilon: Callable[[float, float], float] | None = None

    @property
    def delta(self) -> float:
        """The deployment's delta (``ETRACK_DP_DELTA``)."""
        return self.path.settings.dp_delta

    def worth(self, rho: float) -> str:
        """``rho R`` and, when the conversion is wired, ``(epsilon E at delta D)``."""
        if self.epsilon_of is None:
            return f"rho {rho:.6g}"
        return f"rho {rho:.6g} (epsilon {self.epsilon_of(rho, self.delta):.4g} at delta {self.delta:g})"

    def _budget(self, analyst: UUID) -> PrivacyBudget | None:
        try:
            budget: PrivacyBudget = self.path.repository.get(PrivacyBudget.id_for(analyst))
        except AggregateNotFoundError:
            return None
        return budget

    def _change_budget(
        self, analyst: UUID, decide: Callable[[PrivacyBudget, datetime], R], command_id: object = None
    ) -> CommandResult[R]:
        """Load, decide, save the analyst's budget (started by the first grant); a clash re-reads
        and re-decides; a decision that records nothing (a query paid for already) saves nothing."""
        return self.path.update(PrivacyBudget, PrivacyBudget.id_for(analyst), "privacy budget", decide,
                                command_id=command_id, start=lambda at: PrivacyBudget.start(analyst, at))

    @grant_checked
    def grant(
        self, analyst_id: object, rho: object, admin: Actor, *, command_id: object = None
    ) -> CommandResult[None]:
        """An admin (holding the admin grant now) adds ``rho`` (zCDP) to the budget of a party holding the
        analyst grant now (NotPermitted for any other party: nothing is recorded)."""
        if not isinstance(admin, Actor):
            raise InvalidInput("admin", f"expected Actor(party, role), got {type(admin).__name__}")
        amount = require_rho(rho)
        if admin.role is not Role.ADMIN:
            raise NotPermitted("grant a privacy budget", f"a {admin.role.value} may not: only an admin does", ["admin"])
        require_grant(admin, Role.ADMIN, self.path.held_grants, "grant a privacy budget")
        pid = self.path.party(analyst_id).id
        # a budget is spent only by analysts' releases: the party's analyst grant is relied on too (checked at commit)
        require_grant(Actor(pid, Role.ANALYST), Role.ANALYST, self.path.held_grants, "grant a privacy budget")
        return self._change_budget(pid, lambda budget, at: budget.grant(admin, amount, at), command_id=command_id)

    def require_affordable(self, analyst: Actor, rho: float, query: str) -> None:
        """BudgetExceeded (nothing recorded) when spending ``rho`` for the query ``query`` would go past
        the analyst's budget, or there is none: checked before any noise is drawn (the spend checks it
        again, in the transaction that records it). The refusal states what remains, in rho and in
        epsilon at the deployment's delta, and what would be accepted."""
        require_analyst(analyst, "release with differential privacy", self.path.held_grants)
        budget = self._budget(analyst.party)
        if budget is None:
            raise BudgetExceeded("release with differential privacy",
                                 f"party {analyst.party} holds no privacy budget; an admin grants one with "
                                 f"etrack privacy-budget grant {analyst.party} RHO")
        if not budget.affords(rho, query):
            fits = ("an epsilon whose rho fits in what remains" if self.largest_epsilon is None else
                    f"epsilon {self.largest_epsilon(budget.remaining, self.delta):g} or less (its rho fits in what "
                    "remains)")
            raise BudgetExceeded(
                "release with differential privacy",
                f"it would spend rho {rho:.6g}, and {self.worth(budget.remaining)} of the rho {budget.granted:.6g} "
                f"granted remains (refused before any noise was drawn): ask with {fits}; etrack signals summary "
                "--privacy dp --epsilon E --preview shows the rho of each epsilon, free; or repeat an earlier query "
                "(free on unchanged data), or ask an admin for more")

    @grant_checked
    def spend(self, analyst: Actor, cost: DpCost, query: str) -> CommandResult[bool]:
        """Spend ``cost.rho`` of the analyst's budget for the query whose digest is ``query``, recording what
        the release was made under (``cost``: mechanism, rho, epsilon, delta, threshold) (BudgetExceeded
        when it would go past it), once per digest: True when this call spent it, False when the budget
        had paid for it already (an earlier call, or a concurrent one that committed first: this one
        re-read the budget and found it paid)."""
        require_analyst(analyst, "release with differential privacy", self.path.held_grants)
        if self._budget(analyst.party) is None:  # budgets are never removed: none now is none at commit
            raise BudgetExceeded("release with differential privacy",
                                 f"party {analyst.party} holds no privacy budget; an admin grants one with "
                                 f"etrack privacy-budget grant {analyst.party} RHO")
        return self._change_budget(analyst.party, lambda budget, at: budget.spend(analyst, cost, query, at))

    def balance(self, viewer: Actor, analyst_id: object = None) -> dict[str, Any]:
        """Granted, spent and remaining rho (zCDP, which adds up across releases), and the epsilon the spent
        and the remaining rho are worth at the deployment's delta (None without the conversion): an
        analyst reads their own, an admin anyone's."""
        require_analyst(viewer, "read a privacy budget", self.path.held_grants)
        pid = viewer.party if analyst_id is None else self.path.party(analyst_id).id
        if pid != viewer.party and viewer.role is not Role.ADMIN:
            raise NotPermitted("read a privacy budget", "an analyst reads their own budget only", ["admin"])
        budget = self._budget(pid)
        granted, spent, releases = (budget.granted, budget.spent, budget.releases) if budget else (0.0, 0.0, 0)
        remaining = max(0.0, granted - spent)
        convert = self.epsilon_of
        return {"analyst": str(pid), "granted_rho": round(granted, 9), "spent_rho": round(spent, 9),
                "remaining_rho": round(remaining, 9), "releases": releases, "delta": self.delta,
                "spent_epsilon": None if convert is None else round(convert(spent, self.delta), 6),
                "remaining_epsilon": None if convert is None else round(convert(remaining, self.delta), 6)}
