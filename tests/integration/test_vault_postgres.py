"""The PostgreSQL key vault's connections (issue #26): no ping before each statement, and a cut
connection still found and replaced before the caller sees it.

A command asks the vault three times (is the coachee erased, make its key, seal), and every pooled
use used to send an empty query first (psycopg_pool's ``check_connection``): three round trips
of a command for nothing on a healthy server. The vault now sends only its statements; a
connection the server cut is found by the statement that fails on it, the pool's idle connections
are checked then (once per failure, not per statement), and the statement, idempotent by
construction, runs again on a fresh connection.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engagement_tracker.adapters.bootstrap import open_vault
from engagement_tracker.adapters.storage import parse_url, postgres_conninfo
from engagement_tracker.adapters.vault import PostgresVault
from engagement_tracker.domain.errors import StoreError
from tests.conftest import POSTGRES_URL, _drop_schema

pytestmark = pytest.mark.postgres


@pytest.fixture
def schema(postgres_available: None) -> Iterator[str]:
    import psycopg

    name = f"t_vault_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_conninfo(parse_url(POSTGRES_URL)), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    _drop_schema(name)


def _url(schema: str, query: str = "") -> str:
    return f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}{query}"


def _app_name() -> str:
    return f"etrack-vault-{uuid.uuid4().hex[:8]}"


def _vault(schema: str, name: str, pool_size: int = 2) -> PostgresVault:
    config = parse_url(_url(schema))
    return PostgresVault(postgres_conninfo(config), schema, pool_size=pool_size,
                         connect_kwargs={"application_name": name})


def _server_statements(name: str) -> tuple[int, list[str]]:
    """How many sessions named ``name`` the server holds, and the last statement each ran."""
    import psycopg

    with psycopg.connect(postgres_conninfo(parse_url(POSTGRES_URL)), autocommit=True) as conn:
        rows = conn.execute("SELECT query FROM pg_stat_activity WHERE application_name = %s", (name,)).fetchall()
    return len(rows), [r[0] for r in rows]


def _cut(name: str) -> int:
    import psycopg

    with psycopg.connect(postgres_conninfo(parse_url(POSTGRES_URL)), autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                            (name,)).fetchall()
    return len(rows)


def test_the_vault_sends_its_statements_and_no_ping_before_them(schema: str, tmp_path: Path) -> None:
    import psycopg

    vault = _vault(schema, _app_name(), pool_size=1)
    trace = tmp_path / "libpq.trace"
    try:
        with trace.open("wb") as out:
            with vault._pool.connection() as conn:  # the pool's one connection: libpq logs its messages from now
                conn.pgconn.trace(out.fileno())
                conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            vault.create_subject("s1")
            assert vault.is_erased("s1") is False
            assert vault.unseal(vault.seal("s1", "text")) == "text"
        sent = [line.split("\t")[2:] for line in trace.read_text().splitlines() if line.startswith("F\t")]
        assert sum(1 for m in sent if m[0] == "Parse" and "etrack_vault" in m[1]) >= 1  # the statements were traced
        assert sum(1 for m in sent if m[0] == "Bind") == 4  # one execution each: create, is_erased, seal, unseal
        assert not [m for m in sent if m[0] == "Query"], sent  # and no ping (psycopg_pool's is an empty Query "")
    finally:
        vault.close()


def test_pre_ping_in_the_url_checks_each_connection_before_use(schema: str) -> None:
    default = open_vault(parse_url(_url(schema)))
    pinged = open_vault(parse_url(_url(schema, "&pre_ping=y")))
    try:
        assert isinstance(default, PostgresVault) and isinstance(pinged, PostgresVault)
        assert (default.pre_ping, pinged.pre_ping) == (False, True)
    finally:
        default.close()  # type: ignore[attr-defined]
        pinged.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("pool_size", [1, 2])
def test_a_cut_connection_is_replaced_and_the_call_answers(schema: str, pool_size: int) -> None:
    name = _app_name()
    vault = _vault(schema, name, pool_size=pool_size)
    try:
        # every pooled connection used once, so each is idle in the pool when the server cuts it
        barrier = threading.Barrier(pool_size)

        def hold() -> None:
            with vault._pool.connection() as conn:
                barrier.wait(timeout=10)
                conn.execute("SELECT 1")

        threads = [threading.Thread(target=hold) for _ in range(pool_size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert _server_statements(name)[0] == pool_size
        assert _cut(name) == pool_size
        for n in range(3):  # every call answers: none sees the cut
            vault.create_subject(f"after-{n}")
            sealed = vault.seal(f"after-{n}", "still sealed")
            assert vault.unseal(sealed) == "still sealed"
        assert _cut(name) >= 1 and vault.is_erased("after-0") is False  # and again, at once
    finally:
        vault.close()


def test_an_unreachable_server_is_still_a_store_error(schema: str) -> None:
    """Nothing listens on port 1: the retry does not hide it, the call is a StoreError."""
    vault = PostgresVault("host=127.0.0.1 port=1 dbname=postgres user=postgres connect_timeout=1", schema,
                          pool_size=1, timeout=1.0, read_only=True)
    try:
        with pytest.raises(StoreError, match="the key vault is unreachable"):
            vault.is_erased("s1")
    finally:
        vault.close()
