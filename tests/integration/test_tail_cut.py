"""A tail cut never hides behind a refusal: when the records removed include the very grant the live store would
consult, an auditor holding a signed checkpoint (or a kept export, or a policy naming the log) still learns that
the log no longer contains it; with an intact log, or nothing signed to show, the refusal stands."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Actor, Role
from engagement_tracker.domain.errors import NotPermitted
from engagement_tracker.projections.audit_log import DEFAULT_ORIGIN, log_vkey
from engagement_tracker.projections.audit_trail import public_key_hex
from engagement_tracker.projections.witness_policy import parse_policy
from tests.integration.test_audit_proofs import ROOT
from tests.integration.test_sealed_records import RECORD_KEY, Store
from tests.support import Cast, FakeClock, drive, grant, granted, new_tracker, open_engagement


def cut_history(url: str) -> tuple[Any, Any, dict[str, Any], list[dict[str, Any]], Ed25519PrivateKey]:
    """A checkpoint signed, then an auditor granted, more records, an export kept by that auditor; then the
    operator removes every record after the checkpoint (the grant too) and rebuilds the trail. Records are
    sealed at write time (a record key kept outside the database)."""
    app = new_tracker(url, FakeClock(), ETRACK_RECORD_KEY=RECORD_KEY)
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    first = granted(app, Role.AUDITOR, "First Auditor")
    log = Ed25519PrivateKey.generate()
    checkpoint = bootstrap.audit_service(app).checkpoint(first, log)
    late = grant(app, cast.coachee.party, Role.AUDITOR)  # granted after the checkpoint
    drive(app, cast, open_engagement(app, cast), "framing.diagnosis")
    buf = io.StringIO()
    bootstrap.audit_service(app).export(late, buf)
    kept = [json.loads(line) for line in buf.getvalue().splitlines()]
    app.close()
    store = Store(url)
    for position, _ in store.rows():
        if position > checkpoint["position"]:
            store.tamper("deleted", position, 0)
    app = new_tracker(url, FakeClock(), ETRACK_RECORD_KEY=RECORD_KEY)
    bootstrap.audit_service(app).trail.rebuild()
    return app, late, {"note": checkpoint["note"]}, kept, log


def test_the_cut_is_reported_to_the_auditor_whose_grant_it_removed(durable_store_url: str) -> None:
    app, late, checkpoint, kept, log = cut_history(durable_store_url)
    service = bootstrap.audit_service(app)
    with pytest.raises(NotPermitted):  # the live store no longer knows the grant
        service.entries(late)
    # the checkpoint was signed before the cut: its tree is intact, but the records' seals name what is gone
    report = service.verify(late, checkpoint, log.public_key())
    assert not report.ok and report.first is not None and report.first.kind == "deleted"
    assert report.checkpoint is not None and report.checkpoint["extends"] is True
    report = service.verify(late, None, None, against=iter(kept))  # the export kept after the grant
    assert not report.ok and any(f.kind == "deleted" and "kept export" in f.detail for f in report.faults)
    assert report.refused is not None and "no longer holds all of it" in report.refused
    assert report.to_dict()["refused"] == report.refused
    app.close()


def test_with_an_intact_log_the_refusal_stands(durable_store_url: str) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    auditor = granted(app, Role.AUDITOR, "Aude")
    log = Ed25519PrivateKey.generate()
    checkpoint = {"note": bootstrap.audit_service(app).checkpoint(auditor, log)["note"]}
    stranger = granted(app, Role.COACH, "Not An Auditor")
    service = bootstrap.audit_service(app)
    policy = parse_policy(f"log {log_vkey(DEFAULT_ORIGIN, log.public_key())}\nquorum none\n")
    for call in (lambda: service.verify(stranger, checkpoint, log.public_key()),
                 lambda: service.verify(stranger, checkpoint, policy=policy),
                 lambda: service.verify(stranger)):
        with pytest.raises(NotPermitted):
            call()
    app.close()


def test_a_checkpoint_the_cut_truncated_is_reported_not_refused(durable_store_url: str) -> None:
    """The checkpoint signed after the grant: the cut removes records it signs, and the grant with them."""
    app = new_tracker(durable_store_url, FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    head = max(p for p, _ in Store(durable_store_url).rows())
    late = grant(app, cast.coachee.party, Role.AUDITOR)
    drive(app, cast, open_engagement(app, cast), "framing.diagnosis")
    log = Ed25519PrivateKey.generate()
    checkpoint = {"note": bootstrap.audit_service(app).checkpoint(late, log)["note"]}
    app.close()
    store = Store(durable_store_url)
    for position, _ in store.rows():
        if position > head:
            store.tamper("deleted", position, 0)
    app = new_tracker(durable_store_url, FakeClock())
    service = bootstrap.audit_service(app)
    service.trail.rebuild()
    for report in (service.verify(late, checkpoint, log.public_key()),
                   service.verify(late, checkpoint, policy=parse_policy(
                       f"log {log_vkey(DEFAULT_ORIGIN, log.public_key())}\nquorum none\n"))):
        assert not report.ok and report.refused is not None
        assert any(f.kind == "deleted" and "records at its end were removed" in f.detail for f in report.faults)
    stranger = Actor(uuid4(), Role.AUDITOR)  # never granted
    forged = Ed25519PrivateKey.generate()
    with pytest.raises(NotPermitted):  # a checkpoint not signed by the key given proves nothing: refused
        service.verify(stranger, checkpoint, forged.public_key())
    with pytest.raises(NotPermitted):
        service.verify(stranger)
    app.close()


def etrack(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command line with the record key the records were sealed with (a store refuses another)."""
    return subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", *args], cwd=cwd,
                          capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200",
                               "ETRACK_RECORD_KEY": RECORD_KEY})


def test_the_command_line_exits_1_with_the_refusal_beside_the_fault(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app, late, checkpoint, kept, log = cut_history(url)
    app.close()
    (tmp_path / "kept.jsonl").write_text("".join(json.dumps(e) + "\n" for e in kept))
    done = etrack("--db", url, "audit", "verify", "--as", f"auditor:{late.party}", "--against", "kept.jsonl",
                  cwd=tmp_path)
    assert done.returncode == 1 and "FAULT" in done.stdout and "refused:" in done.stderr, done.stdout + done.stderr
    (tmp_path / "cp.note").write_text(checkpoint["note"])
    done = etrack("--db", url, "audit", "verify", "--as", f"auditor:{late.party}", "--checkpoint", "cp.note",
                  "--public-key", public_key_hex(log.public_key()), "--json", cwd=tmp_path)
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["faults"] and "no longer holds all of it" in report["refused"]
    done = etrack("--db", url, "audit", "verify", "--as", f"auditor:{late.party}", cwd=tmp_path)
    assert done.returncode == 3 and "NotPermitted" in done.stderr  # nothing shown: the refusal stands
