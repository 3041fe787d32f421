"""Witnesses cosign only checkpoints that extend what they cosigned; a rewritten history is refused (exit 1)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Role
from engagement_tracker.domain.errors import HistoryRewritten, InvalidInput
from engagement_tracker.projections.witness import cosign, cosigned_by, new_state, parse_vkey, vkey
from tests.integration.test_audit_proofs import etrack
from tests.support import Cast, FakeClock, drive, grant, granted, new_tracker, open_engagement


def copy_sqlite(src: Path, dst: Path) -> None:
    for suffix in ("", "-vault", "-record-key"):
        shutil.copyfile(f"{src}{suffix}", f"{dst}{suffix}")


def test_a_witness_cosigns_growth_and_refuses_a_fork_and_a_split_view(tmp_path: Path) -> None:
    db, fork = tmp_path / "etrack.sqlite", tmp_path / "fork.sqlite"
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    auditor = f"auditor:{grant(app, cast.sponsor.party, Role.AUDITOR).party}"
    app.close()
    public = etrack("audit", "keygen", "log.pem", cwd=tmp_path).stdout.strip()
    init = etrack("audit", "witness", "init", "--key", "w.pem", "--state", "w.json", "--name", "sponsor-audit",
                  cwd=tmp_path)
    witness_key = init.stdout.strip()
    assert init.returncode == 0 and parse_vkey(witness_key)[0] == "sponsor-audit"
    assert etrack("audit", "witness", "init", "--key", "w2.pem", "--state", "w.json", cwd=tmp_path).returncode == 2

    def checkpoint(name: str, store: Path = db) -> None:
        done = etrack("--db", f"sqlite:///{store}", "audit", "checkpoint", "--as", auditor, "--key", "log.pem",
                      "--out", name, cwd=tmp_path)
        assert done.returncode == 0, done.stderr

    def cosign_cli(name: str, store: Path = db, *extra: str) -> tuple[int, str]:
        done = etrack("--db", f"sqlite:///{store}", "audit", "witness", "cosign", name, "--state", "w.json",
                      "--key", "w.pem", "--as", auditor, "--out", f"{name}.cosigned", *extra, cwd=tmp_path)
        return done.returncode, done.stdout + done.stderr

    checkpoint("one.note")
    copy_sqlite(db, fork)  # the operator keeps a copy to rewrite later
    assert cosign_cli("one.note", db, "--log-key", public)[0] == 0
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    open_engagement(app, cast)
    app.close()
    checkpoint("two.note")
    code, said = cosign_cli("two.note")
    assert code == 0, said
    state = json.loads((tmp_path / "w.json").read_text())
    size_two = state["logs"]["etrack.local/audit-trail"]["size"]
    # auditors require the witness
    verify = ["--db", f"sqlite:///{db}", "audit", "verify", "--as", auditor, "--public-key", public, "--json"]
    ok = etrack(*verify, "--checkpoint", "two.note.cosigned", "--witness-key", witness_key, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout
    uncosigned = etrack(*verify, "--checkpoint", "two.note", "--witness-key", witness_key, cwd=tmp_path)
    assert uncosigned.returncode == 1 and "sponsor-audit" in uncosigned.stdout

    # the fork: another history from "one", grown past what the witness cosigned
    app = new_tracker(f"sqlite:///{fork}", FakeClock())
    other = Cast.register(app)
    drive(app, other, open_engagement(app, other), "framing.diagnosis")
    app.close()
    checkpoint("fork.note", fork)
    before = (tmp_path / "w.json").read_bytes()
    code, said = cosign_cli("fork.note", fork)
    assert code == 1 and "HistoryRewritten" in said and "Traceback" not in said, said
    assert (tmp_path / "w.json").read_bytes() == before  # the state is left as it was
    assert not (tmp_path / "fork.note.cosigned").exists()

    # a split view: a history of the very size the witness cosigned, another root
    split = tmp_path / "split.sqlite"
    copy_sqlite(tmp_path / "fork.sqlite", split)
    with sqlite3.connect(split) as con:
        size_fork = con.execute("SELECT count(*) FROM stored_events").fetchone()[0]
        con.execute("DELETE FROM stored_events WHERE rowid > ?", (size_two,))
        con.execute("DELETE FROM record_seals WHERE position > ?", (size_two,))
        con.execute("DELETE FROM audit_trail WHERE position > ?", (size_two,))
        con.execute("DELETE FROM audit_tree WHERE ((idx + 1) << level) > ?", (size_two,))
        con.execute("UPDATE tracking SET notification_id = ? WHERE notification_id > ?", (size_two, size_two))
    assert size_fork > size_two
    checkpoint("split.note", split)
    code, said = cosign_cli("split.note", split)
    assert code == 1 and "split view" in said, said
    assert (tmp_path / "w.json").read_bytes() == before


def test_cosign_checks_the_log_key_and_the_proof(tracker) -> None:  # type: ignore[no-untyped-def]
    cast = Cast.register(tracker)
    auditor = granted(tracker, Role.AUDITOR, "Aude")
    service = bootstrap.audit_service(tracker)
    log, witness = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    first = service.checkpoint(auditor, log)["note"]
    state = new_state("w1", witness.public_key())
    with pytest.raises(InvalidInput, match="give its public key"):
        cosign(state, first, witness, 1)
    with pytest.raises(InvalidInput, match="not signed by"):
        cosign(state, first, witness, 1, log_key=Ed25519PrivateKey.generate().public_key())
    state, cosigned = cosign(state, first, witness, 1, log_key=log.public_key())
    name, key = parse_vkey(vkey("w1", witness.public_key()))
    assert cosigned_by(cosigned, name, key) and not cosigned_by(first, name, key)
    assert not cosigned_by(cosigned.replace("\n1", "\n2", 1), name, key)  # another size under the cosignature
    drive(tracker, cast, open_engagement(tracker, cast), "framing.diagnosis")
    second = service.checkpoint(auditor, log)["note"]
    with pytest.raises(HistoryRewritten):  # growth needs its consistency proof
        cosign(state, second, witness, 2)
    proof = service.consistency(auditor, state["logs"]["etrack.local/audit-trail"]["size"], {"note": second})
    grown, _ = cosign(state, second, witness, 2, [bytes.fromhex(p) for p in proof["proof"]])
    assert grown["logs"]["etrack.local/audit-trail"]["size"] == proof["new_size"]
    with pytest.raises(HistoryRewritten, match="never shrinks"):
        cosign(grown, first, witness, 3)


def test_an_operator_with_every_key_rewrites_history_and_the_witness_refuses(durable_store_url: str) -> None:
    """The operator holds the record key too: it edits a record, re-seals everything and rebuilds the
    trail, so the store verifies clean; only the witness, which remembers the old root, refuses."""
    from tests.integration.test_sealed_records import RECORD_KEY, Store, engagement_positions, history

    app, auditor, cast = history(durable_store_url)
    service = bootstrap.audit_service(app)
    log, witness = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    state, _ = cosign(new_state("w", witness.public_key()), service.checkpoint(auditor, log)["note"], witness, 1,
                      log_key=log.public_key())
    cosigned_size = state["logs"]["etrack.local/audit-trail"]["size"]
    store = Store(durable_store_url)
    edited = engagement_positions(store)[2]
    store.tamper("modified", edited, 0)
    seals = f'"{store.schema}".etrack_record_seals' if store.pg else "record_seals"
    with store.sql() as run:
        run(f"DELETE FROM {seals}")
    app.close()
    app = new_tracker(durable_store_url, FakeClock(), ETRACK_RECORD_KEY=RECORD_KEY)
    app.recorder.adopt()  # type: ignore[attr-defined]
    open_engagement(app, cast)
    service = bootstrap.audit_service(app)
    service.trail.rebuild()
    assert service.verify(auditor).ok  # the rewrite is consistent with itself
    rewritten = service.checkpoint(auditor, log)["note"]
    proof = service.consistency(auditor, cosigned_size, {"note": rewritten})
    with pytest.raises(HistoryRewritten, match="does not extend"):
        cosign(state, rewritten, witness, 2, [bytes.fromhex(p) for p in proof["proof"]])
    app.close()
