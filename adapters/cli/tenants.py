"""Tenants: ``etrack tenant create ORG``, ``etrack tenant list``, ``etrack tenant delete ORG --as admin:ID``.

A tenant is a store of its own under ``--db`` (a schema, or a file beside it) with its own keys
(``adapters/tenants.py``); every other command takes ``--tenant ORG`` (or ETRACK_TENANT) to use it.
"""

from __future__ import annotations

import click

from engagement_tracker.adapters.cli.output import ACTOR, FORMAT, emit_rows, out, parse_actor, refusals


@click.group("tenant")
def tenant() -> None:
    """Tenants: one store per client organisation (create, list, delete)."""


@tenant.command("create")
@click.argument("org")
@click.pass_context
def tenant_create(ctx: click.Context, org: str) -> None:
    """Make the tenant ORG: its own store (a PostgreSQL schema, or an SQLite file beside --db), its own
    record key, cipher key, signing key and vault; prints its name. Then `etrack --tenant ORG init
    --admin-name NAME` registers its first admin."""
    from engagement_tracker.adapters.tenants import create_tenant, shown

    with refusals():
        made = create_tenant(ctx.obj.get("db"), org)
    out.print(f"tenant {made.name} created: store {shown(made.url)}, keys in {made.keys} (back them up with the store)",
              soft_wrap=True)


@tenant.command("list")
@FORMAT
@click.pass_context
def tenant_list(ctx: click.Context, fmt: str) -> None:
    """Every tenant of the store at --db, by name, with its store (creates nothing)."""
    from engagement_tracker.adapters.storage import parse_url
    from engagement_tracker.adapters.tenants import known_tenants, shown, tenant_url

    with refusals():
        names = known_tenants(ctx.obj.get("db"))
        config = parse_url(ctx.obj.get("db"))
        rows = [{"tenant": name, "store": shown(tenant_url(config, name))} for name in names]
    emit_rows(rows, fmt, title="tenants", columns=["tenant", "store"])


@tenant.command("delete")
@click.argument("org")
@ACTOR
@click.pass_context
def tenant_delete(ctx: click.Context, org: str, actor: str) -> None:
    """Drop the tenant ORG (its schema or files) and destroy its keys (crypto-erasure); its admin acts
    (--as admin:ID, the grant checked in the transaction that drops it). Other tenants are untouched."""
    from engagement_tracker.adapters.tenants import delete_tenant

    with refusals():
        name = delete_tenant(ctx.obj.get("db"), org, parse_actor(actor))
    out.print(f"tenant {name} deleted: its store dropped and its keys destroyed")


COMMANDS: tuple[click.Command, ...] = (tenant,)
