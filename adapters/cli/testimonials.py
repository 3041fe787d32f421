"""Testimonials for analysts: released rating counts and consented quotes (domain/testimonials.py)."""

from __future__ import annotations

import click

from engagement_tracker.adapters.bootstrap import analyst_service
from engagement_tracker.adapters.cli.output import ACTOR, FORMAT, emit_json, emit_rows, parse_actor
from engagement_tracker.adapters.cli.store import reader
from engagement_tracker.projections.analytics import release_document, release_rows


@click.group("testimonials")
def testimonials() -> None:
    """Voluntary testimonials, as analysts see them: released aggregates and consented quotes only."""


@testimonials.command("ratings")
@ACTOR
@click.option("--by", default="metric,period", show_default=True,
              help="dimensions among metric (item=score), unit, period")
@click.option("--period", type=click.Choice(["month", "quarter", "year"]), default="quarter", show_default=True)
@click.option("--k", type=int, default=None, help="the least number of persons per released cell")
@FORMAT
@click.pass_context
def ratings(ctx: click.Context, actor: str, by: str, period: str, k: int | None, fmt: str) -> None:
    """How many ratings per item=score, released under the same rules as signals."""
    with reader(ctx, replica=False) as app:  # a release is recorded (the region rule): the primary
        rel = analyst_service(app).testimonials(parse_actor(actor), by, None, period, k)
    if fmt == "json":
        emit_json(release_document(rel))
    else:
        emit_rows(release_rows(rel), fmt, "Testimonial ratings (released cells only)")


@testimonials.command("quotes")
@ACTOR
@FORMAT
@click.pass_context
def quotes(ctx: click.Context, actor: str, fmt: str) -> None:
    """Texts their authors consented to have quoted: the quarter and the text, never a name or an id."""
    with reader(ctx, replica=False) as app:  # a release is recorded (the region rule): the primary
        emit_rows(app.engagements.testimonial_quotes(parse_actor(actor)), fmt, "Testimonial quotes (with consent)")


COMMANDS: tuple[click.Command, ...] = (testimonials,)
