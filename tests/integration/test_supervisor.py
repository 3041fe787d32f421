"""One supervisor for every tenant's projections (issue #26), on real PostgreSQL schemas: it follows
each tenant, picks up a tenant made while it runs, restarts a runner that failed with a growing
back-off, stops following a deleted tenant, and reports each tenant's lag (status and /metrics text)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from engagement_tracker.adapters.supervisor import Supervisor, TenantStatus, metrics_text, tenant_lags
from engagement_tracker.adapters.tenants import create_tenant, delete_tenant, open_tenant
from engagement_tracker.domain import Actor, Role
from engagement_tracker.domain.errors import StoreError
from tests.integration.test_cli_failures import run
from tests.integration.test_tenants import base  # noqa: F401 - the fixture
from tests.support import FakeClock


def _write(url: str, org: str, parties: int) -> Actor | None:
    """Record some events in tenant ``org`` without projecting them (the runner's work)."""
    app = open_tenant(url, org, clock=FakeClock())
    try:
        admin = None
        if not app.held_grants():
            admin = Actor(app.access.initialise("Ada Admin").value, Role.ADMIN)
        for i in range(parties):
            app.parties.register("person", f"Person {i}")
        return admin
    finally:
        app.close()


def _until(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        time.sleep(0.05)


def _by_tenant(statuses: list[TenantStatus]) -> dict[str, TenantStatus]:
    return {s.tenant: s for s in statuses}


def test_one_supervisor_follows_every_tenant(base: str, tmp_path: Path) -> None:  # noqa: F811
    for org in ("acme", "globex"):
        create_tenant(base, org)
        _write(base, org, 3)
    assert all(s.lag and s.lag > 0 for s in tenant_lags(base))  # nothing projected yet

    opened: list[tuple[str, float]] = []

    def flaky(url: str | None, org: str, **kwargs: Any) -> Any:
        """globex's store fails to open twice (a real open, refused before it is tried)."""
        opened.append((org, time.monotonic()))
        if org == "globex" and sum(1 for o, _ in opened if o == "globex") <= 2:
            raise StoreError("globex: the server is restarting")
        return open_tenant(url, org, **kwargs)

    sup = Supervisor(base, poll=0.05, rescan=0.2, backoff_first=0.3, backoff_last=2.0, opener=flaky)
    thread = threading.Thread(target=sup.run, daemon=True)
    thread.start()
    try:
        def caught_up(*names: str) -> bool:
            got = _by_tenant(sup.status())
            return all(n in got and got[n].state == "running" and got[n].lag == 0 for n in names)

        _until(lambda: caught_up("acme", "globex"))
        globex = _by_tenant(sup.status())["globex"]
        assert globex.restarts == 2
        tries = [t for o, t in opened if o == "globex"]
        assert tries[1] - tries[0] >= 0.3 and tries[2] - tries[1] >= 0.6  # the back-off doubles

        create_tenant(base, "initech")  # made while the supervisor runs
        _write(base, "initech", 2)
        _until(lambda: caught_up("acme", "globex", "initech"))

        _write(base, "acme", 5)  # followed: woken by LISTEN/NOTIFY on acme's schema
        _until(lambda: caught_up("acme"))
        assert all(s.lag == 0 for s in tenant_lags(base))
        text = metrics_text(sup.status())
        assert 'etrack_projection_lag_events{tenant="acme"} 0' in text
        assert 'etrack_projection_restarts_total{tenant="globex"} 2' in text
        assert 'etrack_projection_up{tenant="initech"} 1' in text

        app = open_tenant(base, "initech")
        admin = next(Actor(UUID(p), Role.ADMIN) for p, roles in app.held_grants().items()
                     if "admin" in roles)
        app.close()
        delete_tenant(base, "initech", admin)
        _until(lambda: "initech" not in _by_tenant(sup.status()))
    finally:
        sup.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()

    env = {"ETRACK_DATABASE_URL": base, "ETRACK_TENANT_KEYS": str(tmp_path / "keys")}
    proc = run("projections", "status", "--all-tenants", "--format", "json", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [(r["tenant"], r["lag"]) for r in rows] == [("acme", 0), ("globex", 0)]
