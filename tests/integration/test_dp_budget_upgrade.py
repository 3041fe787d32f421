"""Budgets recorded before they were kept in rho (class version 2: pure-DP epsilon) read through the
upcasters as rho = epsilon^2 / 2, with the old releases' mechanism and delta.

The frozen store in tests/fixtures/v0_1_0 holds no budget events (tests/fixtures/v0_2_budgets does, read
by test_fixture_v0_2_budgets.py); here the old form's stored JSON is also written, byte for byte as the
code of class version 2 stored it (captured from that code on 2026-12-07:
``app.budgets.grant(analyst, 2.0, admin)`` then a spend of epsilon 0.5), only the party ids and command
ids put in; the store's own events are rewritten to it in place.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engagement_tracker.domain import BudgetExceeded
from engagement_tracker.domain.privacy_budget import DpCost, PrivacyBudget
from engagement_tracker.domain.vocabulary import Role
from tests.support import admin, granted, new_tracker

QUERY = "ab" * 32
OLD_GRANTED = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-01T09:00:06+00:00"},"actor":{"_type_":"etrack.actor",'
    b'"_data_":{"party":{"_type_":"uuid_hex","_data_":"ADMIN"},"role":"admin"}},"epsilon":2.0,'
    b'"command_id":"84bef67f-3afb-4811-b338-84ef3ffb63cb","class_version":2}')
OLD_SPENT = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-01T09:00:07+00:00"},"actor":{"_type_":"etrack.actor",'
    b'"_data_":{"party":{"_type_":"uuid_hex","_data_":"ANALYST"},"role":"analyst"}},"epsilon":0.5,'
    b'"query":"abababababababababababababababababababababababababababababababab",'
    b'"command_id":"cef1e140-ed38-4c7b-8197-f80d51030b48","class_version":2}')


def test_old_epsilon_budgets_read_as_rho_and_an_old_paid_query_stays_free(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url)
    analyst, boss = granted(app, Role.ANALYST, "Ana Lyst"), admin(app)
    app.budgets.grant(analyst.party, 1.0, boss)  # version 2, rewritten to the old grant below
    app.budgets.spend(analyst, DpCost(0.1, 1.0, 1e-6, "gaussian_threshold", 49), QUERY)  # version 3: the old spend
    app.close()
    budget_id = PrivacyBudget.id_for(analyst.party).hex
    with sqlite3.connect(tmp_path / "etrack.sqlite") as db:
        for version, old in ((2, OLD_GRANTED), (3, OLD_SPENT)):
            state = old.replace(b"ADMIN", boss.party.hex.encode()).replace(b"ANALYST", analyst.party.hex.encode())
            changed = db.execute("UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
                                 (state, budget_id, version)).rowcount
            assert changed == 1
    app = new_tracker(url)
    try:
        balance = app.budgets.balance(analyst)
        assert (balance["granted_rho"], balance["spent_rho"], balance["remaining_rho"], balance["releases"]) == (
            2.0, 0.125, 1.875, 1)  # epsilon 2 is rho 2^2/2 = 2; epsilon 0.5 is rho 0.125
        budget = app.repository.get(PrivacyBudget.id_for(analyst.party))
        granted_event, spent_event = list(app.repository.event_store.get(budget.id))[1:]
        assert isinstance(granted_event, PrivacyBudget.BudgetGranted) and granted_event.rho == 2.0
        assert isinstance(spent_event, PrivacyBudget.BudgetSpent)
        assert (spent_event.rho, spent_event.epsilon, spent_event.delta, spent_event.mechanism, spent_event.threshold,
                spent_event.query, spent_event.command_id) == (
            0.125, 0.5, 1e-6, "laplace_threshold", None, QUERY, "cef1e140-ed38-4c7b-8197-f80d51030b48")
        # the query the old budget paid for is still paid: asking it again spends nothing
        assert app.budgets.spend(analyst, DpCost(0.1, 1.0, 1e-6, "gaussian_threshold", 49), QUERY).value is False
        # and the rest of the upgraded budget is spent in rho
        assert app.budgets.spend(analyst, DpCost(1.8, 9.0, 1e-6, "gaussian_threshold", 8), "cd" * 32).value is True
        with pytest.raises(BudgetExceeded, match=r"rho 0\.075 \(epsilon [0-9.]+ at delta 1e-06\) of the rho 2 granted"):
            app.budgets.require_affordable(analyst, 0.1, "ef" * 32)
    finally:
        app.close()
