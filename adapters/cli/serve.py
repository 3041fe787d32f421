"""``etrack serve``: the HTTP API and the pages on uvicorn (the ``[serve]`` extra).

On SQLite (and ``memory:``) one process serves, and the read models catch up in it after each
write. On PostgreSQL ``--workers N`` processes serve (each opens the store from
ETRACK_DATABASE_URL) and ``etrack projections run`` keeps the read models current as its own
process. SIGTERM (or Ctrl-C) stops accepting connections and drains the requests in flight
(up to ``--drain`` seconds) before the process exits.

``--all-tenants`` serves every tenant of the store from one server, each under ``/tenants/{tenant}/``
(``adapters/http/tenancy.py``): a token works only in the tenant whose access register holds it;
tenants open on their first request, at most ``--max-open-tenants`` at once per process.
"""

from __future__ import annotations

import os
from typing import Any

import click

from engagement_tracker.adapters.cli.output import err, refusals
from engagement_tracker.adapters.cli.store import DEFAULT_URL, tracker
from engagement_tracker.domain.errors import InvalidInput, MissingDependency


def _uvicorn() -> object:
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise MissingDependency(f"etrack serve needs the [serve] extra ({exc.name} is missing): "
                                "pip install 'engagement-tracker[serve]'") from None
    return uvicorn


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="the address to listen on")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="the port (0: any free one)")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="worker processes (PostgreSQL only; SQLite is served by one process)")
@click.option("--drain", default=30, show_default=True, type=click.IntRange(0, 3600),
              help="seconds SIGTERM waits for requests in flight")
@click.option("--log-dir", default=None, type=click.Path(file_okay=False, exists=True),
              help="serve the tiles published there (etrack audit tiles --out DIR) under /log/")
@click.option("--witness-key", default=None, help="also answer as a witness under /witness/: its PEM key ...")
@click.option("--witness-state", default=None, type=click.Path(dir_okay=False), help="... and its state file")
@click.option("--all-tenants", is_flag=True, help="serve every tenant, each under /tenants/{tenant}/ (its own tokens)")
@click.option("--max-open-tenants", default=16, show_default=True, type=click.IntRange(1, 10_000),
              help="with --all-tenants: tenants open at once per process (least recently used closed first)")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, drain: int, log_dir: str | None,
          witness_key: str | None, witness_state: str | None, all_tenants: bool, max_open_tenants: int) -> None:
    """Serve the HTTP API and the pages (the [serve] extra: FastAPI on uvicorn).

    Callers authenticate with a token an admin issued (etrack token issue PARTY_ID --as admin:ID):
    Authorization: Bearer etk_... ; browsers sign in at /signin. The API's reference is at /docs and
    /openapi.json."""
    uvicorn = _uvicorn()
    url = ctx.obj.get("db") or os.environ.get("ETRACK_DATABASE_URL") or DEFAULT_URL
    postgres = url.startswith("postgresql")
    if workers > 1 and not postgres:
        raise InvalidInput("--workers", "an SQLite store is served by one process (its read models catch up in it); "
                                        "serve a PostgreSQL store for more workers")
    if all_tenants:
        _serve_all_tenants(ctx, uvicorn, url, host, port, workers, drain, max_open_tenants,
                           bool(log_dir or witness_key or witness_state))
        return
    if log_dir:
        os.environ["ETRACK_LOG_DIR"] = log_dir
    if witness_key or witness_state:
        os.environ["ETRACK_WITNESS_KEY"], os.environ["ETRACK_WITNESS_STATE"] = witness_key or "", witness_state or ""
    from engagement_tracker.adapters.http import witness_from_env

    with refusals():
        witness = witness_from_env()  # a wrong key or state stops here, before anything listens
    extras = (" the log under /log/;" if log_dir else "") + (" a witness at /witness/add-checkpoint;" if witness else "")
    err.print(f"serving {url.split('@')[-1]} at http://{host}:{port}/ (sign in at /signin; API reference at /docs;"
              f"{extras})".replace(";)", ")"), highlight=False, soft_wrap=True)
    if workers > 1:
        os.environ["ETRACK_DATABASE_URL"] = url
        if ctx.obj.get("tenant"):  # each worker opens the same tenant's store
            os.environ["ETRACK_TENANT"] = ctx.obj["tenant"]
        uvicorn.run("engagement_tracker.adapters.http:app_from_env", factory=True, host=host, port=port,  # type: ignore[attr-defined]
                    workers=workers, timeout_graceful_shutdown=drain, access_log=False, log_level="warning")
        return
    from engagement_tracker.adapters.http import create_app

    with tracker(ctx, project=False, create=False) as app:
        uvicorn.run(create_app(app, log_dir=log_dir, witness=witness), host=host, port=port, timeout_graceful_shutdown=drain,  # type: ignore[attr-defined]
                    access_log=False, log_level="warning")


def _serve_all_tenants(ctx: click.Context, uvicorn: Any, url: str, host: str, port: int, workers: int, drain: int,
                       max_open: int, one_store_options: bool) -> None:
    """``etrack serve --all-tenants``: one TenantRouter per process (adapters/http/tenancy.py)."""
    if ctx.obj.get("tenant"):
        raise InvalidInput("--all-tenants", "serves every tenant, each under /tenants/{tenant}/: drop --tenant "
                                            "(or ETRACK_TENANT), or drop --all-tenants to serve that one tenant")
    if one_store_options:
        raise InvalidInput("--all-tenants", "--log-dir and --witness-* serve one store's log: serve that tenant "
                                            "alone (--tenant NAME) for them")
    from engagement_tracker.adapters.http.tenancy import TenantRouter
    from engagement_tracker.adapters.tenants import known_tenants, shown

    with refusals():
        known = known_tenants(url)  # a store that cannot hold tenants (memory:) or cannot be reached stops here
    err.print(f"serving {len(known)} tenants of {shown(url)} at http://{host}:{port}/tenants/{{tenant}}/ "
              f"(at most {max_open} open at once per process; new tenants are picked up as they are made)",
              highlight=False, soft_wrap=True)
    if workers > 1:
        os.environ["ETRACK_DATABASE_URL"] = url
        os.environ["ETRACK_MAX_OPEN_TENANTS"] = str(max_open)
        uvicorn.run("engagement_tracker.adapters.http.tenancy:tenants_from_env", factory=True, host=host, port=port,
                    workers=workers, timeout_graceful_shutdown=drain, access_log=False, log_level="warning")
        return
    uvicorn.run(TenantRouter(url, max_open=max_open), host=host, port=port, timeout_graceful_shutdown=drain,
                access_log=False, log_level="warning")


COMMANDS = [serve]
