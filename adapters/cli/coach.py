"""A coach's own records: ``etrack coach hours`` prints the ICF hours log (domain/coach_hours.py)."""

from __future__ import annotations

import click

from engagement_tracker.adapters.cli.output import ACTOR, FORMATS, emit_json, emit_rows, out, parse_actor
from engagement_tracker.adapters.cli.store import reader
from engagement_tracker.domain.coach_hours import LINE_FIELDS


@click.group("coach")
def coach() -> None:
    """A coach's own records (the ICF hours log)."""


@coach.command("hours")
@ACTOR
@click.option("--coach", "coach_id", default=None, metavar="PARTY_ID",
              help="the coach whose log an auditor checks (a coach reads their own)")
@click.option("--format", "fmt", type=FORMATS, default="table",
              help="table (lines, then totals), csv (the lines, ICF log fields), json (lines and totals)")
@click.pass_context
def hours(ctx: click.Context, actor: str, coach_id: str | None, fmt: str) -> None:
    """The ICF hours log: every session, client (named only with consent), date, paid or pro bono
    hours, group size, and the totals against ACC (100 h, 75 paid, 8 clients) and PCC (500 h,
    450 paid, 25 clients). Each line names its engagement, session number and event version."""
    with reader(ctx) as app:
        log = app.engagements.coach_hours(parse_actor(actor), coach_id)
    if fmt == "json":
        emit_json(log)
        return
    lines = [{f: line[f] for f in LINE_FIELDS} for line in log["lines"]]
    if fmt == "csv":
        if lines:
            emit_rows(lines, "csv")
        else:
            click.echo(",".join(LINE_FIELDS))
        return
    emit_rows(lines, "table", "ICF hours log")
    t = log["totals"]
    out.print(f"{t['sessions']} sessions, {t['hours']} h ({t['paid_hours']} paid, {t['pro_bono_hours']} pro bono), "
              f"{t['clients']} clients")
    for name, c in t["credentials"].items():
        missing = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in c["missing"].items() if v)
        out.print(f"{name}: {'met' if c['met'] else 'missing ' + missing}")


COMMANDS: tuple[click.Command, ...] = (coach,)
