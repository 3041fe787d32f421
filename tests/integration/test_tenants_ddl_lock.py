"""The DDL lock is one advisory key per schema (issue #26): opening one tenant's new store never waits for
another tenant's open, while processes opening the same new schema at once still take turns, so its
tables, store id and record key are made once. Real PostgreSQL; the lock's holder is a process of its own."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.adapters.bootstrap import ddl_lock_key, open_tracker
from engagement_tracker.adapters.storage import parse_url, postgres_conninfo
from tests.conftest import POSTGRES_URL, _drop_schema

HOLDER = """
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute("SELECT pg_advisory_lock(%s)", (int(sys.argv[2]),))
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def schemas(postgres_available: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    monkeypatch.chdir(tmp_path)  # record keys beside the test, not in the worktree
    names = [f"t_ddl_{uuid.uuid4().hex[:10]}" for _ in range(3)]
    yield names
    for name in names:
        _drop_schema(name)


def _url(schema: str, pooled: bool) -> str:
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}schema={schema}" + ("&pooler=transaction" if pooled else "")


def _open_and_close(url: str) -> str:
    app = open_tracker(url)
    try:
        return str(app.recorder.max_notification_id() or 0)
    finally:
        app.close()


def _direct(query: str, *params: object) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(postgres_conninfo(parse_url(POSTGRES_URL)), autocommit=True) as conn:
        return list(conn.execute(query, params).fetchall())


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_each_schema_has_a_key_of_its_own_stable_and_in_range(one: str, other: str) -> None:
    assert ddl_lock_key(one) == ddl_lock_key(one)
    assert -(2**63) <= ddl_lock_key(one) < 2**63
    if one != other:
        assert ddl_lock_key(one) != ddl_lock_key(other)


def test_the_key_is_the_documented_derivation() -> None:
    import hashlib

    digest = hashlib.blake2b(b"etrack ddl lock:acme", digest_size=8).digest()
    assert ddl_lock_key("acme") == int.from_bytes(digest, "big", signed=True)


@pytest.mark.parametrize("pooled", [False, True], ids=["direct", "transaction-pooled"])
def test_other_tenants_open_while_a_process_holds_one_schemas_lock(schemas: list[str], pooled: bool) -> None:
    """A third process holds schema C's DDL lock: the first opens of A and B (new schemas) finish while
    it does; C's own first open waits for it and finishes once it lets go."""
    a, b, c = schemas
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, postgres_conninfo(parse_url(POSTGRES_URL)),
                               str(ddl_lock_key(c))], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pool = ThreadPoolExecutor(3)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        waiting = pool.submit(_open_and_close, _url(c, pooled))
        others = [pool.submit(_open_and_close, _url(name, pooled)) for name in (a, b)]
        done, _ = wait(others, timeout=60)  # one key for the database kept them behind C's holder
        assert done == set(others) and [f.result() for f in others] == ["0", "0"]
        time.sleep(0.5)
        assert not waiting.done()  # C's open is behind the holder's lock
        assert _direct("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", c) == [(0,)]
        holder.communicate("", timeout=30)  # the holder lets go
        assert waiting.result(timeout=60) == "0"
    finally:
        if holder.poll() is None:
            holder.kill()  # first: an open still waiting for its lock then ends
            holder.wait()
        pool.shutdown(wait=True)
    for name in schemas:
        assert _direct("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", name) != [(0,)]


@pytest.mark.parametrize("pooled", [False, True], ids=["direct", "transaction-pooled"])
def test_the_same_tenants_concurrent_first_opens_create_everything_once(schemas: list[str], pooled: bool) -> None:
    """Six opens at once on one new schema: one store id, one vault stamp naming it, every table made;
    every open (and a later one) finds the same store."""
    name = schemas[0]
    url = _url(name, pooled)
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(_open_and_close, [url] * 6, timeout=120)) == ["0"] * 6
    stores = _direct(f'SELECT store_id FROM "{name}".etrack_store')
    assert len(stores) == 1
    assert _direct(f'SELECT store_id FROM "{name}".etrack_vault_store') == stores
    assert _open_and_close(url) == "0"
    assert _direct(f'SELECT store_id FROM "{name}".etrack_store') == stores  # the later open made no other
