"""Admins and auditors: the first admin, grants and revocations, who holds what, and their history."""

from __future__ import annotations

import re
from datetime import timedelta

import click

from engagement_tracker.adapters.cli.exits import cut
from engagement_tracker.adapters.cli.output import ACTOR, FORMAT, emit_rows, err, out, parse_actor
from engagement_tracker.adapters.cli.store import reader, tracker
from engagement_tracker.domain.errors import InvalidInput
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


_DURATION = re.compile(r"(\d{1,5})([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_duration(raw: str | None) -> timedelta | None:
    """``90d``, ``12h``, ``30m`` as a duration; None for none (valid until revoked)."""
    if raw is None:
        return None
    found = _DURATION.fullmatch(raw.strip())
    if found is None:
        raise InvalidInput("--expires", f"{cut(raw)!r}: expected a duration such as 90d, 12h or 30m")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


@click.group("token")
def token() -> None:
    """Bearer tokens for etrack serve: each identifies one recorded party (admins issue, list, revoke)."""


@token.command("issue")
@click.argument("party_id")
@ACTOR
@click.option("--expires", default=None, metavar="DURATION", help="valid for 90d, 12h or 30m (default: until revoked)")
@click.option("--label", default=None, help="what it is for, e.g. laptop (sealed under the party's key)")
@click.pass_context
def token_issue(ctx: click.Context, party_id: str, actor: str, expires: str | None, label: str | None) -> None:
    """Issue a token identifying PARTY_ID; prints the secret once (only its hash is kept)."""
    admin, lifetime = parse_actor(actor), parse_duration(expires)
    with tracker(ctx) as app:
        issued = app.access.issue_token(party_id, admin, lifetime, label).value
    click.echo(issued.secret)
    until = "until revoked" if issued.expires_at is None else f"until {issued.expires_at.isoformat(timespec='seconds')}"
    err.print(f"token {issued.token} for party {issued.party}, valid {until}: shown once, keep it secret",
              highlight=False, soft_wrap=True)


@token.command("list")
@ACTOR
@click.option("--party", "party_id", default=None, help="only this party's tokens")
@FORMAT
@click.pass_context
def token_list(ctx: click.Context, actor: str, party_id: str | None, fmt: str) -> None:
    """Every token issued: id, party, label, issued, by, expiry, revoked, valid now (never a secret)."""
    with reader(ctx) as app:
        emit_rows(app.access.tokens(parse_actor(actor), party_id), fmt, "Tokens")


@token.command("revoke")
@click.argument("token_id")
@ACTOR
@click.pass_context
def token_revoke(ctx: click.Context, token_id: str, actor: str) -> None:
    """Revoke TOKEN_ID: from now on it authenticates nobody."""
    with tracker(ctx) as app:
        app.access.revoke_token(token_id, parse_actor(actor))
        out.print(f"revoked token {token_id}")


COMMANDS = [init, grant, revoke, access, parties, token]
