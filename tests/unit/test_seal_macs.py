"""The streaming verification pass computes HMAC-SHA256 by continuing precomputed keyed states
(``seal_macs.hmac_states``): the very MAC ``hmac`` computes, for any key and message."""

from __future__ import annotations

import hmac

from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.projections.seal_macs import hmac_states


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
