"""Read replicas: ``ETRACK_READ_URL`` names a PostgreSQL standby that serves the read path.

The CLI's read commands (``reader()`` in ``adapters/cli/store.py``: auditors' verify, export, prove
and replay, the directory, views and pages) open the standby with ``open_tracker(..., replica=True)``:
nothing is made or written there (a standby refuses writes anyway, and the projections only read
the views the primary's runner keeps). :func:`replica_lag` says how far the standby is behind,
printed beside each answer. Releases to analysts record what they release (the region rule needs
the ledger), so they stay on the primary.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from engagement_tracker.adapters.storage import parse_url
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.errors import StoreError

READ_URL_ENV = "ETRACK_READ_URL"

LAG_SQL = (
    "SELECT pg_is_in_recovery() AS standby, "
    "CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 "
    "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS lag"
)


def read_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The replica's URL (ETRACK_READ_URL), checked to be a PostgreSQL URL; None when unset."""
    url = (os.environ if environ is None else environ).get(READ_URL_ENV) or None
    if url is not None and parse_url(url).kind != "postgresql":
        raise StoreError(f"{READ_URL_ENV}={url!r}: a read replica is a PostgreSQL standby (postgresql://...)")
    return url


def replica_lag(app: EngagementTracker) -> float | None:
    """Seconds the standby's replayed history is behind the primary's (0 when it has replayed all it
    received); None when the server is not a standby (a primary, or a promoted standby)."""
    datastore = getattr(app.recorder, "datastore", None)
    if datastore is None:
        return None
    with datastore.get_connection() as conn:
        row = conn.execute(LAG_SQL).fetchone()
    if row is None or not row["standby"]:
        return None
    return float(row["lag"] or 0.0)
