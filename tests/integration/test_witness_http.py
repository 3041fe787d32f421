"""c2sp.org/tlog-witness over real HTTP: two `etrack audit witness serve` processes on loopback, a log
that pushes its checkpoints to the witnesses its policy names, a quorum of k of n checked by
`audit verify --policy`, and every refusal the protocol has (a fork, a rollback, another log key, a
malformed or oversized body) answered with its status over the wire, the witness's state unchanged."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engagement_tracker.domain import Role
from tests.integration.test_audit_proofs import ROOT, etrack
from tests.integration.test_witness import copy_sqlite
from tests.support import Cast, FakeClock, drive, granted, new_tracker, open_engagement


class Witness:
    """One `etrack audit witness serve` process, on a port of its own choosing."""

    def __init__(self, cwd: Path, name: str) -> None:
        self.cwd, self.state = cwd, cwd / f"{name}.json"
        self.vkey = etrack("audit", "witness", "init", "--key", f"{name}.pem", "--state", self.state.name,
                           "--name", f"witness.example/{name}", cwd=cwd).stdout.strip()
        self.key = f"{name}.pem"
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engagement_tracker.adapters.cli", "audit", "witness", "serve", "--state",
             self.state.name, "--key", self.key, "--port", "0"],
            cwd=self.cwd, stderr=subprocess.PIPE, text=True,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        assert "answering at http://127.0.0.1:" in line, line
        self.url = line.split("answering at ")[1].split("/add-checkpoint")[0].strip()

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=20)
        assert self.process.stderr is not None
        self.process.stderr.close()
        return code

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, str, str]:
        host, port = self.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=20)
        try:
            conn.request(method, path, body=body)
            answer = conn.getresponse()
            return answer.status, answer.getheader("Content-Type") or "", answer.read().decode()
        finally:
            conn.close()

    def oversized(self, path: str, length: int) -> int:
        """The status answered to a POST announcing ``length`` bytes, before any of them is sent."""
        host, port = self.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=20)
        try:
            conn.putrequest("POST", path)
            conn.putheader("Content-Length", str(length))
            conn.endheaders()
            return conn.getresponse().status
        finally:
            conn.close()


@pytest.fixture
def witnesses(tmp_path: Path) -> Iterator[tuple[Witness, Witness]]:
    pair = (Witness(tmp_path, "w1"), Witness(tmp_path, "w2"))
    yield pair
    for w in pair:
        if w.process is not None and w.process.poll() is None:
            w.process.kill()
            w.process.wait()


def test_a_log_pushes_to_its_witnesses_over_http_and_a_quorum_is_verified(tmp_path: Path,
                                                                       witnesses: tuple[Witness, Witness]) -> None:
    db, fork = tmp_path / "etrack.sqlite", tmp_path / "fork.sqlite"
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    auditor = f"auditor:{granted(app, Role.AUDITOR, 'Aude').party}"
    app.close()

    def run(*args: str, store: Path = db) -> tuple[int, str, str]:
        done = etrack("--db", f"sqlite:///{store}", *args, cwd=tmp_path)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout, done.stderr

    etrack("audit", "keygen", "log.pem", cwd=tmp_path)
    etrack("audit", "keygen", "other.pem", cwd=tmp_path)
    log_vkey = run("audit", "vkey", "--key", "log.pem")[1].strip()
    w1, w2 = witnesses
    for w in (w1, w2):
        assert run("audit", "witness", "add-log", "--state", w.state.name, "--log-key", log_vkey)[0] == 0
        w.start()

    def policy(name: str, quorum: str) -> str:
        (tmp_path / name).write_text(f"log {log_vkey}\nwitness w1 {w1.vkey} {w1.url}\nwitness w2 {w2.vkey} {w2.url}\n"
                                     f"group both {quorum} w1 w2\nquorum both\n")
        return name

    both, either = policy("both.policy", "all"), policy("either.policy", "any")

    def checkpoint(name: str, store: Path = db, key: str = "log.pem") -> int:
        code, out, err = run("audit", "checkpoint", "--as", auditor, "--key", key, "--out", name, store=store)
        assert code == 0, err
        return int(out.split("\n")[1])

    def push(name: str, policy_file: str, store: Path = db) -> tuple[int, str, str]:
        return run("audit", "witness", "push", name, "--policy", policy_file, "--as", auditor, "--out",
                   f"{name}.cosigned", store=store)

    def verify(name: str, policy_file: str) -> int:
        return run("audit", "verify", "--as", auditor, "--policy", policy_file, "--checkpoint", name)[0]

    one = checkpoint("one.note")
    copy_sqlite(db, fork)
    code, out, err = push("one.note", both)
    assert code == 0, err
    assert "\u2014 witness.example/w1 " in out and "\u2014 witness.example/w2 " in out
    assert err.count("cosigned, its first checkpoint of this log") == 2, err
    assert verify("one.note.cosigned", both) == 0
    assert verify("one.note", both) != 0  # the bare checkpoint carries no cosignature: the quorum is not met
    assert json.loads(w1.state.read_text())["logs"]["etrack.local/audit-trail"]["size"] == one

    for store in (db, fork):  # the same steps on both, for other engagements: the same size, other roots
        app = new_tracker(f"sqlite:///{store}", FakeClock())
        drive(app, cast, open_engagement(app, cast), "framing.diagnosis")
        app.close()
    two = checkpoint("two.note")
    code, out, err = push("two.note", both)  # each witness answers 409 with its size; the proof follows
    assert code == 0, err
    assert err.count(f"cosigned, from size {one}") == 2, err
    assert verify("two.note.cosigned", both) == 0
    status, content_type, body = w1.request("GET", "/" + __import__("hashlib").sha256(
        b"etrack.local/audit-trail").hexdigest() + "/checkpoint")
    assert status == 200 and body.startswith("etrack.local/audit-trail\n" + str(two) + "\n"), body

    states = (w1.state.read_text(), w2.state.read_text())
    forked = checkpoint("fork.note", store=fork)
    assert forked == two
    code, out, err = push("fork.note", either, store=fork)  # a split view: the same size, another root
    assert code == 1 and "QuorumNotMet" in err and err.count("refused, status 422") == 2, err
    assert "split view" in err and out == ""
    assert not (tmp_path / "fork.note.cosigned").exists()  # a failed push writes nothing
    checkpoint("foreign.note", key="other.pem")
    code, _, err = push("foreign.note", either)  # signed by another key than the one the witnesses know
    assert code == 1 and err.count("refused, status 403") == 2, err
    assert (w1.state.read_text(), w2.state.read_text()) == states  # no refusal changed what a witness holds

    # the wire itself: a rollback, garbage, an oversized body, an unknown path
    one_note = (tmp_path / "one.note").read_text()
    assert w1.request("POST", "/add-checkpoint", f"old {two}\n\n{one_note}".encode())[0] == 400
    status, content_type, body = w1.request("POST", "/add-checkpoint", f"old {one}\n\n{one_note}".encode())
    assert (status, content_type, body) == (409, "text/x.tlog.size", f"{two}\n")
    assert w1.request("POST", "/add-checkpoint", b"hello\n")[0] == 400
    assert w1.oversized("/add-checkpoint", (1 << 20) + 1) == 413  # refused from its Content-Length, unread
    assert w1.request("GET", "/add-checkpoint")[0] == 405
    assert w1.request("GET", "/nothing")[0] == 404
    assert (w1.state.read_text(), w2.state.read_text()) == states

    # one witness down: all of two is not met (nothing written), any of two is
    assert w2.stop() == 0  # SIGTERM: it stops cleanly
    three = (tmp_path / "two.note")
    code, _, err = push(three.name, both)
    assert code == 1 and "unreachable" in err and "QuorumNotMet" in err, err
    code, _, err = push(three.name, either)
    assert code == 0, err
    assert w1.stop() == 0


def test_a_witness_does_not_start_with_a_key_its_state_was_not_made_for(tmp_path: Path) -> None:
    Witness(tmp_path, "w1")
    etrack("audit", "keygen", "stranger.pem", cwd=tmp_path)
    done = etrack("audit", "witness", "serve", "--state", "w1.json", "--key", "stranger.pem", "--port", "0",
                  cwd=tmp_path)
    assert done.returncode == 2 and "not the one the witness state" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_push_without_any_witness_url_says_so(tmp_path: Path) -> None:
    db = tmp_path / "etrack.sqlite"
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    auditor = f"auditor:{granted(app, Role.AUDITOR, 'Aude').party}"
    app.close()
    etrack("audit", "keygen", "log.pem", cwd=tmp_path)
    w = Witness(tmp_path, "w1")
    vkey = etrack("--db", f"sqlite:///{db}", "audit", "vkey", "--key", "log.pem", cwd=tmp_path).stdout.strip()
    (tmp_path / "p.policy").write_text(f"log {vkey}\nwitness w1 {w.vkey}\nquorum w1\n")
    assert etrack("--db", f"sqlite:///{db}", "audit", "checkpoint", "--as", auditor, "--key", "log.pem", "--out",
                  "c.note", cwd=tmp_path).returncode == 0
    done = etrack("--db", f"sqlite:///{db}", "audit", "witness", "push", "c.note", "--policy", "p.policy", "--as",
                  auditor, cwd=tmp_path)
    assert done.returncode == 2 and "nobody to push to" in done.stderr, done.stderr
    assert os.path.exists(tmp_path / "c.note")
