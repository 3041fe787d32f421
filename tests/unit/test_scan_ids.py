"""The streaming verification pass reads SQLite's ids as stored and makes them canonical itself, once
per aggregate (``stored_ids.hex_id``): the same dashed form as ``canonical_id`` for every id the store
writes, and None (so the pass defers to the full comparison, which names it ``[stored as ...]``) for
every other stored form."""

from __future__ import annotations

import sqlite3
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.adapters.stored_ids import canonical_id, hex_id, uuid_text
from engagement_tracker.projections.audit_chain import ODD_ID

FORMS = st.one_of(
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: u.hex.upper()),
    st.uuids().map(str),
    st.uuids().map(lambda u: u.bytes),
    st.text(alphabet="0123456789abcdefg-", min_size=30, max_size=34),
    st.integers(-(2**63), 2**63 - 1),  # what an SQLite INTEGER column holds
    st.none(),
)


def as_read(value: object) -> object:
    """The value as sqlite3 reads it back from the events table's TEXT column."""
    with sqlite3.connect(":memory:") as con:
        con.execute("CREATE TABLE stored_events (originator_id TEXT)")
        con.execute("INSERT INTO stored_events VALUES (?)", (value,))
        row = con.execute("SELECT originator_id FROM stored_events").fetchone()
    return row[0]


@given(FORMS)
def test_the_scan_names_ids_as_canonical_id_does(value: object) -> None:
    stored = as_read(value)
    python = canonical_id(stored) if not isinstance(stored, bytes) else f"{ODD_ID}{stored!r}]"
    scanned = hex_id(stored)
    if python.startswith(ODD_ID):
        assert scanned is None
    else:
        assert scanned == python == str(UUID(str(stored)))


@given(st.uuids())
def test_a_postgresql_uuid_read_as_text_is_canonical(value: UUID) -> None:
    assert uuid_text(str(value)) == canonical_id(value)
    assert uuid_text(value) is None  # not read as text: the pass defers
