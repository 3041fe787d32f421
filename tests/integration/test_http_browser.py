"""The pages through a live uvicorn, in Debian's chromium driven by Playwright: a sponsor signs in
with a token, reads their progress report, cannot open another engagement, signs out; a cohort
member opens the dashboard; an analyst the synthesis note. The session cookie is HttpOnly, Secure
and SameSite=Strict, forms carry a CSRF token, and no page asks anything of another origin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engagement_tracker.adapters.demo import SAMPLE_NOTES, demo_id
from tests.http_support import SHOWN, Live, live_fixture  # noqa: F401  (the live fixture)
from tests.pages_support import CHROMIUM, CHROMIUM_ARGS, SHOTS, browser_unavailable, in_ci

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium for this module only: closed at its end, so that the pages' session-wide
    browser (``tests/pages_support.py``) is the only Playwright running when its tests start."""
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


def signed_in(browser: Any, live: Live, who: str) -> tuple[Any, Any, list[str]]:
    """A fresh browser context signed in as ``who`` through the sign-in form; every request to
    another origin is recorded (and none is expected)."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live.url) else elsewhere.append(r.url))
    page.goto(f"{live.url}/signin")
    page.fill("input[name=token]", live.tokens[who])
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/me/page")
    return context, page, elsewhere


def test_a_sponsor_signs_in_reads_their_report_is_refused_another_and_signs_out(browser: Any, live: Live) -> None:
    context, page, elsewhere = signed_in(browser, live, "sponsor")
    cookie = next(c for c in context.cookies() if c["name"] == "etrack_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # not readable by scripts
    page.click(f"a[href='/pages/engagements/{SHOWN}']")
    page.wait_for_url(f"{live.url}/pages/engagements/{SHOWN}")
    text = page.inner_text("body")
    assert "progress" in text.lower() and str(SHOWN)[:8] in page.content()
    assert not any(note in text for note in SAMPLE_NOTES)  # never session content
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "served-sponsor-report.png"), full_page=True)
    other = next(e for e in live.app.engagements.ids() if live.parties["sponsor"] != live.app.engagements.get(e).sponsor)
    refused = page.goto(f"{live.url}/pages/engagements/{other}")
    assert refused is not None and refused.status == 403
    assert "403" in page.inner_text("h1")
    page.goto(f"{live.url}/me/page")
    page.click("form[action='/signout'] button")
    page.wait_for_url(f"{live.url}/signin")
    assert not [c for c in context.cookies() if c["name"] == "etrack_session"]
    after = page.goto(f"{live.url}/pages/engagements/{SHOWN}")
    assert after is not None and after.status == 401
    assert elsewhere == []
    context.close()


def test_a_cohort_member_opens_the_dashboard_and_an_analyst_the_synthesis_note(browser: Any, live: Live) -> None:
    context, page, elsewhere = signed_in(browser, live, "member")
    page.click("a[href^='/pages/cohorts/']")
    page.wait_for_url(f"{live.url}/pages/cohorts/**")
    assert page.title().startswith("Cohort dashboard: ") and "members" in page.inner_text("body")
    page.screenshot(path=str(SHOTS / "served-member-dashboard.png"), full_page=True)
    context.close()
    context, page, elsewhere_too = signed_in(browser, live, "analyst")
    response = page.goto(f"{live.url}/pages/synthesis?period=2026-Q1")
    assert response is not None and response.status == 200, page.inner_text("body")[:300]
    assert "Synthesis note" in page.inner_text("body")
    assert str(demo_id("coachee-1")) not in page.content()
    page.screenshot(path=str(SHOTS / "served-synthesis.png"), full_page=True)
    context.close()
    assert elsewhere == elsewhere_too == []


def test_forms_need_the_sessions_csrf_token_and_pages_send_a_strict_csp(live: Live) -> None:
    token = live.tokens["sponsor"]
    c = live.client(Cookie=f"etrack_session={token}")
    home = c.get("/me/page")
    assert home.status_code == 200
    csp = home.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "cdn.jsdelivr.net" not in csp  # only /docs (Swagger UI) may load from outside
    assert "cdn.jsdelivr.net" in live.client().get("/docs").headers["content-security-policy"]
    assert c.get("/me").status_code == 200  # the session reads the API ...
    before = live.events()
    write = c.post(f"/engagements/{SHOWN}/steps/request_review")
    assert write.status_code == 401 and live.events() == before  # ... but a write needs the Authorization header
    forged = c.post("/signout", data={"csrf": "0" * 64}, follow_redirects=False)
    assert forged.status_code == 401  # a forged form is refused ...
    assert c.get("/me/page").status_code == 200  # ... and the session still holds
    missing = c.post("/signout", data={}, follow_redirects=False)
    assert missing.status_code == 422
    nonce = live.client().get("/signin").cookies["etrack_signin"]
    form = live.client(Cookie=f"etrack_signin={nonce}")  # as a browser sends it back (httpx keeps Secure for https)
    bad = form.post("/signin", data={"token": "etk_" + "x" * 43, "csrf": nonce}, follow_redirects=False)
    assert bad.status_code == 401 and "etrack_session" not in bad.headers.get("set-cookie", "")
    elsewhere = live.client().post("/signin", data={"token": live.tokens["sponsor"]}, follow_redirects=False)
    assert elsewhere.status_code == 401 and "etrack_session" not in elsewhere.headers.get("set-cookie", "")  # login CSRF
    forged_form = live.client(Cookie=f"etrack_signin={nonce}")
    wrong = forged_form.post("/signin", data={"token": live.tokens["sponsor"], "csrf": "x" * 43}, follow_redirects=False)
    assert wrong.status_code == 401
    good = form.post("/signin", data={"token": live.tokens["sponsor"], "csrf": nonce}, follow_redirects=False)
    assert good.status_code == 303 and "etrack_session=" in good.headers["set-cookie"]
