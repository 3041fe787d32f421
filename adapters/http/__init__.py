"""The HTTP API and the pages (``etrack serve``; the ``[serve]`` extra: FastAPI on uvicorn).

:func:`create_app` builds the one FastAPI application over a tracker opened by
``adapters/bootstrap.py``; :func:`app_from_env` is the factory uvicorn's workers call
(``ETRACK_DATABASE_URL``). Every tenant from one server: ``tenancy.py`` (which builds on this module).
See ``docs/guides/http-api.md``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from engagement_tracker.adapters.http import api, browser, log
from engagement_tracker.adapters.witness_http import WitnessEndpoint
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.errors import InvalidInput

#: /docs is FastAPI's Swagger UI, which loads its script and style from jsdelivr: the one answer whose
#: policy allows an outside origin (the API's own pages allow none).
DOCS_CSP = ("default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; style-src https://cdn.jsdelivr.net; "
            "img-src data: https://fastapi.tiangolo.com; connect-src 'self'; frame-ancestors 'none'")

#: Headers on every answer: nothing from outside, no sniffing, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": browser.CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every response (errors included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path, root = scope.get("path", ""), scope.get("root_path", "")  # root: /tenants/{tenant} (tenancy.py)
        docs = (path[len(root):] if root and path.startswith(root) else path) in ("/docs", "/docs/oauth2-redirect")

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if docs and name == "Content-Security-Policy":
                        value = DOCS_CSP  # noqa: PLW2901 - the one exception, named above
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def embedded(tracker: EngagementTracker) -> bool:
    """Whether the read models catch up in this process after each write (SQLite, memory), or a runner
    process does it (PostgreSQL's recorders, which ours extend)."""
    return not any(c.__module__ == "eventsourcing.postgres" for c in type(tracker.recorder).__mro__)


def create_app(tracker: EngagementTracker | None, *, project: bool | None = None, secure_cookie: bool = True,
               log_dir: str | Path | None = None, witness: WitnessEndpoint | None = None,
               signing_key: Path | None = None) -> FastAPI:
    """The HTTP API over ``tracker`` (opened by ``adapters.bootstrap.open_tracker``).

    ``project``: catch the read models up in this process after each write (default: on SQLite and
    in memory; on PostgreSQL ``etrack projections run`` does it as its own process). ``log_dir``: the
    tiles an auditor published (``etrack audit tiles --out``), served under ``/log/``; ``witness``:
    answer c2sp.org/tlog-witness under ``/witness/`` (``log.py``); ``signing_key``: the PEM file that signs
    checkpoints and bundles (a tenant's own; else ETRACK_AUDIT_SIGNING_KEY). ``tracker=None``: one
    application for every tenant, each request naming its tenant's Server in its scope (``tenancy.py``)."""
    app = FastAPI(title="engagement-tracker", version="1", redoc_url=None,
                  description="Coaching engagements, cohorts, audit trail and released aggregates. Authenticate with "
                              "`Authorization: Bearer etk_...` (a token an admin issued: `etrack token issue`).")
    app.state.server = None if tracker is None else api.Server(
        tracker, embedded(tracker) if project is None else project, signing_key)
    app.state.html_errors = browser.error_page
    api.install_handlers(app)
    api.timed(app)
    app.include_router(api.health_router())
    app.include_router(api.api_router())
    app.include_router(browser.pages_router(secure_cookie))
    if log_dir is not None:
        app.include_router(log.log_router(log_dir))
    if witness is not None:
        app.include_router(log.witness_router(witness))
    app.add_middleware(SecurityHeaders)
    return app


def witness_from_env() -> WitnessEndpoint | None:
    """The witness this server is (ETRACK_WITNESS_KEY and ETRACK_WITNESS_STATE), or None."""
    key, state = os.environ.get("ETRACK_WITNESS_KEY"), os.environ.get("ETRACK_WITNESS_STATE")
    if not key and not state:
        return None
    if not key or not state:
        raise InvalidInput("witness", "a witness needs both its key and its state (--witness-key and --witness-state)")
    from engagement_tracker.adapters.audit import load_signing_key

    return WitnessEndpoint(state, load_signing_key(key))


def app_from_env() -> FastAPI:
    """The factory for uvicorn's workers: the store at ETRACK_DATABASE_URL (or its tenant ETRACK_TENANT),
    opened without creating it."""
    from engagement_tracker.adapters.bootstrap import open_tracker

    tenant = os.environ.get("ETRACK_TENANT")
    if tenant:  # one tenant per server: its tokens are in its own access register, so a token binds to it
        from engagement_tracker.adapters.tenants import open_tenant, resolve

        tracker = open_tenant(os.environ.get("ETRACK_DATABASE_URL"), tenant)
        signing_key = resolve(os.environ.get("ETRACK_DATABASE_URL"), tenant).signing_key
    else:
        tracker, signing_key = open_tracker(os.environ.get("ETRACK_DATABASE_URL"), create=False), None
    app = create_app(tracker, secure_cookie=os.environ.get("ETRACK_INSECURE_COOKIE") != "1",
                     log_dir=os.environ.get("ETRACK_LOG_DIR") or None, witness=witness_from_env(), signing_key=signing_key)
    app.router.on_shutdown.append(tracker.close)
    return app


__all__ = ["app_from_env", "create_app"]
