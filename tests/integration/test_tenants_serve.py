"""One ``etrack serve`` for every tenant (``--all-tenants``, ``adapters/http/tenancy.py``), on a real uvicorn:
two tenants served side by side, each under ``/tenants/{tenant}/``. Every path tried across the boundary
with the other tenant's tokens and ids is refused and writes nothing, on SQLite (a file per tenant) and
on PostgreSQL (a schema per tenant). Tenants open lazily into a bounded table (the least recently used
closed first), a tenant made while serving is served without a restart, a deleted one knows no token and
its application is dropped; a tenant that does not exist answers a stranger as one that does."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from engagement_tracker.adapters.tenants import create_tenant, delete_tenant, open_tenant
from engagement_tracker.domain import Actor, EngagementTracker, Role
from tests.conftest import POSTGRES_URL, _drop_schema
from tests.http_support import free_port, start_server
from tests.integration.test_tenants import _events, _populate

pytest.importorskip("fastapi")

from engagement_tracker.adapters.http.tenancy import TenantRouter, bounded_pool


@pytest.fixture(params=["sqlite", "postgresql"])
def base(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The main store's URL: an SQLite file, or a schema of its own in the test database."""
    monkeypatch.setenv("ETRACK_TENANT_KEYS", str(tmp_path / "keys"))
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hosting.sqlite'}"
        return
    request.getfixturevalue("postgres_available")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    yield f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
    for suffix in ("", "_acme", "_globex", "_initech", "_glob"):
        _drop_schema(f"{schema}{suffix}")


def _tenant(url: str, org: str) -> dict[str, Any]:
    """A populated tenant and a token for its admin, its auditor and its engagement's coach."""
    made = _populate(url, org)
    app = open_tenant(url, org)
    try:
        admin = made["admin"]
        made["tokens"] = {who: str(app.access.issue_token(party, admin).value.secret) for who, party in
                          (("admin", admin.party), ("auditor", made["auditor"].party),
                           ("coach", made["cast"].coach.party))}
        made["events"] = int(app.recorder.max_notification_id() or 0)
    finally:
        app.close()
    return made


class Served:
    """A TenantRouter on a real uvicorn on a free loopback port."""

    def __init__(self, router: TenantRouter) -> None:
        self.router = router
        port = free_port()
        self.server, self.thread = start_server(router, port)
        self.url = f"http://127.0.0.1:{port}"

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def test_a_token_works_only_in_its_own_tenant_and_nothing_crosses(base: str) -> None:
    create_tenant(base, "acme")
    create_tenant(base, "globex")
    a, b = _tenant(base, "acme"), _tenant(base, "globex")
    served = Served(TenantRouter(base))
    try:
        # acme's tokens, at globex: unknown there (401), on reads and writes alike
        for who, token in a["tokens"].items():
            with served.client(token) as acme_in_globex:
                me = acme_in_globex.get("/tenants/globex/me")
                assert me.status_code == 401, (who, me.text)
                assert me.headers["content-type"].startswith("application/problem+json")
                step = acme_in_globex.post(f"/tenants/globex/engagements/{a['eid']}/steps/suspend",
                                           json={"reason": "holiday"}, headers={"Idempotency-Key": f"x-{who}"})
                assert step.status_code == 401, (who, step.text)
        # globex's own tokens, naming acme's ids at globex: not there (404) or refused, nothing written
        coach, admin, auditor = (served.client(b["tokens"][w]) for w in ("coach", "admin", "auditor"))
        with coach, admin, auditor:
            assert coach.get("/tenants/globex/me").json()["party"] == str(b["cast"].coach.party)
            a_cast = a["cast"]
            attempts = [
                coach.get(f"/tenants/globex/engagements/{a['eid']}"),
                coach.get(f"/tenants/globex/engagements/{a['eid']}/timeline"),
                coach.post(f"/tenants/globex/engagements/{a['eid']}/steps/hold_first_meeting",
                           json={"held_on": str(date(2026, 10, 20))}),
                coach.post("/tenants/globex/engagements", json={"coachee": str(a_cast.coachee.party),
                           "sponsor": str(a_cast.sponsor.party), "sponsor_function": "line_manager", "org_unit": "Ops"}),
                admin.post("/tenants/globex/grants", json={"party": str(a_cast.other_coach.party), "role": "coach"}),
                admin.post(f"/tenants/globex/parties/{a_cast.coachee.party}/erase"),
                admin.post("/tenants/globex/tokens", json={"party": str(a["admin"].party)}),
                admin.post("/tenants/globex/budgets", json={"analyst": str(a["analyst"].party), "rho": 0.5}),
                auditor.get(f"/tenants/globex/replay/{a['eid']}"),
                auditor.get(f"/tenants/globex/audit/bundles/{a['eid']}"),
            ]
            for answer in attempts:
                assert answer.status_code in (403, 404, 409, 422), (answer.request.url, answer.status_code, answer.text)
                assert answer.json()["status"] == answer.status_code
                assert "Field required" not in answer.text  # refused for the ids, not for a malformed body
            # the same callers at home: the coach's own engagement; the auditor's bundle, signed by globex's key
            home = coach.get(f"/tenants/globex/engagements/{b['eid']}")
            assert home.status_code == 200 and home.json()["id"] == str(b["eid"])
            bundle = auditor.get(f"/tenants/globex/audit/bundles/{b['eid']}")
            assert bundle.status_code == 200, bundle.text
        # an unknown tenant, and a path outside /tenants/: 404 naming no other tenant
        with served.client(a["tokens"]["admin"]) as anyone:
            for path in ("/tenants/initech/me", "/tenants/Initech/me", "/me", "/tenants/", "/tenants/x" * 30):
                gone = anyone.get(path)
                assert gone.status_code in (401, 404), (path, gone.status_code)
                assert "globex" not in gone.text and "acme" not in gone.text
            # a tenant that does not exist answers as one that does to a token it does not hold (see below)
            assert anyone.get("/tenants/initech/me").json()["type"] == "urn:etrack:error:NotAuthenticated"
            # under a tenant's root: a calendar token is never echoed; the pages' links and cookie are the tenant's
            feed = anyone.get("/tenants/acme/calendar/etk_not_a_real_token.ics")
            assert feed.status_code in (401, 404) and "etk_not_a_real_token" not in feed.text
            assert feed.json()["instance"] == "/tenants/acme/calendar/{token}.ics"
            docs = anyone.get("/tenants/acme/docs")
            assert docs.status_code == 200 and "/tenants/acme/openapi.json" in docs.text
            assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]  # the Swagger UI's one exception
            assert anyone.get("/tenants/acme/openapi.json").json()["servers"] == [{"url": "/tenants/acme"}]
            assert anyone.get("/tenants/globex/openapi.json").json()["servers"] == [{"url": "/tenants/globex"}]
            form = anyone.get("/tenants/acme/signin")
            assert 'action="/tenants/acme/signin"' in form.text
            assert "path=/tenants/acme/signin" in form.headers["set-cookie"].lower()
            assert anyone.get("/tenants/acme/me").status_code == 200
        # nothing was written on either side
        assert _events(base, "acme") == a["events"] and _events(base, "globex") == b["events"]
        assert sorted(served.router.open_names()) == ["acme", "globex"]
    finally:
        served.stop()
    assert served.router.open_names() == []  # the server's shutdown closed every tenant's store


def test_tenants_open_lazily_bounded_and_follow_creates_and_deletes(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETRACK_TENANT_KEYS", str(tmp_path / "keys"))
    base = f"sqlite:///{tmp_path / 'hosting.sqlite'}"
    create_tenant(base, "acme")
    create_tenant(base, "globex")
    a, b = _tenant(base, "acme"), _tenant(base, "globex")
    opened: list[EngagementTracker] = []

    def opener(name: str) -> EngagementTracker:
        opened.append(open_tenant(base, name))
        return opened[-1]

    served = Served(TenantRouter(base, max_open=1, refresh=0.2, opener=opener))
    try:
        assert served.router.open_names() == []  # nothing opened before a request names a tenant
        with served.client(a["tokens"]["admin"]) as acme, served.client(b["tokens"]["admin"]) as globex:
            assert acme.get("/tenants/acme/me").status_code == 200
            assert served.router.open_names() == ["acme"]
            assert globex.get("/tenants/globex/me").status_code == 200
            assert served.router.open_names() == ["globex"]  # at most one open: acme's closed
            with pytest.raises(Exception):  # noqa: B017 - a closed store refuses reads, whatever its backend says
                opened[0].recorder.max_notification_id()
            assert acme.get("/tenants/acme/me").status_code == 200  # opened again when asked again
            assert len(opened) == 3

            # bad tokens are counted per address across every tenant (one throttle), not afresh in each
            for i in range(6):
                with served.client(f"etk_guess{i}") as guesser:
                    assert guesser.get(f"/tenants/{('acme', 'globex')[i % 2]}/me").status_code == 401
            assert served.router.throttle.delay("127.0.0.1") > 0  # 3 failures in each: 6 from the one address

            # a tenant made while serving: served without a restart
            create_tenant(base, "initech")
            app = open_tenant(base, "initech")
            try:
                admin = Actor(app.access.initialise("Ian Admin").value, Role.ADMIN)
                token = str(app.access.issue_token(admin.party, admin).value.secret)
            finally:
                app.close()
            time.sleep(0.15)  # the list is read again at most ten times a second for a name it lacks
            with served.client(token) as initech:
                me = initech.get("/tenants/initech/me")
                assert me.status_code == 200 and me.json()["party"] == str(admin.party)
            assert served.router.open_names() == ["initech"]

            # a deleted tenant: its tokens unknown (401, as at any tenant that does not exist) from the next read
            # of the list on, its application dropped
            assert globex.get("/tenants/globex/me").status_code == 200
            delete_tenant(base, "globex", b["admin"])
            time.sleep(0.3)
            gone = globex.get("/tenants/globex/me")
            assert gone.status_code == 401 and gone.json()["type"] == "urn:etrack:error:NotAuthenticated"
            assert "globex" not in served.router.open_names()
            assert acme.get("/tenants/acme/me").status_code == 200  # the others answer as before
    finally:
        served.stop()


def test_each_tenant_opens_with_a_bounded_pool_unless_the_url_names_one() -> None:
    assert bounded_pool("sqlite:///x.sqlite") == "sqlite:///x.sqlite"
    assert bounded_pool("postgresql://u@h/db?schema=s").endswith("schema=s&pool_size=1&max_overflow=1")
    assert bounded_pool("postgresql://u@h/db?pool_size=4") == "postgresql://u@h/db?pool_size=4&max_overflow=1"


def test_etrack_serve_all_tenants_as_an_operator_runs_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import subprocess
    import sys

    from tests.integration.test_cli_and_demo import ROOT

    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "ETRACK_TENANT_KEYS": str(tmp_path / "keys")}
    monkeypatch.setenv("ETRACK_TENANT_KEYS", env["ETRACK_TENANT_KEYS"])
    base = f"sqlite:///{tmp_path / 'hosting.sqlite'}"
    create_tenant(base, "acme")
    create_tenant(base, "globex")
    a, b = _tenant(base, "acme"), _tenant(base, "globex")
    cli = [sys.executable, "-m", "engagement_tracker.adapters.cli", "--db", base]
    both = subprocess.run([*cli, "--tenant", "acme", "serve", "--all-tenants"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "drop --tenant" in both.stderr
    port = free_port()
    proc = subprocess.Popen([*cli, "serve", "--all-tenants", "--port", str(port), "--max-open-tenants", "1"], env=env,
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "etrack serve --all-tenants did not answer"
                time.sleep(0.1)
        for tenant, made, other in (("acme", a, b), ("globex", b, a), ("acme", a, b)):
            mine = httpx.get(f"{url}/tenants/{tenant}/me", headers={"Authorization": f"Bearer {made['tokens']['admin']}"})
            assert mine.status_code == 200 and mine.json()["party"] == str(made["admin"].party)
            theirs = httpx.get(f"{url}/tenants/{tenant}/me", headers={"Authorization": f"Bearer {other['tokens']['admin']}"})
            assert theirs.status_code == 401
    finally:
        proc.terminate()
        proc.wait(60)
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.parametrize("reread", [False, True], ids=["next-request", "next-read-of-the-list"])
def test_a_tenant_deleted_and_made_again_is_served_from_its_new_store(base: str, reread: bool) -> None:
    """acme is deleted and made again under the same name: the names the router reads are the same, the
    generation (its record key's fingerprint) is not, so the old store is closed and the new one opened,
    on the next request (within the list's refresh) as on the next read of the list; the new admin's
    token works there and the old one's does not."""
    create_tenant(base, "acme")
    old = _tenant(base, "acme")
    opened: list[EngagementTracker] = []
    now = [0.0]

    def opener(name: str) -> EngagementTracker:
        opened.append(open_tenant(base, name))
        return opened[-1]

    served = Served(TenantRouter(base, refresh=60.0, opener=opener, clock=lambda: now[0]))
    try:
        with served.client(old["tokens"]["admin"]) as before:
            me = before.get("/tenants/acme/me")
            assert me.status_code == 200 and me.json()["party"] == str(old["admin"].party)
        assert len(opened) == 1
        delete_tenant(base, "acme", old["admin"])
        create_tenant(base, "acme")
        new = _tenant(base, "acme")
        if reread:
            now[0] += 61.0  # the next request reads the list again: the same names
        with served.client(new["tokens"]["admin"]) as after:
            me = after.get("/tenants/acme/me")
            assert me.status_code == 200 and me.json()["party"] == str(new["admin"].party)
        assert len(opened) == 2 and served.router.open_names() == ["acme"]
        with pytest.raises(Exception):  # noqa: B017 - the old store was closed, whatever its backend says
            opened[0].recorder.max_notification_id()
        with served.client(old["tokens"]["admin"]) as stale:
            assert stale.get("/tenants/acme/me").status_code == 401  # the old tenant's token is unknown now
        assert _events(base, "acme") == new["events"]  # nothing the requests did reached it by the old store
    finally:
        served.stop()


def _seen(answer: httpx.Response, tenant: str) -> tuple[Any, ...]:
    """What an attacker sees of an answer, the tenant's name (which the attacker chose) taken out: the status,
    every header but Date (a cookie's value is a fresh nonce: its attributes), and the body."""
    def plain(text: str) -> str:
        return text.replace(f"/tenants/{tenant}", "/tenants/{tenant}")

    headers = []
    for key, value in answer.headers.multi_items():
        if key == "date":
            continue
        shown = value.split("=", 1)[0] + "=...;" + value.split(";", 1)[1] if key == "set-cookie" else value
        headers.append((key, plain(shown)))
    body: Any = plain(answer.text)
    if answer.headers.get("content-type", "").startswith("text/html"):  # the sign-in form's nonce
        body = re.sub(r'name="csrf" value="[^"]*"', 'name="csrf" value="..."', body)
    return answer.status_code, sorted(headers), body


def test_an_unknown_tenant_answers_as_a_known_one_does_to_a_stranger(base: str) -> None:
    """An attacker without a credential of a tenant cannot tell whether it exists: every path, with no
    token, a made-up one, or another tenant's token or session cookie, answers alike at acme (which
    exists) and at nope (which does not): status, headers and body. Nothing is written; a tenant's
    readiness and metrics answer its auditors and admins only."""
    create_tenant(base, "acme")
    create_tenant(base, "glob")
    a, g = _tenant(base, "acme"), _tenant(base, "glob")
    router = TenantRouter(base)
    router.throttle.delay = lambda address: 0.0  # type: ignore[method-assign]  # the same throttle at both; not slowed here
    served = Served(router)
    eid = a["eid"]
    paths = [("GET", "/me"), ("GET", f"/engagements/{eid}"), ("GET", f"/engagements/{eid}/timeline"),
             ("POST", "/engagements"), ("POST", f"/engagements/{eid}/steps/suspend"), ("GET", "/grants"),
             ("POST", "/tokens"), ("DELETE", "/tokens/x"), ("GET", "/audit/entries"), ("GET", "/signals/summary"),
             ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/healthz"), ("GET", "/docs"), ("GET", "/openapi.json"),
             ("GET", "/signin"), ("POST", "/signin"), ("GET", "/me/page"), ("GET", f"/pages/engagements/{eid}"),
             ("GET", "/calendar/etk_not_a_real_token.ics"), ("GET", "/no/such/route"), ("GET", ""), ("HEAD", "/me")]
    strangers: dict[str, dict[str, Any]] = {
        "nothing": {}, "made-up token": {"headers": {"Authorization": "Bearer etk_" + "x" * 43}},
        "malformed": {"headers": {"Authorization": "Basic abc"}},
        "glob's token": {"headers": {"Authorization": f"Bearer {g['tokens']['admin']}"}},
        "glob's session": {"headers": {"Cookie": f"etrack_session={g['tokens']['admin']}"}},
    }
    try:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            for who, how in strangers.items():
                for method, path in paths:
                    seen = []
                    for tenant in ("acme", "nope"):
                        body = {"json": {"reason": "x"}} if method == "POST" else {}
                        answer = client.request(method, f"/tenants/{tenant}{path}", **how, **body)  # type: ignore[arg-type]
                        client.cookies.clear()
                        seen.append(_seen(answer, tenant))
                    assert seen[0] == seen[1], (who, method, path, seen)
                    assert seen[0][0] in (200, 401, 404, 405, 422), (who, method, path, seen[0])
            # the sign-in form posted back with its own nonce and glob's token: refused alike
            signed = []
            for tenant in ("acme", "nope"):
                form = client.get(f"/tenants/{tenant}/signin")
                nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
                assert nonce is not None
                answer = client.post(f"/tenants/{tenant}/signin", data={"csrf": nonce.group(1), "token": g["tokens"]["admin"]})
                client.cookies.clear()
                signed.append(_seen(answer, tenant))
            assert signed[0] == signed[1] and signed[0][0] == 401, signed
        # what a credential of acme sees there, which nobody else does
        with served.client(a["tokens"]["auditor"]) as auditor, served.client(a["tokens"]["coach"]) as coach:
            assert auditor.get("/tenants/acme/me").status_code == 200
            ready = auditor.get("/tenants/acme/readyz")
            assert ready.status_code == 200 and ready.json()["position"] >= a["events"]
            assert auditor.get("/tenants/acme/metrics").status_code == 200
            assert coach.get("/tenants/acme/metrics").status_code == 403  # an operation's figures: auditors, admins
        assert _events(base, "acme") == a["events"] and _events(base, "glob") == g["events"]
    finally:
        served.stop()
