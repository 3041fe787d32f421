"""The directory's listings: ``etrack engagements`` and ``etrack cohorts`` (admins and auditors).

A listing needs the directory's rows and the reader's grant, nothing else: it reads them from the
store's tables (``adapters/view_reads.py``) without opening the application, unless the store is
one that path does not read or the directory has events left to project; then it takes the full
path (``bootstrap.open_tracker``), which catches the directory up first. Both paths refuse with
the same gate (``access.require_directory_reader``) on the same grants (issue #28: a read command
that starts fast; tests/integration/test_view_reads.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import click

from engagement_tracker.adapters.cli.output import ACTOR, FORMAT, emit_rows, parse_actor, refusals
from engagement_tracker.adapters.view_reads import open_view_reads
from engagement_tracker.domain.access import require_directory_reader
from engagement_tracker.projections.directory_entries import (
    COHORT,
    COHORT_COLUMNS,
    ENGAGEMENT,
    ENGAGEMENT_COLUMNS,
    Entry,
    cohort_row,
    engagement_row,
)

log = logging.getLogger(__name__)


def listed(ctx: click.Context, actor: str, kind: str, action: str) -> list[Entry]:
    """The directory's rows of ``kind`` (engagement or cohort), to an admin or auditor holding that grant now."""
    obj = ctx.ensure_object(dict)
    log.debug("opening the store at %s for a read of its views", obj.get("db") or "the default store")
    with refusals():
        reads = open_view_reads(obj.get("db"), tenant=obj.get("tenant"))
    if reads is not None:
        with reads, refusals():
            require_directory_reader(parse_actor(actor), reads.grants, action)
            rows = reads.listing(kind)
        if rows is not None:
            log.info("listed from the views of %s", obj.get("db") or "the default store")
            return rows
        log.info("the directory has events left to project: the full path catches it up")
    from engagement_tracker.adapters.bootstrap import directory
    from engagement_tracker.adapters.cli.store import reader

    with reader(ctx) as app:
        require_directory_reader(parse_actor(actor), app.held_grants, action)
        listing = directory(app)
        return listing.engagements() if kind == ENGAGEMENT else listing.cohorts()


def _emit(entries: list[Entry], row: Callable[[Entry], dict[str, Any]], fmt: str, title: str,
          columns: tuple[str, ...]) -> None:
    emit_rows([row(e) for e in entries], fmt, title, columns)


@click.command("engagements")
@ACTOR
@FORMAT
@click.pass_context
def engagements(ctx: click.Context, actor: str, fmt: str) -> None:
    """List engagements: id, state, unit, sessions (no names, no content), from the directory
    (auditors and admins)."""
    _emit(listed(ctx, actor, ENGAGEMENT, "list engagements"), engagement_row, fmt, "Engagements", ENGAGEMENT_COLUMNS)


@click.command("cohorts")
@ACTOR
@FORMAT
@click.pass_context
def cohorts(ctx: click.Context, actor: str, fmt: str) -> None:
    """List cohorts: id, state, unit, members, rituals, decisions (no names, no content), from the directory
    (auditors and admins)."""
    _emit(listed(ctx, actor, COHORT, "list cohorts"), cohort_row, fmt, "Cohorts", COHORT_COLUMNS)


COMMANDS: tuple[click.Command, ...] = (engagements, cohorts)
