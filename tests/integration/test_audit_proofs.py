"""Checkpoints as signed notes, offline inclusion bundles, consistency proofs: the API, the CLI, the README's verifier."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import InvalidInput, NotPermitted, Role, StoreError
from engagement_tracker.projections.audit_log import check_bundle, key_id, raw_public_key
from engagement_tracker.projections.merkle import verify_consistency
from tests.support import Cast, FakeClock, drive, grant, granted, new_tracker, open_engagement

ROOT = Path(__file__).resolve().parents[2]


def etrack(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", *args], cwd=cwd,
                          capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})


def test_a_checkpoint_is_a_c2sp_signed_note(tracker) -> None:  # type: ignore[no-untyped-def]
    cast = Cast.register(tracker)
    drive(tracker, cast, open_engagement(tracker, cast), "framing.diagnosis")
    auditor = granted(tracker, Role.AUDITOR, "Aude")
    key = Ed25519PrivateKey.generate()
    cp = bootstrap.audit_service(tracker).checkpoint(auditor, key, "example.org/coaching-log")
    body, blank, signature = cp["note"].partition("\n\n")
    assert blank and body.split("\n") == ["example.org/coaching-log", str(cp["size"]),
                                          base64.b64encode(bytes.fromhex(cp["root_hash"])).decode()]
    dash, name, b64 = signature.rstrip("\n").split(" ")
    raw = base64.b64decode(b64)
    assert dash == "\u2014" and name == "example.org/coaching-log" and len(raw) == 68
    assert raw[:4] == key_id(name, key.public_key()) == __import__("hashlib").sha256(
        name.encode() + b"\n\x01" + raw_public_key(key.public_key())).digest()[:4]
    key.public_key().verify(raw[4:], (body + "\n").encode())
    assert cp["size"] == len(bootstrap.audit_service(tracker).entries(auditor))
    with pytest.raises(InvalidInput):
        bootstrap.audit_service(tracker).checkpoint(auditor, key, "two\nlines")


def test_a_bundle_verifies_offline_and_after_the_subject_is_erased(tmp_path: Path) -> None:
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    auditor = granted(app, Role.AUDITOR, "Aude")
    admin = granted(app, Role.ADMIN, "DPO")
    service = bootstrap.audit_service(app)
    key = Ed25519PrivateKey.generate()
    bundle = service.prove(auditor, eid, signing_key=key)
    assert [e["version"] for e in bundle["entries"]] == list(range(1, len(bundle["entries"]) + 1))
    assert check_bundle(bundle, key.public_key()) == []
    app.parties.erase(cast.coachee.party, admin)  # the coachee's key destroyed: their content unreadable
    checkpoint = service.checkpoint(auditor, key)
    after = service.prove(auditor, eid, checkpoint)
    assert check_bundle(after, key.public_key()) == []
    assert [e["leaf_hash"] for e in after["entries"]] == [e["leaf_hash"] for e in bundle["entries"]]
    assert check_bundle(bundle, key.public_key()) == []  # the old bundle holds too: nothing it proves changed
    # any change to what the bundle proves fails it
    for field, value in (("actor", None), ("version", 99), ("state_sha256", "0" * 64), ("index", 0)):
        forged = json.loads(json.dumps(after))
        forged["entries"][2][field] = value
        assert check_bundle(forged, key.public_key()), field
    assert check_bundle(after, Ed25519PrivateKey.generate().public_key())  # another signer
    with pytest.raises(NotPermitted):
        service.prove(cast.coach, eid, checkpoint)
    with pytest.raises(InvalidInput):
        service.prove(auditor, "not-an-id", checkpoint)
    app.close()


def test_consistency_proofs_between_checkpoints(tracker) -> None:  # type: ignore[no-untyped-def]
    cast = Cast.register(tracker)
    auditor = granted(tracker, Role.AUDITOR, "Aude")
    service = bootstrap.audit_service(tracker)
    key = Ed25519PrivateKey.generate()
    old = service.checkpoint(auditor, key)
    drive(tracker, cast, open_engagement(tracker, cast), "accompaniment.in_progress")
    new = service.checkpoint(auditor, key)
    proof = service.consistency(auditor, old, new)
    assert (proof["old_size"], proof["new_size"]) == (old["size"], new["size"]) and old["size"] < new["size"]
    assert (proof["old_root"], proof["new_root"]) == (old["root_hash"], new["root_hash"])
    assert verify_consistency(proof["old_size"], proof["new_size"], bytes.fromhex(proof["old_root"]),
                              bytes.fromhex(proof["new_root"]), [bytes.fromhex(p) for p in proof["proof"]])
    report = service.verify(auditor, {"note": old["note"]}, key.public_key())
    assert report.ok and report.checkpoint is not None and report.checkpoint["extends"] is True
    assert service.consistency(auditor, 3)["old_size"] == 3
    with pytest.raises(InvalidInput):
        service.consistency(auditor, new["size"] + 1)


def test_the_0_1_0_store_gets_a_note_checkpoint_that_verifies(tmp_path: Path) -> None:
    fixture = ROOT / "tests" / "fixtures" / "v0_1_0"
    copy = tmp_path / "etrack.sqlite"
    copy.write_bytes((fixture / "etrack.sqlite").read_bytes())
    (tmp_path / "etrack.sqlite-vault").write_bytes((fixture / "etrack.sqlite-vault").read_bytes())
    expected = json.loads((fixture / "expected.json").read_text())
    app = new_tracker(f"sqlite:///{copy}", FakeClock())  # the record key is created beside it: 0.1.0's records adopted
    from uuid import UUID

    from engagement_tracker.domain import Actor

    admin = Actor(UUID(expected["party_ids"]["admin"]), Role.ADMIN)
    app.access.initialise(party_id=admin.party)
    auditor = grant(app, UUID(expected["party_ids"]["auditor"]), Role.AUDITOR)
    service = bootstrap.audit_service(app)
    key = Ed25519PrivateKey.generate()
    checkpoint = service.checkpoint(auditor, key)
    report = service.verify(auditor, checkpoint, key.public_key())
    assert report.ok and report.sealed == report.checked == checkpoint["size"], report.to_dict()
    old = json.loads((fixture / "checkpoint.json").read_text())
    assert service.consistency(auditor, old["position"], checkpoint)["old_size"] == old["position"]
    app.close()
    with sqlite3.connect(copy) as con:  # then someone edits a 0.1.0 record: its adopted seal names it
        con.execute("UPDATE stored_events SET state = state || x'20' WHERE rowid = 100")
    app = new_tracker(f"sqlite:///{copy}", FakeClock())
    bad = bootstrap.audit_service(app).verify(auditor, checkpoint, key.public_key()).to_dict()
    app.close()
    assert (bad["first_bad_position"], bad["kind"]) == (100, "modified")


def readme_verifier() -> str:
    text = (ROOT / "docs" / "guides" / "auditor.md").read_text()
    found = re.search(r"<!-- bundle-verifier -->\n```python\n(.*?)```", text, re.S)
    assert found, "the auditor's guide's bundle verifier is marked <!-- bundle-verifier -->"
    return found.group(1)


def test_the_command_line_proves_and_the_readme_verifies_a_bundle_offline(tmp_path: Path) -> None:
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "closed")
    auditor = str(grant(app, cast.sponsor.party, Role.AUDITOR))
    app.close()
    public = etrack("audit", "keygen", "signing.pem", cwd=tmp_path).stdout.strip()
    (tmp_path / "public_key.txt").write_text(public + "\n")
    note = etrack("audit", "checkpoint", "--as", auditor, "--key", "signing.pem", "--out", "cp.note", cwd=tmp_path)
    assert note.returncode == 0 and note.stdout == (tmp_path / "cp.note").read_text() and "\n\n\u2014 " in note.stdout
    as_json = etrack("audit", "checkpoint", "--as", auditor, "--key", "signing.pem", "--format", "json", cwd=tmp_path)
    assert {"origin", "size", "root_hash", "note"} <= json.loads(as_json.stdout).keys()
    proved = etrack("audit", "prove", str(eid), "--as", auditor, "--checkpoint", "cp.note", "--out", "bundle.json",
                    cwd=tmp_path)
    assert proved.returncode == 0, proved.stderr
    (tmp_path / "etrack.sqlite").rename(tmp_path / "elsewhere.sqlite")  # no database at hand from here on
    checked = etrack("audit", "check-bundle", "bundle.json", "--public-key", "public_key.txt", cwd=tmp_path)
    assert checked.returncode == 0 and "holds" in checked.stdout, checked.stdout + checked.stderr
    independent = subprocess.run([sys.executable, "-c", readme_verifier()], cwd=tmp_path, capture_output=True, text=True)
    assert independent.returncode == 0, independent.stderr
    bundle = json.loads((tmp_path / "bundle.json").read_text())
    assert f"{len(bundle['entries'])} records verified" in independent.stdout
    bundle["entries"][1]["recorded_at"] = "2020-01-01T00:00:00+00:00"  # a rewritten time
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    assert subprocess.run([sys.executable, "-c", readme_verifier()], cwd=tmp_path, capture_output=True).returncode
    refused = etrack("audit", "check-bundle", "bundle.json", "--public-key", "public_key.txt", cwd=tmp_path)
    assert refused.returncode == 1 and "entry 1" in refused.stdout
    missing_key = etrack("audit", "check-bundle", "bundle.json", cwd=tmp_path)
    assert missing_key.returncode == 2 and "InvalidInput" in missing_key.stderr and "Traceback" not in missing_key.stderr


def test_export_gives_index_and_leaf_hash_and_consistency_from_the_command_line(tmp_path: Path) -> None:
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    auditor = str(grant(app, cast.sponsor.party, Role.AUDITOR))
    app.close()
    etrack("audit", "keygen", "signing.pem", cwd=tmp_path)
    assert etrack("audit", "checkpoint", "--as", auditor, "--key", "signing.pem", "--out", "old.note",
                  cwd=tmp_path).returncode == 0
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    open_engagement(app, cast)
    app.close()
    lines = [json.loads(x) for x in etrack("audit", "export", "--as", auditor, cwd=tmp_path).stdout.splitlines()]
    assert [e["index"] for e in lines] == list(range(len(lines)))
    from engagement_tracker.projections.audit_log import fields_leaf_hash

    assert all(fields_leaf_hash(e).hex() == e["leaf_hash"] for e in lines)
    proof = etrack("audit", "consistency", "old.note", "--as", auditor, "--out", "proof.json", cwd=tmp_path)
    assert proof.returncode == 0, proof.stderr
    doc = json.loads((tmp_path / "proof.json").read_text())
    assert doc["new_size"] == len(lines) > doc["old_size"] and doc["proof"]
    bad = etrack("audit", "consistency", "7", "3", "--as", auditor, cwd=tmp_path)
    assert bad.returncode == 2 and "InvalidInput" in bad.stderr


def test_a_bundle_against_a_checkpoint_the_trail_no_longer_has_is_refused(tmp_path: Path) -> None:
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    auditor = granted(app, Role.AUDITOR, "Aude")
    service = bootstrap.audit_service(app)
    key = Ed25519PrivateKey.generate()
    checkpoint = service.checkpoint(auditor, key)
    mine = next(e.position for e in service.entries(auditor) if e.aggregate_id == str(eid))
    from engagement_tracker.projections.audit_tree import frontier_keys

    level, idx = frontier_keys(checkpoint["size"])[0]  # the largest complete subtree of the signed tree
    with sqlite3.connect(tmp_path / "etrack.sqlite") as con:  # a node of the stored tree damaged
        con.execute("UPDATE audit_tree SET hash = zeroblob(32) WHERE level = ? AND idx = ?", (level, idx))
    with pytest.raises(StoreError, match="no longer has the checkpoint's root"):
        service.prove(auditor, eid, checkpoint)
    assert service.verify(auditor, checkpoint, key.public_key()).to_dict()["kind"] == "trail_modified"
    service.trail.rebuild()  # the store is intact: the tree is stored again
    assert service.prove(auditor, eid, checkpoint)["entries"]
    with sqlite3.connect(tmp_path / "etrack.sqlite") as con:  # an entry rewritten in the trail, the tree left alone
        con.execute("UPDATE audit_trail SET recorded_at = '1999-01-01' WHERE position = ?", (mine,))
    with pytest.raises(StoreError, match=f"position {mine} is not the leaf the checkpoint signed"):
        service.prove(auditor, eid, checkpoint)
    app.close()


def test_verify_against_a_kept_export_names_the_first_leaf_that_differs(tmp_path: Path) -> None:
    import io

    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    auditor = granted(app, Role.AUDITOR, "Aude")
    service = bootstrap.audit_service(app)
    kept = io.StringIO()
    service.export(auditor, kept)
    lines = [json.loads(x) for x in kept.getvalue().splitlines()]
    assert service.verify(auditor, against=lines).ok
    shorter = service.verify(auditor, against=[*lines, dict(lines[-1], position=10_000, version=99)]).to_dict()
    assert (shorter["first_bad_position"], shorter["kind"]) == (10_000, "deleted")  # the trail lost a leaf it had
    edited = next(e["position"] for e in lines if e["topic"].startswith("etrack:Engagement.") and e["version"] == 3)
    with sqlite3.connect(tmp_path / "etrack.sqlite") as con:  # the trail's time of one entry rewritten, chain rebuilt
        con.execute("UPDATE stored_events SET state = state || x'20' WHERE rowid = ?", (edited,))
    service.trail.rebuild()
    report = service.verify(auditor, against=lines).to_dict()
    against = [f for f in report["faults"] if "kept export" in f["detail"]]
    assert against and against[0]["position"] == edited and against[0]["kind"] == "modified"
    app.close()
