"""Another implementation checks ours: Go's golang.org/x/mod/sumdb/{note,tlog} (Debian's golang-go and
golang-golang-x-mod-dev) read our checkpoint and tiles (``tlogverify/main.go``).

The Go program opens the checkpoint with ``note.Open`` and the log's verifier key, reads the tiles
through a ``tlog.TileReader``, proves and checks every leaf (``ProveRecord``/``CheckRecord``) and the
consistency of two checkpoints (``ProveTree``/``CheckTree``), and must refuse a tile with one flipped
bit. Without Go the tests skip, saying why; with ``ETRACK_REQUIRE_GO=1`` (CI) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.audit import write_publication
from engagement_tracker.domain import Role
from engagement_tracker.projections.audit_log import log_vkey
from engagement_tracker.projections.audit_proofs import signed_checkpoint
from engagement_tracker.projections.audit_trail import AuditTrail, Publication
from engagement_tracker.projections.audit_tree import StoredTree
from engagement_tracker.projections.tlog_tiles import new_tiles, tile_contents
from tests.integration.test_audit_proofs import etrack
from tests.support import Cast, FakeClock, drive, granted, new_tracker, open_engagement

HERE = Path(__file__).parent
GOPATH = "/usr/share/gocode"
ORIGIN = "etrack.example/interop"


def _go_missing() -> str | None:
    if shutil.which("go") is None:
        return "Go is not installed (apt-get install golang-go golang-golang-x-mod-dev)"
    if not (Path(GOPATH) / "src/golang.org/x/mod/sumdb/tlog").is_dir():
        return f"golang.org/x/mod is not in {GOPATH} (apt-get install golang-golang-x-mod-dev)"
    return None


@pytest.fixture(scope="session")
def tlogverify(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go verifier, built offline against Debian's GOPATH (GO111MODULE=off: no module download)."""
    missing = _go_missing()
    if missing:
        if os.environ.get("ETRACK_REQUIRE_GO") == "1":
            pytest.fail(f"Go is required here (ETRACK_REQUIRE_GO=1): {missing}")
        pytest.skip(missing)
    out = tmp_path_factory.mktemp("go") / "tlogverify"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(out.parent), "GO111MODULE": "off",
           "GOPATH": GOPATH, "GOCACHE": str(out.parent / "cache"), "GOFLAGS": ""}
    done = subprocess.run(["go", "build", "-o", str(out), "."], cwd=HERE / "tlogverify", env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def run(binary: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=300)


@attrs.frozen
class FakeRecord:
    """A stored event as the trail's projection reads it (what the store's pages hand it)."""

    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes
    stamp: tuple[str | None, str | None, str | None]


def synthetic_records(start: int, count: int) -> Iterator[FakeRecord]:
    aggregates = [str(uuid.UUID(int=i + 1)) for i in range(97)]
    for position in range(start, start + count):
        aggregate = aggregates[position % len(aggregates)]
        yield FakeRecord(position, aggregate, position // len(aggregates) + 1, "etrack:Engagement.SessionHeld",
                         f"state {position}".encode(), (str(uuid.UUID(int=10_000 + position % 7)), "coach",
                                                         f"2026-01-01T00:00:{position % 60:02d}+00:00"))


def publish(trail: AuditTrail, key: Ed25519PrivateKey, out: Path, old_size: int) -> dict[str, object]:
    """What ``AuditService.publish`` then ``audit tiles`` do, on a trail fed straight through its projection
    (10,000 leaves in seconds): sign the tree, write the tiles it gained."""
    view = trail.view
    checkpoint = signed_checkpoint(view, key, ORIGIN, StoredTree(view))
    tiles = new_tiles(old_size, int(checkpoint["size"]))
    return write_publication(out, Publication(checkpoint, old_size, tiles, tile_contents(view, view, tiles)))


def test_go_sumdb_verifies_every_leaf_of_a_10000_leaf_log_and_refuses_a_flipped_bit(
        tlogverify: Path, tmp_path: Path) -> None:
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    trail = bootstrap.audit_trail(app)
    key, out = Ed25519PrivateKey.generate(), tmp_path / "log"
    records = list(synthetic_records(1, 10_000))
    for i in range(0, 6_500, 500):
        trail.apply(records[i:i + 500])
    first = publish(trail, key, out, 0)
    assert first["size"] == 6_500
    shutil.copyfile(out / "checkpoint", tmp_path / "old.checkpoint")
    for i in range(6_500, 10_000, 500):
        trail.apply(records[i:i + 500])
    full_tile = out / "tile/0/000"
    before = full_tile.stat().st_mtime_ns
    second = publish(trail, key, out, 6_500)
    assert second["size"] == 10_000 and second["full_tiles_kept"] == 0
    assert full_tile.stat().st_mtime_ns == before  # a full tile is never written twice
    app.close()
    vkey = log_vkey(ORIGIN, key.public_key())

    done = run(tlogverify, out, vkey, tmp_path / "old.checkpoint")
    assert done.returncode == 0, done.stderr
    assert "size 10000 verified; 10000 leaves proven and checked" in done.stdout
    assert "the tree of 10000 extends the tree of 6500" in done.stdout

    other = Ed25519PrivateKey.generate()  # the checkpoint opened with another key: refused
    assert run(tlogverify, out, log_vkey(ORIGIN, other.public_key())).returncode == 1

    for tile, byte in (("tile/0/000", 4_000), ("tile/1/000.p/39", 5), ("tile/entries/001", 100)):
        bad = tmp_path / f"bad-{tile.replace('/', '_')}"
        shutil.copytree(out, bad)
        data = bytearray((bad / tile).read_bytes())
        data[byte] ^= 0x01
        (bad / tile).write_bytes(bytes(data))
        done = run(tlogverify, bad, vkey)
        assert done.returncode == 1, f"{tile}: {done.stdout}"
        assert "FAIL" in done.stderr


def test_go_sumdb_verifies_what_etrack_audit_tiles_publishes(tlogverify: Path, tmp_path: Path) -> None:
    db = tmp_path / "etrack.sqlite"
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    auditor = f"auditor:{granted(app, Role.AUDITOR, 'Aude').party}"
    app.close()
    etrack("audit", "keygen", "log.pem", cwd=tmp_path)
    tiles = ["--db", f"sqlite:///{db}", "audit", "tiles", "--as", auditor, "--key", "log.pem", "--out", "log"]
    done = etrack(*tiles, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shutil.copyfile(tmp_path / "log/checkpoint", tmp_path / "old.checkpoint")
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    app.close()
    assert etrack(*tiles, cwd=tmp_path).returncode == 0
    vkey = etrack("audit", "vkey", "--key", "log.pem", cwd=tmp_path).stdout.strip()
    done = run(tlogverify, tmp_path / "log", vkey, tmp_path / "old.checkpoint")
    assert done.returncode == 0, done.stderr
    assert "leaves proven and checked" in done.stdout and "extends" in done.stdout


def test_go_sumdb_verifies_the_log_as_etrack_serve_serves_it(tlogverify: Path, tmp_path: Path) -> None:
    """A monitor with nothing but Go's sumdb packages and the log's key reads checkpoint and tiles over HTTP."""
    pytest.importorskip("fastapi")
    from tests.integration.test_http_serve import serve

    db = tmp_path / "etrack.sqlite"
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    cast = Cast.register(app)
    for _ in range(20):  # a full tile and a partial one
        drive(app, cast, open_engagement(app, cast), "accompaniment.in_progress")
    auditor = f"auditor:{granted(app, Role.AUDITOR, 'Aude').party}"
    app.close()
    etrack("audit", "keygen", "log.pem", cwd=tmp_path)
    done = etrack("--db", f"sqlite:///{db}", "audit", "tiles", "--as", auditor, "--key", "log.pem", "--out", "log",
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    vkey = etrack("audit", "vkey", "--key", "log.pem", cwd=tmp_path).stdout.strip()
    proc, url = serve(db, "--log-dir", "log")
    try:
        verified = run(tlogverify, f"{url}/log", vkey)
        assert verified.returncode == 0, verified.stderr
        assert "leaves proven and checked" in verified.stdout
        assert run(tlogverify, f"{url}/nothing-here", vkey).returncode == 1  # a wrong URL is a failure, not a pass
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
