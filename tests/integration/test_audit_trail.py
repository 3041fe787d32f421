"""Tampering with a real SQLite file: every fault is found, at the exact first bad position."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Actor, NotPermitted, Role
from engagement_tracker.domain.grants import AccessRegister
from engagement_tracker.projections.audit_chain import GENESIS, chain_hash, verify, verify_scan
from engagement_tracker.projections.audit_trail import public_key_hex
from tests.support import Cast, CohortCast, FakeClock, drive, event_count, frame_cohort, granted, new_tracker, open_engagement


def record_history(url: str) -> Actor:
    app = new_tracker(url, FakeClock())
    cast = Cast.register(app)
    for milestone in ("closed", "accompaniment.in_progress", "framing.coherence"):
        drive(app, cast, open_engagement(app, cast), milestone)
    frame_cohort(app, CohortCast.register(app))
    auditor = granted(app, Role.AUDITOR, "Audit & Co")
    bootstrap.audit_service(app).trail.catch_up()
    app.close()
    return auditor


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Actor, int]:
    directory = tmp_path_factory.mktemp("audit-template")
    auditor = record_history(f"sqlite:///{directory / 'etrack.sqlite'}")
    con = sqlite3.connect(directory / "etrack.sqlite")
    try:
        rows = con.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0]
    finally:
        con.close()
    return directory, auditor, rows


def register_rows(directory: Path) -> set[int]:
    """Rows of the access register: damage there refuses the auditor's own grant, so the tamper tests
    below damage every other record (an unreadable register refuses every privileged read)."""
    ids = (str(AccessRegister.ID), AccessRegister.ID.hex)
    con = sqlite3.connect(directory / "etrack.sqlite")  # closed at once: an open reader keeps -shm files coming and going
    try:
        return {r for (r,) in con.execute("SELECT rowid FROM stored_events WHERE originator_id IN (?, ?)", ids)}
    finally:
        con.close()


def positions(directory: Path, rows: int, below: int | None = None) -> st.SearchStrategy[int]:
    skip = register_rows(directory)
    return st.sampled_from([p for p in range(1, (below or rows) + 1) if p not in skip and p + 1 not in skip])


def copy_store(template: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for f in template.iterdir():
        if f.name.endswith("-shm"):  # SQLite's shared-memory index: rebuilt by whoever opens the copy
            continue
        try:
            shutil.copy(f, target / f.name)
        except FileNotFoundError:  # a -wal file the last closing reader just checkpointed away
            if not f.name.endswith("-wal"):
                raise
    return target / "etrack.sqlite"


def tamper(db: Path, kind: str, p: int, q: int) -> None:
    con = sqlite3.connect(db)
    with con:
        if kind == "modified":
            con.execute("UPDATE stored_events SET state = state || x'20' WHERE rowid = ?", (p,))
        elif kind == "deleted":
            con.execute("DELETE FROM stored_events WHERE rowid = ?", (p,))
        elif kind == "inserted":  # a forged record slipped in at p, the rest shifted up
            con.execute("UPDATE stored_events SET rowid = rowid + 1000000 WHERE rowid >= ?", (p,))
            con.execute("UPDATE stored_events SET rowid = rowid - 999999 WHERE rowid >= 1000000")
            con.execute(
                "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
                "SELECT ?, ?, originator_version, topic, state FROM stored_events WHERE rowid = ?",
                (p, uuid4().hex, p + 1),
            )
        elif kind == "reordered":  # two records swap places
            con.execute("UPDATE stored_events SET rowid = -1 WHERE rowid = ?", (p,))
            con.execute("UPDATE stored_events SET rowid = ? WHERE rowid = ?", (p, q))
            con.execute("UPDATE stored_events SET rowid = ? WHERE rowid = -1", (q,))
    con.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["modified", "deleted", "inserted", "reordered"]), data=st.data())
def test_tampering_is_found_at_the_exact_first_position(template, tmp_path: Path, kind: str, data) -> None:
    directory, auditor, rows = template
    p = data.draw(positions(directory, rows, rows - 1 if kind == "reordered" else rows), label="position")
    q = data.draw(positions(directory, rows).filter(lambda q: q > p), label="other") if kind == "reordered" else p
    db = copy_store(directory, tmp_path / f"{kind}-{p}-{q}-{uuid4().hex[:6]}")
    tamper(db, kind, p, q)
    app = new_tracker(f"sqlite:///{db}")
    report = bootstrap.audit_service(app).verify(auditor).to_dict()
    app.close()
    assert not report["ok"]
    assert (report["first_bad_position"], report["kind"]) == (p, kind), report["faults"][:3]


def test_an_intact_store_verifies_and_the_trail_chains(template, tmp_path: Path) -> None:
    directory, auditor, rows = template
    db = copy_store(directory, tmp_path / "intact")
    app = new_tracker(f"sqlite:///{db}")
    service = bootstrap.audit_service(app)
    report = service.verify(auditor)
    entries = service.entries(auditor)
    assert report.ok and report.checked == rows == len(entries)
    prev = GENESIS
    for e in entries:  # an independent verifier, as the README describes it
        assert e.entry_hash == chain_hash(prev, e.position, e.aggregate_id, e.version, e.topic, e.state_sha256,
                                          e.actor, e.role, e.recorded_at)
        prev = e.entry_hash
    assert report.head_hash == prev
    assert {e.role for e in entries if e.aggregate_type == "Engagement"} >= {"coach", "coachee"}
    app.close()


def test_a_store_that_only_grew_verifies_against_its_checkpoint(template, tmp_path: Path) -> None:
    directory, auditor, _ = template
    db = copy_store(directory, tmp_path / "grew")
    key = Ed25519PrivateKey.generate()
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    service = bootstrap.audit_service(app)
    checkpoint = service.checkpoint(auditor, key)
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.diagnosis")
    report = service.verify(auditor, checkpoint, key.public_key())
    assert report.ok and report.pending > 0  # new records, not yet in the trail, are no fault
    service.trail.catch_up()
    assert service.verify(auditor, checkpoint, key.public_key()).ok
    app.close()


def test_a_rewritten_history_with_a_rebuilt_chain_fails_the_old_checkpoint(template, tmp_path: Path) -> None:
    directory, auditor, _ = template
    db = copy_store(directory, tmp_path / "rewritten")
    key = Ed25519PrivateKey.generate()
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    checkpoint = bootstrap.audit_service(app).checkpoint(auditor, key)
    app.close()
    edited = min(r for r in range(5, 100) if r not in register_rows(directory))
    tamper(db, "modified", edited, 0)
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    service = bootstrap.audit_service(app)
    service.trail.rebuild()  # the forger recomputes the whole chain
    report = service.verify(auditor, checkpoint, key.public_key()).to_dict()
    # the record's seal names it exactly: the trail, rebuilt, agrees with the store, the seal does not
    assert (report["first_bad_position"], report["kind"]) == (edited, "modified"), report["faults"]
    assert "record seal" in report["faults"][-1]["detail"]
    assert {f["kind"] for f in report["faults"]} == {"checkpoint_mismatch", "modified"}
    # the signed Merkle frontier names the first subtree whose root changed, around the edited record
    # (the 0.1.0 chain head alone could only say "before position 70")
    merkle = next(f for f in report["faults"] if "diverges within" in f["detail"])
    low, high = (int(x) for x in merkle["detail"].split("positions ")[1].rstrip(")").split(".."))
    assert low <= edited <= high < checkpoint["position"]
    app.close()


def test_a_forged_or_foreign_checkpoint_signature_is_refused(template, tmp_path: Path) -> None:
    directory, auditor, _ = template
    db = copy_store(directory, tmp_path / "forged")
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    service = bootstrap.audit_service(app)
    checkpoint = service.checkpoint(auditor, key)
    assert checkpoint["public_key"] == public_key_hex(key.public_key())
    edited = dict(checkpoint, created_at="2020-01-01T00:00:00+00:00")
    assert service.verify(auditor, edited, key.public_key()).to_dict()["kind"] == "bad_signature"
    foreign = service.checkpoint(auditor, other)
    report = service.verify(auditor, foreign, key.public_key()).to_dict()
    assert report["kind"] == "bad_signature" and "another key" in report["faults"][0]["detail"]
    app.close()


def test_rebuild_reproduces_the_same_entries_and_head(template, tmp_path: Path) -> None:
    directory, auditor, _ = template
    db = copy_store(directory, tmp_path / "rebuild")
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    service = bootstrap.audit_service(app)
    before = service.entries(auditor)
    assert service.trail.rebuild() == len(before)
    assert service.entries(auditor) == before
    assert service.trail.catch_up() == 0  # exactly once: nothing projected twice
    app.close()


def test_only_auditors_and_admins_read_the_trail(tracker, cast) -> None:
    service = bootstrap.audit_service(tracker)
    for actor in (cast.coach, cast.coachee, cast.sponsor, Actor(cast.coach.party, Role.ANALYST)):
        with pytest.raises(NotPermitted):
            service.entries(actor)
    admin = granted(tracker, Role.ADMIN, "Admin")
    assert len(service.entries(admin)) == event_count(tracker)


def test_tampering_with_the_trail_itself_is_found(template, tmp_path: Path) -> None:
    directory, auditor, rows = template
    for case in ("last", "middle", "duplicate", "actor"):
        db = copy_store(directory, tmp_path / f"trail-{case}")
        with sqlite3.connect(db) as con:
            if case == "last":
                con.execute("DELETE FROM audit_trail WHERE position = ?", (rows,))
            elif case == "middle":
                con.execute("DELETE FROM audit_trail WHERE position = 10")
            elif case == "actor":  # who did it, rewritten in the trail
                con.execute("UPDATE audit_trail SET actor = '00000000-0000-4000-8000-000000000000' "
                            "WHERE position = 8")
            else:
                con.execute("UPDATE audit_trail SET aggregate_id = (SELECT aggregate_id FROM audit_trail "
                            "WHERE position = 3), version = (SELECT version FROM audit_trail WHERE position = 3) "
                            "WHERE position = 4")
        app = new_tracker(f"sqlite:///{db}")
        report = bootstrap.audit_service(app).verify(auditor).to_dict()
        app.close()
        assert not report["ok"], case
        assert "trail_modified" in {f["kind"] for f in report["faults"]}, (case, report["faults"][:3])


def test_a_checkpoint_needs_a_trusted_key_and_an_empty_store_checkpoints(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    app = new_tracker(f"sqlite:///{tmp_path / 'empty.sqlite'}", FakeClock())
    service = bootstrap.audit_service(app)
    with pytest.raises(NotPermitted, match="holds no auditor grant"):  # an empty store has no auditor
        service.checkpoint(Actor(uuid4(), Role.AUDITOR), key)
    auditor = granted(app, Role.AUDITOR, "Aude")  # the store holds the admin's and the auditor's grants only
    empty = service.checkpoint(auditor, key)
    assert empty["position"] == event_count(app) and service.verify(auditor, empty, key.public_key()).ok
    report = service.verify(auditor, empty).to_dict()  # no trusted key: the signer is unknown
    assert report["kind"] == "bad_signature" and "no trusted public key" in report["faults"][0]["detail"]
    app.close()


def forge(db: Path, kind: str, p: int) -> None:
    """Forgeries that eventsourcing would load but a reader of positions 1.. or of UUIDs might miss."""
    with sqlite3.connect(db) as con:
        oid, version = con.execute("SELECT originator_id, originator_version FROM stored_events WHERE rowid = ?",
                                   (p,)).fetchone()
        dashed = str(UUID(oid))
        if kind == "below":  # a forged next version, hidden at rowid 0
            con.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
                        "SELECT 0, originator_id, originator_version + 1000, topic, state FROM stored_events "
                        "WHERE rowid = ?", (p,))
        elif kind in ("dashed", "upper"):  # the event no longer belongs to its aggregate
            con.execute("UPDATE stored_events SET originator_id = ? WHERE rowid = ?",
                        (dashed if kind == "dashed" else oid.upper(), p))
        else:  # the same record stored twice, under the id's other spelling
            con.execute("INSERT INTO stored_events (originator_id, originator_version, topic, state) "
                        "SELECT ?, originator_version, topic, state FROM stored_events WHERE rowid = ?", (dashed, p))
    assert version >= 1


@pytest.mark.parametrize("kind", ["below", "dashed", "upper", "duplicate"])
def test_forged_ids_and_hidden_rows_are_found(template, tmp_path: Path, kind: str) -> None:
    directory, auditor, rows = template
    db = copy_store(directory, tmp_path / kind)
    p = min(r for r in range(5, rows) if r not in register_rows(directory))
    forge(db, kind, p)
    app = new_tracker(f"sqlite:///{db}")
    service = bootstrap.audit_service(app)
    service.trail.catch_up()  # the forged rows are projected like any other
    report = service.verify(auditor).to_dict()
    app.close()
    assert not report["ok"], kind
    expected = {"below": (0, {"inserted"}), "dashed": (p, {"modified"}), "upper": (p, {"modified"}),
                # projected from eventsourcing's parsed id, the copy names the record at 5 again
                "duplicate": (rows + 1, {"inserted", "trail_modified"})}[kind]
    assert report["first_bad_position"] == expected[0] and report["kind"] in expected[1], report["faults"][:3]


def fast_and_slow(app) -> tuple[object, object]:  # type: ignore[no-untyped-def]
    """The in-database streaming scan and the classifying comparison, on the same store."""
    trail = bootstrap.audit_trail(app)
    tracked = trail.position()
    fast = trail.events.scan(lambda rows, n, seals: verify_scan(rows, n, tracked=tracked, seals=seals))
    slow = verify(trail.stored_records(), trail.view.entries(), tracked=tracked)
    sealed = trail.events.seal_check()  # the full seal check: the fast scan checks the seals in its one pass
    if sealed is not None:  # None: a PostgreSQL store without ETRACK_RECORD_KEY keeps no seals
        slow.sealed = sealed.checked
        slow.faults.extend(sealed.faults)
    return fast, slow


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["none", "modified", "deleted", "inserted", "reordered", "trail", "grown", "below",
                             "dashed", "upper", "duplicate"]),
       data=st.data())
def test_the_fast_scan_never_passes_what_the_full_comparison_fails(template, tmp_path: Path, kind: str, data) -> None:
    """verify_scan either proves the store intact with the very report the full check gives, or defers."""
    directory, _, rows = template
    p = data.draw(positions(directory, rows, rows - 1), label="position")
    db = copy_store(directory, tmp_path / f"fast-{kind}-{p}-{uuid4().hex[:6]}")
    if kind in ("modified", "deleted", "inserted", "reordered"):
        tamper(db, kind, p, p + 1)
    elif kind == "trail":
        with sqlite3.connect(db) as con:
            con.execute("UPDATE audit_trail SET recorded_at = '1999-01-01T00:00:00' WHERE position = ?", (p,))
    elif kind in ("below", "dashed", "upper", "duplicate"):
        forge(db, kind, p)
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    if kind == "duplicate":  # once projected, the copy is checked like every entry
        bootstrap.audit_trail(app).catch_up()
    if kind == "grown":  # records the trail has not projected yet: pending, not faults
        cast = Cast.register(app)
        open_engagement(app, cast)
    fast, slow = fast_and_slow(app)
    app.close()
    assert slow.ok == (kind in ("none", "grown"))  # type: ignore[attr-defined]
    if kind in ("none", "grown"):
        assert fast is not None, "an intact store must take the fast path"
        assert fast.to_dict() == slow.to_dict()  # type: ignore[attr-defined]
    else:
        assert fast is None
