"""`audit verify --policy FILE`: the checkpoint's log must be one the policy trusts, and k of its n witnesses must
have cosigned it (SQLite and PostgreSQL; the command line's exit codes)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Role
from engagement_tracker.projections.audit_log import DEFAULT_ORIGIN, log_vkey
from engagement_tracker.projections.witness import add_checkpoint, add_log, attach, new_state, parse_add_checkpoint, vkey
from engagement_tracker.projections.witness_policy import parse_policy
from tests.integration.test_audit_proofs import etrack
from tests.support import Cast, FakeClock, drive, granted, new_tracker, open_engagement

WITNESSES = [Ed25519PrivateKey.generate() for _ in range(3)]


def cosigned(note: str, log: Ed25519PrivateKey, which: list[int]) -> str:
    for i in which:
        state = add_log(new_state(f"w{i}.example", WITNESSES[i].public_key()), DEFAULT_ORIGIN, log.public_key())
        _, line = add_checkpoint(state, parse_add_checkpoint("old 0\n\n" + note), WITNESSES[i], 1_700_000_000)
        note = attach(note, line)
    return note


def policy_text(log: Ed25519PrivateKey, k: int = 2) -> str:
    lines = [f"log {log_vkey(DEFAULT_ORIGIN, log.public_key())}"]
    lines += [f"witness W{i} {vkey(f'w{i}.example', w.public_key())}" for i, w in enumerate(WITNESSES)]
    return "\n".join([*lines, f"group main {k} W0 W1 W2", "quorum main", ""])


def test_verify_requires_k_of_n_witnesses_and_a_trusted_log(durable_store_url: str) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    auditor = granted(app, Role.AUDITOR, "Aude")
    service, log = bootstrap.audit_service(app), Ed25519PrivateKey.generate()
    note = service.checkpoint(auditor, log)["note"]
    policy = parse_policy(policy_text(log))
    one = service.verify(auditor, {"note": cosigned(note, log, [1])}, policy=policy)  # the log's key from the policy
    assert not one.ok and "quorum (main) is not met: valid cosignatures of W1 (of 3" in one.faults[0].detail
    two = service.verify(auditor, {"note": cosigned(note, log, [0, 2])}, policy=policy)
    assert two.ok, two.faults
    assert two.checkpoint is not None and two.checkpoint["witnesses"] == ["W0", "W2"]
    other = parse_policy(policy_text(Ed25519PrivateKey.generate()))  # a policy trusting another log key
    refused = service.verify(auditor, {"note": cosigned(note, log, [0, 1, 2])}, policy=other)
    assert not refused.ok and any("not one it trusts" in f.detail or "another key" in f.detail
                                  for f in refused.faults)
    app.close()


def test_verify_policy_on_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "etrack.sqlite"
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    auditor = granted(app, Role.AUDITOR, "Aude")
    log = Ed25519PrivateKey.generate()
    note = bootstrap.audit_service(app).checkpoint(auditor, log)["note"]
    app.close()
    (tmp_path / "policy").write_text(policy_text(log))
    (tmp_path / "one.note").write_text(cosigned(note, log, [2]))
    (tmp_path / "two.note").write_text(cosigned(note, log, [1, 2]))
    verify = ["--db", f"sqlite:///{db}", "audit", "verify", "--as", f"auditor:{auditor.party}", "--policy", "policy"]
    done = etrack(*verify, "--checkpoint", "two.note", cwd=tmp_path)
    assert done.returncode == 0 and "intact" in done.stdout, done.stdout + done.stderr
    done = etrack(*verify, "--checkpoint", "one.note", cwd=tmp_path)
    assert done.returncode == 1 and "FAULT" in done.stdout and "quorum" in done.stdout.replace("\n", " ")
    (tmp_path / "policy").write_text("quorum nobody\n")
    done = etrack(*verify, "--checkpoint", "two.note", cwd=tmp_path)
    assert done.returncode == 2 and "line 1" in done.stderr and "Traceback" not in done.stderr
