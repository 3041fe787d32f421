"""The tlog-witness add-checkpoint exchange from the command line: the log builds the request from its store, the
witness answers with a cosignature, or refuses a fork, a rollback, a stale size or another key with the spec's
status (and its state stays as it was)."""

from __future__ import annotations

import json
from pathlib import Path

from engagement_tracker.adapters.audit import load_signing_key
from engagement_tracker.domain import Role
from engagement_tracker.projections.audit_trail import public_key_hex
from tests.integration.test_audit_proofs import etrack
from tests.integration.test_witness import copy_sqlite
from tests.support import Cast, FakeClock, drive, granted, new_tracker, open_engagement


def test_a_witness_cosigns_over_add_checkpoint_and_refuses_a_fork_a_rollback_and_a_foreign_key(tmp_path: Path) -> None:
    db, fork = tmp_path / "etrack.sqlite", tmp_path / "fork.sqlite"
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    auditor = f"auditor:{granted(app, Role.AUDITOR, 'Aude').party}"
    app.close()

    def run(*args: str, store: Path = db) -> tuple[int, str, str]:
        done = etrack("--db", f"sqlite:///{store}", *args, cwd=tmp_path)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout, done.stderr

    etrack("audit", "keygen", "log.pem", cwd=tmp_path)
    etrack("audit", "keygen", "other.pem", cwd=tmp_path)
    vkey = run("audit", "vkey", "--key", "log.pem")[1].strip()
    witness_vkey = run("audit", "witness", "init", "--key", "w.pem", "--state", "w.json", "--name",
                       "witness.example/w1")[1].strip()
    assert run("audit", "witness", "add-log", "--state", "w.json", "--log-key", vkey)[0] == 0

    def checkpoint(name: str, store: Path = db, key: str = "log.pem") -> int:
        code, out, err = run("audit", "checkpoint", "--as", auditor, "--key", key, "--out", name, store=store)
        assert code == 0, err
        return int(out.split("\n")[1])

    def submit(request: str, out: str | None = None) -> tuple[int, str, str]:
        return run("audit", "witness", "add-checkpoint", request, "--state", "w.json", "--key", "w.pem",
                   *(["--out", out] if out else []))

    def request(name: str, old: int, store: Path = db) -> str:
        code, _, err = run("audit", "witness", "request", name, "--old", str(old), "--as", auditor, "--out",
                           f"{name}.req", store=store)
        assert code == 0, err
        return f"{name}.req"

    one = checkpoint("one.note")
    copy_sqlite(db, fork)
    code, out, err = submit(request("one.note", 0), "one.cosigned")
    assert code == 0, err
    assert out.startswith("\u2014 witness.example/w1 ")
    public = public_key_hex(load_signing_key(tmp_path / "log.pem").public_key())
    verify = ["audit", "verify", "--as", auditor, "--public-key", public, "--witness-key", witness_vkey]
    assert run(*verify, "--checkpoint", "one.cosigned")[0] == 0

    for store in (db, fork):  # the same steps on both, for other engagements: the same size, other roots
        app = new_tracker(f"sqlite:///{store}", FakeClock())
        drive(app, cast, open_engagement(app, cast), "framing.diagnosis")
        app.close()
    two = checkpoint("two.note")
    state_before = (tmp_path / "w.json").read_text()
    code, out, err = submit(request("two.note", 0))  # the log does not know where the witness is
    assert code == 1 and "status 409" in err and out.strip() == str(one)
    assert (tmp_path / "w.json").read_text() == state_before
    code, _, err = submit(request("two.note", one), "two.cosigned")
    assert code == 0, err
    cosigned = json.loads((tmp_path / "w.json").read_text())["logs"]["etrack.local/audit-trail"]
    assert cosigned["size"] == two

    state_before = (tmp_path / "w.json").read_text()
    forked = checkpoint("fork.note", store=fork)
    assert forked == two
    code, _, err = submit(request("fork.note", two, store=fork))  # a fork: the same size, another root
    assert code == 1 and "status 422" in err and "split view" in err, err
    (tmp_path / "rollback.req").write_text(f"old {two}\n\n" + (tmp_path / "one.note").read_text())
    code, _, err = submit("rollback.req")  # a rollback to the first checkpoint
    assert code == 2 and "status 400" in err, err
    (tmp_path / "rollback2.req").write_text(f"old {one}\n\n" + (tmp_path / "one.note").read_text())
    code, out, err = submit("rollback2.req")
    assert code == 1 and "status 409" in err and out.strip() == str(two)
    checkpoint("foreign.note", key="other.pem")
    code, _, err = submit(request("foreign.note", two))  # signed by another key
    assert code == 1 and "status 403" in err, err
    (tmp_path / "garbage.req").write_text("hello\n")
    assert submit("garbage.req")[0] == 2
    assert (tmp_path / "w.json").read_text() == state_before  # no refusal changed what the witness holds

