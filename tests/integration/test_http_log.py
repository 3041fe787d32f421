"""``etrack serve --log-dir --witness-key --witness-state``: the tiles an auditor published, served under
``/log/`` as c2sp.org/tlog-tiles says (full tiles immutable, the checkpoint and partial tiles never
cached, nothing outside the tile paths), and the server cosigning as a witness under ``/witness/``,
pushed to by the log with `etrack audit witness push`, its cosignature accepted by `audit verify --policy`."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from engagement_tracker.domain import Role
from tests.integration.test_audit_proofs import etrack
from tests.integration.test_http_serve import serve
from tests.support import Cast, FakeClock, drive, granted, new_tracker, open_engagement

pytest.importorskip("fastapi")


def test_the_served_log_and_witness(tmp_path: Path) -> None:
    db = tmp_path / "etrack.sqlite"
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    cast = Cast.register(app)
    for _ in range(24):  # more than 256 records: a full tile at level 0
        drive(app, cast, open_engagement(app, cast), "accompaniment.in_progress")
    auditor = f"auditor:{granted(app, Role.AUDITOR, 'Aude').party}"
    app.close()

    def run(*args: str) -> tuple[int, str, str]:
        done = etrack("--db", f"sqlite:///{db}", *args, cwd=tmp_path)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout, done.stderr

    etrack("audit", "keygen", "log.pem", cwd=tmp_path)
    code, note, err = run("audit", "tiles", "--out", "pub", "--as", auditor, "--key", "log.pem")
    assert code == 0, err
    log_vkey = run("audit", "vkey", "--key", "log.pem")[1].strip()
    witness_vkey = run("audit", "witness", "init", "--key", "w.pem", "--state", "w.json", "--name",
                       "witness.example/served")[1].strip()
    assert run("audit", "witness", "add-log", "--state", "w.json", "--log-key", log_vkey)[0] == 0

    proc, url = serve(db, "--log-dir", "pub", "--witness-key", "w.pem", "--witness-state", "w.json")
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            checkpoint = c.get("/log/checkpoint")  # no token: a tile and a checkpoint hold no content
            assert checkpoint.status_code == 200 and checkpoint.text == note
            assert checkpoint.headers["cache-control"] == "no-cache"
            full = sorted(p for p in (tmp_path / "pub" / "tile" / "0").rglob("*") if p.is_file() and ".p" not in p.parts
                          and not p.parent.name.endswith(".p"))
            assert full, "a full tile at level 0"
            path = full[0].relative_to(tmp_path / "pub").as_posix()
            tile = c.get(f"/log/{path}")
            assert tile.status_code == 200 and tile.content == full[0].read_bytes() and len(tile.content) == 256 * 32
            assert tile.headers["cache-control"] == "public, max-age=31536000, immutable"
            partial = next(p for p in (tmp_path / "pub" / "tile").rglob("*") if p.is_file() and p.parent.name.endswith(".p"))
            answer = c.get(f"/log/{partial.relative_to(tmp_path / 'pub').as_posix()}")
            assert answer.status_code == 200 and answer.headers["cache-control"] == "no-cache"
            for outside in ("/log/etrack.sqlite", "/log/tile/0/000%2F..%2F..%2F..%2Fetrack.sqlite", "/log/w.json",
                            "/log/tile/9/x999/999"):
                assert c.get(outside).status_code == 404, outside
            schema = c.get("/openapi.json").json()["paths"]
            assert "/witness/add-checkpoint" in schema and "/log/{path}" in schema

        (tmp_path / "p.policy").write_text(f"log {log_vkey}\nwitness served {witness_vkey} {url}/witness\nquorum served\n")
        (tmp_path / "c.note").write_text(note)
        code, out, err = run("audit", "witness", "push", "c.note", "--policy", "p.policy", "--as", auditor, "--out",
                             "c.witnessed")
        assert code == 0, err
        assert "\u2014 witness.example/served " in out
        assert run("audit", "verify", "--as", auditor, "--policy", "p.policy", "--checkpoint", "c.witnessed")[0] == 0
        with httpx.Client(base_url=url, timeout=30) as c:
            assert c.post("/witness/add-checkpoint", content=b"hello\n").status_code == 400
            assert c.post("/witness/add-checkpoint", content=f"old 0\n\n{note}".encode()).status_code == 409
            assert c.get("/witness/" + "0" * 64 + "/checkpoint").status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


def test_serve_refuses_a_witness_half_configured(tmp_path: Path) -> None:
    db = tmp_path / "etrack.sqlite"
    new_tracker(f"sqlite:///{db}", FakeClock()).close()
    done = etrack("--db", f"sqlite:///{db}", "serve", "--witness-key", "w.pem", cwd=tmp_path)
    assert done.returncode == 2 and "needs both its key and its state" in done.stderr, done.stderr
