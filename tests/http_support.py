"""A live ``etrack serve`` for the HTTP tests: the demo's store, a real uvicorn on a free loopback
port (in a thread of the test process, so the test can move the clock), and one token per role.

Besides a token for each role of the demo, it holds tokens for the cases the permission matrix
needs: a party never granted anything, a revoked token, an expired one, and a coach whose coach
grant was revoked.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.demo import DEMO_NOW, TOKEN_HOLDERS, ScriptedClock, access_actor, demo_id, seed
from engagement_tracker.domain import EngagementTracker
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role
from tests.support import FakeClock

#: The engagement the demo shows (its coach, coachee-1 and sponsor-1 hold tokens) and another one.
SHOWN = demo_id("eng-01")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Live:
    """A running server: its base URL, its tracker and clock, and the tokens by name."""

    url: str
    app: EngagementTracker
    clock: FakeClock
    tokens: dict[str, str]
    parties: dict[str, UUID] = field(default_factory=dict)
    server: Any = None
    clients: dict[tuple[tuple[str, str], ...], httpx.Client] = field(default_factory=dict)

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        """A client sending ``token`` (a name of :attr:`tokens`, or a token itself); kept open, closed
        with the server."""
        if token is not None:
            headers["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        key = tuple(sorted(headers.items()))
        if key not in self.clients:
            self.clients[key] = httpx.Client(base_url=self.url, headers=headers, timeout=60)
        return self.clients[key]

    def close(self) -> None:
        for c in self.clients.values():
            c.close()

    def events(self) -> int:
        """How many events the store holds (a refused call writes none)."""
        return int(self.app.recorder.max_notification_id() or 0)


def start_server(app: Any, port: int) -> tuple[Any, threading.Thread]:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread


@pytest.fixture(scope="module", name="live")
def live_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The demo's store served by a real uvicorn, with a token per role and per refusal case."""
    path: Path = tmp_path_factory.mktemp("serve") / "etrack.sqlite"
    with serve_demo(f"sqlite:///{path}") as running:
        yield running


@contextlib.contextmanager
def serve_demo(url: str) -> Iterator[Live]:
    """The demo seeded into the store at ``url`` and served by a real uvicorn (tests/integration/
    test_pgbouncer.py serves it through pgbouncer), with a token per role and per refusal case."""
    pytest.importorskip("fastapi")
    from engagement_tracker.adapters.http import create_app

    scripted = ScriptedClock(datetime(2026, 1, 1, tzinfo=UTC))
    seeding = open_tracker(url, clock=scripted)
    try:
        seed(seeding, scripted)
    finally:
        seeding.close()
    clock = FakeClock(DEMO_NOW + timedelta(days=1))
    app = open_tracker(url, clock=clock)
    admin = access_actor("admin")
    tokens: dict[str, str] = {}
    parties: dict[str, UUID] = {}
    for role, label in TOKEN_HOLDERS.items():
        secret = app.access.issue_token(demo_id(label), admin, label=role).value.secret
        assert secret is not None
        tokens[role], parties[role] = secret, demo_id(label)
    # the refusal cases: never granted, revoked token, expired token, coach grant revoked
    stranger = app.parties.register("person", "Stella Stranger").value
    tokens["stranger"], parties["stranger"] = str(app.access.issue_token(stranger, admin).value.secret), stranger
    revoked = app.access.issue_token(demo_id("auditor"), admin)
    app.access.revoke_token(revoked.value.token, admin)
    tokens["revoked"] = str(revoked.value.secret)
    tokens["expired"] = str(app.access.issue_token(demo_id("admin"), admin, timedelta(hours=1)).value.secret)
    clock.now += timedelta(hours=2)
    ex_coach = demo_id("coach-3")
    tokens["ex_coach"], parties["ex_coach"] = str(app.access.issue_token(ex_coach, admin).value.secret), ex_coach
    app.access.revoke(ex_coach, Role.COACH, admin)
    port = free_port()
    server, thread = start_server(create_app(app), port)
    running = Live(f"http://127.0.0.1:{port}", app, clock, tokens, parties, server)
    try:
        yield running
    finally:
        running.close()
        server.should_exit = True
        thread.join(30)
        app.close()


def admin_actor() -> Actor:
    return Actor(demo_id("admin"), Role.ADMIN)
