"""Witnesses: cosign a log's checkpoint only when it extends what was cosigned before. Pure.

A witness keeps, per log (its origin), the log's public key and the last size and root it
cosigned. Shown a new checkpoint, it checks the log's signature, then a consistency proof (RFC
9162 §2.1.4) from its last size; a smaller size, another root at the same size, or a proof that
fails is a rewritten history (:class:`HistoryRewritten`), and nothing is cosigned. Its
cosignature is a C2SP tlog-cosignature/v1 line (c2sp.org/tlog-cosignature)::

    — <witness name> base64(key id || 8-byte big-endian time || Ed25519 signature)

over ``"cosignature/v1\\ntime <time>\\n" + checkpoint body``, the key id being the first 4 bytes of
``SHA-256(name || "\\n" || 0x04 || public key)``. A witness's verifier key is written
``<name>+<key id hex>+<base64(0x04 || public key)>`` (a C2SP vkey).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from engagement_tracker.domain.errors import HistoryRewritten, InconsistentCheckpoint, InvalidInput, WitnessRefusal
from engagement_tracker.projections.audit_log import (
    COSIGNATURE,
    NoteError,
    ed25519_public_key,
    key_id,
    note_signed_by,
    parse_checkpoint,
    raw_public_key,
    split_note,
)
from engagement_tracker.projections.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency

if TYPE_CHECKING:  # cryptography is imported where a key is used, not by a read that uses none (issue #28)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

STATE_FORMAT = "etrack-witness-state/v1"


def vkey(name: str, key: Ed25519PublicKey) -> str:
    """The witness's verifier key, as auditors pass it to ``audit verify --witness-key``."""
    encoded = base64.b64encode(bytes([COSIGNATURE]) + raw_public_key(key)).decode()
    return f"{name}+{key_id(name, key, COSIGNATURE).hex()}+{encoded}"


def parse_vkey(text: str) -> tuple[str, Ed25519PublicKey]:
    try:
        name, hex_id, b64 = text.strip().split("+", 2)  # a name has no "+"; base64 may
        raw = base64.b64decode(b64, validate=True)
        key = ed25519_public_key(raw[1:])
    except (ValueError, binascii.Error):
        raise InvalidInput("witness_key", f"{text.strip()!r} is not a witness key (NAME+KEYID+BASE64)") from None
    if raw[:1] != bytes([COSIGNATURE]) or key_id(name, key, COSIGNATURE).hex() != hex_id or not name:
        raise InvalidInput("witness_key", f"{text.strip()!r}: its key id or type does not match its key")
    return name, key


def cosignature_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def new_state(name: str, key: Ed25519PublicKey) -> dict[str, Any]:
    return {"format": STATE_FORMAT, "name": name, "public_key": raw_public_key(key).hex(), "logs": {}}


def cosign(
    state: dict[str, Any],
    note: str,
    witness: Ed25519PrivateKey,
    timestamp: int,
    proof: Sequence[bytes] = (),
    log_key: Ed25519PublicKey | None = None,
) -> tuple[dict[str, Any], str]:
    """(the new state, the note with this witness's cosignature added), or HistoryRewritten.

    ``log_key`` pins the log's key the first time its origin is seen; after that the pinned key
    is used (a different one is refused)."""
    name = str(state.get("name", ""))
    if raw_public_key(witness.public_key()).hex() != state.get("public_key"):
        raise InvalidInput("key", "this witness key is not the one its state was made for")
    try:
        body, _ = split_note(note)
        origin, size, root = parse_checkpoint(body)
    except NoteError as exc:
        raise InvalidInput("checkpoint", f"not a signed checkpoint: {exc}") from None
    logs: dict[str, Any] = dict(state.get("logs", {}))
    known = logs.get(origin)
    pinned = ed25519_public_key(bytes.fromhex(known["public_key"])) if known else log_key
    if pinned is None:
        raise InvalidInput("log_key", f"the witness has not seen the log {origin!r}: give its public key once")
    if known and log_key is not None and raw_public_key(log_key) != raw_public_key(pinned):
        raise InvalidInput("log_key", f"the log {origin!r} is pinned to another key")
    if not note_signed_by(note, pinned):
        raise InvalidInput("checkpoint", f"the checkpoint is not signed by the log {origin!r}'s key")
    if known:
        old_size, old_root = int(known["size"]), bytes.fromhex(known["root_hash"])
        if size < old_size:
            raise HistoryRewritten(f"{origin}: the checkpoint's tree has {size} entries; this witness cosigned "
                                   f"{old_size} already: a log never shrinks")
        if size == old_size and root != old_root:
            raise HistoryRewritten(f"{origin}: another root for the tree of {size} entries this witness cosigned "
                                   "(a split view)")
        if size > old_size > 0 and not verify_consistency(old_size, size, old_root, root, list(proof)):
            raise HistoryRewritten(f"{origin}: the tree of {size} entries does not extend the tree of {old_size} "
                                   "this witness cosigned (its consistency proof fails): the history was rewritten")
    logs[origin] = {"public_key": raw_public_key(pinned).hex(), "size": size, "root_hash": root.hex(),
                    "time": timestamp}
    signature = witness.sign(cosignature_message(body, timestamp))
    line = key_id(name, witness.public_key(), COSIGNATURE) + struct.pack(">Q", timestamp) + signature
    cosigned = note.rstrip("\n") + f"\n\u2014 {name} {base64.b64encode(line).decode()}\n"
    return {**state, "logs": logs}, cosigned


def cosigned_by(note: str, name: str, key: Ed25519PublicKey) -> bool:
    """Whether the note carries a valid cosignature of the witness ``name`` with ``key``."""
    from cryptography.exceptions import InvalidSignature

    try:
        body, signatures = split_note(note)
    except NoteError:
        return False
    kid = key_id(name, key, COSIGNATURE)
    for signer, data in signatures:
        if signer == name and len(data) == 76 and data[:4] == kid:
            (timestamp,) = struct.unpack(">Q", data[4:12])
            try:
                key.verify(data[12:], cosignature_message(body, timestamp))
                return True
            except InvalidSignature:
                continue
    return False


# --- c2sp.org/tlog-witness: add-checkpoint, as a pure function (the CLI now, HTTP later) ------------

MAX_PROOF_LINES = 63
CONTENT_TYPE_SIZE = "text/x.tlog.size"  # the body of a 409: the latest cosigned size and a newline


@attrs.frozen
class AddCheckpoint:
    """An ``add-checkpoint`` request: the size the log believes the witness last cosigned, the consistency
    proof from it, and the checkpoint (a signed note, possibly with other cosignatures)."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def body(self) -> str:
        """The request body as the protocol sends it."""
        lines = [f"old {self.old_size}", *(base64.b64encode(p).decode() for p in self.proof)]
        return "\n".join(lines) + "\n\n" + self.note


def parse_add_checkpoint(body: bytes | str) -> AddCheckpoint:
    """The request, or WitnessRefusal(400) saying what is malformed."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise WitnessRefusal(400, "the request is not UTF-8 text") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise WitnessRefusal(400, "expected an `old <size>` line, the proof lines, an empty line, then the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    size_text = first.removeprefix("old ")
    if first == size_text or not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise WitnessRefusal(400, f"the first line must be `old <size>` (a decimal without leading zeros), "
                             f"got {first!r}")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessRefusal(400, f"{len(lines) - 1} consistency proof lines; at most {MAX_PROOF_LINES}")
    proof = []
    for n, line in enumerate(lines[1:], 1):
        try:
            h = base64.b64decode(line, validate=True)
        except binascii.Error:
            h = b""
        if len(h) != HASH_SIZE:
            raise WitnessRefusal(400, f"proof line {n} is not one base64 SHA-256 hash: {line[:60]!r}")
        proof.append(h)
    return AddCheckpoint(int(size_text), tuple(proof), note)


def add_log(state: dict[str, Any], origin: str, key: Ed25519PublicKey) -> dict[str, Any]:
    """The state with the log ``origin`` (signed by ``key``) known, at size 0 until its first checkpoint.
    A log already known keeps what was cosigned; another key for it is refused."""
    logs = dict(state.get("logs", {}))
    known = logs.get(origin)
    if known is not None:
        if known["public_key"] != raw_public_key(key).hex():
            raise InvalidInput("log_key", f"the log {origin!r} is known with another key")
        return state
    logs[origin] = {"public_key": raw_public_key(key).hex(), "size": 0, "root_hash": EMPTY_ROOT.hex(), "time": 0}
    return {**state, "logs": logs}


def add_checkpoint(state: dict[str, Any], request: AddCheckpoint, witness: Ed25519PrivateKey,
                   timestamp: int) -> tuple[dict[str, Any], str]:
    """(the new state, the response body: this witness's cosignature line) as c2sp.org/tlog-witness's
    ``add-checkpoint`` answers; a refusal is a WitnessRefusal with the protocol's status (403 not signed
    by the log's key, 404 an unknown log, 400 an old size above the checkpoint's, 409 an old size that is
    not the last cosigned one, 422 (InconsistentCheckpoint) a fork, a rollback or a failing proof). The
    caller persists the new state before it answers, atomically with reading the old one."""
    name = str(state.get("name", ""))
    if raw_public_key(witness.public_key()).hex() != state.get("public_key"):
        raise InvalidInput("key", "this witness key is not the one its state was made for")
    if timestamp <= 0:
        raise InvalidInput("timestamp", "a cosignature's time is a POSIX time above 0")
    try:
        body, signatures = split_note(request.note)
        origin, size, root = parse_checkpoint(body)
    except NoteError as exc:
        raise WitnessRefusal(400, f"not a signed checkpoint: {exc}") from None
    known = state.get("logs", {}).get(origin)
    if known is None:
        raise WitnessRefusal(404, f"this witness does not know the log {origin!r}")
    log_key = ed25519_public_key(bytes.fromhex(known["public_key"]))
    kid = key_id(origin, log_key)
    ours = [data for signer, data in signatures if signer == origin and data[:4] == kid]
    if not ours:
        raise WitnessRefusal(403, f"the checkpoint carries no signature of the log {origin!r}'s key")
    if not all(note_signed_by(f"{body}\n\u2014 {origin} {base64.b64encode(d).decode()}\n", log_key, origin)
               for d in ours):
        raise WitnessRefusal(403, f"a signature of the log {origin!r}'s key does not verify: the note is malformed")
    old_size, old_root = int(known["size"]), bytes.fromhex(known["root_hash"])
    if request.old_size > size:
        raise WitnessRefusal(400, f"the old size {request.old_size} is above the checkpoint's size {size}")
    if request.old_size != old_size:
        raise WitnessRefusal(409, f"{origin}: this witness last cosigned the tree of {old_size} entries, not "
                             f"{request.old_size}: send the proof from {old_size}", latest_size=old_size)
    if size == 0 and root != EMPTY_ROOT:
        raise InconsistentCheckpoint(f"{origin}: a tree of 0 entries has the empty tree's root")
    if old_size == 0 and request.proof:
        raise InconsistentCheckpoint(f"{origin}: a proof from the empty tree must be empty")
    if old_size and size == old_size and (root != old_root or request.proof):
        raise InconsistentCheckpoint(f"{origin}: another root for the tree of {size} entries this witness "
                                     "cosigned (a fork: a split view)")
    if old_size and size > old_size and not verify_consistency(old_size, size, old_root, root, request.proof):
        raise InconsistentCheckpoint(f"{origin}: the tree of {size} entries does not extend the tree of {old_size} "
                                     "this witness cosigned (its consistency proof fails): the history was "
                                     "rewritten")
    line = key_id(name, witness.public_key(), COSIGNATURE) + struct.pack(">Q", timestamp) + witness.sign(
        cosignature_message(body, timestamp))
    response = f"\u2014 {name} {base64.b64encode(line).decode()}\n"
    logs = dict(state["logs"])
    # the cosigned checkpoint, as a monitor asks for it (GET <prefix>/<origin hash>/checkpoint)
    logs[origin] = {**known, "size": size, "root_hash": root.hex(), "time": timestamp,
                    "checkpoint": attach(request.note, response)}
    return {**state, "logs": logs}, response


def attach(note: str, response: str) -> str:
    """The checkpoint with the cosignature lines of a witness's response added (as a log keeps it)."""
    return note.rstrip("\n") + "\n" + "".join(line + "\n" for line in response.splitlines() if line)


def answer(state: dict[str, Any], body: bytes | str, witness: Ed25519PrivateKey,
           timestamp: int) -> tuple[dict[str, Any], int, str, str]:
    """add-checkpoint as a request/response: (the state to persist, the HTTP status, the content type,
    the body). 200 with the cosignature line; 409 with the latest cosigned size (``text/x.tlog.size``);
    any other refusal with its reason, and the state unchanged."""
    try:
        new, response = add_checkpoint(state, parse_add_checkpoint(body), witness, timestamp)
    except WitnessRefusal as exc:
        if exc.latest_size is not None:
            return state, exc.status, CONTENT_TYPE_SIZE, f"{exc.latest_size}\n"
        return state, exc.status, "text/plain; charset=utf-8", f"{exc}\n"
    return new, 200, "text/plain; charset=utf-8", response


def witnessed_checkpoint(state: dict[str, Any], origin_hash: str) -> str | None:
    """The latest checkpoint cosigned for the log whose origin's SHA-256 is ``origin_hash`` (lowercase hex),
    with the log's signature and this witness's cosignature, as c2sp.org/tlog-witness's monitoring
    ``GET <prefix>/<origin hash>/checkpoint`` serves it; None when it never cosigned one (404)."""
    for origin, log in state.get("logs", {}).items():
        if hashlib.sha256(origin.encode()).hexdigest() == origin_hash and log.get("checkpoint"):
            return str(log["checkpoint"])
    return None
