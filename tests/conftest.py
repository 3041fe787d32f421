"""Shared fixtures. Hypothesis profiles: HYPOTHESIS_PROFILE=dev (default, quick) or ci (more examples)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.support import Cast, FakeClock, new_tracker

settings.register_profile("dev", max_examples=40, deadline=None)
settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tracker(clock: FakeClock):  # type: ignore[no-untyped-def]
    app = new_tracker("memory:", clock)
    yield app
    app.close()


@pytest.fixture
def cast(tracker) -> Cast:  # type: ignore[no-untyped-def]
    return Cast.register(tracker)


# --- backends: one contract suite, every backend ----------------------------------------------

POSTGRES_URL = os.environ.get("ETRACK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("ETRACK_REQUIRE_POSTGRES") == "1"


def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install '.[test]')"
    from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

    try:
        with psycopg.connect(postgres_conninfo(parse_url(POSTGRES_URL)), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL at {POSTGRES_URL} ({str(exc).strip().splitlines()[0]}); set ETRACK_TEST_POSTGRES_URL"
    return None


@pytest.fixture(scope="session")
def postgres_available() -> None:
    reason = postgres_unreachable()
    if reason:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required here (ETRACK_REQUIRE_POSTGRES=1): {reason}")
        pytest.skip(reason)


def _drop_schema(schema: str) -> None:
    import psycopg

    from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

    with psycopg.connect(postgres_conninfo(parse_url(POSTGRES_URL)), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    """A fresh store of each backend: in memory, an SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "memory":
        yield "memory:"
        return
    yield from _durable(request, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def durable_store_url(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    """A fresh, real store that other processes can open too: an SQLite file or a PostgreSQL schema."""
    yield from _durable(request, tmp_path)


def _durable(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'etrack.sqlite'}"
        return
    request.getfixturevalue("postgres_available")
    import uuid

    schema = f"t_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}schema={schema}"
    _drop_schema(schema)
