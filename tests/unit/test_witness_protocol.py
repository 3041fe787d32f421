"""c2sp.org/tlog-witness add-checkpoint as a pure function: each refusal with the spec's status, and a witness
that only ever cosigns a growing history (hypothesis)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_tracker.domain.errors import HistoryRewritten, InconsistentCheckpoint, InvalidInput, WitnessRefusal
from engagement_tracker.projections.audit_log import checkpoint_body, sign_note
from engagement_tracker.projections.merkle import LeafHashes, consistency_proof, leaf_hash, root_of
from engagement_tracker.projections.witness import (
    AddCheckpoint,
    add_checkpoint,
    add_log,
    attach,
    cosigned_by,
    new_state,
    parse_add_checkpoint,
)

ORIGIN = "log.example/a"
LOG = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
WITNESS = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
HONEST = [f"leaf {i}".encode() for i in range(40)]
FORKED = HONEST[:10] + [f"forged {i}".encode() for i in range(10, 40)]


def note(leaves: list[bytes], size: int, key: Ed25519PrivateKey = LOG, origin: str = ORIGIN) -> str:
    return sign_note(checkpoint_body(origin, size, root_of([leaf_hash(x) for x in leaves[:size]])), key, origin)


def proof(leaves: list[bytes], old: int, new: int) -> tuple[bytes, ...]:
    if not 0 < old <= new:
        return ()
    return tuple(consistency_proof(old, new, LeafHashes([leaf_hash(x) for x in leaves[:new]])))


def fresh() -> dict[str, object]:
    return add_log(new_state("witness.example/w1", WITNESS.public_key()), ORIGIN, LOG.public_key())


def submit(state, leaves, old, size, **kw):  # type: ignore[no-untyped-def]
    return add_checkpoint(state, AddCheckpoint(old, proof(leaves, old, size), note(leaves, size, **kw)), WITNESS, 7)


def status(exc: pytest.ExceptionInfo[WitnessRefusal]) -> int:
    return exc.value.status


def test_it_cosigns_growth_in_the_cosignature_format() -> None:
    state, response = submit(fresh(), HONEST, 0, 5)
    assert response.startswith("\u2014 witness.example/w1 ") and response.endswith("\n")
    assert len(base64.b64decode(response.split()[-1])) == 4 + 8 + 64  # key id, big-endian time, Ed25519
    assert cosigned_by(attach(note(HONEST, 5), response), "witness.example/w1", WITNESS.public_key())
    state, response = submit(state, HONEST, 5, 17)
    assert state["logs"][ORIGIN]["size"] == 17  # type: ignore[index]
    assert cosigned_by(state["logs"][ORIGIN]["checkpoint"], "witness.example/w1", WITNESS.public_key())  # type: ignore[index]
    state, _ = submit(state, HONEST, 17, 17)  # the same tree again: cosigned again
    assert AddCheckpoint(17, proof(HONEST, 5, 17), "x\n").body().startswith("old 17\n")
    request = AddCheckpoint(5, proof(HONEST, 5, 17), note(HONEST, 17))
    assert parse_add_checkpoint(request.body().encode()) == request


def test_each_refusal_has_the_specs_status_and_leaves_the_state_as_it_was() -> None:
    state, _ = submit(fresh(), HONEST, 0, 12)
    cases = {
        404: lambda: submit(state, HONEST, 12, 14, origin="log.example/other"),
        403: lambda: submit(state, HONEST, 12, 14, key=Ed25519PrivateKey.generate()),  # a foreign key
        400: lambda: submit(state, HONEST, 12, 8),  # a rollback, sent with the size it cosigned
        409: lambda: submit(state, HONEST, 8, 14),  # a stale old size
    }
    for want, call in cases.items():
        with pytest.raises(WitnessRefusal) as exc:
            call()
        assert status(exc) == want, exc.value
    with pytest.raises(WitnessRefusal) as exc:
        submit(state, HONEST, 8, 8)  # a rollback sent with its own size: the witness says where it is
    assert status(exc) == 409 and exc.value.latest_size == 12
    for call in (lambda: submit(state, FORKED, 12, 12),  # a fork: the same size, another root
                 lambda: submit(state, FORKED, 12, 30),  # a rewritten history: its proof fails
                 lambda: add_checkpoint(state, AddCheckpoint(12, proof(HONEST, 12, 20)[:-1], note(HONEST, 20)),
                                        WITNESS, 7)):  # a truncated proof
        with pytest.raises(InconsistentCheckpoint) as inconsistent:
            call()
        assert inconsistent.value.status == 422 and isinstance(inconsistent.value, HistoryRewritten)
    with pytest.raises(InconsistentCheckpoint, match="from the empty tree"):
        add_checkpoint(fresh(), AddCheckpoint(0, proof(HONEST, 3, 9), note(HONEST, 9)), WITNESS, 7)
    with pytest.raises(InconsistentCheckpoint, match="empty tree's root"):
        add_checkpoint(fresh(), AddCheckpoint(0, (), sign_note(checkpoint_body(ORIGIN, 0, bytes(32)), LOG, ORIGIN)),
                       WITNESS, 7)
    assert state["logs"][ORIGIN]["size"] == 12  # type: ignore[index]


def test_a_signature_line_of_the_logs_key_that_fails_is_403() -> None:
    good = note(HONEST, 5)
    body, _, line = good.partition("\n\n")
    name, sig = line.strip()[2:].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 1
    forged = f"{body}\n\n\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(WitnessRefusal) as exc:
        add_checkpoint(fresh(), AddCheckpoint(0, (), forged), WITNESS, 7)
    assert status(exc) == 403 and "does not verify" in str(exc.value)


@pytest.mark.parametrize("body", [
    b"", b"old 5\n", b"5\n\nx", b"old 05\n\nx", b"old -1\n\nx", b"old 1\nnot base64!\n\nx",
    b"old 1\n" + base64.b64encode(b"short") + b"\n\nx", b"old 1\n" + b"\n".join([base64.b64encode(bytes(32))] * 64)
    + b"\n\nx", b"\xff\xfe",
])
def test_a_malformed_request_is_400(body: bytes) -> None:
    with pytest.raises(WitnessRefusal) as exc:
        parse_add_checkpoint(body)
    assert status(exc) == 400


def test_a_note_that_is_not_a_checkpoint_is_400_and_the_witness_key_must_match() -> None:
    with pytest.raises(WitnessRefusal) as exc:
        add_checkpoint(fresh(), AddCheckpoint(0, (), "not a note"), WITNESS, 7)
    assert status(exc) == 400
    with pytest.raises(InvalidInput, match="witness key"):
        add_checkpoint(fresh(), AddCheckpoint(0, (), note(HONEST, 3)), LOG, 7)
    with pytest.raises(InvalidInput, match="another key"):
        add_log(fresh(), ORIGIN, Ed25519PrivateKey.generate().public_key())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40), st.booleans()), max_size=10))
def test_a_witness_only_ever_cosigns_a_growing_history(steps: list[tuple[bool, int, bool]]) -> None:
    """Checkpoints of an honest log and of a fork (sharing the first 10 leaves), in any order, each sent with
    the witness's size (or a stale one): it cosigns exactly those that extend the last tree it cosigned."""
    state, accepted = fresh(), list[bytes]()
    for forked, size, stale in steps:
        leaves = FORKED if forked else HONEST
        last = len(accepted)
        old = max(0, last - 1) if stale and last else last
        extends = old == last and size >= last and leaves[:last] == accepted[:last]
        try:
            state, _ = submit(state, leaves, old, size)
        except WitnessRefusal as exc:
            assert not extends, exc
            assert exc.status == (409 if old != last and old <= size else 400 if old > size else 422)
            continue
        assert extends
        accepted = leaves[:size]
        assert state["logs"][ORIGIN]["size"] == size  # type: ignore[index]


def test_the_answer_an_http_endpoint_will_send() -> None:
    from engagement_tracker.projections.witness import answer, witnessed_checkpoint

    state = fresh()
    body = AddCheckpoint(0, (), note(HONEST, 9)).body().encode()
    state, code, ctype, text = answer(state, body, WITNESS, 7)
    assert code == 200 and text.startswith("\u2014 witness.example/w1 ") and ctype.startswith("text/plain")
    same, code, ctype, text = answer(state, body, WITNESS, 8)  # old 0 again: the witness says where it is
    assert (code, ctype, text) == (409, "text/x.tlog.size", "9\n") and same is state
    _, code, _, text = answer(state, b"nonsense", WITNESS, 8)
    assert code == 400 and text.endswith("\n")
    import hashlib

    served = witnessed_checkpoint(state, hashlib.sha256(ORIGIN.encode()).hexdigest())
    assert served is not None and served.startswith(note(HONEST, 9).rstrip("\n"))
    assert cosigned_by(served, "witness.example/w1", WITNESS.public_key())
    assert witnessed_checkpoint(state, hashlib.sha256(b"other").hexdigest()) is None
