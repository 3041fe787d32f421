"""Witnessing over HTTP, as c2sp.org/tlog-witness has it: a witness that answers ``add-checkpoint``
(and serves the checkpoint it last cosigned per log), and the log's side that pushes a checkpoint to
the witnesses of a c2sp.org/tlog-policy file and gathers their cosignatures.

Both speak plain HTTP/1.1 with the standard library: a witness needs nothing of the store, and the
log reaches its witnesses without any extra installed. What a witness decides is the pure
``projections/witness.py``; here are only the wire, the state file (read, checked and written under
one lock, before the cosignature leaves) and the log's retry after a 409.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import attrs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engagement_tracker.adapters.audit import locked, read_witness_state, write_text
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.projections.audit_log import raw_public_key
from engagement_tracker.projections.witness import CONTENT_TYPE_SIZE, answer, attach, cosigned_by, witnessed_checkpoint

#: The largest add-checkpoint body a witness reads (a checkpoint and a proof are a few KiB).
MAX_BODY = 1 << 20
_CHECKPOINT_PATH = re.compile(r"^/([0-9a-f]{64})/checkpoint$")


@attrs.frozen
class Answer:
    """An HTTP answer: status, content type, body."""

    status: int
    content_type: str
    body: str


class WitnessEndpoint:
    """A witness's two c2sp.org/tlog-witness operations over its key and its state file.

    The key must be the one the state was made for (checked now: a misconfigured witness does not
    start). Every ``add-checkpoint`` reads the state, decides and writes the state back under an
    exclusive lock, so two requests never both pass against the same old size; the answer leaves
    only once the new state is on disk.
    """

    def __init__(self, state_path: str | Path, key: Ed25519PrivateKey, clock: Callable[[], float] = time.time) -> None:
        state = read_witness_state(state_path)
        if raw_public_key(key.public_key()).hex() != state.get("public_key"):
            raise InvalidInput("key", f"this key is not the one the witness state {state_path} was made for")
        self.state_path = Path(state_path)
        self.key = key
        self.clock = clock
        self.name = str(state.get("name", ""))

    def add_checkpoint(self, body: bytes) -> Answer:
        """``POST <prefix>/add-checkpoint``: 200 and the cosignature line, or the protocol's refusal."""
        with locked(self.state_path):
            state = read_witness_state(self.state_path)
            new, status, content_type, text = answer(state, body, self.key, int(self.clock()))
            if status == 200:
                write_text(self.state_path, json.dumps(new, indent=2) + "\n")
        return Answer(status, content_type, text)

    def checkpoint(self, origin_hash: str) -> Answer:
        """``GET <prefix>/<origin hash>/checkpoint``: the latest checkpoint cosigned for that log."""
        note = witnessed_checkpoint(read_witness_state(self.state_path), origin_hash)
        if note is None:
            return Answer(404, "text/plain; charset=utf-8", "this witness has cosigned no checkpoint of that log\n")
        return Answer(200, "text/plain; charset=utf-8", note)

    def handle(self, method: str, path: str, body: bytes = b"") -> Answer:
        """Route one request (the path below the witness's prefix)."""
        if path == "/add-checkpoint":
            if method != "POST":
                return Answer(405, "text/plain; charset=utf-8", "add-checkpoint takes POST\n")
            return self.add_checkpoint(body)
        match = _CHECKPOINT_PATH.match(path)
        if match and method == "GET":
            return self.checkpoint(match.group(1))
        return Answer(404, "text/plain; charset=utf-8", "not a c2sp.org/tlog-witness path\n")


def serve_witness(endpoint: WitnessEndpoint, host: str, port: int,
                  ready: Callable[[str], None] | None = None) -> None:
    """Serve ``endpoint`` until SIGTERM or Ctrl-C (requests in flight finish first)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "etrack-witness"

        def _send(self, answer: Answer) -> None:
            data = answer.body.encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes | None:
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                self._send(Answer(413 if length > MAX_BODY else 400, "text/plain; charset=utf-8",
                                  f"a request body of 0 to {MAX_BODY} bytes, with its Content-Length\n"))
                self.close_connection = True
                return None
            return self.rfile.read(length)

        def do_POST(self) -> None:
            body = self._body()
            if body is not None:
                self._send(self._answer("POST", body))

        def do_GET(self) -> None:
            self._send(self._answer("GET", b""))

        def _answer(self, method: str, body: bytes) -> Answer:
            try:
                return endpoint.handle(method, self.path.split("?", 1)[0], body)
            except InvalidInput as exc:  # the state file unreadable or changed under it: say so, never a traceback
                return Answer(503, "text/plain; charset=utf-8", f"the witness cannot read its state: {exc}\n")

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")  # method, path, status: no bodies

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = False  # requests in flight finish before the server closes
    stop = threading.Event()

    def shut_down(*_: object) -> None:
        if not stop.is_set():
            stop.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    previous = signal.signal(signal.SIGTERM, shut_down)
    try:
        if ready is not None:
            ready(f"http://{host}:{server.server_address[1]}")
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()


# --- the log's side: push a checkpoint to the policy's witnesses ------------------------------------


@attrs.frozen
class Pushed:
    """What one witness answered: ``cosigned`` (its line is in the note), ``refused`` (status and
    why) or ``unreachable``."""

    witness: str
    url: str
    outcome: str
    detail: str


def push_checkpoint(note: str, witnesses: Iterable[tuple[str, str, str, Ed25519PublicKey]],
                    request_body: Callable[[int], str], timeout: float = 10.0) -> tuple[str, list[Pushed]]:
    """Send ``note`` to each witness (policy name, URL, key name, key) and gather the cosignatures.

    The log keeps no record of what each witness last cosigned: it asks with the old size 0, and a
    witness that has cosigned before answers 409 with its size, so the request is sent once more with
    the consistency proof from that size (``request_body(old_size)``). A cosignature is kept only if it
    verifies under the key the policy gives for that witness. Returns the note with every kept
    cosignature, and what each witness answered.
    """
    cosigned, results = note, []
    for name, url, key_name, key in witnesses:
        endpoint = url.rstrip("/") + "/add-checkpoint"
        old, status, text = 0, 0, ""
        try:
            for _ in range(2):
                status, content_type, text = _post(endpoint, request_body(old), timeout)
                if status == 409 and content_type.startswith(CONTENT_TYPE_SIZE) and text.strip().isdigit():
                    old = int(text.strip())
                    continue
                break
        except OSError as exc:
            results.append(Pushed(name, url, "unreachable", str(getattr(exc, "reason", exc))))
            continue
        if status != 200:
            results.append(Pushed(name, url, "refused", f"status {status}: {text.strip()[:300]}"))
            continue
        candidate = attach(cosigned, text)
        if not cosigned_by(candidate, key_name, key):
            results.append(Pushed(name, url, "refused", "its answer is not a cosignature of this checkpoint by the "
                                  "key the policy gives for it"))
            continue
        cosigned = candidate
        results.append(Pushed(name, url, "cosigned", f"from size {old}" if old else "its first checkpoint of this log"))
    return cosigned, results


def _post(url: str, body: str, timeout: float) -> tuple[int, str, str]:
    request = urllib.request.Request(url, data=body.encode(), method="POST",  # noqa: S310 - the policy's http(s) URL
                                     headers={"Content-Type": "text/plain; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.headers.get("Content-Type", ""), response.read(MAX_BODY).decode(
                "utf-8", "replace")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get("Content-Type", ""), exc.read(MAX_BODY).decode("utf-8", "replace")
