"""What every command shares on the way out: tables, CSV and JSON; error lines; ``--as`` and times.

A refusal is one line on stderr, ``error: <Type>: <why>``, and exit status 2.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engagement_tracker.domain.application import as_uuid
from engagement_tracker.domain.errors import EtrackError, InvalidInput
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role

FORMATS = click.Choice(["table", "json", "csv"])
FORMAT = click.option("--format", "fmt", type=FORMATS, default="table")
ACTOR = click.option("--as", "actor", envvar="ETRACK_AS", required=True, metavar="ROLE:PARTY_ID",
                     help="who acts (or reads); else ETRACK_AS")
COMMAND_ID = click.option(
    "--command-id", "command_id", default=None, metavar="ID",
    help="this command's id (a UUID or a request token): run again with the same id, it is recorded at most once",
)

out = Console()
err = Console(stderr=True)


def print_error(exc: EtrackError) -> None:
    """The one line a refusal prints: ``error: <Type>: <why>``."""
    err.print(f"[bold red]error[/]: {type(exc).__name__}: {escape(str(exc))}", highlight=False, soft_wrap=True)


@contextmanager
def refusals() -> Iterator[None]:
    """Turn a refusal into its error line and exit status 2."""
    try:
        yield
    except EtrackError as exc:
        print_error(exc)
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


def emit_json(data: Any) -> None:
    """Print a document as indented JSON (dates and ids as text)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def parse_actor(raw: str) -> Actor:
    """ROLE:PARTY_ID, e.g. coach:0f6c..."""
    role, sep, party = raw.partition(":")
    if not sep:
        raise click.BadParameter("expected ROLE:PARTY_ID, e.g. coach:4f1c...")
    try:
        return Actor(as_uuid(party, "party"), Role(role))
    except (ValueError, InvalidInput) as exc:
        raise click.BadParameter(str(exc)) from None


def parse_time(raw: str | None, option: str = "--at") -> datetime | None:
    """An ISO date-time; without an offset it is UTC."""
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(f"{raw!r} is not an ISO date-time", param_hint=option) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
