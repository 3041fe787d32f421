"""The trail as a verifiable log: leaf bytes, C2SP signed-note checkpoints, offline bundles. Pure.

Leaf ``i`` of the Merkle tree (``projections/merkle.py``, RFC 9162) is the trail's ``i``-th entry
(0-based, in store order). Its bytes, so that anyone can write a verifier::

    leaf = 0x01                                  # the leaf format's version
         || i64(position) || str(aggregate_id) || i64(version) || str(topic)
         || str(state_sha256) || str(actor) || str(role) || str(recorded_at)

with ``i64(x)`` the 8-byte big-endian two's complement of ``x`` and ``str(s)`` the 2-byte
big-endian length of ``s``'s UTF-8 bytes followed by those bytes (an unknown actor, role or time
is the empty string); ``state_sha256`` is the 64-character lowercase hex digest of the state
bytes as stored. ``leaf_hash = SHA-256(0x00 || leaf)``.

A checkpoint is a C2SP signed note (c2sp.org/signed-note, c2sp.org/tlog-checkpoint)::

    <origin>\\n<tree size>\\n<base64 root hash>\\n\\n— <key name> <base64(key id || signature)>\\n

signed with Ed25519 over the body (the three lines, each ending in ``\\n``); the key id is the
first 4 bytes of ``SHA-256(key name || "\\n" || 0x01 || public key)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from engagement_tracker.projections.audit_chain import AuditEntry
from engagement_tracker.projections.merkle import leaf_hash, verify_inclusion

if TYPE_CHECKING:  # cryptography is imported where a key is used, not by a read that uses none (issue #28)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

LEAF_FORMAT = 1
ED25519 = 0x01  # signed-note signature type
COSIGNATURE = 0x04  # c2sp.org/tlog-cosignature
DEFAULT_ORIGIN = "etrack.local/audit-trail"
BUNDLE_FORMAT = "etrack-inclusion-bundle/v1"
LEAF_FIELDS = ("position", "aggregate_id", "version", "topic", "state_sha256", "actor", "role", "recorded_at")


def _text(value: object) -> bytes:
    data = ("" if value is None else str(value)).encode("utf-8", "surrogatepass")
    return struct.pack(">H", len(data)) + data


def leaf_bytes(position: int, aggregate_id: str, version: int, topic: str, state_sha256: str,
               actor: str | None, role: str | None, recorded_at: str | None) -> bytes:
    """The leaf of one trail entry (see the module docstring)."""
    return (_FORMAT + struct.pack(">q", position) + _text(aggregate_id) + struct.pack(">q", version)
            + _text(topic) + _text(state_sha256) + _text(actor) + _text(role) + _text(recorded_at))


_FORMAT = bytes([LEAF_FORMAT])


def entry_leaf_hash(e: AuditEntry) -> bytes:
    return leaf_hash(leaf_bytes(e.position, e.aggregate_id, e.version, e.topic, e.state_sha256, e.actor, e.role,
                                e.recorded_at))


def row_leaf_hashes(rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """Leaf hashes of entries as the trail's rows hold them (``audit_chain.EntryRow``): the projection's
    hot loop, :func:`leaf_bytes` and :func:`leaf_hash` written out (a property test checks they agree)."""
    sha256, q, h = hashlib.sha256, struct.Struct(">q").pack, struct.Struct(">H").pack
    for position, aggregate_id, _, version, topic, _, actor, role, recorded_at, digest, *_ in rows:
        a, t, d = aggregate_id.encode("utf-8", "surrogatepass"), topic.encode("utf-8", "surrogatepass"), digest.encode()
        w = actor.encode("utf-8", "surrogatepass") if actor else b""
        r = role.encode("utf-8", "surrogatepass") if role else b""
        at = recorded_at.encode("utf-8", "surrogatepass") if recorded_at else b""
        yield sha256(b"".join((b"\x00\x01", q(position), h(len(a)), a, q(version), h(len(t)), t, h(len(d)), d,
                               h(len(w)), w, h(len(r)), r, h(len(at)), at))).digest()


def fields_leaf_hash(fields: dict[str, Any]) -> bytes:
    """The leaf hash of an exported entry (a dict with :data:`LEAF_FIELDS`)."""
    return leaf_hash(leaf_bytes(*(fields[k] for k in LEAF_FIELDS)))


# --- signed notes ------------------------------------------------------------------------------


def ed25519_public_key(raw: bytes) -> Ed25519PublicKey:
    """The Ed25519 public key of 32 raw bytes (ValueError otherwise); ``cryptography`` is imported here,
    on first use, so that a read that checks no signature never loads it (issue #28)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(raw)


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, key: Ed25519PublicKey, kind: int = ED25519) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + raw_public_key(key)).digest()[:4]


def log_vkey(origin: str, key: Ed25519PublicKey) -> str:
    """The log's verifier key as c2sp.org/signed-note writes it (``<origin>+<key id hex>+<base64(0x01 ||
    public key)>``): what Go's ``note.NewVerifier`` and a tlog-policy ``log`` line take."""
    return f"{origin}+{key_id(origin, key).hex()}+{base64.b64encode(bytes([ED25519]) + raw_public_key(key)).decode()}"


def parse_log_vkey(text: str) -> tuple[str, Ed25519PublicKey]:
    """(origin, key) of a log's verifier key as :func:`log_vkey` writes it; ValueError when it is not one."""
    name, hex_id, b64 = text.strip().split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    if raw[:1] != bytes([ED25519]) or len(raw) != 33 or not name:
        raise ValueError("not an Ed25519 signed-note verifier key")
    key = ed25519_public_key(raw[1:])
    if key_id(name, key).hex() != hex_id:
        raise ValueError("its key id does not match its name and key")
    return name, key


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_note(body: str, key: Ed25519PrivateKey, name: str) -> str:
    """The signed note: the body, a blank line, one signature line."""
    signature = key.sign(body.encode())
    line = base64.b64encode(key_id(name, key.public_key()) + signature).decode()
    return f"{body}\n\u2014 {name} {line}\n"


class NoteError(ValueError):
    """Raised when a note is not a well-formed signed checkpoint."""


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(body, [(key name, signature bytes)...]) of a signed note."""
    body, sep, signatures = note.partition("\n\n")
    if not sep or not body:
        raise NoteError("a signed note needs a body, a blank line and signature lines")
    lines = []
    for line in signatures.split("\n"):
        if not line:
            continue
        dash, _, rest = line.partition(" ")
        name, _, b64 = rest.rpartition(" ")
        if dash != "\u2014" or not name:
            raise NoteError(f"not a signature line: {line!r}")
        try:
            lines.append((name, base64.b64decode(b64, validate=True)))
        except binascii.Error as exc:
            raise NoteError(f"a signature that is not base64: {exc}") from None
    return body + "\n", lines


def parse_checkpoint(body: str) -> tuple[str, int, bytes]:
    """(origin, size, root hash) of a checkpoint's body."""
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint's body is origin, size and root hash, one a line")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin or not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise NoteError(f"bad origin or size line: {origin!r}, {size_text!r}")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise NoteError(f"the root hash {root_text!r} is not base64") from None
    if len(root) != 32:
        raise NoteError("the root hash is not 32 bytes")
    return origin, int(size_text), root


def note_signed_by(note: str, key: Ed25519PublicKey, name: str | None = None) -> bool:
    """Whether one signature line of the note is ``key``'s valid Ed25519 signature over its body."""
    from cryptography.exceptions import InvalidSignature

    try:
        body, signatures = split_note(note)
    except NoteError:
        return False
    for signer, data in signatures:
        if (name is None or signer == name) and len(data) == 68 and data[:4] == key_id(signer, key):
            try:
                key.verify(data[4:], body.encode())
                return True
            except InvalidSignature:
                continue
    return False


# --- bundles -----------------------------------------------------------------------------------


def check_bundle(bundle: dict[str, Any], trusted: Ed25519PublicKey) -> list[str]:
    """Every reason the bundle does not hold (empty when it holds): no database needed.

    The checkpoint must be signed by ``trusted``; every entry's fields must hash to its
    ``leaf_hash``, and its ``inclusion_proof`` must lead from that leaf at ``index`` to the signed
    root; the entries must be one aggregate's versions 1, 2, 3... in order.
    """
    problems: list[str] = []
    try:
        note = str(bundle["checkpoint"]["note"])
        body, _ = split_note(note)
        _, size, root = parse_checkpoint(body)
        entries: Sequence[dict[str, Any]] = bundle["entries"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TypeError("`entries` is not a list of entries")
    except (KeyError, TypeError, NoteError) as exc:
        return [f"not a bundle as `etrack audit prove` writes it: {exc}"]
    if not entries:
        return ["the bundle proves no record"]
    if not note_signed_by(note, trusted):
        problems.append("the checkpoint is not signed by the trusted key")
    for n, e in enumerate(entries):
        try:
            fields_hash = fields_leaf_hash(e)
            proof = [bytes.fromhex(p) for p in e["inclusion_proof"]]
            index, claimed = int(e["index"]), bytes.fromhex(e["leaf_hash"])
        except (KeyError, TypeError, ValueError, AttributeError, struct.error) as exc:
            problems.append(f"entry {n}: malformed: {exc}")
            continue
        where = f"entry {n} (index {index}, position {e.get('position')})"
        if fields_hash != claimed:
            problems.append(f"{where}: its fields do not hash to its leaf_hash")
        elif not verify_inclusion(index, size, claimed, proof, root):
            problems.append(f"{where}: its inclusion proof does not lead to the signed root")
        if e.get("aggregate_id") != bundle.get("aggregate_id") or e.get("version") != n + 1:
            problems.append(f"{where}: expected version {n + 1} of {bundle.get('aggregate_id')}")
        problems.extend(f"{where}: {p}" for p in _state_problems(e))
    for part in ("grants", "budget"):  # a release bundle's access history (who could) and budget, proven alike
        inner = bundle.get(part)
        if isinstance(inner, dict):
            problems.extend(f"{part}: {p}" for p in check_bundle(inner, trusted))
    return problems


#: A released record's fields that its stored state (plain JSON) must hold as the bundle states them.
RELEASE_STATE_FIELDS = ("release", "answer", "family", "privacy", "by", "unit", "period", "since", "until", "level", "k",
                        "epsilon", "rho", "delta", "mechanism", "threshold", "rows", "rows_sha256")


def _state_problems(entry: dict[str, Any]) -> list[str]:
    """A bundle entry's stored ``state`` (base64, when given) must hash to its ``state_sha256``, and the
    release fields it states (``release``, when given) must be those the state holds (when the state is
    plain JSON; encrypted or compressed states prove their digest only)."""
    if "state" not in entry:
        return []
    try:
        state = base64.b64decode(str(entry["state"]), validate=True)
    except (binascii.Error, ValueError):
        return ["its state is not base64"]
    if hashlib.sha256(state).hexdigest() != entry.get("state_sha256"):
        return ["its stored state does not hash to its state_sha256"]
    stated = entry.get("release")
    if not isinstance(stated, dict):
        return []
    try:
        held = json.loads(state)
    except (UnicodeDecodeError, ValueError):
        return []  # an encrypted or compressed state: its digest is what the leaf proves
    differ = [name for name in RELEASE_STATE_FIELDS if held.get(name) != stated.get(name)]
    return [f"the release it states differs from the stored record in {', '.join(differ)}"] if differ else []


# --- c2sp.org/tlog-proof: one record's offline proof, in the standard's text form ----------------

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"


@attrs.frozen
class TlogProof:
    """A tlog-proof: the leaf's bytes (carried as its ``extra`` data: the verifier hashes them into the
    leaf), its index, the inclusion proof (leaf's sibling first) and the checkpoint note, verbatim."""

    extra: bytes | None
    index: int
    proof: tuple[bytes, ...]
    note: str

    def text(self) -> str:
        lines = [TLOG_PROOF_HEADER]
        if self.extra is not None:
            lines.append(f"extra {base64.b64encode(self.extra).decode()}")
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(p).decode() for p in self.proof]
        return "\n".join(lines) + "\n\n" + self.note


def parse_tlog_proof(text: str) -> TlogProof:
    """A tlog-proof's parts (ValueError saying what is malformed)."""
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != TLOG_PROOF_HEADER:
        raise ValueError(f"a tlog-proof starts with {TLOG_PROOF_HEADER!r}, then index and proof lines, an empty "
                         "line and the checkpoint")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = base64.b64decode(rest.pop(0).removeprefix("extra "), validate=True)
    if not rest or not rest[0].startswith("index "):
        raise ValueError("no `index <n>` line")
    index_text = rest.pop(0).removeprefix("index ")
    if not index_text.isdigit() or (index_text != "0" and index_text.startswith("0")):
        raise ValueError(f"the index {index_text!r} is not a decimal without leading zeros")
    proof = tuple(base64.b64decode(line, validate=True) for line in rest)
    if any(len(p) != 32 for p in proof):
        raise ValueError("a proof line is not one SHA-256 hash")
    return TlogProof(extra, int(index_text), proof, note)


def leaf_fields(leaf: bytes) -> dict[str, Any]:
    """The entry fields a leaf's bytes encode (the inverse of :func:`leaf_bytes`; ValueError otherwise)."""
    if leaf[:1] != _FORMAT:
        raise ValueError(f"not a leaf of format {LEAF_FORMAT}")
    at, values = 1, []
    for kind in ("q", "s", "q", "s", "s", "s", "s", "s"):
        if kind == "q":
            (value,) = struct.unpack(">q", leaf[at:at + 8])
            at += 8
        else:
            (n,) = struct.unpack(">H", leaf[at:at + 2])
            if len(leaf) < at + 2 + n:
                raise ValueError("a truncated leaf")
            value = leaf[at + 2:at + 2 + n].decode("utf-8", "surrogatepass")
            at += 2 + n
        values.append(value)
    if at != len(leaf):
        raise ValueError("bytes after the leaf's fields")
    fields = dict(zip(LEAF_FIELDS, values, strict=True))
    for k in ("actor", "role", "recorded_at"):
        fields[k] = fields[k] or None
    return fields


def tlog_proofs(bundle: dict[str, Any]) -> list[TlogProof]:
    """Each record of a bundle (``audit prove``) as a tlog-proof, its leaf bytes as the extra data."""
    note = str(bundle["checkpoint"]["note"])
    return [TlogProof(leaf_bytes(*(e[k] for k in LEAF_FIELDS)), int(e["index"]),
                      tuple(bytes.fromhex(p) for p in e["inclusion_proof"]), note) for e in bundle["entries"]]


def check_tlog_proof(text: str, trusted: Ed25519PublicKey) -> tuple[list[str], dict[str, Any] | None]:
    """(every reason the proof does not hold, the record's fields read from its leaf): the checkpoint is
    signed by ``trusted``, the leaf (the extra data) hashes into the signed root at its index."""
    try:
        p = parse_tlog_proof(text)
        _, size, root = parse_checkpoint(split_note(p.note)[0])
        if p.extra is None:
            raise ValueError("no extra line: an etrack tlog-proof carries its leaf's bytes there")
        fields = leaf_fields(p.extra)
    except (ValueError, binascii.Error, struct.error, NoteError) as exc:
        return [f"not a tlog-proof as `etrack audit prove --format tlog-proof` writes it: {exc}"], None
    problems = []
    if not note_signed_by(p.note, trusted):
        problems.append("the checkpoint is not signed by the trusted key")
    if not verify_inclusion(p.index, size, leaf_hash(p.extra), list(p.proof), root):
        problems.append(f"index {p.index}: the inclusion proof does not lead from the leaf to the signed root")
    return problems, {**fields, "index": p.index, "size": size}
