"""One server for every tenant (``etrack serve --all-tenants``): ``/tenants/{tenant}/...`` is that tenant's API.

:class:`TenantRouter` is an ASGI application in front of one FastAPI application (:func:`create_app`) shared
by every tenant: a request to ``/tenants/acme/engagements`` reaches it as ``/engagements`` (``root_path``
is ``/tenants/acme``, as a Starlette ``Mount`` sets it) with acme's ``Server`` (its tracker, throttle,
metrics and signing key) named in its scope (``api.SERVER_KEY``), so every route, page and problem
document is the single-tenant server's, and an open tenant costs its store, not an application (one
FastAPI application per tenant held about 4 MB each).

A token binds to one tenant because each tenant is its own store: its tokens are hashes in its own
access register, so another tenant's token is unknown there (401), and the request's
token is relied on in the transaction that records its command, as on a single-tenant server
(``identity.py``). Another tenant's ids are unknown in this one (404), and nothing is written.

Tenant names cannot be probed. A name that is no tenant is answered by the *stranger*: the same
application over an empty store in memory, whose register holds no token, so every path answers there as
it does at a tenant to a caller holding none of its credentials (401 and the same problem document, the
sign-in form, the API's description; the same headers), and another tenant's token is as unknown at a
tenant as at no tenant. A request that carries no credential at all (``carries_credential``: no
Authorization header, no session cookie, not a calendar feed nor a sign-in) is answered by the stranger
for every name, so it opens no tenant and takes the same path whether the name exists or not. A tenant's
``/readyz`` and ``/metrics`` answer its auditors and admins only (``Server.private_operations``), and the
process's ``/healthz`` does not say how many tenants are open. What still differs is time: a token tried
at a tenant that is not open opens it (a store's open, tens of milliseconds) where no tenant answers at
once; the throttle slows an address after a few failed tokens, across every tenant and none alike.

Tenants are opened lazily, on their first request, and kept in a least-recently-used table of at most
``max_open`` (``--max-open-tenants``): opening one more closes the least recently used (once its requests
in flight have ended). The list of tenants (``adapters/tenants.py``: PostgreSQL's ``etrack_tenants``, the
tenants' files on SQLite) is read again at most every ``refresh`` seconds, and at once (at most ten times
a second) for a name it does not hold: a tenant made by ``etrack tenant create`` is served without a
restart; a deleted one is no tenant from the next read of the list on (the stranger answers), and its
application is dropped and its store closed. Each tenant is read with its generation
(``tenant_generation``: a fingerprint of its record key), and an open tenant's is compared again on each
request (a read of its small local key file): a tenant deleted and made again under the same name has a
new one, so the old store is closed and the new one opened, at once rather than at the next read of the
list (the new keys are made before the new store, so the old store never serves the new tenant's requests;
a request already in flight when the tenant is deleted may still end on the old store).

Server connections (PostgreSQL): an open tenant holds its events' pool (``pool_size`` +
``max_overflow`` connections at most) and its key vault's (``min(pool_size, 4)``). Unless the URL says
otherwise, ``--all-tenants`` opens each with ``pool_size=1&max_overflow=1`` (at most 3 connections, 2
when idle), so a worker holds at most ``3 x max_open``; through pgbouncer (``?pooler=transaction``) these
are client connections sharing its few server connections.
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import attrs
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from engagement_tracker.adapters.http.api import SERVER_KEY, Server
from engagement_tracker.adapters.http.identity import SESSION_COOKIE, Throttle
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.errors import InvalidInput

PREFIX = "/tenants/"
#: ``/tenants/{tenant}`` and the rest of the path; a tenant's name is ``adapters.tenants.tenant_name``'s form.
_PATH = re.compile(r"/tenants/([a-z][a-z0-9_]{0,23})(/.*)?\Z", re.DOTALL)
#: The pool each tenant opens with under --all-tenants, unless the URL names one.
POOL_DEFAULTS = (("pool_size", "1"), ("max_overflow", "1"))
MAX_OPEN, REFRESH, RECHECK_UNKNOWN = 16, 1.0, 0.1


def bounded_pool(url: str) -> str:
    """``url`` with :data:`POOL_DEFAULTS` for whatever of them it does not name (PostgreSQL only)."""
    if not url.startswith("postgresql"):
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    named = {k for k, _ in query}
    query += [(k, v) for k, v in POOL_DEFAULTS if k not in named]
    return urlunsplit(parts._replace(query=urlencode(query)))


@attrs.define
class OpenTenant:
    """One tenant's Server while it is open, and the requests it is answering."""

    name: str
    server: Server
    generation: str = ""  # the tenant's generation when it was opened (``tenant_generations``)
    users: int = 0
    retired: bool = False

    @property
    def tracker(self) -> EngagementTracker:
        return self.server.tracker


class TenantRouter:
    """The ASGI application of ``etrack serve --all-tenants`` (see the module's docstring)."""

    def __init__(self, url: str, *, max_open: int = MAX_OPEN, refresh: float = REFRESH,
                 known: Callable[[], Mapping[str, str]] | None = None,
                 opener: Callable[[str], EngagementTracker] | None = None,
                 make_server: Callable[[str, EngagementTracker], Server] | None = None,
                 generation: Callable[[str], str] | None = None,
                 secure_cookie: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        from engagement_tracker.adapters.http import create_app
        from engagement_tracker.adapters.tenants import open_tenant, tenant_generation, tenant_generations

        if max_open < 1:
            from engagement_tracker.domain.errors import InvalidInput

            raise InvalidInput("--max-open-tenants", f"{max_open}: at least 1 tenant must be open at once")
        self.url = bounded_pool(url)
        self.max_open = max_open
        self.refresh = refresh
        self._known_now = known or (lambda: tenant_generations(self.url))
        self._generation = generation or (lambda name: tenant_generation(self.url, name))
        self._opener = opener or (lambda name: open_tenant(self.url, name))
        self._make_server = make_server or (lambda name, tracker: tenant_server(self.url, name, tracker))
        self.app: FastAPI = create_app(None, secure_cookie=secure_cookie)  # one for every tenant
        self.throttle = Throttle()
        self._clock = clock
        self._known: dict[str, str] = {}  # name: generation
        self._known_at = float("-inf")
        self._open: OrderedDict[str, OpenTenant] = OrderedDict()
        self._lock: anyio.Lock | None = None  # made in the event loop that serves
        self._stranger_server: Server | None = None

    # --- what is open --------------------------------------------------------------------------

    def open_names(self) -> list[str]:
        """The tenants open now, least recently used first."""
        return list(self._open)

    async def tenant(self, name: str) -> OpenTenant | None:
        """Tenant ``name``'s open application (opened now if it is not), or None when there is no such tenant."""
        now = self._clock()
        entry = self._open.get(name)
        if entry is not None and now - self._known_at < self.refresh and self._generation(name) == entry.generation:
            self._open.move_to_end(name)
            return entry
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            now = self._clock()
            entry = self._open.get(name)
            stale = now - self._known_at >= (RECHECK_UNKNOWN if name not in self._known else self.refresh) or (
                entry is not None and self._generation(name) != entry.generation)
            if stale:
                await self._read_known()
            if name not in self._known:
                return None
            entry = self._open.get(name)
            if entry is None:
                generation = self._known[name]
                server = await anyio.to_thread.run_sync(self._open_one, name)
                entry = self._open[name] = OpenTenant(name, server, generation)
                while len(self._open) > self.max_open:
                    await self._retire(self._open.popitem(last=False)[1])
            self._open.move_to_end(name)
            return entry

    def _open_one(self, name: str) -> Server:
        tracker = self._opener(name)
        try:
            server = self._make_server(name, tracker)
            server.throttle = self.throttle  # bad tokens counted per address across every tenant, not per tenant
            return server
        except BaseException:
            tracker.close()
            raise

    async def _read_known(self) -> None:
        self._known = dict(await anyio.to_thread.run_sync(self._known_now))
        self._known_at = self._clock()
        for gone in [n for n, e in self._open.items() if self._known.get(n) != e.generation]:
            await self._retire(self._open.pop(gone))  # deleted (or deleted and made again): drop its application

    async def _retire(self, entry: OpenTenant) -> None:
        entry.retired = True
        if entry.users == 0:
            await anyio.to_thread.run_sync(entry.tracker.close)

    async def close(self) -> None:
        """Close every open tenant's store (the server's shutdown)."""
        while self._open:
            await self._retire(self._open.popitem(last=False)[1])
        if self._stranger_server is not None:
            self._stranger_server.tracker.close()
            self._stranger_server = None

    # --- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path in ("/healthz", "/healthz/"):  # how many tenants are open is not said: a token tried at a name opens it
            await _json(send, 200, {"status": "ok"}, "application/json")
            return
        found = _PATH.match(path)
        if found is None:
            await _problem(send, scope, "NotFound", "this server serves every tenant under /tenants/{tenant}/ (e.g. "
                           "/tenants/{tenant}/engagements): name the tenant your token was issued in")
            return
        name, rest = found.group(1), found.group(2) or "/"
        root = f"{scope.get('root_path', '')}{PREFIX}{name}"
        inner = {**scope, "root_path": root, "path": f"{root}{rest}"}
        # A request that carries no credential is answered by the stranger, whether the tenant exists or not;
        # one that does reaches its tenant if there is one, else the stranger (see the module's docstring)
        entry = await self.tenant(name) if carries_credential(scope, rest) else None
        if entry is None:
            await self.app({**inner, SERVER_KEY: await self._stranger()}, receive, send)
            return
        entry.users += 1
        try:
            await self.app({**inner, SERVER_KEY: entry.server}, receive, send)
        finally:
            entry.users -= 1
            if entry.retired and entry.users == 0:
                await anyio.to_thread.run_sync(entry.tracker.close)

    async def _stranger(self) -> Server:
        """The server of no tenant: an empty store in memory, which knows no token (made once, on first use)."""
        if self._stranger_server is None:
            self._stranger_server = await anyio.to_thread.run_sync(stranger_server)
            self._stranger_server.throttle = self.throttle
        return self._stranger_server

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _json(send: Send, status: int, body: dict[str, Any], content_type: str) -> None:
    raw = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(raw)).encode()),
                            (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                            (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]})
    await send({"type": "http.response.body", "body": raw})


async def _problem(send: Send, scope: Scope, name: str, detail: str) -> None:
    from engagement_tracker.adapters.http.problems import PROBLEM

    await _json(send, 404, {"type": f"urn:etrack:error:{name}", "title": "Not Found", "status": 404, "detail": detail,
                            "instance": scope["path"][:200]}, PROBLEM)


#: The cookie that carries a pages session (``identity.SESSION_COOKIE``), as it appears in a Cookie header.
_SESSION = f"{SESSION_COOKIE}=".encode()


def carries_credential(scope: Scope, rest: str) -> bool:
    """Whether a request may carry a credential of a tenant: an Authorization header, a session cookie, a
    calendar feed's token (in its path) or a sign-in (a token in its form). Any other request is answered
    alike by every tenant and by none (a refusal, the sign-in form, the API's description), so the stranger
    answers it and no tenant is opened for it."""
    if rest.startswith("/calendar/") or (rest.rstrip("/") == "/signin" and scope.get("method") == "POST"):
        return True
    return any(key == b"authorization" or (key == b"cookie" and _SESSION in value)
               for key, value in scope.get("headers", ()))


def tenant_server(url: str, name: str, tracker: EngagementTracker) -> Server:
    """Tenant ``name``'s Server: its tracker (its read models caught up in this process on SQLite, as a
    single-tenant server's), its own throttle and metrics, and its own signing key. Its readiness and metrics
    answer its auditors and admins only (``private_operations``): what a stranger could read there it could not
    read at the stranger's."""
    from engagement_tracker.adapters.http import embedded
    from engagement_tracker.adapters.tenants import resolve

    server = Server(tracker, embedded(tracker), resolve(url, name).signing_key)
    server.private_operations = True
    return server


def stranger_server() -> Server:
    """The Server that answers for no tenant (``TenantRouter._stranger``): an empty store in memory, whose access
    register holds no token, so every credential is unknown there, as another tenant's is at a tenant."""
    from engagement_tracker.adapters.bootstrap import open_tracker

    server = Server(open_tracker("memory:"), project=True)
    server.private_operations = True
    return server


def tenants_from_env() -> TenantRouter:
    """The factory for uvicorn's workers under ``etrack serve --all-tenants --workers N``."""
    import os

    return router_from_env(os.environ)


def router_from_env(environ: Any) -> TenantRouter:
    """The router of ``etrack serve --all-tenants --workers N`` (each worker's): ETRACK_DATABASE_URL,
    ETRACK_MAX_OPEN_TENANTS, ETRACK_INSECURE_COOKIE."""
    text = environ.get("ETRACK_MAX_OPEN_TENANTS") or str(MAX_OPEN)
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise InvalidInput("ETRACK_MAX_OPEN_TENANTS", f"{text[:40]!r}: a whole number of tenants, 1 to 10000")
    return TenantRouter(environ.get("ETRACK_DATABASE_URL") or "", max_open=int(text),
                        secure_cookie=environ.get("ETRACK_INSECURE_COOKIE") != "1")


__all__ = ["TenantRouter", "bounded_pool", "router_from_env", "tenants_from_env"]
