"""Analysts and admins: released aggregates only (signal summaries and trends, activity).

Every output is long-format rows of one shape (``rows.py``), the same columns in the table,
CSV, JSON, JSONL and Parquet; each output's JSON Schema ships in ``schemas/``.
"""

from __future__ import annotations

import click

from engagement_tracker.adapters.bootstrap import analyst_service
from engagement_tracker.adapters.cli.output import ACTOR, DATA_FORMAT, DATA_OUT, emit_records, err, parse_actor
from engagement_tracker.adapters.cli.rows import TREND_COLUMNS, columns, dp_rows, release_rows, trend_rows
from engagement_tracker.adapters.cli.store import reader, tracker
from engagement_tracker.projections.anonymity import Release
from engagement_tracker.projections.privacy import DpRelease


def _emit_private(rel: DpRelease, fmt: str, title: str, out_path: str | None) -> None:
    emit_records(dp_rows(rel), columns(rel.by, dp=True), fmt, title, out_path)
    if fmt == "table":
        err.print(f"differential privacy: {rel.mechanism} (OpenDP), epsilon {rel.epsilon:g}, delta {rel.delta:g}; "
                  f"noise scale {rel.scale:g}; cells shown only above {rel.threshold}; each person counts at most "
                  f"{rel.bound} person-signals; low_95..high_95 holds the true count 95% of the time"
                  + ("; the recorded answer to this same query on the same data: nothing spent" if rel.repeated else ""),
                  highlight=False)


def _emit_release(rel: Release, fmt: str, title: str, out_path: str | None) -> None:
    emit_records(release_rows(rel), columns(rel.by), fmt, title, out_path)
    if fmt == "table":
        hidden = len(rel.hidden)
        err.print(f"level: {rel.level.time}"
                  + (f", units to depth {rel.level.unit_depth}" if rel.level.unit_depth is not None else "")
                  + f"; k={rel.policy.k}; {hidden} cell(s) suppressed (no reason is given: it would bound the "
                  "hidden value); the total row counts every fact, suppressed ones included",
                  highlight=False)


@click.group()
def signals() -> None:
    """Anonymised weak-signal summaries (analysts and admins)."""


_BY = click.option("--by", default="theme,period", show_default=True,
                   help="dimensions among theme, context, polarity, intensity, unit, period")
_UNIT = click.option("--unit", default=None, help="only this unit and the units below it")
_PERIOD = click.option("--period", type=click.Choice(["month", "quarter", "year"]), default="month",
                       show_default=True, help="the finest time grain (coarsened if needed)")
_K = click.option("--k", type=int, default=None,
                  help="distinct persons behind a released cell (default: the floor, ETRACK_K_MIN or an earlier "
                       "release's k; a lower k is refused)")
_PRIVACY = click.option("--privacy", type=click.Choice(["exact", "dp"]), default="exact", show_default=True,
                        help="exact counts under the release rules, or differentially private noisy counts")
_EPSILON = click.option("--epsilon", type=float, default=None,
                        help="with --privacy dp: the privacy loss to spend from your budget (above 0, at most 10)")
_SINCE = click.option("--since", default=None, metavar="YYYY-MM", help="from this month on (inclusive)")
_UNTIL = click.option("--until", default=None, metavar="YYYY-MM", help="up to this month (inclusive)")


@signals.command("summary")
@ACTOR
@_BY
@_UNIT
@_PERIOD
@_K
@_SINCE
@_UNTIL
@_PRIVACY
@_EPSILON
@DATA_FORMAT
@DATA_OUT
@click.pass_context
def signals_summary(ctx: click.Context, actor: str, by: str, unit: str | None, period: str, k: int | None,
                    since: str | None, until: str | None, privacy: str, epsilon: float | None, fmt: str,
                    out_path: str | None) -> None:
    """Signal counts per cell, released with k-anonymity, dominance and complementary suppression
    (or, with --privacy dp --epsilon E, with differential privacy)."""
    # a read (reader: opens the store as it is, writes nothing of its own), unless a DP release spends budget
    with (tracker(ctx, create=False) if privacy == "dp" else reader(ctx, replica=False)) as app:  # k, epsilon: checked once
        rel = analyst_service(app).summary(parse_actor(actor), by, unit, period, k, since, until, privacy, epsilon)
        if privacy == "dp":
            _emit_private(rel, fmt, "Weak signals (differentially private)", out_path)
        else:
            _emit_release(rel, fmt, "Weak signals (released cells only)", out_path)


@signals.command("trends")
@ACTOR
@_UNIT
@_PERIOD
@_K
@_SINCE
@_UNTIL
@_PRIVACY
@_EPSILON
@DATA_FORMAT
@DATA_OUT
@click.pass_context
def signals_trends(ctx: click.Context, actor: str, unit: str | None, period: str, k: int | None, since: str | None,
                   until: str | None, privacy: str, epsilon: float | None, fmt: str, out_path: str | None) -> None:
    """Per theme: rising, stable or falling over recent periods; weak signals becoming strong
    (from released values only: exact, or with --privacy dp, noisy)."""
    with (tracker(ctx, create=False) if privacy == "dp" else reader(ctx, replica=False)) as app:
        trends = analyst_service(app).trends(parse_actor(actor), unit, period, k, since, until, privacy, epsilon)
        emit_records(trend_rows(trends), TREND_COLUMNS, fmt, "Signal trends (from released values)", out_path)


@click.command()
@ACTOR
@click.option("--by", default="metric,period", show_default=True, help="dimensions among metric, unit, period")
@_UNIT
@click.option("--period", type=click.Choice(["month", "quarter", "year"]), default="quarter", show_default=True)
@_K
@_SINCE
@_UNTIL
@DATA_FORMAT
@DATA_OUT
@click.pass_context
def activity(ctx: click.Context, actor: str, by: str, unit: str | None, period: str, k: int | None, since: str | None,
             until: str | None, fmt: str, out_path: str | None) -> None:
    """Activity indicators: engagements started/closed/declined/abandoned, sessions, rituals, ..."""
    with reader(ctx, replica=False) as app:  # a release is recorded (the region rule): the primary
        rel = analyst_service(app).activity(parse_actor(actor), by, unit, period, k, since, until)
        _emit_release(rel, fmt, "Activity indicators (released cells only)", out_path)


COMMANDS: tuple[click.Command, ...] = (signals, activity)
