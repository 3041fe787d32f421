"""Coaches, coachees, sponsors and members at work: parties, engagements, cohorts, their steps.

Also the sample (``demo``), deadlines (``tick``), team load and the workflow diagrams.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import click

from engagement_tracker.adapters.cli.arguments import COHORT, ENGAGEMENT, StepTable
from engagement_tracker.adapters.cli.output import (
    ACTOR,
    COMMAND_ID,
    FORMAT,
    emit_rows,
    err,
    out,
    parse_actor,
    parse_time,
    refusals,
)
from engagement_tracker.adapters.cli.progress import progress_of
from engagement_tracker.adapters.cli.store import DEFAULT_URL, reader, tracker
from engagement_tracker.adapters.demo import (
    ACCESS,
    COACHES,
    ScriptedClock,
    access_actor,
    demo_id,
    issue_demo_tokens,
    seed,
    showcase_engagement,
    showcase_viewer,
)
from engagement_tracker.domain.access import hides_steps
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.application.cohort_commands import CohortService
from engagement_tracker.domain.application.engagement_commands import EngagementService
from engagement_tracker.domain.application.steps import COHORT_STEPS, ENGAGEMENT_STEPS
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.workflow import COHORT_WORKFLOW, ENGAGEMENT_WORKFLOW
from engagement_tracker.domain.workflow_aggregate import SYSTEM_STEPS

WORKFLOWS = {"engagement": ENGAGEMENT_WORKFLOW, "cohort": COHORT_WORKFLOW}


@click.command()
@click.option("--programme", is_flag=True,
              help="Also record a programme of realistic size for analysts: 150 coachees in 8 units over 8 quarters, "
                   "a peer cohort per unit recording its metrics, every closed quarter's release calendar recorded "
                   "(about 5,500 events).")
@click.pass_context
def demo(ctx: click.Context, programme: bool) -> None:
    """Record a realistic sample (once) and print engagements per phase and one timeline."""
    clock = ScriptedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with tracker(ctx, clock=clock, create=True) as app:
        if programme:
            from engagement_tracker.adapters.demo_programme import seed_programme

            with out.status("recording the programme (150 coachees, 8 units, 8 quarters) and the sample..."):
                recorded = seed_programme(app, clock)
        else:
            with out.status("recording the sample engagements and cohorts..."):
                recorded = seed(app, clock)
        total = sum(1 for _ in app.engagements.ids()) + sum(1 for _ in app.cohorts.ids())
        out.print(
            f"[bold]{recorded}[/] engagements and cohorts recorded now, {total} in the store "
            f"([italic]{ctx.obj['db'] or DEFAULT_URL}[/])."
        )
        _print_phase_summary(app)
        _print_cohorts_and_loads(app)
        eid = showcase_engagement()
        viewer = showcase_viewer()
        view = app.engagements.view(eid, viewer)
        out.print(
            f"\nTimeline of engagement [bold]{eid}[/] "
            f"(coach {view['parties']['coach']['name']}, coachee {view['parties']['coachee']['name']}), "
            "as its coach sees it:"
        )
        rows = app.engagements.timeline(eid, viewer)
        for row in rows:
            row["at"] = row["at"][:16].replace("T", " ")
        emit_rows(rows, "table")
        shown = app.engagements.get(eid)
        _print_access(ctx, eid, {"coach": shown.coach, "coachee": shown.coachee, "sponsor": shown.sponsor},
                      programme)
        _print_tokens(ctx, issue_demo_tokens(app))


def _print_tokens(ctx: click.Context, tokens: dict[str, str | None]) -> None:
    """The demo's bearer tokens for etrack serve (shown once: the store keeps only their hashes)."""
    db = f"--db {ctx.obj['db']} " if ctx.obj.get("db") else ""
    if all(secret is None for secret in tokens.values()):
        out.print("\nTokens for etrack serve were printed when the sample was first recorded (the store keeps only "
                  f"their hashes); issue another with: etrack {db}token issue PARTY_ID --as admin:ID", highlight=False,
                  soft_wrap=True)
        return
    out.print("\nTokens for etrack serve, one per role (shown once: the store keeps only their hashes):")
    for role, secret in tokens.items():
        out.print(f"  token {role:8} {secret or '(issued by an earlier run)'}", highlight=False, soft_wrap=True)
    out.print(f"Serve it with: etrack {db}serve (the \\[serve] extra), then open http://127.0.0.1:8080/signin and paste "
              "a token, or: curl -H 'Authorization: Bearer <token>' http://127.0.0.1:8080/me", highlight=False,
              soft_wrap=True)


def _print_access(ctx: click.Context, eid: UUID, people: dict[str, UUID], programme: bool = False) -> None:
    """The demo's admin, auditor and analyst (granted), the people of the engagement shown, and one
    command to try as each role (for the programme, the analyst's is a quarter's synthesis note: its
    release calendar has taken most of what an exploration over the whole history could show)."""
    db = f"--db {ctx.obj['db']} " if ctx.obj.get("db") else ""
    who = {label: access_actor(label) for label in ACCESS}
    out.print("\nGranted roles (the core honours a role only while its party holds the grant):")
    for label, actor in who.items():
        out.print(f"  {label:8} {actor.party}")
    for coach in COACHES:
        out.print(f"  coach    {demo_id(coach)}")
    out.print(f"\nThe engagement above, {eid} (a coachee and a sponsor act in their own engagements):")
    for label, party in people.items():
        out.print(f"  {label:8} {party}")
    out.print("\nTry next, as each role:", highlight=False)
    for line in (
        f"etrack {db}timeline {eid} --as coach:{people['coach']}",
        f"etrack {db}show {eid} --as coachee:{people['coachee']}",
        f"etrack {db}show {eid} --as sponsor:{people['sponsor']}",
        f"etrack {db}audit verify --as {who['auditor']}",
        (f"etrack {db}report synthesis --period 2026-Q2 --out synthesis-2026-Q2.html --as {who['analyst']}"
         if programme else f"etrack {db}signals summary --as {who['analyst']}"),
        f"etrack {db}parties --as {who['admin']}",
        f"export ETRACK_AS={who['admin']}; etrack {db}grant auditor <PARTY_ID> --reason 'annual audit'",
    ):
        out.print(f"  {line}", highlight=False, soft_wrap=True)


def _print_cohorts_and_loads(app: EngagementTracker) -> None:
    rows = []
    for cid in app.cohorts.ids():
        c = app.cohorts.get(cid)
        rows.append({"cohort": str(c.id), "state": c.state, "unit": c.org_unit, "members": len(c.members),
                     "rituals": c.rituals_held, "practices": len(c.playbook),
                     "missed deadlines": ", ".join(sorted(c.missed)) or "-"})
    emit_rows(rows, "table", "Peer-coaching cohorts")
    coaches: dict[str, int] = {}
    missed = 0
    for eid in app.engagements.ids():
        e = app.engagements.get(eid)
        missed += len(e.missed)
        if e.coachee_kind == "team":
            coaches.setdefault(str(e.coach), 0)
    admin = access_actor("admin")  # the demo's admin reads its coaches' loads
    loads = [app.engagements.coach_load(admin, coach) for coach in coaches]
    emit_rows([{"coach": f"{app.party_name(load['coach'])}", "active teams": load["active"],
                "status": load["status"], "warnings recorded": load["warnings_recorded"]} for load in loads],
              "table", "Team coaching load (warn above 3, refuse above 4)")
    out.print(f"{missed} engagement deadlines recorded as missed (etrack tick).")


def _print_phase_summary(app: EngagementTracker) -> None:
    states: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    for eid in app.engagements.ids():
        e = app.engagements.get(eid)
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


def offered(view: dict[str, Any]) -> dict[str, Any]:
    """A view as the command line shows it: ``allowed_steps`` without the steps only ``tick`` records."""
    if isinstance(view.get("allowed_steps"), list):
        view["allowed_steps"] = [s for s in view["allowed_steps"] if s not in SYSTEM_STEPS]
    return view


@click.command()
@click.argument("engagement_id")
@ACTOR
@click.pass_context
def show(ctx: click.Context, engagement_id: str, actor: str) -> None:
    """Print an engagement as JSON, as the acting party may see it."""
    with reader(ctx) as app:
        click.echo(json.dumps(offered(app.engagements.view(engagement_id, parse_actor(actor))), indent=2,
                              ensure_ascii=False))


@click.command()
@click.argument("engagement_id")
@ACTOR
@FORMAT
@click.pass_context
def timeline(ctx: click.Context, engagement_id: str, actor: str, fmt: str) -> None:
    """Every recorded step of an engagement."""
    with reader(ctx) as app:
        emit_rows(app.engagements.timeline(engagement_id, parse_actor(actor)), fmt, "Timeline")


@click.group()
def party() -> None:
    """Register parties (persons and teams)."""


@party.command("register")
@click.option("--kind", type=click.Choice(["person", "team"]), default="person")
@click.option("--name", required=True)
@click.option("--contact", default=None)
@COMMAND_ID
@click.pass_context
def party_register(ctx: click.Context, kind: str, name: str, contact: str | None, command_id: str | None) -> None:
    """Register a party; prints its id. The name is sealed under the party's own key."""
    with tracker(ctx) as app:
        outcome = app.parties.register(kind, name, contact, command_id=command_id)
        click.echo(outcome.value)
        _tell_replay(outcome)


@click.command("open")
@ACTOR
@click.option("--coachee", required=True, metavar="PARTY_ID")
@click.option("--sponsor", required=True, metavar="PARTY_ID")
@click.option("--sponsor-function", type=click.Choice(["line_manager", "hr", "training"]), default="line_manager")
@click.option("--unit", required=True, help="coarse organisational unit")
@click.option("--template", default=None, metavar="NAME", help="a programme template (etrack templates list)")
@COMMAND_ID
@click.pass_context
def open_engagement(ctx: click.Context, actor: str, coachee: str, sponsor: str, sponsor_function: str, unit: str,
                    template: str | None, command_id: str | None) -> None:
    """Open an engagement (the coach acts); prints its id."""
    with tracker(ctx) as app:
        outcome = app.engagements.open(parse_actor(actor), coachee, sponsor, sponsor_function, unit,
                                       template=template, command_id=command_id)
        click.echo(outcome.value)
        _tell_replay(outcome)


def _tell_replay(outcome: CommandResult[Any]) -> None:
    """Say on stderr when a command id was found already recorded (stdout keeps its usual output)."""
    if not outcome.recorded_now:
        err.print(outcome.describe(), highlight=False, soft_wrap=True)


# --- workflow steps from the command line ----------------------------------------------------


class StepCommand(click.Command):
    """A step command whose help lists every step with its arguments, read from the signatures."""

    def __init__(self, *args: Any, table: StepTable, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table = table

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Steps"):
            formatter.write_dl([(name, self.table.usage(name)) for name in self.table.steps])
        with formatter.section("Values"):
            formatter.write_dl(list(self.table.kinds().items()))
        formatter.write_paragraph()
        formatter.write_text(f"Not taken by hand: {', '.join(sorted(self.table.system))} (recorded by etrack tick).")
        super().format_epilog(ctx, formatter)


def _take(table: StepTable, service: EngagementService | CohortService, step_name: str, target: str, actor: str,
          kwargs: dict[str, Any], command_id: str | None) -> CommandResult[Any]:
    """Dispatch through the step catalogue: the step's own service method, never a name looked up."""
    return table.catalogue[step_name].take(service, target, parse_actor(actor), command_id=command_id, **kwargs)


def _outcome(outcome: CommandResult[Any]) -> dict[str, Any]:
    return {"command_id": outcome.command_id, "recorded": outcome.status}


def _complete(table: StepTable) -> Any:
    """Shell completion of a STEP argument: the step names (click's completion, see README)."""
    def complete(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
        return [name for name in table.steps if name.startswith(incomplete)]
    return complete


@click.command(cls=StepCommand, table=ENGAGEMENT)
@click.argument("engagement_id")
@click.argument("step_name", metavar="STEP", shell_complete=_complete(ENGAGEMENT))
@click.argument("args", nargs=-1, metavar="[KEY=VALUE]...")
@ACTOR
@COMMAND_ID
@click.pass_context
def step(ctx: click.Context, engagement_id: str, step_name: str, args: tuple[str, ...], actor: str,
         command_id: str | None) -> None:
    """Take a workflow STEP on an engagement.

    Prints the step, its result, the new state, the engagement's version, the command id and
    whether this run recorded it ("recorded") or found it recorded by an earlier run with the
    same --command-id ("already recorded": nothing more was written), as JSON.

    \b
    etrack step ID record_session --as coach:PID held_on=2026-03-02 duration_minutes=90 \\
        themes="delegation;priorities" notes="..."

    Each KEY=VALUE is read by the type the step declares (below). Lists take ';' between items;
    evaluations take a JSON object: evaluations='{"I1": ["achieved", "evidence"]}'.
    """
    with refusals():
        kwargs = ENGAGEMENT.parse(step_name, args)
    with tracker(ctx, create=False) as app:
        outcome = _take(ENGAGEMENT, app.engagements, step_name, engagement_id, actor, kwargs, command_id)
        e = app.engagements.get(engagement_id)
        where: dict[str, Any] = {"state": e.state, "version": e.version}
        if hides_steps(parse_actor(actor).role):  # a sponsor: the phase, no version (as the sponsor's view)
            where = {"state": e.state.split(".", 1)[0]}
        click.echo(json.dumps({"step": step_name, "result": outcome.value, **where, **_outcome(outcome)}, default=str))


@click.command()
@click.option("--at", "at", default=None, metavar="ISO-TIME", help="the time to tick at (default: now, UTC)")
@FORMAT
@click.pass_context
def tick(ctx: click.Context, at: str | None, fmt: str) -> None:
    """Record every deadline that fell due (72-hour feedback, contract end, quarterly review, ...), once;
    and the release calendar's releases of the period that closed, once (etrack releases calendar show)."""
    when = parse_time(at)
    with tracker(ctx) as app:
        with progress_of(ctx, "deadlines", "engagements and cohorts") as update:
            rows = app.tick(when, update).value
        if fmt == "table" and not rows:
            out.print("nothing new fell due")
            return
        emit_rows(rows, fmt, "Deadlines recorded as missed", ("kind", "id", "deadline", "due_at"))


@click.command("coach-load")
@click.argument("coach_id", required=False)
@ACTOR
@FORMAT
@click.pass_context
def coach_load(ctx: click.Context, coach_id: str | None, actor: str, fmt: str) -> None:
    """A coach's active team engagements against the capacity policy (warn above 3, refuse above 4):
    a coach reads their own (--as coach:ID, no COACH_ID), an admin any coach's."""
    with reader(ctx) as app:
        row = app.engagements.coach_load(parse_actor(actor), coach_id)
        row["active_team_engagements"] = " ".join(row["active_team_engagements"])
        emit_rows([row], fmt, "Team coaching load")


# --- cohorts ----------------------------------------------------------------------------------


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
        click.echo(json.dumps(offered(app.cohorts.view(cohort_id, parse_actor(actor))), indent=2, ensure_ascii=False))


@cohort.command("step", cls=StepCommand, table=COHORT)
@click.argument("cohort_id")
@click.argument("step_name", metavar="STEP", shell_complete=_complete(COHORT))
@click.argument("args", nargs=-1, metavar="[KEY=VALUE]...")
@ACTOR
@COMMAND_ID
@click.pass_context
def cohort_step(ctx: click.Context, cohort_id: str, step_name: str, args: tuple[str, ...], actor: str,
                command_id: str | None) -> None:
    """Take a cohort STEP, e.g. etrack cohort step ID add_member --as coach:PID member=MEMBER_ID

    Each KEY=VALUE is read by the type the step declares (below); lists take ';' between items.
    """
    with refusals():
        kwargs = COHORT.parse(step_name, args)
    with tracker(ctx, create=False) as app:
        outcome = _take(COHORT, app.cohorts, step_name, cohort_id, actor, kwargs, command_id)
        c = app.cohorts.get(cohort_id)
        click.echo(json.dumps({"step": step_name, "result": outcome.value, "state": c.state, "version": c.version,
                               **_outcome(outcome)}, default=str))


@click.command("steps")
@click.argument("which", type=click.Choice(["engagement", "cohort"]), required=False)
@FORMAT
def steps_list(which: str | None, fmt: str) -> None:
    """Every step a person may take, with its arguments, their types and who may take it.

    \b
    etrack steps               # both workflows
    etrack steps cohort --format json
    """
    rows = []
    for name, table, catalogue in (("engagement", ENGAGEMENT, ENGAGEMENT_STEPS), ("cohort", COHORT, COHORT_STEPS)):
        if which not in (None, name):
            continue
        command = "etrack step ID" if name == "engagement" else "etrack cohort step ID"
        for step_name, arguments in table.steps.items():
            step = catalogue[step_name]
            wf = WORKFLOWS[name]
            if fmt == "json":
                args: Any = [{"name": a.name, "type": a.kind.label, "accepts": a.kind.accepts,
                              "required": a.required, "may_be_none": a.nullable} for a in arguments]
            else:
                args = table.usage(step_name)
            rows.append({"workflow": name, "step": step_name, "who": ", ".join(step.roles) if fmt != "json"
                         else list(step.roles), "arguments": args,
                         "from": ", ".join(s for s in wf.leaf_states if step_name in wf.allowed(s)) if fmt != "json"
                         else [s for s in wf.leaf_states if step_name in wf.allowed(s)],
                         "summary": step.summary, "command": f"{command} {step_name} --as ROLE:PARTY_ID"})
    if fmt == "table":
        for row in rows:
            row.pop("command")
            row.pop("from")
    emit_rows(rows, fmt, "Workflow steps (etrack step / etrack cohort step)")


COMMANDS: tuple[click.Command, ...] = (
    demo, show, timeline, party, open_engagement, step, tick, coach_load, cohort, steps_list,
)
