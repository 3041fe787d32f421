"""The streaming verification pass reads SQLite's ids already canonical (computed in SQL): the same
dashed form as ``canonical_id`` for every id the store writes, and an ODD_ID name (so the pass defers
to the full comparison) for every other stored form."""

from __future__ import annotations

import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.adapters.stored_ids import canonical_id
from engagement_tracker.adapters.stored_records import _SQLITE_CANONICAL_ID
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


def in_sql(value: object) -> str:
    with sqlite3.connect(":memory:") as con:
        con.execute("CREATE TABLE stored_events (originator_id TEXT)")
        con.execute("INSERT INTO stored_events VALUES (?)", (value,))
        row = con.execute(f"SELECT {_SQLITE_CANONICAL_ID} FROM stored_events s").fetchone()
    return str(row[0])


@given(FORMS)
def test_sql_names_ids_as_canonical_id_does(value: object) -> None:
    python = canonical_id(value) if not isinstance(value, bytes) else f"{ODD_ID}{value!r}]"
    sql = in_sql(value)
    if python.startswith(ODD_ID):
        assert sql.startswith(ODD_ID)
    else:
        assert sql == python
