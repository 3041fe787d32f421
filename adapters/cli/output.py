"""What every command shares on the way out: tables, CSV and JSON; error lines; ``--as`` and times.

A refusal is one line on stderr, ``error: <Type>: <why>``, and its documented exit status
(``exits.py``). Piped output is never hard-wrapped; ids and hashes are never cut in tables.
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

from engagement_tracker.adapters.cli.exits import cut, exit_code, fail, report
from engagement_tracker.adapters.files import text_out, write_out
from engagement_tracker.domain.actor import Actor
from engagement_tracker.domain.checks import as_uuid
from engagement_tracker.domain.errors import EtrackError, InvalidInput, MissingDependency
from engagement_tracker.domain.vocabulary import Role

FORMATS = click.Choice(["table", "json", "csv"])
FORMAT = click.option("--format", "fmt", type=FORMATS, default="table")
ACTOR = click.option("--as", "actor", envvar="ETRACK_AS", required=True, metavar="ROLE:PARTY_ID",
                     help="who acts (or reads); else ETRACK_AS")
COMMAND_ID = click.option(
    "--command-id", "command_id", default=None, metavar="ID",
    help="this command's id (a UUID or a request token): run again with the same id, it is recorded at most once",
)

#: Piped output (not a terminal) gets a width no line reaches: no hard wrap, no cut id.
_PIPED_WIDTH = 100_000
out = Console(soft_wrap=False) if sys.stdout.isatty() else Console(width=_PIPED_WIDTH)
err = Console(stderr=True, soft_wrap=True)


def print_error(exc: EtrackError) -> None:
    """The one line a refusal prints: ``error: <Type>: <why>`` (or a JSON object with --json)."""
    report(type(exc).__name__, str(exc), exit_code(exc))


@contextmanager
def refusals() -> Iterator[None]:
    """Turn a refusal into its error line and its documented exit status (exits.py)."""
    try:
        yield
    except EtrackError as exc:
        fail(exc)


def emit_rows(rows: Sequence[dict[str, Any]], fmt: str, title: str = "", columns: Sequence[str] = ()) -> None:
    """Print rows as a rich table, JSON or CSV; ``columns`` name the header an empty CSV still carries."""
    if fmt == "json":
        click.echo(json.dumps(list(rows), indent=2, ensure_ascii=False, default=str))
        return
    columns = list(rows[0]) if rows else list(columns)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
        return
    out.print(table_of(rows, columns, title))


def table_of(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str = "") -> Table:
    """A rich table whose one-word cells (ids, hashes, dates) are never cut or wrapped."""
    table = Table(title=title or None)
    cells = [["" if row.get(col) is None else str(row.get(col)) for col in columns] for row in rows]
    for i, col in enumerate(columns):
        column = [line[i] for line in cells]
        atomic = all(" " not in c for c in column)
        longest = max((len(c) for c in column), default=0)
        table.add_column(col, no_wrap=atomic, overflow="fold", min_width=min(longest, 80) if atomic else None)
    for line in cells:
        table.add_row(*(escape(c) for c in line))
    return table


DATA_FORMATS = click.Choice(["table", "csv", "json", "jsonl", "parquet"])
DATA_FORMAT = click.option(
    "--format", "fmt", type=DATA_FORMATS, default="table", show_default=True,
    help="table; csv (always with its header); json (an array of rows); jsonl (one row a line); "
         "parquet (the [parquet] extra; to --out or a pipe)")
DATA_OUT = click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
                        help="write the rows to this file (default stdout)")


def emit_records(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str, title: str = "",
                 out_path: str | None = None) -> None:
    """Rows of one shape in any data format, with the same columns in each (even with no row)."""
    if fmt == "parquet":
        data = to_parquet(rows, columns)
        if out_path:
            write_out(out_path, data)
        elif sys.stdout.isatty():
            raise click.UsageError("parquet is binary: pass --out FILE or redirect stdout")
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return
    if fmt == "table":
        if out_path:
            with text_out(out_path) as fh:
                Console(file=fh, width=_PIPED_WIDTH).print(table_of(rows, columns, title))
        else:
            out.print(table_of(rows, columns, title))
        return
    if fmt == "json":
        text = json.dumps([{c: r.get(c) for c in columns} for r in rows], indent=2, ensure_ascii=False,
                          default=str) + "\n"
    elif fmt == "jsonl":
        text = "".join(json.dumps({c: r.get(c) for c in columns}, ensure_ascii=False, default=str) + "\n"
                       for r in rows)
    else:  # csv
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        text = buf.getvalue()
    if out_path:
        write_out(out_path, text)
    else:
        click.echo(text, nl=False)


def to_parquet(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> bytes:
    """The rows as one Parquet file (pyarrow, the [parquet] extra)."""
    try:
        import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependency("--format parquet needs the [parquet] extra: pip install 'engagement-tracker[parquet]'"
                                ) from None
    kinds = {"value": pa.int64(), "k": pa.int64(), "unit_depth": pa.int64(), "intensity": pa.int64(),
             "low_95": pa.float64(), "high_95": pa.float64(), "epsilon": pa.float64(), "becoming_strong": pa.bool_(),
             "delta": pa.float64(), "threshold": pa.int64(), "noise_scale": pa.float64(),
             "contribution_bound": pa.int64(), "half_width_95": pa.int64(), "coverage": pa.float64()}
    schema = pa.schema([(c, kinds.get(c, pa.string())) for c in columns])
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows], schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def emit_json(data: Any) -> None:
    """Print a document as indented JSON (dates and ids as text)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def parse_actor(raw: str) -> Actor:
    """ROLE:PARTY_ID, e.g. coach:0f6c..."""
    role, sep, party = raw.partition(":")
    if not sep:
        raise click.BadParameter(f"{cut(raw)!r}: expected ROLE:PARTY_ID, e.g. coach:4f1c...")
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
        raise click.BadParameter(f"{cut(raw)!r} is not an ISO date or date-time: expected YYYY-MM-DD or "
                                 "YYYY-MM-DDTHH:MM[:SS][+HH:MM] (UTC without an offset)", param_hint=option) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
