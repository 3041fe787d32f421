"""Offline proofs in c2sp.org/tlog-proof's shape: `audit prove --format tlog-proof` writes one per record (the
leaf's bytes as its extra data), `audit check-bundle` checks a file or a directory of them, with a key or a
policy; any flipped proof line, wrong index, foreign key or unmet quorum is refused."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Role
from engagement_tracker.projections.audit_log import (
    DEFAULT_ORIGIN,
    LEAF_FIELDS,
    TlogProof,
    check_tlog_proof,
    leaf_bytes,
    leaf_fields,
    log_vkey,
    parse_tlog_proof,
    tlog_proofs,
)
from engagement_tracker.projections.audit_trail import public_key_hex
from engagement_tracker.projections.witness import vkey
from tests.integration.test_audit_proofs import etrack
from tests.support import Cast, FakeClock, drive, granted, new_tracker, open_engagement

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@given(st.tuples(st.integers(-(2**63), 2**63 - 1), text, st.integers(-(2**63), 2**63 - 1), text, text,
                 st.none() | text.filter(bool), st.none() | text.filter(bool), st.none() | text.filter(bool)))
def test_a_leaf_decodes_into_the_fields_it_encodes(values: tuple[object, ...]) -> None:
    fields = dict(zip(LEAF_FIELDS, values, strict=True))
    assert leaf_fields(leaf_bytes(*values)) == fields  # type: ignore[arg-type]


def test_every_record_of_a_bundle_is_a_tlog_proof_that_holds(durable_store_url: str) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "framing.coherence")
    auditor = granted(app, Role.AUDITOR, "Aude")
    key = Ed25519PrivateKey.generate()
    bundle = bootstrap.audit_service(app).prove(auditor, eid, signing_key=key)
    proofs = tlog_proofs(bundle)
    assert len(proofs) == len(bundle["entries"]) > 3
    for proof, entry in zip(proofs, bundle["entries"], strict=True):
        text = proof.text()
        assert text.startswith("c2sp.org/tlog-proof@v1\nextra ") and f"\nindex {entry['index']}\n" in text
        assert text.endswith(bundle["checkpoint"]["note"])
        assert parse_tlog_proof(text) == proof
        problems, fields = check_tlog_proof(text, key.public_key())
        assert problems == [] and fields is not None
        assert {k: fields[k] for k in LEAF_FIELDS} == {k: entry[k] for k in LEAF_FIELDS}
    good = proofs[1]
    if good.proof:
        flipped = bytearray(good.proof[0])
        flipped[0] ^= 1
        bad = TlogProof(good.extra, good.index, (bytes(flipped), *good.proof[1:]), good.note)
        assert check_tlog_proof(bad.text(), key.public_key())[0]
    moved = TlogProof(good.extra, good.index + 1, good.proof, good.note)
    assert check_tlog_proof(moved.text(), key.public_key())[0]
    assert check_tlog_proof(good.text(), Ed25519PrivateKey.generate().public_key())[0] == [
        "the checkpoint is not signed by the trusted key"]
    assert "not a tlog-proof" in check_tlog_proof("hello\n\n" + good.note, key.public_key())[0][0]
    app.close()


def test_prove_and_check_tlog_proofs_on_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "etrack.sqlite"
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "framing.coherence")
    auditor = f"auditor:{granted(app, Role.AUDITOR, 'Aude').party}"
    app.close()
    etrack("audit", "keygen", "log.pem", cwd=tmp_path)
    done = etrack("--db", f"sqlite:///{db}", "audit", "prove", str(eid), "--as", auditor, "--key", "log.pem",
                  "--format", "tlog-proof", "--out", "proofs", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    files = sorted((tmp_path / "proofs").glob("*.tlog-proof"))
    assert len(files) > 3
    from engagement_tracker.adapters.audit import load_signing_key

    key = load_signing_key(tmp_path / "log.pem")
    public = public_key_hex(key.public_key())
    check = ["audit", "check-bundle"]
    done = etrack(*check, "proofs", "--public-key", public, cwd=tmp_path)
    assert done.returncode == 0 and "holds" in done.stdout, done.stdout + done.stderr
    assert etrack(*check, str(files[0]), "--public-key", public, cwd=tmp_path).returncode == 0
    (tmp_path / "policy").write_text(f"log {log_vkey(DEFAULT_ORIGIN, key.public_key())}\nquorum none\n")
    assert etrack(*check, "proofs", "--policy", "policy", cwd=tmp_path).returncode == 0  # the key from the policy
    witness = Ed25519PrivateKey.generate()
    (tmp_path / "strict").write_text(f"log {log_vkey(DEFAULT_ORIGIN, key.public_key())}\n"
                                     f"witness W {vkey('w.example', witness.public_key())}\nquorum W\n")
    done = etrack(*check, "proofs", "--policy", "strict", cwd=tmp_path)
    assert done.returncode == 1 and "quorum (W) is not met" in done.stdout
    lines = files[0].read_text().split("\n")
    index = next(i for i, line in enumerate(lines) if line.startswith("index "))
    lines[index + 1] = base64.b64encode(bytes(32)).decode()  # a proof line replaced
    files[0].write_text("\n".join(lines))
    done = etrack(*check, "proofs", "--public-key", public, cwd=tmp_path)
    assert done.returncode == 1 and files[0].name in done.stdout
    done = etrack(*check, "proofs", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
