"""eventsourcing's PostgreSQL factory, given what libpq needs to find the primary among several hosts.

A store URL may name several hosts (``postgresql://a:5432,b:5432/db?target_session_attrs=read-write``,
as libpq does): eventsourcing passes host and port to libpq as they are (``a,b`` and ``5432,5432``,
which libpq tries in order), but not ``target_session_attrs``. This factory adds it to its
connection pool's settings before the pool opens (eventsourcing opens it on first use), so every
connection, after a failover as before, lands on a server that accepts writes.
"""

from __future__ import annotations

from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment, EnvType

TARGET_SESSION_ATTRS = "POSTGRES_TARGET_SESSION_ATTRS"
TOPIC = "engagement_tracker.adapters.postgres_factory:MultiHostPostgresFactory"


class MultiHostPostgresFactory(PostgresFactory):
    """PostgresFactory, plus ``target_session_attrs`` (from POSTGRES_TARGET_SESSION_ATTRS) on its pool."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        attrs = self.env.get(TARGET_SESSION_ATTRS)
        if attrs:
            kwargs = self.datastore.pool.kwargs
            if isinstance(kwargs, dict):
                kwargs["target_session_attrs"] = attrs
