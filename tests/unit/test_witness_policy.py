"""c2sp.org/tlog-policy files: parsed as the spec says, each malformed line refused by number, and a quorum of
k of n (nested in groups) met exactly when k members witnessed."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.projections.audit_log import checkpoint_body, log_vkey, sign_note
from engagement_tracker.projections.witness import add_checkpoint, add_log, attach, new_state, parse_add_checkpoint
from engagement_tracker.projections.witness_policy import parse_policy

KEYS = [Ed25519PrivateKey.from_private_bytes(bytes([i]) * 32) for i in range(1, 8)]
LOG = KEYS[0]
ORIGIN = "log.example/a"


def wkey(i: int) -> str:
    from engagement_tracker.projections.witness import vkey

    return vkey(f"w{i}.example", KEYS[i].public_key())


POLICY = f"""
# the example of the spec, smaller
log {log_vkey(ORIGIN, LOG.public_key())} https://log.example/a
witness X1 {wkey(1)}
witness X2 {wkey(2)}
witness X3 {wkey(3)}
\tgroup X-witnesses 2 X1 X2 X3
witness Y1 {wkey(4)} https://w4.example/
witness Y2 {wkey(5)}
group Y-witnesses any Y1 Y2
group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
"""


def test_the_specs_example_shape() -> None:
    policy = parse_policy(POLICY)
    assert policy.log_key(ORIGIN) is not None and policy.log_key("other") is None
    assert policy.satisfied({"X1", "X3", "Y2"})
    assert not policy.satisfied({"X1", "Y1", "Y2"})  # one X only
    assert not policy.satisfied({"X1", "X2", "X3"})  # no Y
    assert parse_policy("quorum none\n").satisfied(set())


def test_cosigners_are_read_from_the_note() -> None:
    policy = parse_policy(POLICY)
    note = sign_note(checkpoint_body(ORIGIN, 0, bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")), LOG, ORIGIN)
    for i in (1, 3, 5):
        state = add_log(new_state(f"w{i}.example", KEYS[i].public_key()), ORIGIN, LOG.public_key())
        _, line = add_checkpoint(state, parse_add_checkpoint("old 0\n\n" + note), KEYS[i], 100 + i)
        note = attach(note, line)
    assert policy.cosigners(note) == ["X1", "X3", "Y2"]
    assert policy.satisfied(policy.cosigners(note))


@pytest.mark.parametrize(("text", "problem"), [
    ("", "no quorum line"),
    ("quorum X\n", "line 1: 'X' is not a witness or group"),
    (f"witness A {wkey(1)}\nquorum A\nquorum A\n", "line 3: a second quorum"),
    (f"witness A {wkey(1)}\nwitness A {wkey(2)}\n", "line 2: the name 'A' is taken"),
    (f"witness A {wkey(1)}\nwitness B {wkey(1).replace('w1.', 'w9.')}\n", "line 2:"),
    (f"witness A {wkey(1)}\nwitness B {wkey(2)}\ngroup G 3 A B\n", "threshold '3'"),
    (f"witness A {wkey(1)}\ngroup G 0 A\n", "threshold '0'"),
    (f"witness A {wkey(1)}\ngroup G any A A\n", "a member listed twice"),
    (f"witness A {wkey(1)}\ngroup G any A B\n", "'B' is not a witness or group"),
    (f"witness none {wkey(1)}\n", "the name 'none' is taken"),
    (f"log {wkey(1)}\n", "not a log's verifier key"),
    (f"witness A {log_vkey(ORIGIN, LOG.public_key())}\n", "line 1:"),
    ("witness A\n", "expected `witness"),
    (f"witness A {wkey(1)} ftp://w.example/\n", "not an http(s) URL"),
    ("frobnicate\n", "unknown line 'frobnicate'"),
    ("quorum none\x07\n", "control character"),
])
def test_a_malformed_policy_is_refused_naming_its_line(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match="policy") as exc:
        parse_policy(text)
    assert problem in str(exc.value)


@given(st.integers(1, 6).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n), st.sets(st.integers(1, n)))))
def test_k_of_n_is_met_exactly_when_k_witnessed(case: tuple[int, int, set[int]]) -> None:
    n, k, witnessed = case
    lines = [f"witness W{i} {wkey(i)}" for i in range(1, n + 1)]
    policy = parse_policy("\n".join([*lines, f"group G {k} " + " ".join(f"W{i}" for i in range(1, n + 1)),
                                     "quorum G"]))
    assert policy.satisfied({f"W{i}" for i in witnessed}) == (len(witnessed) >= k)


def test_a_witness_line_may_give_where_it_answers() -> None:
    policy = parse_policy(f"witness A {wkey(1)} https://w1.example/witness\nwitness B {wkey(2)}\nquorum A\n")
    assert policy.witness_urls == {"A": "https://w1.example/witness"}  # B gives none: nobody pushes to it
