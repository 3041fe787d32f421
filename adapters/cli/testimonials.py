"""Testimonials for analysts: released rating counts and consented quotes (domain/testimonials.py)."""

from __future__ import annotations

import click

from engagement_tracker.adapters.bootstrap import analyst_service
from engagement_tracker.adapters.cli.analytics import released
from engagement_tracker.adapters.cli.output import ACTOR, DATA_FORMAT, DATA_OUT, FORMAT, emit_records, emit_rows, err, parse_actor
from engagement_tracker.adapters.cli.rows import columns, policy_line, release_rows
from engagement_tracker.adapters.cli.store import reader
from engagement_tracker.projections.anonymity import Release


@click.group("testimonials")
def testimonials() -> None:
    """Voluntary testimonials, as analysts see them: released aggregates and consented quotes only."""


@testimonials.command("ratings")
@ACTOR
@click.option("--by", default="metric,period", show_default=True,
              help="dimensions among metric (item=score), unit, period")
@click.option("--period", type=click.Choice(["month", "quarter", "year"]), default="quarter", show_default=True)
@click.option("--k", type=int, default=None, help="the least number of persons per released cell")
@DATA_FORMAT
@DATA_OUT
@click.pass_context
def ratings(ctx: click.Context, actor: str, by: str, period: str, k: int | None, fmt: str, out_path: str | None,
            ) -> None:
    """How many ratings per item=score, released under the same rules as signals (the rows of
    ``signals summary`` and ``activity``: one model)."""
    with reader(ctx, replica=False) as app:  # a release is recorded (the region rule): the primary
        service = analyst_service(app)
        viewer = parse_actor(actor)

        def emit(rel: Release, path: str | None) -> None:
            emit_records(release_rows(rel), columns(rel.by), fmt, "Testimonial ratings (released cells only)", path)
            if fmt == "table":
                err.print(policy_line(rel), highlight=False)

        released(service, lambda: service.testimonials(viewer, by, None, period, k), emit, out_path)


@testimonials.command("quotes")
@ACTOR
@FORMAT
@click.pass_context
def quotes(ctx: click.Context, actor: str, fmt: str) -> None:
    """Texts their authors consented to have quoted: the quarter and the text, never a name or an id."""
    with reader(ctx, replica=False) as app:  # a release is recorded (the region rule): the primary
        emit_rows(app.engagements.testimonial_quotes(parse_actor(actor)), fmt, "Testimonial quotes (with consent)")


COMMANDS: tuple[click.Command, ...] = (testimonials,)
