"""Pages: ``etrack report engagement|synthesis`` and ``etrack cohort dashboard``, each one self-contained
HTML file written to ``--out`` (the ``[pages]`` extra: jinja2, matplotlib)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import click

from engagement_tracker.adapters.bootstrap import analyst_service
from engagement_tracker.adapters.cli.output import ACTOR, out, parse_actor, refusals
from engagement_tracker.adapters.cli.steps import cohort
from engagement_tracker.adapters.cli.store import reader
from engagement_tracker.adapters.files import staged
from engagement_tracker.domain.errors import MissingDependency

_OUT = click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
                    help="the file to write (one self-contained page)")
_PAGE_FORMAT = click.option("--format", "fmt", type=click.Choice(["html", "pdf"]), default="html", show_default=True,
                            help="html, or pdf printed by a local chromium (the [pdf] extra)")
_CHROMIUM = click.option("--chromium", default="/usr/bin/chromium", show_default=True, metavar="PATH",
                         help="with --format pdf: the chromium that prints the page")


def _page_options(f: Callable[..., None]) -> Callable[..., None]:
    """--as, --out, --format and --chromium: what every page command takes."""
    return ACTOR(_OUT(_PAGE_FORMAT(_CHROMIUM(f))))


def _pages() -> ModuleType:
    """The pages package, or one error line naming the extra to install."""
    try:
        from engagement_tracker.adapters import pages
        from engagement_tracker.adapters.pages import cohort, engagement, synthesis  # noqa: F401
    except ImportError as exc:  # one error line (exits.fail: plain text, exit 4, --json honoured)
        raise MissingDependency(f"the pages need the [pages] extra ({exc.name} is missing): "
                                "pip install 'engagement-tracker[pages]'") from None
    return pages


def _write(make: Callable[[], str], out_path: Path, fmt: str = "html", chromium: str = "/usr/bin/chromium",
           atomically: Callable[[Callable[[], None]], None] | None = None) -> None:
    """Write the page ``make`` returns to ``out_path``, whole or not at all. ``atomically`` (the analyst
    service's, for a page of releases) records the page's releases only once it is made and staged,
    and the file replaces ``out_path`` only once they are recorded: a page that fails (refused, a
    printer that fails, a file that cannot be written) leaves the ledger and the file as they were."""
    from engagement_tracker.adapters.pages.pdf import print_pdf, require_printer
    from engagement_tracker.adapters.pages.render import check_out, external_references, write_page

    with refusals():
        check_out(out_path)  # before anything is read or released
        if fmt == "pdf":
            require_printer(chromium)  # before anything is read or released
        with staged(out_path) as tmp:  # the page replaces the file whole, or the file stays as it was

            def build() -> None:
                html = make()
                if external_references(html):
                    write_page(html, out_path)  # refuses, naming the reference; nothing is written
                if fmt == "pdf":
                    print_pdf(html, tmp, chromium)
                else:
                    tmp.write_text(html, encoding="utf-8")

            if atomically is None:
                build()
            else:
                atomically(build)
    out.print(f"wrote {out_path} ({out_path.stat().st_size:,} bytes, self-contained)")


@click.group()
def report() -> None:
    """Pages to read: an engagement's progress report, the periodic synthesis note."""


@report.command("engagement")
@click.argument("engagement_id")
@_page_options
@click.pass_context
def report_engagement(ctx: click.Context, engagement_id: str, actor: str, out_path: Path, fmt: str,
                      chromium: str) -> None:
    """An engagement's progress report as its sponsor, coachee or coach may read it (--as sponsor:ID)."""
    pages = _pages()
    viewer = parse_actor(actor)
    with reader(ctx) as app:
        _write(lambda: pages.engagement.engagement_report(app, engagement_id, viewer), out_path, fmt, chromium)


@report.command("synthesis")
@click.option("--period", required=True, help="a quarter (2026-Q1), a month (2026-03) or a year (2026)")
@click.option("--unit", default=None, help="only this unit and the units below it")
@click.option("--k", type=int, default=None, help="distinct persons behind a released cell (default: the floor)")
@_page_options
@click.pass_context
def report_synthesis(ctx: click.Context, period: str, unit: str | None, k: int | None, actor: str,
                     out_path: Path, fmt: str, chromium: str) -> None:
    """The periodic synthesis note: activity and signal trends, released values only (analysts, admins)."""
    pages = _pages()
    viewer = parse_actor(actor)
    with reader(ctx) as app:
        service = analyst_service(app)
        _write(lambda: pages.synthesis.synthesis_note(service, viewer, period, unit, k,
                                                      lambda: app.engagements.testimonial_quotes(
                                                          viewer, k)), out_path, fmt, chromium, service.atomically)


@cohort.command("dashboard")
@click.argument("cohort_id")
@_page_options
@click.pass_context
def cohort_dashboard(ctx: click.Context, cohort_id: str, actor: str, out_path: Path, fmt: str, chromium: str) -> None:
    """A cohort's dashboard (its members and coach): metrics, decisions, roles, the cycle, incidents."""
    pages = _pages()
    viewer = parse_actor(actor)
    with reader(ctx) as app:
        _write(lambda: pages.cohort.cohort_dashboard(app, cohort_id, viewer), out_path, fmt, chromium)


COMMANDS: tuple[click.Command, ...] = (report,)  # ``cohort dashboard`` joins the ``cohort`` group above
