"""Privacy budgets of the application: an admin grants epsilon to an analyst; differentially
private releases spend it; an analyst (or admin) reads what remains.

The budget itself (``domain/privacy_budget.py``) decides; this mixin checks grants and saves
through the command path: a clash (two spends at the same instant) re-reads and re-decides.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from engagement_tracker.domain.access import grant_checked, require_analyst, require_grant
from engagement_tracker.domain.command_ids import CommandOutcome
from engagement_tracker.domain.command_path import CommandPath
from engagement_tracker.domain.errors import BudgetExceeded, InvalidInput, NotPermitted
from engagement_tracker.domain.privacy_budget import PrivacyBudget, require_epsilon
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role


class BudgetCommands(CommandPath):
    """``app.grant_privacy_budget``, ``app.spend_privacy_budget``, ``app.privacy_budget``."""

    def _budget(self, analyst: UUID) -> PrivacyBudget | None:
        try:
            budget: PrivacyBudget = self.repository.get(PrivacyBudget.id_for(analyst))
        except AggregateNotFoundError:
            return None
        return budget

    def _change_budget(self, analyst: UUID, decide: Any, create: bool, command_id: object = None) -> None:
        cid = self._command_id(command_id)
        for _attempt in self.attempts(f"privacy budget of {analyst}"):
            at: datetime = self._now()
            budget = self._budget(analyst)
            if command_id is not None and budget is not None:  # asked of the state decided on (as _update does)
                stored = self._stored_versions(budget.id, cid, budget.version)
                if stored:
                    self._tell(CommandOutcome(cid, False, budget.id, stored))
                    return
            if budget is None:
                if not create:
                    decide(None, at)  # raises: no budget was granted
                budget = PrivacyBudget.start(analyst, at)
            decide(budget, at)
            if not budget.pending_events:  # nothing to record: a query this budget paid for already
                return
            if self._commit(cid, "privacy budget", budget):
                return
            # else another spend or grant committed first: re-read and re-decide

    @grant_checked
    def grant_privacy_budget(
        self, analyst_id: object, epsilon: object, admin: Actor, *, command_id: object = None
    ) -> None:
        """An admin (holding the admin grant now) adds ``epsilon`` to the budget of a party holding the
        analyst grant now (NotPermitted for any other party: nothing is recorded)."""
        if not isinstance(admin, Actor):
            raise InvalidInput("admin", f"expected Actor(party, role), got {type(admin).__name__}")
        amount = require_epsilon(epsilon)
        if admin.role is not Role.ADMIN:
            raise NotPermitted("grant a privacy budget", f"a {admin.role.value} may not: only an admin does", ["admin"])
        require_grant(admin, Role.ADMIN, self.held_grants, "grant a privacy budget")
        pid = self.party(analyst_id).id
        if Role.ANALYST.value not in self.held_grants().get(str(pid), frozenset()):
            raise NotPermitted("grant a privacy budget",
                               f"party {pid} holds no analyst grant, and a budget is spent only by analysts' "
                               f"releases; grant it first with etrack grant analyst {pid}", ["an analyst"])
        self._change_budget(pid, lambda budget, at: budget.grant(admin, amount, at), create=True, command_id=command_id)

    @grant_checked
    def spend_privacy_budget(self, analyst: Actor, epsilon: float, query: str) -> bool:
        """Spend ``epsilon`` of the analyst's budget for the query whose digest is ``query``
        (BudgetExceeded when it would go past it), once per digest: True when this call spent it,
        False when the budget had paid for it already (an earlier call, or a concurrent one that
        committed first: this one re-read the budget and found it paid)."""
        require_analyst(analyst, "release with differential privacy", self.held_grants)
        spent = False

        def decide(budget: PrivacyBudget | None, at: datetime) -> None:
            nonlocal spent
            if budget is None:
                raise BudgetExceeded("release with differential privacy",
                                     f"party {analyst.party} holds no privacy budget; an admin grants one with "
                                     f"etrack privacy-budget grant {analyst.party} EPSILON")
            spent = budget.spend(analyst, epsilon, query, at)

        self._change_budget(analyst.party, decide, create=False)
        return spent

    def privacy_budget(self, viewer: Actor, analyst_id: object = None) -> dict[str, Any]:
        """Granted, spent and remaining epsilon: an analyst reads their own, an admin anyone's."""
        require_analyst(viewer, "read a privacy budget", self.held_grants)
        pid = viewer.party if analyst_id is None else self.party(analyst_id).id
        if pid != viewer.party and viewer.role is not Role.ADMIN:
            raise NotPermitted("read a privacy budget", "an analyst reads their own budget only", ["admin"])
        budget = self._budget(pid)
        granted, spent, releases = (budget.granted, budget.spent, budget.releases) if budget else (0.0, 0.0, 0)
        return {"analyst": str(pid), "granted": round(granted, 9), "spent": round(spent, 9),
                "remaining": round(max(0.0, granted - spent), 9), "releases": releases}
