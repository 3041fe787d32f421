"""Auditors' keys, from files and the environment; and the 0.1.0 entry points to the audit trail.

The trail, its verification and the auditors' service are in ``projections/audit_trail.py``;
``adapters/bootstrap.py`` hands them their view and their reader of the store. What stays here
is what touches files and the environment: signing keys (Ed25519, PEM or hex), trusted public
keys and checkpoint files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engagement_tracker.adapters.bootstrap import audit_service, audit_trail
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.projections.audit_proofs import note_fields
from engagement_tracker.projections.audit_trail import PUBLIC_KEY_ENV

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


def write_text(path: str | Path, text: str) -> None:
    """Write a file whole or not at all (a temporary file beside it, then renamed over it)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InvalidInput("out", f"cannot write {path}: {exc.strerror}") from None
