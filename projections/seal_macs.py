"""The two MACs that seal a stored record (``record_seals.py`` says why), and what the streaming scan
needs to check them (``audit_chain.verify_scan``). Pure."""

from __future__ import annotations

import hmac
import struct

import attrs

GENESIS_TAG = bytes(32)


def _text(value: str) -> bytes:
    data = value.encode("utf-8", "surrogatepass")
    return struct.pack(">H", len(data)) + data


def record_tag_of_digest(key: bytes, aggregate_id: str, version: int, topic: str, state_sha256: bytes) -> bytes:
    msg = b"etrack-record-v1" + _text(aggregate_id) + struct.pack(">q", version) + _text(topic) + state_sha256
    return hmac.digest(key, msg, "sha256")


def seal_tag(key: bytes, prev_tag: bytes, prev_position: int, position: int, rtag: bytes) -> bytes:
    msg = b"etrack-seal-v1" + prev_tag + struct.pack(">qq", prev_position, position) + rtag
    return hmac.digest(key, msg, "sha256")



@attrs.frozen
class Seals:
    """What the streaming scan needs to check record seals too: the record key, and how many seal rows
    the store holds (read in the same snapshot)."""

    key: bytes
    count: int
