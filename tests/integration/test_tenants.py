"""Tenants (issue #26): two client organisations in one real PostgreSQL database, each a schema of its
own with its own keys. Every path reachable from the command line and from Python, tried across the
boundary with the other tenant's ids, is refused and writes nothing; deleting one tenant drops its
schema and destroys its keys, and the other's log still verifies against a checkpoint taken before."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engagement_tracker.adapters.storage import parse_url
from engagement_tracker.adapters.tenants import (
    create_tenant,
    delete_tenant,
    known_tenants,
    open_tenant,
    resolve,
    shown,
    tenant_name,
    tenant_schema,
)
from engagement_tracker.domain import Actor, Role
from engagement_tracker.domain.errors import EtrackError, InvalidInput, NotPermitted, StoreError, UnknownTenant
from tests.conftest import POSTGRES_URL, _drop_schema
from tests.integration.test_cli_failures import run
from tests.support import Cast, FakeClock, drive, event_count, open_engagement


@pytest.fixture
def base(postgres_available: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The main store's URL (a schema of its own in the test database); tenants' keys under tmp_path."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in POSTGRES_URL else "?"
    monkeypatch.setenv("ETRACK_TENANT_KEYS", str(tmp_path / "keys"))
    yield f"{POSTGRES_URL}{sep}schema={schema}"
    for suffix in ("", "_acme", "_globex", "_initech"):
        _drop_schema(f"{schema}{suffix}")


def _populate(url: str, org: str) -> dict[str, Any]:
    """A tenant with an admin, an auditor, an analyst, a coach's engagement in accompaniment."""
    app = open_tenant(url, org, clock=FakeClock())
    try:
        admin = Actor(app.access.initialise("Ada Admin").value, Role.ADMIN)
        auditor = Actor(app.parties.register("person", "Aude Auditor").value, Role.AUDITOR)
        analyst = Actor(app.parties.register("person", "Ana Analyst").value, Role.ANALYST)
        app.access.grant(auditor.party, Role.AUDITOR, admin)
        app.access.grant(analyst.party, Role.ANALYST, admin)
        cast = Cast.register(app)
        eid = open_engagement(app, cast)
        drive(app, cast, eid, "accompaniment.in_progress")
        return {"admin": admin, "auditor": auditor, "analyst": analyst, "cast": cast, "eid": eid,
                "events": event_count(app)}
    finally:
        app.close()


def _events(url: str, org: str) -> int:
    app = open_tenant(url, org, adopt=False)
    try:
        return event_count(app)
    finally:
        app.close()


def test_names_are_safe_identifiers_and_unknown_tenants_are_named() -> None:
    assert tenant_name("Acme Corp") == "acme_corp"
    assert tenant_name("Société Générale!") == "societe_generale"
    for bad in ("", "  ", "42 inc", "'; drop schema public; --", "x" * 25):
        if bad.startswith("'"):
            assert tenant_name(bad) == "drop_schema_public"  # quotes and spaces never reach SQL
            continue
        with pytest.raises(InvalidInput):
            tenant_name(bad)
    assert tenant_schema(parse_url("postgresql://h/db"), "acme") == "tenant_acme"
    assert tenant_schema(parse_url("postgresql://h/db?schema=prod"), "acme") == "prod_acme"
    assert shown("postgresql://u:secret@a:1,b:2/db?schema=x") == "postgresql://u:***@a:1,b:2/db?schema=x"


def test_sqlite_tenants_are_files_of_their_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETRACK_TENANT_KEYS", raising=False)
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    assert known_tenants(url) == []
    made = create_tenant(url, "Acme")
    assert made.url == f"sqlite:///{tmp_path / 'etrack-acme.sqlite'}"
    assert (tmp_path / "etrack-acme.sqlite-vault").exists() and not (tmp_path / "etrack.sqlite").exists()
    assert sorted(p.name for p in made.keys.iterdir()) == ["cipher-key", "record-key", "signing-key.pem"]
    assert all(p.stat().st_mode & 0o077 == 0 for p in made.keys.iterdir())
    with pytest.raises(StoreError, match="exists already"):
        create_tenant(url, "acme")
    with pytest.raises(UnknownTenant, match="known: acme"):
        open_tenant(url, "globex")
    assert known_tenants(url) == ["acme"]


def test_nothing_crosses_tenants(base: str, tmp_path: Path) -> None:
    create_tenant(base, "acme")
    create_tenant(base, "globex")
    assert known_tenants(base) == ["acme", "globex"]
    a, b = _populate(base, "acme"), _populate(base, "globex")
    keys = resolve(base, "acme").keys
    assert (keys / "record-key").read_text() != (resolve(base, "globex").keys / "record-key").read_text()

    # --- Python: globex's services, acme's ids and actors --------------------------------------
    app = open_tenant(base, "globex", clock=FakeClock())
    a_cast: Cast = a["cast"]
    attempts = [
        lambda: app.engagements.hold_first_meeting(a["eid"], a_cast.coach, FakeClock().now.date()),
        lambda: app.engagements.view(a["eid"], a_cast.coach),
        lambda: app.engagements.timeline(a["eid"], a_cast.coach),
        lambda: app.engagements.open(a_cast.coach, a_cast.coachee.party, a_cast.sponsor.party, "line_manager", "Ops"),
        lambda: app.access.grant(a_cast.other_coach.party, Role.COACH, a["admin"]),
        lambda: app.access.revoke(a["auditor"].party, Role.AUDITOR, a["admin"]),
        lambda: app.access.history(a["admin"]),
        lambda: app.parties.erase(a_cast.coachee.party, a["admin"]),
        lambda: app.parties.list(a["admin"]),
        lambda: app.budgets.grant(a["analyst"].party, 1.0, a["admin"]),
        lambda: app.audit.verify(a["auditor"]),
        lambda: app.analysts.summary(a["analyst"], ("theme",)),
    ]
    refused = 0
    try:
        for attempt in attempts:
            try:
                attempt()
            except (EtrackError, TypeError, AttributeError) as exc:
                if isinstance(exc, TypeError | AttributeError):  # a helper's name or signature: not a refusal
                    raise
                refused += 1
            else:
                pytest.fail(f"globex accepted acme's ids: {attempt}")
    finally:
        app.close()
    assert refused == len(attempts)

    # --- the command line: --tenant globex with acme's ids -------------------------------------
    env = {"ETRACK_DATABASE_URL": base, "ETRACK_TENANT_KEYS": os.environ["ETRACK_TENANT_KEYS"]}
    coach, admin, auditor, analyst = (f"coach:{a_cast.coach.party}", f"admin:{a['admin'].party}",
                                      f"auditor:{a['auditor'].party}", f"analyst:{a['analyst'].party}")
    eid = str(a["eid"])
    page = str(tmp_path / "page.html")
    lines = [
        ["show", eid, "--as", coach],
        ["timeline", eid, "--as", coach],
        ["step", eid, "suspend", "--as", coach, "reason=holiday"],
        ["report", "engagement", eid, "--as", coach, "--out", page],
        ["engagements", "--as", admin],
        ["parties", "--as", admin],
        ["grant", "coach", str(a_cast.other_coach.party), "--as", admin],
        ["revoke", "auditor", str(a["auditor"].party), "--as", admin],
        ["subject", "erase", str(a_cast.coachee.party), "--as", admin],
        ["replay", eid, "--as", auditor],
        ["audit", "verify", "--as", auditor],
        ["audit", "export", "--as", auditor],
        ["signals", "summary", "--as", analyst, "--by", "theme"],
        ["activity", "--as", analyst],
        ["privacy-budget", "grant", str(a["analyst"].party), "1.0", "--as", admin],
    ]
    for line in lines:
        proc = run("--tenant", "globex", *line, cwd=tmp_path, env=env)
        assert proc.returncode == 3, (line, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: "), proc.stderr
    assert not Path(page).exists()
    # the same lines as acme itself: they reach acme's data (the refusals above were the boundary)
    assert run("--tenant", "acme", "show", eid, "--as", coach, cwd=tmp_path, env=env).returncode == 0

    # --- nothing was written on either side ----------------------------------------------------
    assert _events(base, "acme") == a["events"] and _events(base, "globex") == b["events"]

    # --- unknown and malformed tenants ---------------------------------------------------------
    proc = run("--tenant", "initech", "parties", "--as", admin, cwd=tmp_path, env=env)
    assert proc.returncode == 4 and "UnknownTenant" in proc.stderr and "known: acme, globex" in proc.stderr
    proc = run("--tenant", "42!", "parties", "--as", admin, cwd=tmp_path, env=env)
    assert proc.returncode == 2 and "InvalidInput" in proc.stderr
    proc = run("--create", "--tenant", "initech", "init", "--admin-name", "X", cwd=tmp_path, env=env)
    assert proc.returncode == 4 and known_tenants(base) == ["acme", "globex"]  # never made by a write either

    # --- delete: a checkpoint of globex first; acme's admin cannot delete globex ---------------
    checkpoint = tmp_path / "globex.checkpoint"
    g_auditor = f"auditor:{b['auditor'].party}"
    assert run("--tenant", "globex", "audit", "checkpoint", "--as", g_auditor, "--out", str(checkpoint),
               cwd=tmp_path, env=env).returncode == 0
    with pytest.raises(NotPermitted):
        delete_tenant(base, "globex", a["admin"])
    proc = run("tenant", "delete", "acme", "--as", f"admin:{b['admin'].party}", cwd=tmp_path, env=env)
    assert proc.returncode == 3 and "acme" in known_tenants(base)
    proc = run("tenant", "delete", "acme", "--as", admin, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert known_tenants(base) == ["globex"] and not keys.exists()
    with pytest.raises(UnknownTenant, match="known: globex"):
        open_tenant(base, "acme")
    import psycopg

    from engagement_tracker.adapters.storage import postgres_conninfo

    with psycopg.connect(postgres_conninfo(parse_url(base))) as conn:
        gone = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s",
                            (tenant_schema(parse_url(base), "acme"),)).fetchone()
    assert gone is not None and gone[0] == 0
    proc = run("--tenant", "globex", "audit", "verify", "--as", g_auditor, "--checkpoint", str(checkpoint),
               "--json", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["checked"] == b["events"], report
