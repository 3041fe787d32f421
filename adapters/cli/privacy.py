"""Privacy budgets: an admin grants rho (zCDP) to an analyst; an analyst reads what remains."""

from __future__ import annotations

import click

from engagement_tracker.adapters.cli.output import ACTOR, FORMAT, emit_rows, out, parse_actor
from engagement_tracker.adapters.cli.store import reader, tracker


@click.group("privacy-budget")
def privacy_budget() -> None:
    """Differential-privacy budgets (rho, zCDP) of analysts, recorded as events."""


@privacy_budget.command("grant")
@click.argument("analyst_id")
@click.argument("rho", type=float)
@ACTOR
@click.pass_context
def grant(ctx: click.Context, analyst_id: str, rho: float, actor: str) -> None:
    """Add RHO (zCDP, above 0, at most 50) to ANALYST_ID's budget; an admin acts (--as admin:ID)."""
    with tracker(ctx) as app:
        app.budgets.grant(analyst_id, rho, parse_actor(actor))
        out.print(f"granted {app.budgets.worth(rho)} to {analyst_id}")


@privacy_budget.command("show")
@ACTOR
@click.option("--analyst", "analyst_id", default=None, help="another analyst's budget (admins only)")
@FORMAT
@click.pass_context
def show(ctx: click.Context, actor: str, analyst_id: str | None, fmt: str) -> None:
    """Granted, spent and remaining rho, what it is worth in epsilon, and how many releases spent it."""
    with reader(ctx) as app:
        emit_rows([app.budgets.balance(parse_actor(actor), analyst_id)], fmt, "Privacy budget")


COMMANDS: tuple[click.Command, ...] = (privacy_budget,)
