"""Test helpers for the pages: a seeded store, an engagement with a learning dip, the browser.

The browser is Debian's chromium (``/usr/bin/chromium``, ``apt-get install -y chromium``) driven
by Playwright with its executable path; Playwright's own browser download is never used. Without
it the browser tests skip with the reason, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
import pytest

from engagement_tracker.domain import Actor, EngagementTracker
from tests.support import START, Cast, drive, open_engagement

ROOT = Path(__file__).resolve().parents[1]
#: Screenshots of every page, kept as CI artefacts (build/ is gitignored).
SHOTS = ROOT / "build" / "pages"
CHROMIUM = os.environ.get("ETRACK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

#: What only the coach may read (session notes), and what only coach and coachee may read.
COACH_NOTE = "Marc fears the director will see delegation as weakness"
COACHEE_ONLY = ("Hand the weekly planning to a team lead", "stakes and first objectives")
SHARED_OBJECTIVES = ("Shorter incident resolution", "Delegate decisions")


@attrs.frozen
class DipStory:
    """An engagement in accompaniment whose first indicator improves, dips, then improves again."""

    cast: Cast
    eid: UUID
    indicators: tuple[str, str]
    values: tuple[float, ...] = (40.0, 44.0, 30.0)  # baseline 48, target 24: progress, learning dip, progress


def dip_story(app: EngagementTracker, disclose: tuple[str, ...] = ("objectives", "indicators")) -> DipStory:
    """The story the engagement report tests read; the sponsor sees only ``disclose``."""
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    keys = drive(app, cast, eid, "accompaniment.in_progress")
    i1, i2 = keys["indicators"]
    app.engagements.record_session(eid, cast.coach, START + timedelta(days=14), 90, ["delegation"], COACH_NOTE)
    action = app.engagements.commit_action(eid, cast.coachee, COACHEE_ONLY[0], START + timedelta(days=28)).value
    app.engagements.complete_action(eid, cast.coachee, action)
    story = DipStory(cast, eid, (i1, i2))
    for n, value in enumerate(story.values):
        app.engagements.measure_indicator(eid, cast.sponsor, i1, value, START + timedelta(days=20 + 14 * n))
    app.engagements.measure_indicator(eid, cast.coachee, i2, 3, START + timedelta(days=30))
    if disclose:
        app.engagements.propose_disclosure(eid, cast.coachee, list(disclose))
        app.engagements.accept_disclosure(eid, cast.sponsor)
    return story


def readings() -> list[tuple[date, float]]:
    """A synthetic metric history: steady, then one reading far outside the band."""
    values = [96.0, 92.0, 90.0, 91.0, 88.0, 87.0, 120.0]
    return [(date(2026, 3, 2) + timedelta(days=7 * n), v) for n, v in enumerate(values)]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def browser_unavailable() -> str | None:
    """Why no real browser can run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install '.[test]')"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"{CHROMIUM} is missing: apt-get update && apt-get install -y chromium (or set ETRACK_CHROMIUM)"
    return None


@pytest.fixture(scope="session", name="browser")
def browser_fixture() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright (skips locally without it; fails under CI)."""
    reason = browser_unavailable()
    if reason is not None:
        if in_ci():
            pytest.fail(f"CI needs the real browser: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@attrs.define
class Opened:
    """A page opened in the browser: its text, its charts, and every request it made."""

    page: Any
    text: str
    requests: list[str]

    def charts(self, within: str = "body") -> int:
        return int(self.page.locator(f"{within} svg.chart").count())


def open_page(browser: Any, path: Path, shot: str) -> Opened:
    """Open ``path`` from disk; every request but the file itself is recorded and aborted; a full
    screenshot is kept under build/pages/."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, offline=True,
                                  java_script_enabled=False)
    page = context.new_page()
    requests: list[str] = []
    url = path.resolve().as_uri()

    page.on("request", lambda r: None if r.url == url else requests.append(r.url))
    page.route("**/*", lambda r: r.continue_() if r.request.url == url else r.abort())
    page.goto(url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    return Opened(page, page.inner_text("body"), requests)


def actor(party: object, role: str) -> Actor:
    from engagement_tracker.domain import Role

    return Actor(party if isinstance(party, UUID) else UUID(str(party)), Role(role))
