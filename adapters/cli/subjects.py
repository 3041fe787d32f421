"""A person's rights from the command line: ``etrack subject export`` (GDPR articles 15 and 20) and
``etrack party rectify`` (article 16); erasure stays ``etrack subject erase``. Admins act."""

from __future__ import annotations

import json

import click

from engagement_tracker.adapters.cli.audit import subject
from engagement_tracker.adapters.cli.output import ACTOR, COMMAND_ID, out, parse_actor
from engagement_tracker.adapters.cli.steps import party
from engagement_tracker.adapters.cli.store import reader, tracker
from engagement_tracker.adapters.files import write_out
from engagement_tracker.domain.errors import InvalidInput, MissingDependency


@subject.command("export")
@click.argument("party_id")
@ACTOR
@click.option("--format", "fmt", type=click.Choice(["json", "html"]), default="json", show_default=True,
              help="json (machine-readable, article 20), or a readable page (the [pages] extra)")
@click.option("--out", "out_file", default=None, metavar="FILE", help="write it to FILE (whole, or not at all)")
@click.pass_context
def subject_export(ctx: click.Context, party_id: str, actor: str, fmt: str, out_file: str | None) -> None:
    """Everything recorded about PARTY_ID, opened for them, as JSON or a page (an admin acts)."""
    if fmt == "html":
        try:
            from engagement_tracker.adapters.pages.subject import subject_page
        except ImportError as exc:
            raise MissingDependency(f"the page needs the [pages] extra ({exc.name} is missing): "
                                    "pip install 'engagement-tracker[pages]'") from None
    with reader(ctx) as app:
        data = app.subjects.export(party_id, parse_actor(actor))
    text = subject_page(data) if fmt == "html" else json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if out_file is None:
        click.echo(text, nl=False)
        return
    write_out(out_file, text)
    out.print(f"wrote {out_file} ({len(data['events'])} records)")


@party.command("rectify")
@click.argument("party_id")
@ACTOR
@click.option("--name", default=None, help="the corrected name (sealed under the party's key)")
@click.option("--contact", default=None, help="the corrected contact (sealed under the party's key)")
@COMMAND_ID
@click.pass_context
def party_rectify(ctx: click.Context, party_id: str, actor: str, name: str | None, contact: str | None,
                  command_id: str | None) -> None:
    """Record a corrected name or contact of PARTY_ID as an event (GDPR article 16; an admin acts)."""
    if name is None and contact is None:
        raise InvalidInput("rectify", "give --name, --contact, or both")
    with tracker(ctx) as app:
        result = app.subjects.rectify(party_id, parse_actor(actor), name, contact, command_id=command_id)
        out.print(result.describe(), highlight=False)


COMMANDS: tuple[click.Command, ...] = ()  # ``subject export`` and ``party rectify`` join groups of other modules
