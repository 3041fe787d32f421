"""The streaming verification pass and the recorders' write path compute HMAC-SHA256 by continuing
precomputed keyed states (``seal_macs.hmac_states``, ``RecordMacs``): the very MAC ``hmac`` computes,
for any key and message, and the very seal rows the straightforward computation writes."""

from __future__ import annotations

import hmac
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.projections.record_seals import record_tag, seal, seal_rows
from engagement_tracker.projections.seal_macs import RecordMacs, hmac_states


@given(key=st.binary(min_size=1, max_size=200), message=st.binary(max_size=300))
def test_the_precomputed_states_give_hmac_sha256(key: bytes, message: bytes) -> None:
    inner, outer = hmac_states(key)

    def mac(data: bytes) -> bytes:
        h = inner.copy()
        h.update(data)
        o = outer.copy()
        o.update(h.digest())
        return o.digest()

    assert mac(message) == hmac.digest(key, message, "sha256")
    assert mac(b"etrack" + message) == hmac.digest(key, b"etrack" + message, "sha256")  # the states are reused
    assert mac(message) == hmac.digest(key, message, "sha256")


_records = st.lists(
    st.tuples(st.sampled_from(["0b9c7f2e-8d41-4a57-9a3e-2f1c6d5b4a39", "7e0f6f0e-3c1b-4f59-8c4e-1a2b3c4d5e6f", "é☃"]),
              st.integers(min_value=-(2**63), max_value=2**63 - 1),
              st.text(max_size=80),
              st.one_of(st.binary(max_size=2_000), st.text(max_size=20), st.none())),
    max_size=30)


@given(key=st.binary(min_size=1, max_size=100), records=_records,
       last=st.one_of(st.none(), st.tuples(st.integers(min_value=-(2**40), max_value=2**40), st.binary(min_size=32,
                                                                                                    max_size=32))))
def test_the_write_paths_seal_rows_are_the_straightforward_seals(
        key: bytes, records: list[tuple[str, int, str, Any]], last: tuple[int, bytes] | None) -> None:
    """``seal_rows`` (keyed states made once, each state hashed once, fields written once per batch)
    gives byte for byte the seal rows of ``seal``, which keys a fresh HMAC per MAC as the format says."""
    start = 0 if last is None else last[0]
    positioned = [(start + 1 + n, a, v, t, s) for n, (a, v, t, s) in enumerate(records)]
    expected = [s.row() for s in seal(key, positioned, last)]
    macs = RecordMacs(key)
    assert seal_rows(macs, positioned, last) == expected
    assert seal_rows(macs, positioned, last) == expected  # the keyed states are not consumed
    if expected:
        _, aggregate_id, version, topic, state = positioned[-1]
        assert expected[-1][4] == record_tag(key, aggregate_id, version, topic, state).hex()
