"""The ``etrack`` command.

Every command takes ``--db URL`` (else ETRACK_DATABASE_URL, else ./etrack.sqlite), before or
after the command's name; a plain file path is an SQLite file. Failures print one line on
stderr and exit with a documented status (``exits.py``): 0 done, 1 audit fault, 2 usage,
3 refused, 4 store or environment; nothing is written.

The commands live by audience: ``steps`` (parties, engagements, cohorts and their workflow
steps, the demo, deadlines), ``access`` (the first admin, grants, revocations),
``audit`` (the trail, replay, erasure), ``analytics`` (released
aggregates), ``privacy`` (privacy budgets), ``store`` (opening the store, projections, the cipher key); ``output`` prints.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from engagement_tracker.adapters.cli import access, analytics, audit, diagrams, exits, privacy, reports, steps, store
from engagement_tracker.adapters.cli import coach as coach_cli
from engagement_tracker.adapters.cli import testimonials as testimonials_cli
from engagement_tracker.adapters.config import apply_config


def store_url(value: str | None) -> str | None:
    """A store URL as given, or a plain file path read as ``sqlite:///PATH``."""
    if value is None or "://" in value or value in {"memory:", ""}:
        return value
    return f"sqlite:///{value}"


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["db"] = store_url(value)


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
_CREATE_HELP = ("a write may make a new store where there is none (etrack init and etrack demo always may; "
                "a read never does)")


def _leaf_options() -> list[click.Option]:
    """The global options, repeated on every command so they may come after its name."""
    return [
        click.Option(["--db"], metavar="URL", expose_value=False, callback=_set_db, help=_DB_HELP),
        click.Option(["--create"], is_flag=True, expose_value=False, callback=_set_create, help=_CREATE_HELP),
        click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_set_verbosity,
                     help="log what happens (-v INFO, -vv DEBUG); else ETRACK_LOG_LEVEL"),
        click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, callback=_set_quiet,
                     help="no progress bars"),
        click.Option(["--json"], is_flag=True, expose_value=False, callback=_set_json,
                     help="errors as one JSON object on stderr: {error, message, exit_code}"),
    ]


@click.group(epilog=exits.EXIT_CODES_HELP)
@click.version_option(package_name="engagement-tracker", prog_name="etrack")
@click.option("--db", envvar="ETRACK_DATABASE_URL", default=None, metavar="URL", help=_DB_HELP)
@click.option("--create", is_flag=True, callback=_set_create, expose_value=False, help=_CREATE_HELP)
@click.option("-v", "--verbose", count=True, help="log what happens (-v INFO, -vv DEBUG); else ETRACK_LOG_LEVEL")
@click.option("-q", "--quiet", is_flag=True, help="no progress bars (they are off anyway when stderr is not a terminal)")
@click.option("--json", "json_errors", is_flag=True, callback=_set_json, expose_value=False,
              help="errors as one JSON object on stderr: {error, message, exit_code}")
@click.pass_context
def cli(ctx: click.Context, db: str | None, verbose: int, quiet: bool) -> None:
    """engagement-tracker: event-sourced coaching engagements, audit trail and signals."""
    obj: dict[str, Any] = ctx.ensure_object(dict)
    obj.setdefault("db", store_url(db))
    obj["verbose"] = verbose
    obj["quiet"] = quiet
    configure_logging(verbose)


for _command in (*steps.COMMANDS, *diagrams.COMMANDS, *access.COMMANDS, *analytics.COMMANDS, *privacy.COMMANDS,
                 *audit.COMMANDS, *store.COMMANDS, *reports.COMMANDS, *coach_cli.COMMANDS, *testimonials_cli.COMMANDS):
    cli.add_command(_command)


def _add_leaf_options(command: click.Command) -> None:
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_leaf_options(sub)
        return
    taken = {opt for p in command.params for opt in p.opts}
    command.params.extend(o for o in _leaf_options() if not taken.intersection(o.opts))


for _command in cli.commands.values():
    _add_leaf_options(_command)


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
