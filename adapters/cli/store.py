"""The store behind each command: open it for one command, rebuild or follow its projections.

Every command takes ``--db URL`` (else ETRACK_DATABASE_URL, else ./etrack.sqlite). After a
write, the projections catch up in the same process (embedded mode).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from engagement_tracker.adapters.bootstrap import new_cipher_key, open_tracker
from engagement_tracker.adapters.cli.output import emit_rows, err, out, refusals
from engagement_tracker.adapters.cli.progress import progress
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.errors import EtrackError, StoreError
from engagement_tracker.projections.audit_trail import AuditTrail
from engagement_tracker.projections.directory import COHORT, Directory

if TYPE_CHECKING:
    from engagement_tracker.adapters.tenants import Tenant

DEFAULT_URL = "sqlite:///etrack.sqlite"

log = logging.getLogger(__name__)


@contextmanager
def tracker(ctx: click.Context, project: bool = True, **kwargs: Any) -> Iterator[EngagementTracker]:
    """Open the store; after a write, bring the projections up to date in-process (embedded mode).

    A write makes a new store only with ``--create`` (``etrack init`` and ``etrack demo`` always
    may); it adopts a store made before store ids (``adapters/store_files.py``). A read does neither.
    """
    log.debug("opening the store at %s", ctx.obj["db"] or DEFAULT_URL)
    kwargs.setdefault("create", bool(ctx.obj.get("create")))
    kwargs.setdefault("adopt", project)
    with refusals():
        tenant = tenant_of(ctx)
        if tenant is not None:  # the tenant's own store and keys; never made here (etrack tenant create)
            kwargs["env"] = {**kwargs.get("env", {}), **tenant.env()}
            kwargs["create"] = False
        app = open_tracker(tenant.url if tenant is not None else ctx.obj["db"], **kwargs)
    log.info("store open: %s", ctx.obj["db"] or DEFAULT_URL)
    try:
        with refusals():
            yield app
        if project:
            try:  # the command is committed: a projection that cannot catch up is a warning here
                ProjectionRunner(app).catch_up()
                log.debug("projections caught up")
            except EtrackError as exc:
                err.print(f"[yellow]warning[/]: the command was recorded, but projections did not catch up: {exc}")
    finally:
        app.close()


def tenant_of(ctx: click.Context) -> Tenant | None:
    """The tenant named by --tenant (or ETRACK_TENANT), resolved once per command; None for the main store."""
    obj = ctx.ensure_object(dict)
    if not obj.get("tenant"):
        return None
    if "tenant_store" not in obj:
        from engagement_tracker.adapters.tenants import resolve

        obj["tenant_store"] = resolve(obj.get("db"), obj["tenant"])
    found: Tenant = obj["tenant_store"]
    return found


def signing_key_path(ctx: click.Context, given: str | None) -> str | None:
    """``--key`` when given; else the tenant's own signing key (with --tenant); else None (ETRACK_AUDIT_SIGNING_KEY)."""
    if given is not None:
        return given
    tenant = tenant_of(ctx)
    return None if tenant is None else str(tenant.signing_key)


@contextmanager
def reader(ctx: click.Context, replica: bool = True) -> Iterator[EngagementTracker]:
    """A tracker for a read: a mistyped --db is an error, never a new empty store.

    With ETRACK_READ_URL (and ``replica``), the read goes to that standby (the tenant's schema there,
    with --tenant), nothing is written there, and its lag is printed on stderr beside the answer."""
    from engagement_tracker.adapters.replicas import read_url

    with refusals():
        url = read_url() if replica else None
    if url is None:
        with tracker(ctx, create=False, adopt=False, project=False) as app:
            yield app
        return
    yield from _replica_read(ctx, url)


def _replica_read(ctx: click.Context, url: str) -> Iterator[EngagementTracker]:
    from engagement_tracker.adapters.replicas import replica_lag
    from engagement_tracker.adapters.storage import parse_url

    env: dict[str, str] = {}
    with refusals():
        tenant = tenant_of(ctx)
        if tenant is not None:
            from engagement_tracker.adapters.tenants import tenant_url

            url, env = tenant_url(parse_url(url), tenant.name), tenant.env()
        app = open_tracker(url, env=env, create=False, adopt=False, replica=True)
    try:
        with refusals():
            try:
                yield app
            except Exception as exc:
                if type(exc).__name__ == "ReadOnlySqlTransaction" or "read-only transaction" in str(exc):
                    raise StoreError(f"the read replica at {parse_url(url).server} refused a write ({exc}); "
                                     "nothing was written: run this command without ETRACK_READ_URL") from None
                raise
            lag = replica_lag(app)
        err.print(f"read from the replica at {parse_url(url).server}: "
                  + ("not a standby (promoted?)" if lag is None else f"{lag:.2f} s behind the primary"))
    finally:
        app.close()


@click.group()
def projections() -> None:
    """Read models derived from the events."""


@projections.command("rebuild")
@click.pass_context
def projections_rebuild(ctx: click.Context) -> None:
    """Drop and rebuild every projection from the store (the same entries, the same head hash).

    Reads the store page by page (memory stays flat in the size of the store), with a progress
    bar on stderr when it is a terminal (not with --quiet)."""
    with tracker(ctx, create=False, project=False) as app:
        with progress(ctx, "rebuilding", store_size(app)) as advance:
            runner = ProjectionRunner(app, on_page=advance)
            projected = runner.rebuild()
        out.print(f"{projected} records projected")
        for p in runner.projections:
            if isinstance(p, AuditTrail):
                head = p.view.head()
                out.print(f"audit trail: {head.position if head else 0} entries, "
                          f"head {head.entry_hash if head else '-'}", soft_wrap=True)
            elif isinstance(p, Directory):
                listed = p.view.listing()
                cohorts = sum(1 for e in listed if e.kind == COHORT)
                out.print(f"directory: {len(listed) - cohorts} engagements, {cohorts} cohorts")


def store_size(app: EngagementTracker) -> int | None:
    """The store's highest position (the total of a progress bar), or None when unknown."""
    try:
        size = app.recorder.max_notification_id()
    except Exception:  # a bar without a total is still a bar
        return None
    return int(size) if size is not None else None


@projections.command("run")
@click.option("--poll", default=0.25, show_default=True, help="seconds between polls (SQLite; PostgreSQL is woken)")
@click.option("--all-tenants", is_flag=True, help="follow every tenant's store under --db (new tenants picked up, a "
                                                  "failed runner restarted with back-off) instead of one store")
@click.option("--rescan", default=5.0, show_default=True, help="with --all-tenants: seconds between looks for new tenants")
@click.pass_context
def projections_run(ctx: click.Context, poll: float, all_tenants: bool, rescan: float) -> None:
    """Follow the store and keep every projection current, until SIGTERM or Ctrl-C."""
    if all_tenants:
        from engagement_tracker.adapters.supervisor import Supervisor

        supervisor = Supervisor(ctx.obj.get("db"), poll=poll, rescan=rescan)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: supervisor.stop())
        err.print(f"following every tenant of {ctx.obj.get('db') or DEFAULT_URL} (SIGTERM or Ctrl-C stops)")
        with refusals():
            supervisor.run()
        err.print("stopped cleanly")
        return
    with tracker(ctx, create=False, project=False) as app:
        runner = ProjectionRunner(app, poll)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: runner.stop())
        err.print(f"following {ctx.obj['db'] or DEFAULT_URL} (SIGTERM or Ctrl-C stops)")
        behind = (store_size(app) or 0) - min((p.position() for p in runner.projections), default=0)
        if behind > 0:  # the catch-up first, with a bar; then follow
            with progress(ctx, "catching up", behind) as advance:
                runner.on_page = advance
                caught = runner.catch_up()
            runner.on_page = None
            err.print(f"caught up: {caught} records projected")
        total = runner.run(on_progress=lambda n: err.print(f"projected {n} events"))
        err.print(f"stopped cleanly after projecting {total} events")


@projections.command("status")
@click.option("--all-tenants", is_flag=True, help="every tenant's store under --db, one row each")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "prometheus"]), default="table")
@click.pass_context
def projections_status(ctx: click.Context, all_tenants: bool, fmt: str) -> None:
    """How far the projections are behind the store: head, position and lag (events not yet projected)."""
    from engagement_tracker.adapters.supervisor import TenantStatus, metrics_text, store_lag, tenant_lags

    with refusals():
        if all_tenants:
            statuses = tenant_lags(ctx.obj.get("db"))
        else:
            with tracker(ctx, create=False, adopt=False, project=False) as app:
                head, position = store_lag(app)
            statuses = [TenantStatus(ctx.obj.get("tenant") or "-", "stored", head, position)]
    if fmt == "prometheus":
        click.echo(metrics_text(statuses), nl=False)
        return
    emit_rows([s.to_dict() for s in statuses], fmt, title="projections",
              columns=["tenant", "state", "head", "position", "lag", "restarts", "error"])


@click.command("new-cipher-key")
def cipher_key() -> None:
    """Print a fresh key for ETRACK_CIPHER_KEY (whole-store encryption at rest)."""
    click.echo(new_cipher_key())


@click.command("new-record-key")
def record_key() -> None:
    """Print a fresh key for ETRACK_RECORD_KEY (the key that seals every stored event)."""
    import secrets

    click.echo(secrets.token_hex(32))


COMMANDS: tuple[click.Command, ...] = (projections, cipher_key, record_key)
