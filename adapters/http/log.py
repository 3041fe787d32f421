"""The log as the network reads it: the published tiles under ``/log/`` (c2sp.org/tlog-tiles) and,
when this server is also a witness, c2sp.org/tlog-witness under ``/witness/``.

Neither needs a token: a tile holds only hashes of the audit trail's records (nothing sealed, no
id of a person), a checkpoint is signed, and a witness checks the log's signature itself. The
server never holds the log's signing key: an auditor publishes (``etrack audit tiles --out DIR``,
which signs a checkpoint) and the server serves that directory read-only (``--log-dir``). A full
tile never changes, so it is served as immutable; the checkpoint and partial tiles are not cached.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from engagement_tracker.adapters.witness_http import MAX_BODY, WitnessEndpoint

#: The paths tlog-tiles defines: the checkpoint, hash tiles and entry bundles, full or partial.
TILE_PATH = re.compile(r"^(checkpoint|tile/(?:entries|\d{1,2})/(?:x\d{3}/)*\d{3}(?:\.p/\d{1,3})?)$")
IMMUTABLE = "public, max-age=31536000, immutable"
TEXT = "text/plain; charset=utf-8"


def log_router(directory: str | Path) -> APIRouter:
    """``GET /log/<tlog-tiles path>`` from ``directory`` (as ``etrack audit tiles --out`` wrote it)."""
    root = Path(directory).resolve()
    router = APIRouter(tags=["log"])

    @router.get("/log/{path:path}", summary="The audit log as C2SP tlog-tiles (checkpoint, tiles, entry bundles)",
                responses={200: {"content": {"application/octet-stream": {}, TEXT: {}}}, 404: {}})
    def tile(path: str) -> Response:
        if not TILE_PATH.match(path):
            return Response("not a c2sp.org/tlog-tiles path\n", 404, media_type=TEXT)
        file = (root / path).resolve()
        if root not in file.parents or not file.is_file():
            return Response("not published (yet)\n", 404, media_type=TEXT, headers={"Cache-Control": "no-cache"})
        data = file.read_bytes()
        if path == "checkpoint":
            return Response(data, media_type=TEXT, headers={"Cache-Control": "no-cache"})
        full = ".p/" not in path
        return Response(data, media_type="application/octet-stream",
                        headers={"Cache-Control": IMMUTABLE if full else "no-cache"})

    return router


def witness_router(endpoint: WitnessEndpoint) -> APIRouter:
    """c2sp.org/tlog-witness under ``/witness/``: ``add-checkpoint`` and the latest cosigned checkpoint."""
    router = APIRouter(tags=["witness"])

    @router.post("/witness/add-checkpoint", summary="Cosign a checkpoint that extends the last one cosigned",
                 responses={200: {"content": {TEXT: {}}}, 400: {}, 403: {}, 404: {}, 409: {}, 413: {}, 422: {}})
    async def add_checkpoint(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return Response(f"a request body of at most {MAX_BODY} bytes\n", 413, media_type=TEXT)
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(f"a request body of at most {MAX_BODY} bytes\n", 413, media_type=TEXT)
        answer = await run_in_threadpool(endpoint.add_checkpoint, body)  # reads, decides, writes under a file lock
        return Response(answer.body, answer.status, media_type=answer.content_type)

    @router.get("/witness/{origin_hash}/checkpoint", summary="The latest checkpoint this witness cosigned for a log",
                responses={200: {"content": {TEXT: {}}}, 404: {}})
    def checkpoint(origin_hash: str) -> Response:
        answer = endpoint.handle("GET", f"/{origin_hash}/checkpoint")
        return Response(answer.body, answer.status, media_type=answer.content_type)

    return router
