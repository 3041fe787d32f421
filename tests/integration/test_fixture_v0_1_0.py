"""The store written by 0.1.0 (tests/fixtures/v0_1_0, kept forever) still reads the same.

It is opened from a copy, never in place. See tests/fixtures/v0_1_0/README.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.audit import AuditService, AuditTrail, load_public_key
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.domain import Actor, EngagementTracker, EtrackError, Role

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "v0_1_0"
EXPECTED: dict[str, Any] = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
VIEW_NOW = datetime.fromisoformat(EXPECTED["view_now"])
AUDITOR = Actor(UUID(EXPECTED["party_ids"]["auditor"]), Role.AUDITOR)
ADMIN = Actor(UUID(EXPECTED["party_ids"]["admin"]), Role.ADMIN)
#: 0.1.0 had no grants: the copy grants its recorded admin and auditor, three events of the access
#: register (Created, two RoleGranted) after the 0.1.0 history, which stays as it was.
GRANT_EVENTS = {"etrack:AccessRegister.Created": 1, "etrack:AccessRegister.RoleGranted": 2}
READABLE = sorted(aid for aid, a in EXPECTED["aggregates"].items() if a["type"] in ("Engagement", "Cohort"))

#: The files as 0.1.0 wrote them: a different hash means someone edited or regenerated them.
FROZEN = {
    "checkpoint.json": "eda390ed90daaa6f49850aee6fc615d6f9d1a2d66c141786210e777a42bd7d6b",
    "etrack.sqlite": "0deca3e092a6c102b1c6498a1ed28039c9a4527e1fe685164d26525ecec91551",
    "etrack.sqlite-vault": "80b8f1b98fa0140e590726ff336dd963fa2e80a187384eff0a35833894fc72e4",
    "expected.json": "e616312538c003f56cf9d46f07a00391de903cf8b0f0077c34862163e692001c",
    "public_key.txt": "2be60bce7cd05572f092578d1c5fe286b7a24827b46b2f911649d4418585aa6a",
    "signing.pem": "bcec6e41258cbe93fc565cdecd91687421a5ae8f340136fe2762f37a46bdd7f9",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngagementTracker]:
    copy = tmp_path_factory.mktemp("v0_1_0")
    for name in FROZEN:
        shutil.copyfile(FIXTURE / name, copy / name)
    with pytest.MonkeyPatch.context() as env:
        for var in [k for k in os.environ if k.startswith("ETRACK_")]:
            env.delenv(var)  # the fixture has no cipher key and the default vault path
        tracker = open_tracker(f"sqlite:///{copy / 'etrack.sqlite'}", clock=lambda: VIEW_NOW, create=False)
        tracker.access.initialise(party_id=ADMIN.party)
        tracker.access.grant(AUDITOR.party, Role.AUDITOR, ADMIN)
        try:
            yield tracker
        finally:
            tracker.close()


def outcome(read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A read's result as JSON data, or the refusal's type (as expected.json records them)."""
    try:
        return json.loads(json.dumps(read(*args, **kwargs), sort_keys=True, default=str))
    except EtrackError as exc:
        return {"refused": type(exc).__name__}


def test_the_fixture_files_are_as_0_1_0_wrote_them() -> None:
    changed = [n for n, h in FROZEN.items() if hashlib.sha256((FIXTURE / n).read_bytes()).hexdigest() != h]
    assert not changed, f"{changed} changed: the 0.1.0 fixture is kept forever, never edited or regenerated"


def test_every_aggregate_loads_at_its_recorded_version(app: EngagementTracker) -> None:
    for aid, want in EXPECTED["aggregates"].items():
        agg: Any = app.repository.get(UUID(aid))  # from its snapshot, where it has one
        assert (type(agg).__name__, agg.version) == (want["type"], want["version"]), f"aggregate {aid}"
        replayed = app.replay(aid, AUDITOR)  # every event from the first, no snapshot
        assert (replayed["type"], replayed["version"]) == (want["type"], want["version"]), f"replay of {aid}"
        if want["type"] == "Party":
            assert app.party_name(aid) == want["name"], f"name of party {aid}"


@pytest.mark.parametrize("aid", READABLE)
def test_every_role_reads_what_it_read_in_0_1_0(app: EngagementTracker, aid: str) -> None:
    want = EXPECTED["aggregates"][aid]
    for role, party in want["viewers"].items():
        viewer = Actor(UUID(party), Role(role))
        if want["type"] == "Engagement":
            got = outcome(app.engagements.view, aid, viewer)
        else:
            got = outcome(app.cohorts.view, aid, viewer, now=VIEW_NOW)
        assert got == want["views"][role], f"{want['type']} {aid} as {role}"
    if want["type"] == "Engagement":
        coach = Actor(UUID(want["viewers"]["coach"]), Role.COACH)
        assert outcome(app.engagements.timeline, aid, coach) == want["timeline"], f"timeline of {aid}"


def test_every_topic_occurs_as_often_as_in_0_1_0(app: EngagementTracker) -> None:
    topics: Counter[str] = Counter()
    start = 1
    while page := app.recorder.select_notifications(start, 500):
        topics.update(n.topic for n in page)
        start = page[-1].id + 1
    grants = {t: topics.pop(t) for t in list(topics) if t.startswith("etrack:AccessRegister.")}
    assert dict(topics) == EXPECTED["topics"] and grants == GRANT_EVENTS


def test_the_0_1_0_checkpoint_verifies(app: EngagementTracker) -> None:
    checkpoint = json.loads((FIXTURE / "checkpoint.json").read_text())
    public_key = load_public_key((FIXTURE / "public_key.txt").read_text())
    report = AuditService(app).verify(AUDITOR, checkpoint, public_key)
    assert report.ok, report.to_dict()
    # the 0.1.0 head is where it was; the copy's grants came after it
    at_checkpoint = AuditTrail(app).view.entries(checkpoint["position"], 1)[0]
    assert (at_checkpoint.position, at_checkpoint.entry_hash) == (checkpoint["position"], checkpoint["head_hash"])
    assert report.head_position == checkpoint["position"] + sum(GRANT_EVENTS.values())


def test_a_projection_rebuild_gives_the_same_trail(app: EngagementTracker) -> None:
    ProjectionRunner(app).rebuild()
    trail = AuditTrail(app).view
    want = EXPECTED["audit_trail"]
    entries = trail.entries()
    head = entries[want["head_position"] - 1]  # the 0.1.0 head; the copy's grants follow it
    assert (len(entries) - sum(GRANT_EVENTS.values()), head.position, head.entry_hash) == (
        want["length"], want["head_position"], want["head_hash"])
    test_the_0_1_0_checkpoint_verifies(app)
