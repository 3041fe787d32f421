"""The audit chain's hashing primitives (see ``audit_chain.py`` for the canonical encoding). Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

GENESIS = "0" * 64
ODD_ID = "[stored as "  # how an aggregate id in a form the store never writes is named

#: One stored record joined with the trail entry and the seal at its position (None where there is none),
#: reduced to what the streaming pass checks: position, aggregate_id as the store keeps it (see
#: :class:`JoinedPages`), version, topic, state as stored; then the entry's aggregate_id, whether its
#: version and topic are the record's (1 when they are, compared in the database), its state_sha256,
#: its stamp as the chain line ends with it (``actor|role|recorded_at``, an unknown field empty; None
#: when a field is not text), prev_hash and entry_hash; then the seal's prev_position, record_tag and
#: tag. The seal's own copy of the record's id and version is not read: the record tag, a MAC over the
#: record's id, version, topic and state, already binds the seal to it.
JoinedRow = tuple[Any, ...]

#: The joined row's entry hash and seal tag (a range starts from those of its boundary row).
ENTRY_HASH, SEAL_TAG = 10, 13


@attrs.frozen
class JoinedPages:
    """The store joined with the trail and the seals, in position order, a page (a list of
    :data:`JoinedRow`) at a time, and how to read its aggregate ids.

    ``canonical(stored)`` gives the canonical 36-character id of an id in the form the store writes
    (SQLite: 32 lowercase hex digits; PostgreSQL: its uuid as text), or None for any other form
    (which the store never writes: the full comparison names it). The scan asks it once per
    aggregate, not once per row.
    """

    pages: Iterable[Sequence[JoinedRow]]
    canonical: Callable[[Any], str | None]


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
