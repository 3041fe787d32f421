"""Admins and auditors: the first admin, grants and revocations, who holds what, and their history."""

from __future__ import annotations

import click

from engagement_tracker.adapters.cli.output import ACTOR, FORMAT, emit_rows, out, parse_actor
from engagement_tracker.adapters.cli.store import reader, tracker
from engagement_tracker.domain.grants import GRANTABLE_ROLES

ROLE = click.argument("role", type=click.Choice(GRANTABLE_ROLES))


@click.command("init")
@click.option("--admin-name", required=True, help="the first admin's name (sealed like every name)")
@click.pass_context
def init(ctx: click.Context, admin_name: str) -> None:
    """Make the store if there is none, register the first admin and grant it admin; prints its party
    id (refused once an admin exists)."""
    with tracker(ctx, create=True) as app:
        click.echo(app.access.initialise(admin_name).value)


@click.command("grant")
@ROLE
@click.argument("party_id")
@ACTOR
@click.option("--reason", default=None, help="why (sealed under the granted party's key)")
@click.pass_context
def grant(ctx: click.Context, role: str, party_id: str, actor: str, reason: str | None) -> None:
    """Grant ROLE (admin, auditor, analyst, coach) to PARTY_ID; an admin acts (--as admin:ID)."""
    with tracker(ctx) as app:
        app.access.grant(party_id, role, parse_actor(actor), reason)
        out.print(f"granted {role} to {party_id}")


@click.command("revoke")
@ROLE
@click.argument("party_id")
@ACTOR
@click.option("--reason", default=None, help="why (sealed under the party's key)")
@click.pass_context
def revoke(ctx: click.Context, role: str, party_id: str, actor: str, reason: str | None) -> None:
    """Revoke ROLE from PARTY_ID; an admin acts. The last admin is never revoked."""
    with tracker(ctx) as app:
        app.access.revoke(party_id, role, parse_actor(actor), reason)
        out.print(f"revoked {role} from {party_id}")


@click.group("access")
def access() -> None:
    """Who was granted what, when and by whom (auditors and admins)."""


@access.command("history")
@ACTOR
@FORMAT
@click.pass_context
def access_history(ctx: click.Context, actor: str, fmt: str) -> None:
    """Every grant and revocation: time, change, role, party, by whom."""
    with reader(ctx) as app:
        emit_rows(app.access.history(parse_actor(actor)), fmt, "Access history")


@click.command("parties")
@ACTOR
@FORMAT
@click.pass_context
def parties(ctx: click.Context, actor: str, fmt: str) -> None:
    """Every party: id, kind, erased, grants; no names (admins)."""
    with reader(ctx) as app:
        rows = app.parties.list(parse_actor(actor))
        for row in rows:
            row["grants"] = ",".join(row["grants"]) if fmt != "json" else row["grants"]
        emit_rows(rows, fmt, "Parties")


COMMANDS = [init, grant, revoke, access, parties]
