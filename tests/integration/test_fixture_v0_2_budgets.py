"""The frozen store of budgets kept in epsilon (tests/fixtures/v0_2_budgets, made by the code of commit 8394b4f)
reads as budgets in rho: epsilon 2.0 granted is rho 2.0 (epsilon² / 2), the spend of epsilon 0.5 is rho 0.125,
the query it paid for is answered from its recorded answer and spends nothing, and the trail verifies.

It is opened from a copy, never in place. See tests/fixtures/v0_2_budgets/README.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.bootstrap import analyst_service
from engagement_tracker.domain import Actor, EngagementTracker, Role
from engagement_tracker.domain.privacy_budget import PrivacyBudget

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "v0_2_budgets"
EXPECTED: dict[str, Any] = json.loads((FIXTURE / "expected.json").read_text())
ANALYST = Actor(UUID(EXPECTED["analyst"]), Role.ANALYST)
ADMIN = Actor(UUID(EXPECTED["admin"]), Role.ADMIN)
FROZEN = {
    "etrack.sqlite": "2e49cfcd4f05cedfd3675d58fea488d71ab6c44ea2e976f00e8751577190d11c",
    "etrack.sqlite-record-key": "9975e1b525bddd2bcc6c6459968d63915c2ce21af20186b522ccefa87d2d1527",
    "etrack.sqlite-vault": "b8eb30326d327e0000ab28a20bcd30bee5a69247ed6fd5a2b52c9d60d3627584",
    "expected.json": "140bb44559399c063be78fd8690fcfb6d9a843466f08844650ba89c9d086bc02",
}


def test_the_fixture_is_as_it_was_made() -> None:
    for name, digest in FROZEN.items():
        assert hashlib.sha256((FIXTURE / name).read_bytes()).hexdigest() == digest, f"{name} was edited or regenerated"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngagementTracker]:
    copy = tmp_path_factory.mktemp("v0_2_budgets")
    for name in FROZEN:
        shutil.copyfile(FIXTURE / name, copy / name)
    with pytest.MonkeyPatch.context() as env:
        for var in [k for k in os.environ if k.startswith("ETRACK_")]:
            env.delenv(var)  # the fixture has no cipher key and the default vault and record-key paths
        tracker = open_tracker(f"sqlite:///{copy / 'etrack.sqlite'}", clock=lambda: datetime(2026, 12, 1, tzinfo=UTC),
                               create=False)
        try:
            yield tracker
        finally:
            tracker.close()


def test_the_old_epsilon_budget_reads_as_rho(app: EngagementTracker) -> None:
    old = EXPECTED["balance"]
    assert (old["granted"], old["spent"], old["releases"]) == (2.0, 0.5, 1)  # what the old code read
    balance = app.budgets.balance(ADMIN, ANALYST.party)
    assert (balance["granted_rho"], balance["spent_rho"], balance["remaining_rho"], balance["releases"]) == (
        2.0, 0.125, 1.875, 1)
    granted, spent = list(app.repository.event_store.get(PrivacyBudget.id_for(ANALYST.party)))[1:]
    assert isinstance(granted, PrivacyBudget.BudgetGranted) and granted.rho == 2.0
    assert isinstance(spent, PrivacyBudget.BudgetSpent)
    assert (spent.rho, spent.epsilon, spent.delta, spent.mechanism) == (0.125, 0.5, 1e-6, "laplace_threshold")


def test_the_query_the_old_budget_paid_for_is_answered_again_for_free(app: EngagementTracker) -> None:
    q = EXPECTED["query"]
    before = app.budgets.balance(ADMIN, ANALYST.party)
    rel = analyst_service(app).summary(ANALYST, q["by"], period=q["period"], since=q["since"], until=q["until"],
                                       privacy="dp", epsilon=EXPECTED["epsilon_asked"])
    assert rel.repeated and rel.epsilon == EXPECTED["release"]["epsilon"]
    assert [r.to_dict() for r in rel.rows] == EXPECTED["release"]["rows"]
    assert app.budgets.balance(ADMIN, ANALYST.party) == before


def test_the_trail_of_the_old_store_verifies(app: EngagementTracker) -> None:
    report = app.audit.verify(ADMIN)
    assert report.ok, report
