"""The ``etrack`` command.

Every command takes ``--db URL`` (else ETRACK_DATABASE_URL, else ./etrack.sqlite). Domain
refusals print ``error: ...`` on stderr and exit with status 2; nothing is written.

The commands live by audience: ``steps`` (parties, engagements, cohorts and their workflow
steps, the demo, deadlines), ``access`` (the first admin, grants, revocations),
``audit`` (the trail, replay, erasure), ``analytics`` (released
aggregates), ``privacy`` (privacy budgets), ``store`` (opening the store, projections, the cipher key); ``output`` prints.
"""

from __future__ import annotations

import click

from engagement_tracker.adapters.cli import access, analytics, audit, privacy, steps, store
from engagement_tracker.adapters.cli import coach as coach_cli
from engagement_tracker.adapters.cli import testimonials as testimonials_cli


@click.group()
@click.version_option(package_name="engagement-tracker", prog_name="etrack")
@click.option("--db", envvar="ETRACK_DATABASE_URL", default=None, metavar="URL",
              help="sqlite:///path (default ./etrack.sqlite), memory: or postgresql://...")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """engagement-tracker: event-sourced coaching engagements, audit trail and signals."""
    ctx.obj = {"db": db}


for _command in (*steps.COMMANDS, *access.COMMANDS, *analytics.COMMANDS, *privacy.COMMANDS, *audit.COMMANDS,
                 *store.COMMANDS, *coach_cli.COMMANDS,
                 *testimonials_cli.COMMANDS):
    cli.add_command(_command)


def main() -> None:
    """The console script ``etrack``."""
    cli(prog_name="etrack")


__all__ = ["cli", "main"]
