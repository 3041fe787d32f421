"""The two MACs that seal a stored record (``record_seals.py`` says why), and what the streaming scan
needs to check them (``audit_chain.verify_scan``). Pure."""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Any

import attrs

GENESIS_TAG = bytes(32)


def text_field(value: str) -> bytes:
    """``str(s)`` of the seals' encoding: 2-byte big-endian length, then the UTF-8 bytes."""
    data = value.encode("utf-8", "surrogatepass")
    return struct.pack(">H", len(data)) + data


def record_tag_of_digest(key: bytes, aggregate_id: str, version: int, topic: str, state_sha256: bytes) -> bytes:
    msg = b"etrack-record-v1" + text_field(aggregate_id) + struct.pack(">q", version) + text_field(topic) + state_sha256
    return hmac.digest(key, msg, "sha256")


def state_digest(state: Any) -> bytes:
    if isinstance(state, bytes | bytearray | memoryview):
        return hashlib.sha256(bytes(state)).digest()
    return hashlib.sha256(b"\x00" + repr(state).encode("utf-8", "surrogatepass")).digest()  # tampered: not bytes


def record_tag(key: bytes, aggregate_id: str, version: int, topic: str, state: Any) -> bytes:
    return record_tag_of_digest(key, aggregate_id, version, topic, state_digest(state))


def seal_tag(key: bytes, prev_tag: bytes, prev_position: int, position: int, rtag: bytes) -> bytes:
    msg = b"etrack-seal-v1" + prev_tag + struct.pack(">qq", prev_position, position) + rtag
    return hmac.digest(key, msg, "sha256")


def hmac_states(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's two keyed prefixes (RFC 2104): SHA-256 states that have absorbed the key XOR ipad
    and the key XOR opad. ``HMAC(K, m) = outer.copy().update(inner.copy().update(m).digest()).digest()``:
    two ``copy()`` per MAC instead of a new HMAC (and its two key blocks hashed again) per message."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    block = key.ljust(64, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in block)), hashlib.sha256(bytes(b ^ 0x5C for b in block)))


class RecordMacs:
    """The record key's two MACs, keyed once: ``record_tag`` and ``seal_tag`` continue copies of SHA-256
    states that absorbed the key's pads and each MAC's label (:func:`hmac_states`), instead of keying a
    new HMAC (two more SHA-256 blocks) per message. The same digests as :func:`record_tag_of_digest`
    and :func:`seal_tag` (``tests/unit/test_seal_macs.py``), at 5 SHA-256 finalisations per sealed row
    (the state's, then two per HMAC): the fewest the seal's format allows."""

    __slots__ = ("_outer", "_record", "_seal", "key")

    def __init__(self, key: bytes) -> None:
        self.key = key
        inner, self._outer = hmac_states(key)
        self._record, self._seal = inner.copy(), inner
        self._record.update(b"etrack-record-v1")
        self._seal.update(b"etrack-seal-v1")

    def record_tag(self, id_field: bytes, version: int, topic_field: bytes, state_sha256: bytes) -> bytes:
        """``record_tag_of_digest`` with the id and the topic already written as :func:`text_field`."""
        h = self._record.copy()
        h.update(id_field + _PACK_Q(version) + topic_field + state_sha256)
        o = self._outer.copy()
        o.update(h.digest())
        tag: bytes = o.digest()
        return tag

    def seal_tag(self, prev_tag: bytes, prev_position: int, position: int, rtag: bytes) -> bytes:
        h = self._seal.copy()
        h.update(prev_tag + _PACK_QQ(prev_position, position) + rtag)
        o = self._outer.copy()
        o.update(h.digest())
        tag: bytes = o.digest()
        return tag


_PACK_Q, _PACK_QQ = struct.Struct(">q").pack, struct.Struct(">qq").pack


@attrs.frozen
class Seals:
    """What the streaming scan needs to check record seals too: the record key, and how many seal rows
    the store holds (read in the same snapshot)."""

    key: bytes
    count: int
