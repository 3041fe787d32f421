"""``--format pdf``: the same self-contained page, printed by a local chromium (the ``[pdf]`` extra).

Playwright drives the chromium given by its executable path (Debian's ``/usr/bin/chromium`` by
default: ``apt-get install -y chromium``); Playwright's own browser download is never used. The
browser context is offline and runs no script: the page is printed from its own bytes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from engagement_tracker.domain.errors import InvalidInput, MissingDependency

DEFAULT_CHROMIUM = "/usr/bin/chromium"
_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def require_printer(chromium: str = DEFAULT_CHROMIUM) -> None:
    """MissingDependency without the [pdf] extra; InvalidInput without the chromium at ``chromium``."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise MissingDependency("--format pdf needs the [pdf] extra (playwright is missing): "
                                "pip install 'engagement-tracker[pdf]'") from None
    if not Path(chromium).is_file():
        raise InvalidInput("chromium", f"{chromium} is missing: pdf is printed by a local chromium "
                                       "(apt-get install -y chromium), or give its path with --chromium")


def print_pdf(html: str, out: Path, chromium: str = DEFAULT_CHROMIUM) -> Path:
    """Print ``html`` to ``out`` as A4 PDF; InvalidInput (nothing written) without the extra or the browser."""
    require_printer(chromium)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "page.html"
        source.write_text(html, encoding="utf-8")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=_ARGS)
            try:
                context = browser.new_context(offline=True, java_script_enabled=False)
                page = context.new_page()
                page.goto(source.as_uri())
                page.pdf(path=str(out), format="A4", print_background=True,
                         margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"})
            finally:
                browser.close()
    return out
