"""The ``etrack`` command.

Every command takes ``--db URL`` (else ETRACK_DATABASE_URL, else ./etrack.sqlite). Domain
refusals print ``error: ...`` on stderr and exit with status 2; nothing is written.
"""

from __future__ import annotations

import csv
import os
import inspect
import io
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from engagement_tracker.adapters.audit import (
    AuditService,
    generate_signing_key,
    load_public_key,
    load_signing_key,
    read_checkpoint,
)
from engagement_tracker.adapters.bootstrap import analyst_service as AnalystService  # noqa: N813 - read as a class
from engagement_tracker.adapters.bootstrap import new_cipher_key, open_tracker
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.adapters.demo import ScriptedClock, seed, showcase_engagement, showcase_viewer
from engagement_tracker.domain.application import EngagementTracker, as_uuid
from engagement_tracker.domain.errors import EtrackError, InvalidInput
from engagement_tracker.domain.values import Actor, Role
from engagement_tracker.domain.workflow import COHORT_WORKFLOW, ENGAGEMENT_WORKFLOW
from engagement_tracker.projections.analytics import release_document, release_rows, to_csv

WORKFLOWS = {"engagement": ENGAGEMENT_WORKFLOW, "cohort": COHORT_WORKFLOW}
FORMATS = click.Choice(["table", "json", "csv"])

out = Console()
err = Console(stderr=True)


@contextmanager
def _reader(ctx: click.Context) -> Iterator[EngagementTracker]:
    """A tracker for a read: a mistyped --db is an error, never a new empty store."""
    with _tracker(ctx, create=False, project=False) as app:
        yield app


@contextmanager
def _tracker(ctx: click.Context, project: bool = True, **kwargs: Any) -> Iterator[EngagementTracker]:
    """Open the store; after a write, bring the projections up to date in-process (embedded mode)."""
    with _refusals():
        app = open_tracker(ctx.obj["db"], **kwargs)
    try:
        with _refusals():
            yield app
        if project:
            try:  # the command is committed: a projection that cannot catch up is a warning here
                ProjectionRunner(app).catch_up()
            except EtrackError as exc:
                err.print(f"[yellow]warning[/]: the command was recorded, but projections did not catch up: {exc}")
    finally:
        app.close()


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except EtrackError as exc:
        err.print(f"[bold red]error[/]: {type(exc).__name__}: {exc}", highlight=False, markup=True)
        sys.exit(2)


def emit_rows(rows: Sequence[dict[str, Any]], fmt: str, title: str = "") -> None:
    """Print rows as a rich table, JSON or CSV."""
    if fmt == "json":
        click.echo(json.dumps(list(rows), indent=2, ensure_ascii=False, default=str))
        return
    columns = list(rows[0]) if rows else []
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
        return
    table = Table(title=title or None)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    out.print(table)


def parse_actor(raw: str) -> Actor:
    """ROLE:PARTY_ID, e.g. coach:0f6c..."""
    role, sep, party = raw.partition(":")
    if not sep:
        raise click.BadParameter("expected ROLE:PARTY_ID, e.g. coach:4f1c...")
    try:
        return Actor(as_uuid(party, "party"), Role(role))
    except (ValueError, InvalidInput) as exc:
        raise click.BadParameter(str(exc)) from None


ACTOR = click.option("--as", "actor", required=True, metavar="ROLE:PARTY_ID", help="who acts (or reads)")


@click.group()
@click.version_option(package_name="engagement-tracker", prog_name="etrack")
@click.option("--db", envvar="ETRACK_DATABASE_URL", default=None, metavar="URL",
              help="sqlite:///path (default ./etrack.sqlite), memory: or postgresql://...")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """engagement-tracker: event-sourced coaching engagements, audit trail and signals."""
    ctx.obj = {"db": db}


@cli.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Record a realistic sample (once) and print engagements per phase and one timeline."""
    clock = ScriptedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with _tracker(ctx, clock=clock) as app:
        with out.status("recording the sample engagements and cohorts..."):
            recorded = seed(app, clock)
        total = sum(1 for _ in app.engagement_ids()) + sum(1 for _ in app.cohort_ids())
        out.print(
            f"[bold]{recorded}[/] engagements and cohorts recorded now, {total} in the store "
            f"([italic]{ctx.obj['db'] or 'sqlite:///etrack.sqlite'}[/])."
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
    emit_rows([{"coach": f"{app.party_name(l['coach'])}", "active teams": l["active"], "status": l["status"],
                "warnings recorded": l["warnings_recorded"]} for l in loads], "table",
              "Team coaching load (warn above 3, refuse above 4)")
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


@cli.command("engagements")
@click.option("--format", "fmt", type=FORMATS, default="table")
@click.pass_context
def engagements(ctx: click.Context, fmt: str) -> None:
    """List engagements: id, state, unit, sessions (no names, no content)."""
    with _reader(ctx) as app:
        rows = []
        for eid in app.engagement_ids():
            e = app.engagement(eid)
            rows.append({"id": str(e.id), "state": e.state, "coachee_kind": e.coachee_kind,
                         "org_unit": e.org_unit, "sessions": len(e.sessions),
                         "opened_at": e.created_on.date().isoformat()})
        emit_rows(rows, fmt, "Engagements")


@cli.command()
@click.argument("engagement_id")
@ACTOR
@click.pass_context
def show(ctx: click.Context, engagement_id: str, actor: str) -> None:
    """Print an engagement as JSON, as the acting party may see it."""
    with _reader(ctx) as app:
        click.echo(json.dumps(app.engagement_view(engagement_id, parse_actor(actor)), indent=2, ensure_ascii=False))


@cli.command()
@click.argument("engagement_id")
@ACTOR
@click.option("--format", "fmt", type=FORMATS, default="table")
@click.pass_context
def timeline(ctx: click.Context, engagement_id: str, actor: str, fmt: str) -> None:
    """Every recorded step of an engagement."""
    with _reader(ctx) as app:
        emit_rows(app.timeline(engagement_id, parse_actor(actor)), fmt, "Timeline")


@cli.group()
def party() -> None:
    """Register parties (persons and teams)."""


@party.command("register")
@click.option("--kind", type=click.Choice(["person", "team"]), default="person")
@click.option("--name", required=True)
@click.option("--contact", default=None)
@click.pass_context
def party_register(ctx: click.Context, kind: str, name: str, contact: str | None) -> None:
    """Register a party; prints its id. The name is sealed under the party's own key."""
    with _tracker(ctx) as app:
        click.echo(app.register_party(kind, name, contact))


@cli.command("open")
@ACTOR
@click.option("--coachee", required=True, metavar="PARTY_ID")
@click.option("--sponsor", required=True, metavar="PARTY_ID")
@click.option("--sponsor-function", type=click.Choice(["line_manager", "hr", "training"]), default="line_manager")
@click.option("--unit", required=True, help="coarse organisational unit")
@click.pass_context
def open_engagement(ctx: click.Context, actor: str, coachee: str, sponsor: str, sponsor_function: str, unit: str) -> None:
    """Open an engagement (the coach acts); prints its id."""
    with _tracker(ctx) as app:
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


@cli.command(context_settings={"ignore_unknown_options": False})
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
    with _tracker(ctx) as app:
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


@cli.command()
@click.option("--at", "at", default=None, metavar="ISO-TIME", help="the time to tick at (default: now, UTC)")
@click.option("--format", "fmt", type=FORMATS, default="table")
@click.pass_context
def tick(ctx: click.Context, at: str | None, fmt: str) -> None:
    """Record every deadline that fell due (72-hour feedback, contract end, quarterly review, ...), once."""
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter(f"{at!r} is not an ISO date-time", param_hint="--at") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    with _tracker(ctx) as app:
        rows = app.tick(when)
        if fmt == "table" and not rows:
            out.print("nothing new fell due")
            return
        emit_rows(rows, fmt, "Deadlines recorded as missed")


@cli.command("coach-load")
@click.argument("coach_id")
@click.option("--format", "fmt", type=FORMATS, default="table")
@click.pass_context
def coach_load(ctx: click.Context, coach_id: str, fmt: str) -> None:
    """A coach's active team engagements against the capacity policy (warn above 3, refuse above 4)."""
    with _reader(ctx) as app:
        row = app.coach_load(coach_id)
        row["active_team_engagements"] = " ".join(row["active_team_engagements"])
        emit_rows([row], fmt, "Team coaching load")


@cli.command("cohorts")
@click.option("--format", "fmt", type=FORMATS, default="table")
@click.pass_context
def cohorts(ctx: click.Context, fmt: str) -> None:
    """List cohorts: id, state, unit, members, rituals, decisions (no names, no content)."""
    with _reader(ctx) as app:
        rows = []
        for cid in app.cohort_ids():
            c = app.cohorts.get(cid)
            rows.append({"id": str(c.id), "state": c.state, "org_unit": c.org_unit, "members": len(c.members),
                         "rituals": len(c.rituals), "decisions": len(c.decisions),
                         "missed_deadlines": len(c.missed)})
        emit_rows(rows, fmt, "Cohorts")


@cli.group()
def cohort() -> None:
    """Work with one cohort."""


@cohort.command("show")
@click.argument("cohort_id")
@ACTOR
@click.pass_context
def cohort_show(ctx: click.Context, cohort_id: str, actor: str) -> None:
    """Print a cohort as JSON, as its coach or a member sees it."""
    with _reader(ctx) as app:
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
    with _tracker(ctx) as app:
        result = _call_step(getattr(app.cohorts, step_name), step_name, cohort_id, parse_actor(actor), kwargs)
        c = app.cohorts.get(cohort_id)
        click.echo(json.dumps({"step": step_name, "result": result, "state": c.state, "version": c.version},
                              default=str))


@cli.group()
def workflow() -> None:
    """Inspect the workflow definitions."""


@workflow.command("diagram")
@click.argument("name", type=click.Choice(sorted(WORKFLOWS)), default="engagement")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "json"]), default="mermaid")
def diagram(name: str, fmt: str) -> None:
    """Print a workflow as Mermaid text (or as JSON data)."""
    wf = WORKFLOWS[name]
    click.echo(wf.to_mermaid() if fmt == "mermaid" else json.dumps(wf.to_dict(), indent=2))


# --- analysts: released aggregates only -------------------------------------------------------------


def _emit_release(rel: Any, fmt: str, title: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(release_document(rel), indent=2))
    elif fmt == "csv":
        click.echo(to_csv(release_rows(rel)), nl=False)
    else:
        emit_rows(release_rows(rel), "table", title)
        hidden = len(rel.hidden)
        out.print(f"level: {rel.level.time}"
                  + (f", units to depth {rel.level.unit_depth}" if rel.level.unit_depth is not None else "")
                  + f"; k={rel.policy.k}; {hidden} cell(s) suppressed, each marked with its reason")


@cli.group()
def signals() -> None:
    """Anonymised weak-signal summaries (analysts and admins)."""


_BY = click.option("--by", default="theme,period", show_default=True,
                   help="dimensions among theme, context, polarity, intensity, unit, period")
_UNIT = click.option("--unit", default=None, help="only this unit and the units below it")
_PERIOD = click.option("--period", type=click.Choice(["month", "quarter", "year"]), default="month",
                       show_default=True, help="the finest time grain (coarsened if needed)")
_K = click.option("--k", default=5, show_default=True, help="distinct persons behind a released cell (>= 3)")
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
@click.option("--format", "fmt", type=FORMATS, default="table")
@click.pass_context
def signals_summary(ctx: click.Context, actor: str, by: str, unit: str | None, period: str, k: int,
                    since: str | None, until: str | None, fmt: str) -> None:
    """Signal counts per cell, released with k-anonymity, dominance and complementary suppression."""
    with _tracker(ctx, create=False) as app:
        rel = AnalystService(app).summary(parse_actor(actor), by.split(","), unit, period, k, since, until)
        _emit_release(rel, fmt, "Weak signals (released cells only)")


@signals.command("trends")
@ACTOR
@_UNIT
@_PERIOD
@_K
@_SINCE
@_UNTIL
@click.option("--format", "fmt", type=FORMATS, default="table")
@click.pass_context
def signals_trends(ctx: click.Context, actor: str, unit: str | None, period: str, k: int, since: str | None,
                   until: str | None, fmt: str) -> None:
    """Per theme: rising, stable or falling over recent periods; weak signals becoming strong."""
    with _tracker(ctx, create=False) as app:
        rows = AnalystService(app).trends(parse_actor(actor), unit, period, k, since, until)
        for row in rows:
            row["periods"], row["values"] = " ".join(row["periods"]), " ".join(map(str, row["values"]))
        emit_rows(rows, fmt, "Signal trends (from released cells)")


@cli.command()
@ACTOR
@click.option("--by", default="metric,period", show_default=True, help="dimensions among metric, unit, period")
@_UNIT
@click.option("--period", type=click.Choice(["month", "quarter", "year"]), default="quarter", show_default=True)
@_K
@_SINCE
@_UNTIL
@click.option("--format", "fmt", type=FORMATS, default="table")
@click.pass_context
def activity(ctx: click.Context, actor: str, by: str, unit: str | None, period: str, k: int, since: str | None,
             until: str | None, fmt: str) -> None:
    """Activity indicators: engagements started/closed/declined/abandoned, sessions, rituals, ..."""
    with _tracker(ctx, create=False) as app:
        rel = AnalystService(app).activity(parse_actor(actor), by.split(","), unit, period, k, since, until)
        _emit_release(rel, fmt, "Activity indicators (released cells only)")


# --- auditors: the trail, checkpoints, replay; admins: erasure ------------------------------------


@cli.group()
def audit() -> None:
    """The confidential audit trail: verify, checkpoint, export (auditors and admins)."""


@audit.command("keygen")
@click.argument("path", type=click.Path(dir_okay=False))
def audit_keygen(path: str) -> None:
    """Write a new Ed25519 signing key (PEM, 0600) to PATH and print its public key."""
    from engagement_tracker.projections.audit_trail import public_key_hex

    with _refusals():
        click.echo(public_key_hex(generate_signing_key(path)))


@audit.command("checkpoint")
@ACTOR
@click.option("--key", "key_path", default=None, help="PEM signing key (else ETRACK_AUDIT_SIGNING_KEY)")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False), help="write it here")
@click.pass_context
def audit_checkpoint(ctx: click.Context, actor: str, key_path: str | None, out_path: str | None) -> None:
    """Sign the trail's head (position, hash, time) for auditors to keep."""
    with _refusals():
        key = load_signing_key(key_path)
    with _reader(ctx) as app:
        checkpoint = AuditService(app).checkpoint(parse_actor(actor), key)
    text = json.dumps(checkpoint, indent=2)
    if out_path:
        Path(out_path).write_text(text + "\n")
    click.echo(text)


@audit.command("verify")
@ACTOR
@click.option("--checkpoint", "checkpoint_path", default=None, type=click.Path(exists=True, dir_okay=False))
@click.option("--public-key", default=None, help="trusted key: 64 hex chars or a file (else ETRACK_AUDIT_PUBLIC_KEY)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.pass_context
def audit_verify(ctx: click.Context, actor: str, checkpoint_path: str | None, public_key: str | None,
                 as_json: bool) -> None:
    """Re-read the store, recompute the chain, check the trail and the checkpoint. Exit 1 on any fault."""
    with _refusals():
        checkpoint = read_checkpoint(checkpoint_path) if checkpoint_path else None
        trusted = load_public_key(public_key)
        if trusted is None and checkpoint is not None and os.environ.get("ETRACK_AUDIT_SIGNING_KEY"):
            trusted = load_signing_key().public_key()  # the auditor's own key
    with _reader(ctx) as app:
        report = AuditService(app).verify(parse_actor(actor), checkpoint, trusted).to_dict()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    elif report["ok"]:
        out.print(f"[green]intact[/]: {report['checked']} records, head {report['head']['position']} "
                  f"{report['head']['hash']}" + (f", {report['pending']} not yet in the trail" if report["pending"]
                                                 else "") + (", checkpoint holds" if checkpoint else ""))
    else:
        out.print(f"[red]FAULT[/]: first bad position {report['first_bad_position']}: {report['kind']}")
        emit_rows(report["faults"][:20], "table", "Faults")
    sys.exit(0 if report["ok"] else 1)


@audit.command("export")
@ACTOR
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False), help="file (default stdout)")
@click.pass_context
def audit_export(ctx: click.Context, actor: str, out_path: str | None) -> None:
    """Write the trail as JSON Lines, each entry with its hash."""
    with _tracker(ctx, create=False) as app:
        service = AuditService(app)
        if out_path:
            with open(out_path, "w", encoding="utf-8") as fh:
                n = service.export(parse_actor(actor), fh)
            err.print(f"{n} entries written to {out_path}")
        else:
            service.export(parse_actor(actor), sys.stdout)


@cli.command()
@click.argument("aggregate_id")
@ACTOR
@click.option("--version", "version", type=int, default=None)
@click.option("--at", "at", default=None, metavar="ISO-TIME")
@click.pass_context
def replay(ctx: click.Context, aggregate_id: str, actor: str, version: int | None, at: str | None) -> None:
    """The state of an engagement, cohort or party at a version or a time, as JSON (sealed shown sealed)."""
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter(f"{at!r} is not an ISO date-time", param_hint="--at") from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    with _reader(ctx) as app:
        click.echo(json.dumps(app.replay(aggregate_id, parse_actor(actor), version=version, at=when), indent=2))


@cli.group()
def subject() -> None:
    """Persons and teams as data subjects (GDPR)."""


@subject.command("erase")
@click.argument("party_id")
@ACTOR
@click.pass_context
def subject_erase(ctx: click.Context, party_id: str, actor: str) -> None:
    """Erase a person or team: destroy their key, record the erasure, print the receipt."""
    with _tracker(ctx, create=False) as app:
        click.echo(json.dumps(app.erase_subject(party_id, parse_actor(actor)), indent=2))


@cli.group()
def projections() -> None:
    """Read models derived from the events."""


@projections.command("rebuild")
@click.pass_context
def projections_rebuild(ctx: click.Context) -> None:
    """Drop and rebuild every projection from the store (the same entries, the same head hash)."""
    with _tracker(ctx, create=False, project=False) as app:
        runner = ProjectionRunner(app)
        with out.status("rebuilding every projection from the store..."):
            runner.rebuild()
        trail, analytics = runner.projections
        head = trail.view.head()
        out.print(f"audit trail: {len(trail.view.entries())} entries, head {head.entry_hash if head else '-'}")
        out.print(f"analytics: {len(analytics.view.facts())} facts")


@projections.command("run")
@click.option("--poll", default=0.25, show_default=True, help="seconds between polls (SQLite; PostgreSQL is woken)")
@click.pass_context
def projections_run(ctx: click.Context, poll: float) -> None:
    """Follow the store and keep every projection current, until SIGTERM or Ctrl-C."""
    import signal

    with _tracker(ctx, create=False, project=False) as app:
        runner = ProjectionRunner(app, poll)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: runner.stop())
        err.print(f"following {ctx.obj['db'] or 'sqlite:///etrack.sqlite'} (SIGTERM or Ctrl-C stops)")
        total = runner.run(on_progress=lambda n: err.print(f"projected {n} events"))
        err.print(f"stopped cleanly after projecting {total} events")


@cli.command("new-cipher-key")
def cipher_key() -> None:
    """Print a fresh key for ETRACK_CIPHER_KEY (whole-store encryption at rest)."""
    click.echo(new_cipher_key())


def main() -> None:
    cli(prog_name="etrack")


if __name__ == "__main__":  # pragma: no cover
    main()
