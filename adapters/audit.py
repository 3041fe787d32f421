"""Auditors' keys, from files and the environment; and the 0.1.0 entry points to the audit trail.

The trail, its verification and the auditors' service are in ``projections/audit_trail.py``;
``adapters/bootstrap.py`` hands them their view and their reader of the store. What stays here
is what touches files and the environment: signing keys (Ed25519, PEM or hex), trusted public
keys and checkpoint files.
"""

from __future__ import annotations

import binascii
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engagement_tracker.adapters.bootstrap import audit_service, audit_trail
from engagement_tracker.adapters.files import write_out
from engagement_tracker.domain.errors import HistoryRewritten, InvalidInput
from engagement_tracker.projections.audit_log import TLOG_PROOF_HEADER, parse_log_vkey
from engagement_tracker.projections.audit_proofs import note_fields
from engagement_tracker.projections.audit_trail import PUBLIC_KEY_ENV, Publication
from engagement_tracker.projections.witness import STATE_FORMAT, new_state, parse_vkey, vkey
from engagement_tracker.projections.witness_policy import Policy, parse_policy

SIGNING_KEY_ENV = "ETRACK_AUDIT_SIGNING_KEY"

#: The 0.1.0 names: ``AuditService(app)`` and ``AuditTrail(app)`` build, from an opened tracker,
#: what bootstrap's factories build (the service and the projection, on the app's backend).
AuditService = audit_service
AuditTrail = audit_trail


def generate_signing_key(path: str | Path) -> Ed25519PublicKey:
    """Write a new Ed25519 private key (PEM, mode 0600) to ``path``; returns its public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    p = Path(path)
    if p.exists():
        raise InvalidInput("key", f"{p} exists already; refusing to overwrite a signing key")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key.public_key()


def load_signing_key(path: str | Path | None = None) -> Ed25519PrivateKey:
    """The signing key from a PEM file, else ETRACK_AUDIT_SIGNING_KEY (PEM text or 64 hex characters)."""
    raw: bytes
    if path is not None:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise InvalidInput("key", f"cannot read the signing key {path}: {exc.strerror}") from None
    elif os.environ.get(SIGNING_KEY_ENV):
        raw = os.environ[SIGNING_KEY_ENV].encode()
    else:
        raise InvalidInput("key", f"no signing key: pass --key FILE or set {SIGNING_KEY_ENV}")
    try:
        text = raw.strip()
        if len(text) == 64 and all(c in b"0123456789abcdefABCDEF" for c in text):
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text.decode()))
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("key", f"not an Ed25519 private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput("key", "not an Ed25519 private key")
    return key


def load_public_key(value: str | None = None) -> Ed25519PublicKey | None:
    """A trusted public key: 64 hex characters, or a file holding them (else ETRACK_AUDIT_PUBLIC_KEY)."""
    value = value or os.environ.get(PUBLIC_KEY_ENV)
    if not value:
        return None
    try:
        text = Path(value).read_text().strip() if Path(value).is_file() else value.strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("public_key", f"cannot read {value}: {exc}") from None
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except ValueError as exc:
        raise InvalidInput("public_key", f"expected 64 hex characters (an Ed25519 public key): {exc}") from None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint file: a C2SP signed note (text), or JSON as ``--format json`` or 0.1.0 wrote it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("checkpoint", f"cannot read {path}: {exc}") from None
    if not text.lstrip().startswith("{"):
        checkpoint = {"note": text}
        note_fields(checkpoint)  # refused here when it is not a signed checkpoint
        return checkpoint
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput("checkpoint", f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not ({"head_hash", "position"} <= data.keys() or "note" in data):
        raise InvalidInput("checkpoint", f"{path} is not an etrack checkpoint")
    return data


def read_json(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON document (a bundle, a proof) from a file, or a typed refusal."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(what, f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(what, f"{path} is not a JSON object")
    return data


def read_tlog_proofs(path: str | Path) -> list[tuple[str, str]] | None:
    """(name, text) of each c2sp.org/tlog-proof at ``path`` (a file, or a directory of ``*.tlog-proof``), or
    None when ``path`` is a file that is not one (a JSON bundle)."""
    p = Path(path)
    try:
        if p.is_dir():
            files = sorted(p.glob("*.tlog-proof"), key=lambda f: (len(f.name), f.name))
            if not files:
                raise InvalidInput("bundle", f"{p} holds no .tlog-proof file")
            return [(f.name, f.read_text(encoding="utf-8")) for f in files]
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("bundle", f"cannot read {path}: {exc}") from None
    return [(p.name, text)] if text.startswith(TLOG_PROOF_HEADER) else None


def read_export(path: str | Path) -> Iterator[dict[str, Any]]:
    """The entries of a kept ``etrack audit export`` (JSON Lines), read one at a time."""
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed when the generator ends
    except OSError as exc:
        raise InvalidInput("against", f"cannot read {path}: {exc.strerror}") from None
    return _lines(fh, path)


def _lines(fh: IO[str], path: str | Path) -> Iterator[dict[str, Any]]:
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput("against", f"{path} line {n} is not JSON: {exc}") from None
            if not isinstance(entry, dict):
                raise InvalidInput("against", f"{path} line {n} is not an exported entry")
            yield entry


def write_text(path: str | Path, text: str) -> None:
    """Write a file whole or not at all (``adapters/files.py``)."""
    write_out(path, text)


# --- witnesses: their key and their state, in files kept by whoever runs the witness ------------


def init_witness(key_path: str | Path, state_path: str | Path, name: str) -> str:
    """A new witness: its Ed25519 key (PEM, 0600) and its empty state; returns its verifier key."""
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise InvalidInput("name", f"{name!r}: a witness name is printable text without spaces or '+'")
    if Path(state_path).exists():
        raise InvalidInput("state", f"{state_path} exists already; refusing to forget what this witness cosigned")
    public = generate_signing_key(key_path)
    write_text(state_path, json.dumps(new_state(name, public), indent=2) + "\n")
    return vkey(name, public)


def read_witness_state(path: str | Path) -> dict[str, Any]:
    state = read_json(path, "state")
    if state.get("format") != STATE_FORMAT or not isinstance(state.get("logs"), dict):
        raise InvalidInput("state", f"{path} is not a witness state (made by `etrack audit witness init`)")
    return state


@contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock beside ``path`` (``<path>.lock``): a witness reads its state, checks and
    writes it back under it, so two submissions never both pass against the same old size."""
    lock = Path(f"{path}.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise InvalidInput("state", f"cannot lock {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def load_log_key(value: str) -> tuple[str | None, Ed25519PublicKey]:
    """A log's key: its verifier key (ORIGIN+KEYID+BASE64, `etrack audit vkey`), or 64 hex characters,
    each given as such or as a file holding it; the origin when the verifier key names it."""
    try:
        text = Path(value).read_text().strip() if Path(value).is_file() else value.strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("log_key", f"cannot read {value}: {exc}") from None
    if "+" in text:
        try:
            return parse_log_vkey(text)
        except (ValueError, binascii.Error) as exc:
            raise InvalidInput("log_key", f"{text!r} is not a log's verifier key (ORIGIN+KEYID+BASE64): {exc}") from None
    key = load_public_key(text)
    if key is None:
        raise InvalidInput("log_key", "give the log's key")
    return None, key


def read_policy(path: str | Path) -> Policy:
    """A c2sp.org/tlog-policy file, parsed (InvalidInput naming the line otherwise)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("policy", f"cannot read {path}: {exc}") from None
    return parse_policy(text)


def load_witness_keys(values: Sequence[str]) -> list[tuple[str, Ed25519PublicKey]]:
    """Witness verifier keys (NAME+KEYID+BASE64), each given as such or as a file holding one."""
    keys = []
    for value in values:
        try:
            text = Path(value).read_text() if Path(value).is_file() else value
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput("witness_key", f"cannot read {value}: {exc}") from None
        keys.append(parse_vkey(text))
    return keys


# --- tlog-tiles: the trail published as files (c2sp.org/tlog-tiles) -----------------------------

CHECKPOINT_FILE = "checkpoint"


def published_checkpoint(out_dir: str | Path) -> str | None:
    """The checkpoint note a tiles directory publishes, or None for a new (or empty) directory."""
    path = Path(out_dir) / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("out", f"cannot read {path}: {exc}") from None


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file whole or not at all (``adapters/files.py``), its directory made first if need be."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput("out", f"cannot write {path}: {exc.strerror}") from None
    write_out(path, data)


def write_publication(out_dir: str | Path, publication: Publication) -> dict[str, Any]:
    """Write the tiles of a publication, then its checkpoint (last: a reader never sees a checkpoint
    whose tiles are missing). A full tile already there is never rewritten: one with the same bytes is
    kept (a run interrupted before its checkpoint), one with other bytes means the history changed
    under it and nothing more is written (HistoryRewritten). Returns what was written."""
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise InvalidInput("out", f"{root} is not a directory")
    written = kept = 0
    for tile, data in publication.contents:
        path = root / tile.path
        if tile.full and path.exists():
            if path.read_bytes() != data:
                raise HistoryRewritten(f"{path} holds other bytes than the trail's tile: the history it published "
                                       "was rewritten; refusing to overwrite a full tile")
            kept += 1
            continue
        write_bytes(path, data)
        written += 1
    note = str(publication.checkpoint["note"])
    write_bytes(root / CHECKPOINT_FILE, note.encode("utf-8"))
    return {"size": publication.checkpoint["size"], "old_size": publication.old_size, "tiles_written": written,
            "full_tiles_kept": kept, "checkpoint": str(root / CHECKPOINT_FILE)}
