"""Analysts and admins: released aggregates only (signal summaries and trends, activity).

Every output is long-format rows of one shape (``rows.py``), the same columns in the table,
CSV, JSON, JSONL and Parquet; each output's JSON Schema ships in ``schemas/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from engagement_tracker.adapters.bootstrap import analyst_service
from engagement_tracker.adapters.cli.output import ACTOR, DATA_FORMAT, DATA_OUT, emit_records, err, parse_actor
from engagement_tracker.adapters.cli.rows import (
    PLAN_COLUMNS,
    TREND_COLUMNS,
    columns,
    dp_rows,
    policy_line,
    release_rows,
    trend_rows,
)
from engagement_tracker.adapters.cli.store import reader, tracker
from engagement_tracker.adapters.files import staged
from engagement_tracker.domain.application.analysts import AnalystService
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.projections.anonymity import Release
from engagement_tracker.projections.privacy import DpRelease

R = TypeVar("R")


def released(service: AnalystService, ask: Callable[[], R], emit: Callable[[R, str | None], None],
             out_path: str | None) -> R:
    """Ask for a release and emit it, all or nothing: with ``--out``, the rows are written to a file
    staged beside it, the release is recorded, and only then does the file replace the target; a
    refusal or a failure anywhere records no release and leaves the file as it was. To stdout, the
    rows are printed once the release is recorded."""
    if out_path is None:
        answer = service.atomically(ask)
        emit(answer, None)
        return answer
    with staged(out_path) as tmp:  # InvalidInput (no such directory, a directory) before anything is asked

        def build() -> R:
            answer = ask()
            emit(answer, str(tmp))
            return answer

        return service.atomically(build)


def _emit_private(rel: DpRelease, fmt: str, title: str, out_path: str | None) -> None:
    emit_records(dp_rows(rel), columns(rel.by, dp=True), fmt, title, out_path)
    if fmt == "table" or not rel.rows:  # with no row, the policy is stated on stderr in every format
        err.print(policy_line(rel), highlight=False)


def _emit_release(rel: Release, fmt: str, title: str, out_path: str | None) -> None:
    emit_records(release_rows(rel), columns(rel.by), fmt, title, out_path)  # the total row states k and the level
    if fmt == "table":
        err.print(policy_line(rel), highlight=False)


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
                        help="with --privacy dp: the release's privacy loss, (epsilon, delta)-DP at the deployment's delta "
                             "(above 0, at most 10); your budget pays its rho (zCDP): --preview tells how much")
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
@click.option("--preview", is_flag=True, default=False,
              help="with --privacy dp --epsilon E: what the release would cost (rho) and give (threshold, each "
                   "cell's 95%% interval), before spending anything; reads no data")
@DATA_FORMAT
@DATA_OUT
@click.pass_context
def signals_summary(ctx: click.Context, actor: str, by: str, unit: str | None, period: str, k: int | None,
                    since: str | None, until: str | None, privacy: str, epsilon: float | None, preview: bool,
                    fmt: str, out_path: str | None) -> None:
    """Signal counts per cell, released with k-anonymity, dominance and complementary suppression
    (or, with --privacy dp --epsilon E, with differential privacy; --preview first shows what that
    would give, for free)."""
    if preview:
        if privacy != "dp" or epsilon is None:
            raise InvalidInput("preview", "--preview goes with --privacy dp --epsilon E: it shows what that release "
                                          "would give before spending anything")
        with reader(ctx) as app:
            shown = analyst_service(app).preview(parse_actor(actor), epsilon)
        note = shown.pop("note")
        emit_records([shown], list(shown), fmt, "Differential privacy: what this epsilon gives (nothing spent)",
                     out_path)
        err.print(note + "; nothing spent, no data read", highlight=False)
        return
    # a read (reader: opens the store as it is, writes nothing of its own), unless a DP release spends budget
    with (tracker(ctx, create=False) if privacy == "dp" else reader(ctx, replica=False)) as app:  # k, epsilon: checked once
        service = analyst_service(app)
        viewer = parse_actor(actor)

        def emit(rel: Release | DpRelease, path: str | None) -> None:
            if isinstance(rel, DpRelease):
                _emit_private(rel, fmt, "Weak signals (differentially private)", path)
            else:
                _emit_release(rel, fmt, "Weak signals (released cells only)", path)

        released(service, lambda: service.summary(viewer, by, unit, period, k, since, until, privacy, epsilon),
                 emit, out_path)


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
        service = analyst_service(app)
        viewer = parse_actor(actor)
        policy: list[str] = []

        def ask() -> list[dict[str, object]]:
            if privacy == "dp":  # the DP release the trends are read from (paid once: trends then reads its
                # recorded answer), so that its policy is stated as a summary's is, rows or not
                policy.append(policy_line(service.summary(viewer, ("theme", "period"), unit, period, k, since, until,
                                                          privacy, epsilon)))
            return service.trends(viewer, unit, period, k, since, until, privacy, epsilon)

        def emit(trends: list[dict[str, object]], path: str | None) -> None:
            emit_records(trend_rows(trends), TREND_COLUMNS, fmt, "Signal trends (from released values)", path)
            for line in policy[-1:]:
                err.print(line, highlight=False)

        released(service, ask, emit, out_path)


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
        service = analyst_service(app)
        viewer = parse_actor(actor)
        released(service, lambda: service.activity(viewer, by, unit, period, k, since, until),
                 lambda rel, path: _emit_release(rel, fmt, "Activity indicators (released cells only)", path),
                 out_path)


@click.group()
def releases() -> None:
    """Plan releases: which shapes of a period are still releasable (analysts and admins)."""


@releases.command("plan")
@ACTOR
@click.option("--period", required=True, help="a quarter (2026-Q1), a month (2026-03) or a year (2026)")
@_UNIT
@_K
@DATA_FORMAT
@DATA_OUT
@click.pass_context
def releases_plan(ctx: click.Context, actor: str, period: str, unit: str | None, k: int | None, fmt: str,
                  out_path: str | None) -> None:
    """For the shapes analysts ask most over PERIOD: releasable, closed (by earlier releases), reserved
    (it would make a shape of the release calendar unreleasable), empty (fewer than k persons) or cut
    (coarsened past the window). Each is found by attempting the release in a trial that records
    nothing: the plan tells no more than asking would. Column calendar: "reserved by the calendar"
    for the calendar's shapes of a period not recorded yet, "recorded" once they are."""
    with reader(ctx, replica=False) as app:  # trials of releases run in the primary's transactions
        plan = analyst_service(app).plan(parse_actor(actor), period, unit, k)
        emit_records(plan, PLAN_COLUMNS, fmt, f"Releases of {period}: what asking each now would answer", out_path)


@releases.group("calendar")
def calendar() -> None:
    """The release calendar: the shapes a programme publishes each period, released first (at tick
    once the period closed, or at its first synthesis note) and read by every later note."""


CALENDAR_COLUMNS = ["period", "shapes", "declared", "recorded"]


@calendar.command("show")
@ACTOR
@DATA_FORMAT
@DATA_OUT
@click.pass_context
def calendar_show(ctx: click.Context, actor: str, fmt: str, out_path: str | None) -> None:
    """The calendar's period and shapes (the default: the synthesis note's, per quarter), and the periods
    whose calendar releases are recorded (analysts and admins)."""
    with reader(ctx) as app:
        shown = app.release_calendar.show(parse_actor(actor))
    row = {**shown, "shapes": "; ".join(shown["shapes"]), "recorded": ", ".join(shown["recorded"]) or None}
    emit_records([row], CALENDAR_COLUMNS, fmt, "Release calendar", out_path)


@calendar.command("set")
@ACTOR
@click.argument("shapes")
@click.option("--period", type=click.Choice(["month", "quarter", "year"]), default="quarter", show_default=True,
              help="the periods the calendar releases its shapes for")
@click.pass_context
def calendar_set(ctx: click.Context, actor: str, shapes: str, period: str) -> None:
    """Declare the shapes released each period (an admin acts): SHAPES is FAMILY:DIM[,DIM...] joined by
    ';', for example 'activity:metric; signal:theme,period; signal:context'. Periods recorded already
    keep their releases."""
    with tracker(ctx, create=False) as app:
        app.release_calendar.set(shapes, parse_actor(actor), period)
        shown = app.release_calendar.show(parse_actor(actor))
    err.print(f"release calendar: {'; '.join(shown['shapes'])} per {shown['period']}", highlight=False)


COMMANDS: tuple[click.Command, ...] = (signals, activity, releases)
