"""Coaches, coachees, sponsors and members at work: parties, engagements, cohorts, their steps.

Also the sample (``demo``), deadlines (``tick``), team load and the workflow diagrams.
"""

from __future__ import annotations

import inspect
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import click

from engagement_tracker.adapters.cli.output import ACTOR, FORMAT, emit_rows, out, parse_actor, parse_time
from engagement_tracker.adapters.cli.store import DEFAULT_URL, reader, tracker
from engagement_tracker.adapters.demo import ScriptedClock, seed, showcase_engagement, showcase_viewer
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.workflow import COHORT_WORKFLOW, ENGAGEMENT_WORKFLOW

WORKFLOWS = {"engagement": ENGAGEMENT_WORKFLOW, "cohort": COHORT_WORKFLOW}


@click.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Record a realistic sample (once) and print engagements per phase and one timeline."""
    clock = ScriptedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with tracker(ctx, clock=clock) as app:
        with out.status("recording the sample engagements and cohorts..."):
            recorded = seed(app, clock)
        total = sum(1 for _ in app.engagement_ids()) + sum(1 for _ in app.cohort_ids())
        out.print(
            f"[bold]{recorded}[/] engagements and cohorts recorded now, {total} in the store "
            f"([italic]{ctx.obj['db'] or DEFAULT_URL}[/])."
        )
        _print_phase_summary(app)
        _print_cohorts_and_loads(app)
        eid = showcase_engagement()
        viewer = showcase_viewer()
        view = app.engagement_view(eid, viewer)
        out.print(
            f"\nTimeline of engagement [bold]{eid}[/] "
            f"(coach {view['parties']['coach']['name']}, coachee {view['parties']['coachee']['name']}), "
            "as its coach sees it:"
        )
        rows = app.timeline(eid, viewer)
        for row in rows:
            row["at"] = row["at"][:16].replace("T", " ")
        emit_rows(rows, "table")


def _print_cohorts_and_loads(app: EngagementTracker) -> None:
    rows = []
    for cid in app.cohort_ids():
        c = app.cohorts.get(cid)
        rows.append({"cohort": str(c.id)[:8], "state": c.state, "unit": c.org_unit, "members": len(c.members),
                     "rituals": len(c.rituals), "practices": len(c.playbook),
                     "missed deadlines": ", ".join(sorted(c.missed)) or "-"})
    emit_rows(rows, "table", "Peer-coaching cohorts")
    coaches: dict[str, int] = {}
    missed = 0
    for eid in app.engagement_ids():
        e = app.engagement(eid)
        missed += len(e.missed)
        if e.coachee_kind == "team":
            coaches.setdefault(str(e.coach), 0)
    loads = [app.coach_load(coach) for coach in coaches]
    emit_rows([{"coach": f"{app.party_name(load['coach'])}", "active teams": load["active"],
                "status": load["status"], "warnings recorded": load["warnings_recorded"]} for load in loads],
              "table", "Team coaching load (warn above 3, refuse above 4)")
    out.print(f"{missed} engagement deadlines recorded as missed (etrack tick).")


def _print_phase_summary(app: EngagementTracker) -> None:
    states: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    for eid in app.engagement_ids():
        e = app.engagement(eid)
        states[e.state] += 1
        phases[e.phase] += 1
    rows = [
        {"phase": ph, "engagements": phases[ph],
         "states": ", ".join(f"{s} ({n})" for s, n in sorted(states.items()) if s.split(".")[0] == ph)}
        for ph in ["framing", "accompaniment", "closing", "closed", "declined", "abandoned"]
        if phases[ph]
    ]
    emit_rows(rows, "table", "Engagements per phase")


# --- parties and engagements ------------------------------------------------------------------


@click.command("engagements")
@FORMAT
@click.pass_context
def engagements(ctx: click.Context, fmt: str) -> None:
    """List engagements: id, state, unit, sessions (no names, no content)."""
    with reader(ctx) as app:
        rows = []
        for eid in app.engagement_ids():
            e = app.engagement(eid)
            rows.append({"id": str(e.id), "state": e.state, "coachee_kind": e.coachee_kind,
                         "org_unit": e.org_unit, "sessions": len(e.sessions),
                         "opened_at": e.created_on.date().isoformat()})
        emit_rows(rows, fmt, "Engagements")


@click.command()
@click.argument("engagement_id")
@ACTOR
@click.pass_context
def show(ctx: click.Context, engagement_id: str, actor: str) -> None:
    """Print an engagement as JSON, as the acting party may see it."""
    with reader(ctx) as app:
        click.echo(json.dumps(app.engagement_view(engagement_id, parse_actor(actor)), indent=2, ensure_ascii=False))


@click.command()
@click.argument("engagement_id")
@ACTOR
@FORMAT
@click.pass_context
def timeline(ctx: click.Context, engagement_id: str, actor: str, fmt: str) -> None:
    """Every recorded step of an engagement."""
    with reader(ctx) as app:
        emit_rows(app.timeline(engagement_id, parse_actor(actor)), fmt, "Timeline")


@click.group()
def party() -> None:
    """Register parties (persons and teams)."""


@party.command("register")
@click.option("--kind", type=click.Choice(["person", "team"]), default="person")
@click.option("--name", required=True)
@click.option("--contact", default=None)
@click.pass_context
def party_register(ctx: click.Context, kind: str, name: str, contact: str | None) -> None:
    """Register a party; prints its id. The name is sealed under the party's own key."""
    with tracker(ctx) as app:
        click.echo(app.register_party(kind, name, contact))


@click.command("open")
@ACTOR
@click.option("--coachee", required=True, metavar="PARTY_ID")
@click.option("--sponsor", required=True, metavar="PARTY_ID")
@click.option("--sponsor-function", type=click.Choice(["line_manager", "hr", "training"]), default="line_manager")
@click.option("--unit", required=True, help="coarse organisational unit")
@click.pass_context
def open_engagement(ctx: click.Context, actor: str, coachee: str, sponsor: str, sponsor_function: str, unit: str) -> None:
    """Open an engagement (the coach acts); prints its id."""
    with tracker(ctx) as app:
        click.echo(app.open_engagement(parse_actor(actor), coachee, sponsor, sponsor_function, unit))


# --- workflow steps from the command line ----------------------------------------------------

DATE_ARGS = {"held_on", "start", "end", "due", "new_end", "measured_on", "decided_on"}
INT_ARGS = {"duration_minutes", "sessions", "extra_sessions", "key_result", "week", "coaches_added",
            "coaches_removed"}
FLOAT_ARGS = {"baseline", "target", "value"}
BOOL_ARGS = {"objectives_realigned"}
LIST_ARGS = {"themes", "organisation_request", "coachee_request"}
JSON_ARGS = {"evaluations"}


def _convert(key: str, raw: str) -> Any:
    try:
        if key in DATE_ARGS:
            return date.fromisoformat(raw)
        if key in INT_ARGS:
            return int(raw)
        if key in FLOAT_ARGS:
            return float(raw)
    except ValueError:
        raise click.BadParameter(f"{key}={raw!r} is not a valid {key}") from None
    if key in BOOL_ARGS:
        if raw.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise click.BadParameter(f"{key}={raw!r}: expected true or false")
        return raw.lower() in ("true", "yes", "1")
    if key in LIST_ARGS:
        return [part.strip() for part in raw.split(";") if part.strip()]
    if key in JSON_ARGS:
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"{key} must be JSON: {exc}") from None
    return raw


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("engagement_id")
@click.argument("step_name", metavar="STEP")
@click.argument("args", nargs=-1, metavar="[KEY=VALUE]...")
@ACTOR
@click.pass_context
def step(ctx: click.Context, engagement_id: str, step_name: str, args: tuple[str, ...], actor: str) -> None:
    """Take a workflow STEP on an engagement, e.g.

    etrack step ID record_session --as coach:PID held_on=2026-03-02 duration_minutes=90
    themes="delegation;priorities" notes="..."

    Lists take ';' between items; evaluations take JSON {"I1": ["achieved", "evidence"]}.
    """
    kwargs = _step_kwargs(ENGAGEMENT_WORKFLOW.steps - {"miss_deadline"}, step_name, args)
    if step_name == "hold_closing_session" and "evaluations" in kwargs:
        kwargs["evaluations"] = {k: tuple(v) for k, v in kwargs["evaluations"].items()}
    with tracker(ctx) as app:
        result = _call_step(getattr(app, step_name), step_name, engagement_id, parse_actor(actor), kwargs)
        e = app.engagement(engagement_id)
        click.echo(json.dumps({"step": step_name, "result": result, "state": e.state, "version": e.version},
                              default=str))


def _step_kwargs(steps: frozenset[str] | set[str], step_name: str, args: tuple[str, ...]) -> dict[str, Any]:
    if step_name not in steps:
        raise click.BadParameter(f"unknown step {step_name!r}; steps: {', '.join(sorted(steps))}", param_hint="STEP")
    kwargs = {}
    for arg in args:
        key, sep, raw = arg.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {arg!r}")
        kwargs[key] = _convert(key, raw)
    return kwargs


def _call_step(method: Callable[..., Any], step_name: str, target: str, who: Actor, kwargs: dict[str, Any]) -> Any:
    """Bind the arguments first, so a usage mistake is told apart from a bug."""
    try:
        inspect.signature(method).bind(target, who, **kwargs)
    except TypeError as exc:
        params = [p for p in list(inspect.signature(method).parameters)[2:]]
        raise click.UsageError(f"{step_name}: {exc}; it takes {', '.join(params) or 'no arguments'}") from None
    return method(target, who, **kwargs)


@click.command()
@click.option("--at", "at", default=None, metavar="ISO-TIME", help="the time to tick at (default: now, UTC)")
@FORMAT
@click.pass_context
def tick(ctx: click.Context, at: str | None, fmt: str) -> None:
    """Record every deadline that fell due (72-hour feedback, contract end, quarterly review, ...), once."""
    when = parse_time(at)
    with tracker(ctx) as app:
        rows = app.tick(when)
        if fmt == "table" and not rows:
            out.print("nothing new fell due")
            return
        emit_rows(rows, fmt, "Deadlines recorded as missed")


@click.command("coach-load")
@click.argument("coach_id")
@FORMAT
@click.pass_context
def coach_load(ctx: click.Context, coach_id: str, fmt: str) -> None:
    """A coach's active team engagements against the capacity policy (warn above 3, refuse above 4)."""
    with reader(ctx) as app:
        row = app.coach_load(coach_id)
        row["active_team_engagements"] = " ".join(row["active_team_engagements"])
        emit_rows([row], fmt, "Team coaching load")


# --- cohorts ----------------------------------------------------------------------------------


@click.command("cohorts")
@FORMAT
@click.pass_context
def cohorts(ctx: click.Context, fmt: str) -> None:
    """List cohorts: id, state, unit, members, rituals, decisions (no names, no content)."""
    with reader(ctx) as app:
        rows = []
        for cid in app.cohort_ids():
            c = app.cohorts.get(cid)
            rows.append({"id": str(c.id), "state": c.state, "org_unit": c.org_unit, "members": len(c.members),
                         "rituals": len(c.rituals), "decisions": len(c.decisions),
                         "missed_deadlines": len(c.missed)})
        emit_rows(rows, fmt, "Cohorts")


@click.group()
def cohort() -> None:
    """Work with one cohort."""


@cohort.command("show")
@click.argument("cohort_id")
@ACTOR
@click.pass_context
def cohort_show(ctx: click.Context, cohort_id: str, actor: str) -> None:
    """Print a cohort as JSON, as its coach or a member sees it."""
    with reader(ctx) as app:
        click.echo(json.dumps(app.cohorts.view(cohort_id, parse_actor(actor)), indent=2, ensure_ascii=False))


@cohort.command("step", context_settings={"ignore_unknown_options": False})
@click.argument("cohort_id")
@click.argument("step_name", metavar="STEP")
@click.argument("args", nargs=-1, metavar="[KEY=VALUE]...")
@ACTOR
@click.pass_context
def cohort_step(ctx: click.Context, cohort_id: str, step_name: str, args: tuple[str, ...], actor: str) -> None:
    """Take a cohort STEP, e.g. etrack cohort step ID add_member --as coach:PID member=MEMBER_ID"""
    kwargs = _step_kwargs(COHORT_WORKFLOW.steps - {"miss_deadline"}, step_name, args)
    with tracker(ctx) as app:
        result = _call_step(getattr(app.cohorts, step_name), step_name, cohort_id, parse_actor(actor), kwargs)
        c = app.cohorts.get(cohort_id)
        click.echo(json.dumps({"step": step_name, "result": result, "state": c.state, "version": c.version},
                              default=str))


@click.group()
def workflow() -> None:
    """Inspect the workflow definitions."""


@workflow.command("diagram")
@click.argument("name", type=click.Choice(sorted(WORKFLOWS)), default="engagement")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "json"]), default="mermaid")
def diagram(name: str, fmt: str) -> None:
    """Print a workflow as Mermaid text (or as JSON data)."""
    wf = WORKFLOWS[name]
    click.echo(wf.to_mermaid() if fmt == "mermaid" else json.dumps(wf.to_dict(), indent=2))


COMMANDS: tuple[click.Command, ...] = (
    demo, engagements, show, timeline, party, open_engagement, step, tick, coach_load, cohorts, cohort, workflow,
)
