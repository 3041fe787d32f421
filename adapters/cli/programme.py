"""A programme admin's bulk work: imports from a spreadsheet (CSV) and a person's data (GDPR).

``etrack import parties|engagements FILE --as admin:ID`` checks every row first: a bad file lists
every bad row on stderr (``line N, column C: reason``), writes nothing and exits 2; a clean one
is imported one command per row, with a progress bar, and prints line, id and status per row.
``etrack import template KIND --out F`` writes the layout's header line.
"""

from __future__ import annotations

from pathlib import Path

import click

from engagement_tracker.adapters.cli.output import ACTOR, FORMAT, emit_rows, err, parse_actor
from engagement_tracker.adapters.cli.progress import progress_of
from engagement_tracker.adapters.cli.store import reader, tracker
from engagement_tracker.adapters.files import write_out
from engagement_tracker.domain.application.imports import LAYOUTS, template
from engagement_tracker.domain.errors import ImportRefused, InvalidInput

KINDS = click.Choice(sorted(LAYOUTS))


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput("file", f"cannot read {path}: {exc.strerror}") from None


@click.group("import")
def import_group() -> None:
    """Import parties or engagements from a CSV file, every row checked first (admins)."""


def _importer(kind: str) -> click.Command:
    @click.command(kind)
    @click.argument("file", metavar="FILE.csv")
    @ACTOR
    @FORMAT
    @click.pass_context
    def run(ctx: click.Context, file: str, actor: str, fmt: str) -> None:
        data = _read(file)
        with tracker(ctx) as app, progress_of(ctx, f"importing {kind}", "rows") as step:
            try:
                rows = app.imports.run(kind, data, parse_actor(actor), on_progress=step)
            except ImportRefused as refused:  # every bad row on stderr, then the one error line
                for line, column, reason in refused.problems:
                    where = "the file" if line == 0 else f"line {line}"
                    err.print(f"{where}{f', column {column}' if column else ''}: {reason}",
                              markup=False, highlight=False, soft_wrap=True)
                raise
        emit_rows(rows, fmt, f"Imported {kind}", ["line", "id", "status"])

    columns = ", ".join(f"{c.name}{'' if c.required else ' (optional)'}" for c in LAYOUTS[kind])
    run.help = (f"Import {kind} from FILE.csv (UTF-8, a header line naming the columns: {columns}); every "
                "row is checked first, a bad file lists every bad row and writes nothing; running the same "
                "file again adds nothing. An admin acts (--as admin:ID).")
    return run


for _kind in sorted(LAYOUTS):
    import_group.add_command(_importer(_kind))


@import_group.command("template")
@click.argument("kind", type=KINDS)
@click.option("--out", "out_file", required=True, metavar="FILE", help="the CSV file to write (its header line)")
def import_template(kind: str, out_file: str) -> None:
    """Write KIND's layout (its header line) to a CSV file to fill in."""
    write_out(out_file, template(kind))


@click.command("calendar")
@click.argument("party_id")
@ACTOR
@click.option("--out", "out_file", default=None, metavar="FILE", help="the .ics file to write (whole, or not at all)")
@click.pass_context
def calendar(ctx: click.Context, party_id: str, actor: str, out_file: str | None) -> None:
    """A person's sessions and deadlines as an iCalendar feed, nothing confidential (they read their own)."""
    from engagement_tracker.adapters.calendar_feed import ics_of

    with reader(ctx) as app:
        now = app.now()
        data = ics_of(app.calendars.entries(party_id, parse_actor(actor), now), now)
    if out_file is None:
        click.echo(data.decode(), nl=False)
    else:
        write_out(out_file, data)


@click.group("reminders")
def reminders() -> None:
    """Reminders queued by tick: send them by SMTP, list them, opt a person out or back in."""


@reminders.command("send")
@ACTOR
@click.pass_context
def reminders_send(ctx: click.Context, actor: str) -> None:
    """Deliver every pending reminder by SMTP (ETRACK_SMTP_HOST, _PORT, _FROM); an admin acts."""
    from engagement_tracker.adapters.reminder_mail import send_pending

    with tracker(ctx) as app:
        done = send_pending(app, parse_actor(actor))
    click.echo(f"sent {done['sent']}, skipped {done['skipped']}")


@reminders.command("pending")
@ACTOR
@FORMAT
@click.pass_context
def reminders_pending(ctx: click.Context, actor: str, fmt: str) -> None:
    """The reminders queued and not yet sent: kind, recipient's id, when due (admins)."""
    with reader(ctx) as app:
        emit_rows(app.reminders.pending(parse_actor(actor)), fmt, "Pending reminders",
                  ["reminder", "recipient", "kind", "about", "due_at"])


def _opt(out_: bool) -> click.Command:
    @click.command("opt-out" if out_ else "opt-in")
    @click.argument("party_id")
    @ACTOR
    @click.pass_context
    def opt(ctx: click.Context, party_id: str, actor: str) -> None:
        with tracker(ctx) as app:
            click.echo(app.reminders.opt_out(party_id, parse_actor(actor), out_).describe())

    opt.help = (f"{'Stop' if out_ else 'Resume'} the reminders of PARTY_ID: the person themselves, or an admin "
                "for them.")
    return opt


reminders.add_command(_opt(True))
reminders.add_command(_opt(False))


@click.group("templates")
def templates() -> None:
    """Programme templates: objectives and indicators for engagements, rituals and roles for cohorts."""


def _indicator(raw: str) -> dict[str, str]:
    parts = raw.split(":", 3)
    if len(parts) != 4:
        raise InvalidInput("indicator", f"{raw[:60]!r}: expected OBJECTIVE:KIND:LABEL:UNIT, e.g. "
                                        "O1:observable_result:Decisions delegated:per week")
    return dict(zip(("objective", "kind", "label", "unit"), parts, strict=True))


@templates.command("declare")
@click.argument("name")
@click.option("--kind", type=click.Choice(["engagement", "cohort"]), required=True)
@click.option("--objective", "objectives", multiple=True, help="an engagement objective (O1, O2, ... in order)")
@click.option("--indicator", "indicators", multiple=True, metavar="O1:KIND:LABEL:UNIT",
              help="an engagement indicator: its objective, kind (observable_result, organisation_performance), label, unit")
@click.option("--ritual", "rituals", multiple=True, help="a cohort ritual (weekly_standup, metrics_review, ...)")
@click.option("--role", "roles", multiple=True, help="a cohort role (facilitator, scribe, metrics_keeper)")
@ACTOR
@click.pass_context
def templates_declare(ctx: click.Context, name: str, kind: str, objectives: tuple[str, ...], indicators: tuple[str, ...],
                      rituals: tuple[str, ...], roles: tuple[str, ...], actor: str) -> None:
    """Declare a template NAME, or its next version (admins); prints its version. Programme wording
    only: a template is stored in clear."""
    content: dict[str, object] = (
        {"objectives": list(objectives), "indicators": [_indicator(i) for i in indicators]} if kind == "engagement"
        else {"rituals": list(rituals), "roles": list(roles)})
    if (kind == "engagement" and (rituals or roles)) or (kind == "cohort" and (objectives or indicators)):
        raise InvalidInput("kind", f"a {kind} template takes " + ("--objective and --indicator" if kind == "engagement"
                                                                  else "--ritual and --role"))
    with tracker(ctx) as app:
        click.echo(app.templates.declare(name, kind, parse_actor(actor), **content).value)


@templates.command("list")
@click.option("--kind", type=click.Choice(["engagement", "cohort"]), default=None)
@ACTOR
@FORMAT
@click.pass_context
def templates_list(ctx: click.Context, kind: str | None, actor: str, fmt: str) -> None:
    """Every template's latest version: name, kind, version, content (admins and coaches)."""
    with reader(ctx) as app:
        emit_rows(app.templates.list(parse_actor(actor), kind), fmt, "Programme templates",
                  ["name", "kind", "version", "content", "declared_at"])


@click.group("retention")
def retention() -> None:
    """The retention policy: what it erases and when (ETRACK_RETENTION_SESSION_CONTENT_YEARS; tick applies it)."""


@retention.command("pending")
@ACTOR
@FORMAT
@click.pass_context
def retention_pending(ctx: click.Context, actor: str, fmt: str) -> None:
    """Each ended engagement whose session content the policy will erase, and when (admins)."""
    with reader(ctx) as app:
        emit_rows(app.retention.pending(parse_actor(actor)), fmt, "Retention",
                  ["engagement", "ended_at", "due_at", "due_now", "sessions", "legacy_notes"])


COMMANDS: tuple[click.Command, ...] = (import_group, calendar, reminders, templates, retention)
