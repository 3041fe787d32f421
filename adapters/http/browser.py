"""Pages for browsers: a sign-in taking a token, a session cookie, CSRF tokens, a strict CSP.

The session cookie holds the token itself (HttpOnly, Secure, SameSite=Strict, path /; under
``--all-tenants`` its tenant's ``/tenants/{tenant}/``, so each tenant's session is its own): every
page request authenticates it again, so a revoked or expired token ends the session at once.
Each form carries a CSRF token derived from the session (SHA-256 of "csrf:" and the token),
which a page on another site cannot read nor compute; a POST without it is refused. The sign-in
form, before any session, carries a random one that must match a cookie set with the form
(double submit), so another site cannot sign a browser in under its own token (login CSRF). Every
answer sends a Content-Security-Policy allowing nothing from outside: the pages are
self-contained (inline SVG charts, inline styles).

The progress report, the cohort dashboard and the synthesis note are ``adapters/pages/`` (the
``[pages]`` extra), rendered for whoever the gates let read them.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from engagement_tracker.adapters.http.identity import SESSION_COOKIE, Caller, CallerRoute, authenticate
from engagement_tracker.domain.errors import InvalidInput, MissingDependency, NotAuthenticated
from engagement_tracker.domain.vocabulary import Role

#: Nothing from outside: inline styles and data: images (the charts are inline SVG), forms to this site only.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")

#: The sign-in form's CSRF token (double submit): a page elsewhere can neither read nor set it.
SIGNIN_COOKIE = "etrack_signin"

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}"
          "input,button{font:inherit;padding:.3rem .5rem}label{display:block;margin:.5rem 0}")


def csrf_of(secret: str) -> str:
    """The CSRF token of a session (its token): only someone holding the token can compute it."""
    return hashlib.sha256(b"csrf:" + secret.encode("utf-8")).hexdigest()


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
                        f"<style>{_STYLE}</style></head><body>{body}</body></html>", status_code=status)


def error_page(status: int, doc: dict[str, Any], headers: dict[str, str], root: str = "") -> Response:
    """A refusal on a page, as a page (the problem's title and detail); ``root``: the server's root path
    (``/tenants/{tenant}`` under ``etrack serve --all-tenants``), before every link."""
    link = f'<p><a href="{root}/signin">Sign in</a></p>' if status == 401 else f'<p><a href="{root}/me/page">Back</a></p>'
    page = _page(str(doc["title"]), f'<h1>{status}: {html.escape(str(doc["title"]))}</h1>'
                 f'<p class="problem">{html.escape(str(doc["detail"]))}</p>{link}', status)
    page.headers.update({k: v for k, v in headers.items() if k != "WWW-Authenticate"})
    return page


def _session(request: Request) -> tuple[Caller, str]:
    from engagement_tracker.adapters.http.api import server_of

    server = server_of(request)
    secret = request.cookies.get(SESSION_COOKIE)
    address = request.client.host if request.client else "unknown"
    identity = authenticate(server.tracker, server.throttle, secret, address)
    identity.rely()  # inside the route's recording scope (CallerRoute): a page that records relies on it
    assert secret is not None  # noqa: S101 - authenticate refused a missing one
    return Caller(server.tracker, identity, None), secret


def _pages() -> Any:
    try:
        from engagement_tracker.adapters import pages
        from engagement_tracker.adapters.pages import cohort, engagement, synthesis  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(f"the pages need the [pages] extra ({exc.name} is missing): "
                                "pip install 'engagement-tracker[pages]'") from None
    return pages


def pages_router(secure_cookie: bool = True) -> APIRouter:
    router = APIRouter(tags=["pages"], include_in_schema=False, route_class=CallerRoute)

    @router.get("/signin")
    def signin_form(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        nonce = secrets.token_urlsafe(32)  # the form's CSRF token, also in a cookie only this site can set
        response = _page("Sign in", f'<h1>Sign in</h1><form method="post" action="{root}/signin">'
                         f'<input type="hidden" name="csrf" value="{nonce}">'
                         '<label>Token <input name="token" type="password" autocomplete="off" required></label>'
                         '<button type="submit">Sign in</button></form>')
        response.set_cookie(SIGNIN_COOKIE, nonce, httponly=True, secure=secure_cookie, samesite="strict",
                            path=f"{root}/signin", max_age=3600)
        return response

    @router.post("/signin")
    def signin(request: Request, token: Annotated[str, Form()], csrf: Annotated[str, Form()] = "") -> Response:
        from engagement_tracker.adapters.http.api import server_of

        expected = request.cookies.get(SIGNIN_COOKIE, "")
        if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
            # a form posted from another site (login CSRF) carries neither: nothing is authenticated
            raise NotAuthenticated("the sign-in form's CSRF token does not match: open /signin and sign in from there")
        server = server_of(request)
        address = request.client.host if request.client else "unknown"
        authenticate(server.tracker, server.throttle, token.strip(), address)
        root = request.scope.get("root_path", "")  # each tenant's session is its own (--all-tenants)
        response = RedirectResponse(f"{root}/me/page", status_code=303)
        response.set_cookie(SESSION_COOKIE, token.strip(), httponly=True, secure=secure_cookie, samesite="strict",
                            path=f"{root}/")
        response.delete_cookie(SIGNIN_COOKIE, path=f"{root}/signin", secure=secure_cookie, httponly=True,
                               samesite="strict")
        return response

    @router.post("/signout")
    def signout(request: Request, csrf: Annotated[str, Form()]) -> Response:
        _caller, secret = _session(request)
        if not hmac.compare_digest(csrf, csrf_of(secret)):
            raise NotAuthenticated("the form's CSRF token does not match this session")
        root = request.scope.get("root_path", "")
        response = RedirectResponse(f"{root}/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=f"{root}/", secure=secure_cookie, httponly=True, samesite="strict")
        return response

    @router.get("/me/page")
    def home(request: Request) -> HTMLResponse:
        who, secret = _session(request)
        root = request.scope.get("root_path", "")
        held = sorted(who.app.held_grants().get(str(who.party), frozenset()))
        links = []
        for place in who.places():
            href = f"{root}/pages/{place['kind']}s/{place['id']}"
            links.append(f'<li><a href="{href}">{place["kind"]} {place["id"]}</a> ({place["role"]}, {place["state"]})</li>')
        if Role.ANALYST.value in held or Role.ADMIN.value in held:
            links.append(f'<li><a href="{root}/pages/synthesis?period=2026-Q1">synthesis note, 2026-Q1</a></li>')
        body = (f"<h1>Signed in</h1><p>party <code>{who.party}</code>; grants: {', '.join(held) or 'none'}</p>"
                f"<ul id=\"places\">{''.join(links) or '<li>nothing to read yet</li>'}</ul>"
                f'<form method="post" action="{root}/signout"><input type="hidden" name="csrf" value="{csrf_of(secret)}">'
                '<button type="submit">Sign out</button></form>')
        return _page("etrack", body)

    @router.get("/pages/engagements/{engagement_id}")
    def progress_report(request: Request, engagement_id: UUID) -> HTMLResponse:
        who, _secret = _session(request)
        pages = _pages()
        return HTMLResponse(pages.engagement.engagement_report(who.app, engagement_id, who.in_engagement(engagement_id)))

    @router.get("/pages/cohorts/{cohort_id}")
    def cohort_dashboard(request: Request, cohort_id: UUID) -> HTMLResponse:
        who, _secret = _session(request)
        pages = _pages()
        return HTMLResponse(pages.cohort.cohort_dashboard(who.app, cohort_id, who.in_cohort(cohort_id)))

    @router.get("/pages/synthesis")
    def synthesis_note(request: Request, period: str, unit: str | None = None) -> HTMLResponse:
        from engagement_tracker.adapters.bootstrap import analyst_service

        who, _secret = _session(request)
        if len(period) > 20:
            raise InvalidInput("period", "expected a quarter such as 2026-Q1")
        pages = _pages()
        viewer = who.granted((Role.ANALYST, Role.ADMIN))
        return HTMLResponse(pages.synthesis.synthesis_note(analyst_service(who.app), viewer, period, unit))

    return router
