"""`audit tiles`: the trail published as C2SP tlog-tiles, on SQLite and PostgreSQL; incremental; a tail cut or a
rewritten full tile is refused and nothing is published."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.audit import published_checkpoint, write_publication
from engagement_tracker.domain import Role
from engagement_tracker.domain.errors import HistoryRewritten, InvalidInput
from engagement_tracker.projections.audit_log import note_signed_by, parse_checkpoint, split_note
from engagement_tracker.projections.merkle import leaf_hash, root_of
from engagement_tracker.projections.tlog_tiles import ENTRIES, split_bundle, tiles_of
from tests.integration.test_audit_proofs import etrack
from tests.support import Cast, FakeClock, drive, granted, new_tracker, open_engagement


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def read_log(root: Path) -> tuple[int, bytes, list[bytes]]:
    """(size, signed root, leaves) of a published directory, read back from its files only."""
    _, size, signed = parse_checkpoint(split_note((root / "checkpoint").read_text())[0])
    leaves: list[bytes] = []
    hashes = b""
    for tile in tiles_of(size):
        data = (root / tile.path).read_bytes()
        if tile.level == ENTRIES:
            leaves += split_bundle(data)
        elif tile.level == 0:
            hashes += data
    assert [leaf_hash(x) for x in leaves] == [hashes[i:i + 32] for i in range(0, len(hashes), 32)]
    return size, signed, leaves


def test_tiles_publish_the_trail_and_a_second_run_adds_only_what_grew(durable_store_url: str, tmp_path: Path) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    auditor = granted(app, Role.AUDITOR, "Aude")
    service, key, out = bootstrap.audit_service(app), Ed25519PrivateKey.generate(), tmp_path / "log"
    first = write_publication(out, service.publish(auditor, key))
    size, root, leaves = read_log(out)
    assert first["old_size"] == 0 and first["size"] == size == len(leaves) > 0
    assert root_of([leaf_hash(x) for x in leaves]) == root
    assert note_signed_by((out / "checkpoint").read_text(), key.public_key())
    exported = _export(service, auditor)
    assert [leaf_hash(x).hex() for x in leaves] == [e["leaf_hash"] for e in exported]  # the leaves the trail hashes
    before = files(out)

    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    second = write_publication(out, service.publish(auditor, key, published=published_checkpoint(out)))
    after = files(out)
    size2, root2, leaves2 = read_log(out)
    assert second["old_size"] == size and size2 == second["size"] > size and leaves2[:size] == leaves
    assert root_of([leaf_hash(x) for x in leaves2]) == root2
    assert all(after[p] == data for p, data in before.items() if p != "checkpoint")  # nothing rewritten
    assert second["tiles_written"] == len(set(after) - set(before)) == len([t for t in tiles_of(size2)
                                                                           if t not in tiles_of(size)])
    app.close()


def _export(service, auditor):  # type: ignore[no-untyped-def]
    import io
    import json

    buf = io.StringIO()
    service.export(auditor, buf)
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_a_tail_cut_is_refused_and_nothing_is_published(durable_store_url: str, tmp_path: Path) -> None:
    from tests.integration.test_sealed_records import Store

    app = new_tracker(durable_store_url, FakeClock())
    cast = Cast.register(app)
    auditor = granted(app, Role.AUDITOR, "Aude")
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    service, key, out = bootstrap.audit_service(app), Ed25519PrivateKey.generate(), tmp_path / "log"
    write_publication(out, service.publish(auditor, key))
    before = files(out)
    app.close()
    store = Store(durable_store_url)
    for position, _ in store.rows()[-3:]:  # the operator cuts the log's tail and rebuilds the trail
        store.tamper("deleted", position, 0)
    app = new_tracker(durable_store_url, FakeClock())
    service = bootstrap.audit_service(app)
    service.trail.rebuild()
    with pytest.raises(HistoryRewritten, match="records at its end were removed"):
        service.publish(auditor, key, published=published_checkpoint(out))
    assert files(out) == before
    other = Ed25519PrivateKey.generate()  # another log's directory is not published into
    with pytest.raises(InvalidInput, match="another log"):
        service.publish(auditor, other, published=published_checkpoint(out))
    app.close()


def test_a_full_tile_is_never_rewritten(tmp_path: Path) -> None:
    """A run interrupted before its checkpoint left full tiles: the same bytes are kept; other bytes mean the
    history changed under them, and nothing more is written (the checkpoint stays the old one)."""
    from tests.interop.test_go_sumdb import publish, synthetic_records

    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    trail = bootstrap.audit_trail(app)
    trail.apply(list(synthetic_records(1, 600)))
    key, out = Ed25519PrivateKey.generate(), tmp_path / "log"
    publish(trail, key, out, 0)
    assert publish(trail, key, out, 0)["full_tiles_kept"] == 4  # tile/0/000, 001, entries/000, 001
    checkpoint = (out / "checkpoint").read_bytes()
    tile = out / "tile/0/001"
    tile.write_bytes(tile.read_bytes()[:-1] + b"\x00")
    with pytest.raises(HistoryRewritten, match="refusing to overwrite a full tile"):
        publish(trail, key, out, 0)
    assert (out / "checkpoint").read_bytes() == checkpoint
    app.close()


def test_the_cli_publishes_and_refuses_a_tail_cut_with_exit_1(tmp_path: Path) -> None:
    from tests.integration.test_sealed_records import Store

    db = tmp_path / "etrack.sqlite"
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    cast = Cast.register(app)
    auditor = f"auditor:{granted(app, Role.AUDITOR, 'Aude').party}"
    drive(app, cast, open_engagement(app, cast), "framing.coherence")
    app.close()
    etrack("audit", "keygen", "log.pem", cwd=tmp_path)
    tiles = ["--db", f"sqlite:///{db}", "audit", "tiles", "--as", auditor, "--key", "log.pem", "--out", "log"]
    done = etrack(*tiles, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tiles written" in done.stderr and done.stdout.startswith("etrack.local/audit-trail\n")
    vkey = etrack("audit", "vkey", "--key", "log.pem", cwd=tmp_path).stdout.strip()
    name, key_id, b64 = vkey.split("+", 2)  # the key's base64 may hold a "+" itself
    assert name == "etrack.local/audit-trail" and base64.b64decode(b64)[0] == 1
    assert key_id == hashlib.sha256(name.encode() + b"\n" + base64.b64decode(b64)).digest()[:4].hex()
    store = Store(f"sqlite:///{db}")
    store.tamper("deleted", store.rows()[-1][0], 0)
    assert etrack("--db", f"sqlite:///{db}", "projections", "rebuild", cwd=tmp_path).returncode == 0
    done = etrack(*tiles, cwd=tmp_path)
    assert done.returncode == 1 and "HistoryRewritten" in done.stderr and "Traceback" not in done.stderr
    done = etrack("--db", f"sqlite:///{db}", "audit", "tiles", "--as", auditor, "--key", "missing.pem", "--out", "x",
                  cwd=tmp_path)
    assert done.returncode == 2 and "cannot read the signing key" in done.stderr and not (tmp_path / "x").exists()
