"""Trust policies as c2sp.org/tlog-policy writes them: which logs, which witnesses, and the quorum of
cosignatures a checkpoint needs (k of n, nested in groups). Pure.

::

    log <vkey> [<url>]                     # a log's signed-note verifier key (type 0x01), named by its origin
    witness <name> <vkey> [<url>]          # a witness's cosignature verifier key (type 0x04)
    group <name> all|any|<k> <name>...     # k of its members (witnesses or earlier groups) witnessed
    quorum <name>|none                     # exactly one: what a checkpoint needs

Lines may be indented; ``#`` starts a comment line; names are defined before they are used, each
member listed at most once per group, no key twice.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.projections.audit_log import parse_log_vkey, raw_public_key
from engagement_tracker.projections.witness import cosigned_by, parse_vkey

if TYPE_CHECKING:  # cryptography is imported where a key is used, not by a read that uses none (issue #28)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

NONE = "none"
MAX_ENTRIES = 256


@attrs.frozen
class Group:
    threshold: int
    members: tuple[str, ...]


@attrs.frozen
class Policy:
    logs: tuple[tuple[str, Ed25519PublicKey], ...]  # (origin, key)
    witnesses: dict[str, tuple[str, Ed25519PublicKey]]  # policy name -> (key name, key)
    groups: dict[str, Group]
    quorum: str
    #: Where each witness (policy name) answers c2sp.org/tlog-witness requests, when its line gives a URL.
    witness_urls: dict[str, str] = attrs.field(factory=dict)

    def log_key(self, origin: str) -> Ed25519PublicKey | None:
        """The key the policy trusts for the log ``origin`` (None when it lists none)."""
        return next((key for name, key in self.logs if name == origin), None)

    def cosigners(self, note: str) -> list[str]:
        """The policy names of the witnesses whose valid cosignature the note carries."""
        return [name for name, (key_name, key) in self.witnesses.items() if cosigned_by(note, key_name, key)]

    def satisfied(self, witnessed: Iterable[str]) -> bool:
        """Whether the witnesses named (policy names) meet the quorum."""
        done = set(witnessed)
        return self.quorum == NONE or self._witnessed(self.quorum, done)

    def _witnessed(self, name: str, done: set[str]) -> bool:
        group = self.groups.get(name)
        if group is None:
            return name in done
        return sum(self._witnessed(m, done) for m in group.members) >= group.threshold


def parse_policy(text: str) -> Policy:
    """The policy, or InvalidInput naming the line and what it should be."""
    logs: list[tuple[str, Ed25519PublicKey]] = []
    witnesses: dict[str, tuple[str, Ed25519PublicKey]] = {}
    urls: dict[str, str] = {}
    groups: dict[str, Group] = {}
    quorum: str | None = None
    keys: set[bytes] = set()

    def refuse(n: int, problem: str) -> InvalidInput:
        return InvalidInput("policy", f"line {n}: {problem} (c2sp.org/tlog-policy)")

    for n, raw in enumerate(text.split("\n"), 1):
        if any(c in raw for c in "\r\x0b\x0c") or any(ord(c) < 0x20 and c != "\t" for c in raw):
            raise refuse(n, "a control character other than tab")
        words = raw.replace("\t", " ").split()
        if not words or words[0].startswith("#"):
            continue
        kind, args = words[0], words[1:]
        if len(logs) + len(witnesses) + len(groups) > MAX_ENTRIES:
            raise refuse(n, f"more than {MAX_ENTRIES} logs, witnesses and groups")
        if kind == "log":
            if len(args) not in (1, 2):
                raise refuse(n, "expected `log <vkey> [<url>]`")
            try:
                origin, key = parse_log_vkey(args[0])
            except (ValueError, binascii.Error) as exc:
                raise refuse(n, f"not a log's verifier key (ORIGIN+KEYID+BASE64 of type 0x01): {exc}") from None
            if raw_public_key(key) in keys:
                raise refuse(n, "a key listed twice")
            keys.add(raw_public_key(key))
            logs.append((origin, key))
        elif kind == "witness":
            if len(args) not in (2, 3):
                raise refuse(n, "expected `witness <name> <vkey> [<url>]`")
            name = args[0]
            if name == NONE or name in witnesses or name in groups:
                raise refuse(n, f"the name {name!r} is taken")
            try:
                key_name, key = parse_vkey(args[1])
            except InvalidInput as exc:
                raise refuse(n, exc.problem) from None
            if raw_public_key(key) in keys:
                raise refuse(n, "a key listed twice")
            keys.add(raw_public_key(key))
            witnesses[name] = (key_name, key)
            if len(args) == 3:
                if not args[2].startswith(("https://", "http://")):
                    raise refuse(n, f"the witness URL {args[2]!r} is not an http(s) URL (its add-checkpoint prefix)")
                urls[name] = args[2]
        elif kind == "group":
            if len(args) < 3:
                raise refuse(n, "expected `group <name> all|any|<k> <member>...`")
            name, k, members = args[0], args[1], args[2:]
            if name == NONE or name in witnesses or name in groups:
                raise refuse(n, f"the name {name!r} is taken")
            unknown = [m for m in members if m not in witnesses and m not in groups]
            if unknown:
                raise refuse(n, f"{unknown[0]!r} is not a witness or group defined above")
            if len(set(members)) != len(members):
                raise refuse(n, "a member listed twice")
            if k in ("all", "any"):
                threshold = len(members) if k == "all" else 1
            elif k.isdigit() and not k.startswith("0") and 1 <= int(k) <= len(members):
                threshold = int(k)
            else:
                raise refuse(n, f"the threshold {k!r} is not all, any, or a number from 1 to {len(members)}")
            groups[name] = Group(threshold, tuple(members))
        elif kind == "quorum":
            if len(args) != 1:
                raise refuse(n, "expected `quorum <name>`")
            if quorum is not None:
                raise refuse(n, "a second quorum line")
            if args[0] != NONE and args[0] not in witnesses and args[0] not in groups:
                raise refuse(n, f"{args[0]!r} is not a witness or group defined above (or none)")
            quorum = args[0]
        else:
            raise refuse(n, f"unknown line {kind!r}: expected log, witness, group or quorum")
    if quorum is None:
        raise InvalidInput("policy", "no quorum line: a policy says which cosignatures it needs (`quorum none` "
                           "for none)")
    return Policy(tuple(logs), witnesses, groups, quorum, urls)
