"""The audit chain's hashing primitives (see ``audit_chain.py`` for the canonical encoding). Pure."""

from __future__ import annotations

import hashlib
from typing import Any

GENESIS = "0" * 64
ODD_ID = "[stored as "  # how an aggregate id in a form the store never writes is named

#: One stored record joined with the trail entry and the seal at its position (None where there is none):
#: position, aggregate_id (canonical, see ODD_ID), version, topic, state as stored, then the entry's
#: aggregate_id, version, topic, state_sha256, actor, role, recorded_at, prev_hash, entry_hash, then the
#: seal's aggregate_id, version, prev_position, record_tag, tag.
JoinedRow = tuple[Any, ...]




def state_digest(state: bytes | str | memoryview | None) -> str:
    """SHA-256 of the stored state bytes. A tampered row may hold text or nothing: it still hashes."""
    if type(state) is bytes:
        return hashlib.sha256(state).hexdigest()
    if state is None:
        return hashlib.sha256(b"\x00null").hexdigest()
    if isinstance(state, str):
        return hashlib.sha256(b"\x00text" + state.encode("utf-8", "surrogatepass")).hexdigest()
    return hashlib.sha256(bytes(state)).hexdigest()


def chain_hash(
    prev_hash: str,
    position: int,
    aggregate_id: str,
    version: int,
    topic: str,
    digest: str,
    actor: str | None = None,
    role: str | None = None,
    recorded_at: str | None = None,
) -> str:
    """The canonical entry hash (see the module docstring)."""
    line = (f"{prev_hash}|{position}|{aggregate_id}|{version}|{topic}|{digest}"
            f"|{actor or ''}|{role or ''}|{recorded_at or ''}")
    return hashlib.sha256(line.encode("utf-8")).hexdigest()
