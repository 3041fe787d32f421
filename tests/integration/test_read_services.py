"""app.audit (and app.analysts): services of the application built on first use from the read models
bootstrap hands in; a command that never reads them creates none of their tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Actor, Role
from engagement_tracker.domain.application.analysts import AnalystService
from engagement_tracker.domain.application.audit import AuditService
from engagement_tracker.domain.errors import InvalidInput, NotPermitted
from tests.support import Cast, admin, event_count, granted, new_tracker, open_engagement


def test_app_audit_is_one_service_built_once_and_bootstrap_returns_it(store_url: str) -> None:
    app = new_tracker(store_url)
    try:
        Cast.register(app)
        audit = app.audit
        assert isinstance(audit, AuditService)
        assert app.audit is audit and bootstrap.audit_service(app) is audit
        entries = audit.entries(admin(app))
        assert len(entries) == event_count(app) > 0
        auditor = granted(app, Role.AUDITOR, "Alex Auditor")
        checkpoint = audit.checkpoint(auditor, Ed25519PrivateKey.generate())
        assert checkpoint["position"] == event_count(app) and audit.verify(auditor).ok
    finally:
        app.close()


def test_app_audit_refuses_bad_input_and_outsiders_through_its_ports(store_url: str) -> None:
    app = new_tracker(store_url)
    try:
        cast = Cast.register(app)
        open_engagement(app, cast)
        auditor = granted(app, Role.AUDITOR, "Alex Auditor")
        with pytest.raises(InvalidInput, match="signing_key"):
            app.audit.checkpoint(auditor, "not a key")
        with pytest.raises(InvalidInput, match="public_key"):
            app.audit.verify(auditor, None, "not a key")
        with pytest.raises(InvalidInput, match="jobs"):
            app.audit.verify(auditor, jobs=0)
        with pytest.raises(NotPermitted):
            app.audit.entries(cast.coach)
    finally:
        app.close()


def test_a_command_that_never_reads_the_trail_creates_none_of_its_tables(tmp_path: Path) -> None:
    path = tmp_path / "etrack.sqlite"
    app = new_tracker(f"sqlite:///{path}")
    try:
        Cast.register(app)

        def tables() -> set[str]:
            with sqlite3.connect(path) as conn:
                return {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}

        assert not any("audit_trail" in t for t in tables())
        app.audit.entries(admin(app))
        assert any("audit_trail" in t for t in tables())
    finally:
        app.close()


def test_app_analysts_is_one_service_built_once_and_bootstrap_returns_it(store_url: str) -> None:
    app = new_tracker(store_url)
    try:
        Cast.register(app)
        analysts = app.analysts
        assert isinstance(analysts, AnalystService)
        assert app.analysts is analysts and bootstrap.analyst_service(app) is analysts
        analyst = granted(app, Role.ANALYST, "Anna Analyst")
        rel = analysts.summary(analyst, ["theme"])
        assert rel.rows == () and rel.policy.k == app.settings.k_min  # no signals: nothing released
        with pytest.raises(InvalidInput, match="by"):
            analysts.summary(analyst, ["persons"])
        with pytest.raises(NotPermitted):
            analysts.activity(Actor(analyst.party, Role.COACH))  # a role the analyst does not hold
    finally:
        app.close()


def test_a_command_that_never_reads_analytics_creates_none_of_its_tables(tmp_path: Path) -> None:
    path = tmp_path / "etrack.sqlite"
    app = new_tracker(f"sqlite:///{path}")
    try:
        Cast.register(app)

        def tables() -> set[str]:
            with sqlite3.connect(path) as conn:
                return {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}

        before = tables()
        analyst = granted(app, Role.ANALYST, "Anna Analyst")
        assert tables() == before
        app.analysts.activity(analyst)
        assert tables() - before  # the analytics tables, made when the analysts first asked
    finally:
        app.close()
