"""eventsourcing's PostgreSQL factory, given what libpq needs to find the primary among several hosts.

A store URL may name several hosts (``postgresql://a:5432,b:5432/db?target_session_attrs=read-write``,
as libpq does): eventsourcing passes host and port to libpq as they are (``a,b`` and ``5432,5432``,
which libpq tries in order), but not ``target_session_attrs``. This factory adds it to its
connection pool's settings before the pool opens (eventsourcing opens it on first use), so every
connection, after a failover as before, lands on a server that accepts writes.

Behind a pooler in transaction mode (``?pooler=transaction``, POSTGRES_POOLER), its connections
prepare no statement (``prepare_threshold=None``).
"""

from __future__ import annotations

from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment, EnvType

TARGET_SESSION_ATTRS = "POSTGRES_TARGET_SESSION_ATTRS"
POOLER = "POSTGRES_POOLER"
TOPIC = "engagement_tracker.adapters.postgres_factory:MultiHostPostgresFactory"


class MultiHostPostgresFactory(PostgresFactory):
    """PostgresFactory, plus ``target_session_attrs`` (from POSTGRES_TARGET_SESSION_ATTRS) and, behind a
    transaction pooler (POSTGRES_POOLER), ``prepare_threshold=None`` on its pool."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        kwargs = self.datastore.pool.kwargs
        if not isinstance(kwargs, dict):  # pragma: no cover - eventsourcing gives its pool a dict
            return
        attrs = self.env.get(TARGET_SESSION_ATTRS)
        if attrs:
            kwargs["target_session_attrs"] = attrs
        if self.env.get(POOLER) == "transaction":
            # Behind pgbouncer in transaction mode a statement prepared in one transaction is gone in
            # the next (another server connection): None prepares nothing, even eventsourcing's
            # ``prepare=True`` statements (psycopg checks the threshold first).
            kwargs["prepare_threshold"] = None
