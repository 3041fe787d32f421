"""0.1.0's sessions and contracts (class version 1) read through the chain v1 -> v2 -> v3.

v1 -> v2 (command ids, the Stamped mixin) gives ``command_id = None``; v2 -> v3 (the ICF hours
log) gives ``billing = "paid"`` and no group size. 0.1.0's snapshots (aggregate state, version 1)
gain the new state fields through ``EngagementHistory.upcast_v1_v2``. The fixture is read from a
copy, never in place (tests/integration/test_fixture_v0_1_0.py keeps checking it is unchanged).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from engagement_tracker.adapters import open_tracker
from engagement_tracker.domain import Actor, EngagementTracker, Role
from engagement_tracker.domain.engagement import Engagement
from tests.integration.test_fixture_v0_1_0 import ADMIN, EXPECTED, FIXTURE, FROZEN, VIEW_NOW


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("v0_1_0_billing")
    for name in FROZEN:
        shutil.copyfile(FIXTURE / name, where / name)
    return where


@pytest.fixture(scope="module")
def app(copy: Path) -> Iterator[EngagementTracker]:
    with pytest.MonkeyPatch.context() as env:
        for var in [k for k in os.environ if k.startswith("ETRACK_")]:
            env.delenv(var)
        tracker = open_tracker(f"sqlite:///{copy / 'etrack.sqlite'}", clock=lambda: VIEW_NOW, create=False)
        tracker.access.initialise(party_id=ADMIN.party)
        try:
            yield tracker
        finally:
            tracker.close()


def stored_versions(copy: Path, topic: str) -> set[object]:
    """The class versions as 0.1.0 stored them (absent: version 1)."""
    db = sqlite3.connect(copy / "etrack.sqlite")
    try:
        rows = db.execute("SELECT state FROM stored_events WHERE topic = ?", (topic,)).fetchall()
    finally:
        db.close()
    return {json.loads(bytes(r[0]).decode()).get("class_version", 1) for r in rows}


def test_the_stored_sessions_and_contracts_are_class_version_1(copy: Path) -> None:
    assert stored_versions(copy, "etrack:Engagement.SessionHeld") == {1}
    assert stored_versions(copy, "etrack:Engagement.ContractFixed") == {1}


def test_old_sessions_and_contracts_read_as_paid_with_no_command_id(app: EngagementTracker) -> None:
    sessions = contracts = 0
    for eid in app.engagements.ids():
        for event in app.events.get(eid):
            if isinstance(event, Engagement.SessionHeld):
                assert (event.billing, event.group_size, event.command_id) == ("paid", None, None)
                sessions += 1
            if isinstance(event, Engagement.ContractFixed):
                assert (event.billing, event.command_id) == ("paid", None)
                contracts += 1
    assert (sessions, contracts) == (EXPECTED["topics"]["etrack:Engagement.SessionHeld"],
                                     EXPECTED["topics"]["etrack:Engagement.ContractFixed"])


def test_snapshots_and_replays_agree_on_the_new_state(app: EngagementTracker) -> None:
    for aid, want in EXPECTED["aggregates"].items():
        if want["type"] != "Engagement":
            continue
        from_snapshot = app.repository.get(UUID(aid))  # its 0.1.0 snapshot is ignored: replayed from events
        assert from_snapshot.contract_billing == "paid" and not from_snapshot.icf_named
        record = app.engagements.record(UUID(aid))
        assert all(record.billing_of(s.number) == "paid" for s in record.sessions)


def test_the_0_1_0_coaches_read_their_icf_log(app: EngagementTracker) -> None:
    coaches = {v["viewers"]["coach"] for v in EXPECTED["aggregates"].values() if v["type"] == "Engagement"}
    total = 0
    for coach in coaches:
        log = app.engagements.coach_hours(Actor(UUID(coach), Role.COACH))
        assert all(line["paid_hours"] == line["hours"] and line["client"] == "confidential" for line in log["lines"])
        total += len(log["lines"])
    assert total == EXPECTED["topics"]["etrack:Engagement.SessionHeld"]
