"""The ``etrack`` command.

Every command takes ``--db URL`` (else ETRACK_DATABASE_URL, else ./etrack.sqlite), before or
after the command's name; a plain file path is an SQLite file. Failures print one line on
stderr and exit with a documented status (``exits.py``): 0 done, 1 audit fault, 2 usage,
3 refused, 4 store or environment; nothing is written.

The commands live by audience: ``steps`` (parties, engagements, cohorts and their workflow
steps, the demo, deadlines), ``listings`` (the directory's lists, read without the
application), ``access`` (the first admin, grants, revocations), ``audit`` (the trail, replay,
erasure), ``analytics`` (released aggregates), ``privacy`` (privacy budgets), ``store`` (opening
the store, projections, the cipher key); ``output`` prints.

Start-up: ``etrack --help`` lists the commands from the table below without importing them, and
a command imports only its own module (and what that imports) when it runs, so no command pays
for the pages, OpenDP, psycopg or pyarrow it does not use (tests/integration/test_startup.py).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import click

from engagement_tracker.adapters.cli import exits
from engagement_tracker.adapters.config import apply_config

#: Every top-level command: its module in this package, the attribute holding it, and the first
#: sentence of its help (what ``etrack --help`` prints without importing the module). A test checks
#: this table against each module's ``COMMANDS`` and each command's own help.
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "access": ("access", "access", "Who was granted what, when and by whom (auditors and admins)."),
    "activity": ("analytics", "activity",
                 "Activity indicators: engagements started/closed/declined/abandoned, sessions, rituals, ..."),
    "audit": ("audit", "audit", "The confidential audit trail: verify, checkpoint, export (auditors and admins)."),
    "calendar": ("programme", "calendar",
                 "A person's sessions and deadlines as an iCalendar feed, nothing confidential (they read their own)."),
    "coach": ("coach", "coach", "A coach's own records (the ICF hours log)."),
    "coach-load": ("steps", "coach_load",
                   ("A coach's active team engagements against the capacity policy (warn above 3, refuse above 4): a coach "
                    "reads their own (--as coach:ID, no COACH_ID), an admin any coach's.")),
    "cohort": ("steps", "cohort", "Work with one cohort."),
    "cohorts": ("listings", "cohorts",
                ("List cohorts: id, state, unit, members, rituals, decisions (no names, no "
                 "content), from the directory (auditors and admins).")),
    "demo": ("steps", "demo", "Record a realistic sample (once) and print engagements per phase and one timeline."),
    "engagements": ("listings", "engagements",
                    ("List engagements: id, state, unit, sessions (no names, no content), from "
                     "the directory (auditors and admins).")),
    "grant": ("access", "grant", "Grant ROLE (admin, auditor, analyst, coach) to PARTY_ID; an admin acts (--as admin:ID)."),
    "import": ("programme", "import_group", "Import parties or engagements from a CSV file, every row checked first (admins)."),
    "init": ("access", "init",
             ("Make the store if there is none, register the first admin and grant it admin; "
              "prints its party id (refused once an admin exists).")),
    "new-cipher-key": ("store", "cipher_key", "Print a fresh key for ETRACK_CIPHER_KEY (whole-store encryption at rest)."),
    "new-record-key": ("store", "record_key",
                       "Print a fresh key for ETRACK_RECORD_KEY (the key that seals every stored event)."),
    "open": ("steps", "open_engagement", "Open an engagement (the coach acts); prints its id."),
    "parties": ("access", "parties", "Every party: id, kind, erased, grants; no names (admins)."),
    "party": ("steps", "party", "Register parties (persons and teams)."),
    "privacy-budget": ("privacy", "privacy_budget", "Differential-privacy budgets (rho, zCDP) of analysts, recorded as events."),
    "projections": ("store", "projections", "Read models derived from the events."),
    "releases": ("analytics", "releases", "Plan releases: which shapes of a period are still releasable (analysts and admins)."),
    "reminders": ("programme", "reminders",
                  "Reminders queued by tick: send them by SMTP, list them, opt a person out or back in."),
    "retention": ("programme", "retention",
                  "The retention policy: what it erases and when (ETRACK_RETENTION_SESSION_CONTENT_YEARS; tick applies it)."),
    "replay": ("audit", "replay",
               "The state of an engagement, cohort or party at a version or a time, as JSON (sealed shown sealed)."),
    "report": ("reports", "report", "Pages to read: an engagement's progress report, the periodic synthesis note."),
    "revoke": ("access", "revoke", "Revoke ROLE from PARTY_ID; an admin acts."),
    "serve": ("serve", "serve", "Serve the HTTP API and the pages (the [serve] extra: FastAPI on uvicorn)."),
    "show": ("steps", "show", "Print an engagement as JSON, as the acting party may see it."),
    "signals": ("analytics", "signals", "Anonymised weak-signal summaries (analysts and admins)."),
    "step": ("steps", "step", "Take a workflow STEP on an engagement."),
    "steps": ("steps", "steps_list", "Every step a person may take, with its arguments, their types and who may take it."),
    "subject": ("audit", "subject", "Persons and teams as data subjects (GDPR)."),
    "testimonials": ("testimonials", "testimonials",
                     "Voluntary testimonials, as analysts see them: released aggregates and consented quotes only."),
    "tenant": ("tenants", "tenant", "Tenants: one store per client organisation (create, list, delete)."),
    "templates": ("programme", "templates",
                  "Programme templates: objectives and indicators for engagements, rituals and roles for cohorts."),
    "tick": ("steps", "tick",
             "Record every deadline that fell due (72-hour feedback, contract end, quarterly review, ...), once; "
             "and the release calendar's releases of the period that closed, once (etrack releases calendar show)."),
    "timeline": ("steps", "timeline", "Every recorded step of an engagement."),
    "token": ("access", "token",
              "Bearer tokens for etrack serve: each identifies one recorded party (admins issue, list, revoke)."),
    "workflow": ("diagrams", "workflow", "Inspect the workflow definitions."),
}

#: Modules that add subcommands to a command of another module (``cohort dashboard`` lives with the pages).
EXTENDED_BY: dict[str, tuple[str, ...]] = {"cohort": ("reports",), "subject": ("subjects",), "party": ("subjects",)}

#: Every module that holds commands (``COMMANDS``), for the test that checks the table.
COMMAND_MODULES = ("steps", "listings", "diagrams", "access", "analytics", "privacy", "audit", "store", "reports", "coach",
                   "testimonials", "serve", "programme", "subjects", "tenants")


def store_url(value: str | None) -> str | None:
    """A store URL as given, or a plain file path read as ``sqlite:///PATH``."""
    if value is None or "://" in value or value in {"memory:", ""}:
        return value
    return f"sqlite:///{value}"


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["db"] = store_url(value)


def _set_tenant(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(dict)["tenant"] = value


def _set_create(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(dict)["create"] = True


def _set_verbosity(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        ctx.ensure_object(dict)["verbose"] = max(value, ctx.obj.get("verbose", 0))
        configure_logging(ctx.obj["verbose"])


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(dict)["quiet"] = True


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        exits.json_errors = True


def configure_logging(verbose: int = 0) -> None:
    """``-v`` INFO, ``-vv`` DEBUG; else ETRACK_LOG_LEVEL (default WARNING). Logs go to stderr."""
    level: int | str = {1: logging.INFO}.get(verbose, logging.DEBUG) if verbose else (
        os.environ.get("ETRACK_LOG_LEVEL", "WARNING").upper())
    root = logging.getLogger("engagement_tracker")
    try:
        root.setLevel(level)
    except ValueError:
        root.setLevel(logging.WARNING)
        root.warning("ETRACK_LOG_LEVEL=%s is not a level; expected DEBUG, INFO, WARNING or ERROR", level)
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)


_DB_HELP = "the store: sqlite:///path or a plain file path (default ./etrack.sqlite), memory: or postgresql://..."
_TENANT_HELP = ("the tenant (client organisation) whose store to use, under --db (else ETRACK_TENANT); "
                "made with etrack tenant create")
_CREATE_HELP = ("a write may make a new store where there is none (etrack init and etrack demo always may; "
                "a read never does)")


def _leaf_options() -> list[click.Option]:
    """The global options, repeated on every command so they may come after its name."""
    return [
        click.Option(["--db"], metavar="URL", expose_value=False, callback=_set_db, help=_DB_HELP),
        click.Option(["--tenant"], metavar="ORG", expose_value=False, callback=_set_tenant, help=_TENANT_HELP),
        click.Option(["--create"], is_flag=True, expose_value=False, callback=_set_create, help=_CREATE_HELP),
        click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_set_verbosity,
                     help="log what happens (-v INFO, -vv DEBUG); else ETRACK_LOG_LEVEL"),
        click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, callback=_set_quiet,
                     help="no progress bars"),
        click.Option(["--json"], is_flag=True, expose_value=False, callback=_set_json,
                     help="errors as one JSON object on stderr: {error, message, exit_code}"),
    ]


class LazyGroup(click.Group):
    """A group whose commands are imported when one is run or asked for, not to list them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*LAZY_COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.add_command(load_command(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The table's summaries, as click shortens a command's help (no command is imported)."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.commands:
                if not self.commands[name].hidden:
                    rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                rows.append((name, click.Command(name, help=LAZY_COMMANDS[name][2]).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def load_command(name: str) -> click.Command:
    """Import the module holding command NAME (and those extending it); its global options added."""
    module, attribute, _summary = LAZY_COMMANDS[name]
    for extension in EXTENDED_BY.get(name, ()):
        importlib.import_module(f"{__name__}.{extension}")
    command: click.Command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    _add_leaf_options(command)
    return command


@click.group(cls=LazyGroup, epilog=exits.EXIT_CODES_HELP)
@click.version_option(package_name="engagement-tracker", prog_name="etrack")
@click.option("--db", envvar="ETRACK_DATABASE_URL", default=None, metavar="URL", help=_DB_HELP)
@click.option("--tenant", envvar="ETRACK_TENANT", default=None, metavar="ORG", help=_TENANT_HELP)
@click.option("--create", is_flag=True, callback=_set_create, expose_value=False, help=_CREATE_HELP)
@click.option("-v", "--verbose", count=True, help="log what happens (-v INFO, -vv DEBUG); else ETRACK_LOG_LEVEL")
@click.option("-q", "--quiet", is_flag=True, help="no progress bars (they are off anyway when stderr is not a terminal)")
@click.option("--json", "json_errors", is_flag=True, callback=_set_json, expose_value=False,
              help="errors as one JSON object on stderr: {error, message, exit_code}")
@click.pass_context
def cli(ctx: click.Context, db: str | None, tenant: str | None, verbose: int, quiet: bool) -> None:
    """engagement-tracker: event-sourced coaching engagements, audit trail and signals."""
    obj: dict[str, Any] = ctx.ensure_object(dict)
    obj.setdefault("db", store_url(db))
    if tenant:
        obj.setdefault("tenant", tenant)
    obj["verbose"] = verbose
    obj["quiet"] = quiet
    configure_logging(verbose)


def _add_leaf_options(command: click.Command) -> None:
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_leaf_options(sub)
        return
    taken = {opt for p in command.params for opt in p.opts}
    command.params.extend(o for o in _leaf_options() if not taken.intersection(o.opts))


def main(argv: list[str] | None = None) -> None:
    """The console script ``etrack``: every failure leaves through ``exits.fail`` (no traceback)."""
    args = sys.argv[1:] if argv is None else list(argv)
    exits.json_errors = exits.wants_json(args) or os.environ.get("ETRACK_JSON_ERRORS") == "1"
    try:
        apply_config()  # ETRACK_CONFIG or ./etrack.toml: settings the environment does not give
        exits.json_errors = exits.json_errors or os.environ.get("ETRACK_JSON_ERRORS") == "1"
        code = cli.main(args, prog_name="etrack", standalone_mode=False)
    except click.Abort:
        exits.report("Aborted", "interrupted", 130)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:  # `etrack` alone: its help, not an error
        click.echo(exc.ctx.get_help() if exc.ctx is not None else cli.get_help(click.Context(cli)))
        sys.exit(0)
    except click.UsageError as exc:
        exits.fail(exc)
    except click.ClickException as exc:  # e.g. a file that cannot be opened
        exits.report(type(exc).__name__, exc.format_message(), exits.USAGE)
        sys.exit(exits.USAGE)
    except BrokenPipeError:  # `etrack ... | head`: the reader left, nothing to report
        sys.stderr.close()
        sys.exit(0)
    except Exception as exc:  # every EtrackError, OSError, and anything unforeseen
        exits.fail(exc)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["cli", "main"]
