"""Bearer tokens bound to recorded parties: issue, list, revoke, authenticate (``app.access.*``).

A token is ``etk_`` + 32 random bytes (URL-safe base64), shown once to the admin who issues it.
The access register records only the SHA-256 digest of the secret (``TokenIssued``), and its
revocation (``TokenRevoked``), so who could act, from when to when, is part of the access
history. A token only *identifies* a party: what that party may do is decided at each call by
the same gates as ever (grants held now, its place in the engagement or cohort).

Authenticating compares the digest with every recorded one in constant time; an unknown,
revoked or expired token, or one whose party was erased, is refused at once (NotAuthenticated),
and no message ever echoes the secret.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import attrs

from engagement_tracker.domain.access import (
    TokenReliance,
    grant_checked,
    note_register_version,
    rely_on_token,
    require_admin,
)
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.checks import MAX_NAME_CHARS, as_uuid, require_text
from engagement_tracker.domain.command_ids import CommandResult, derived_id
from engagement_tracker.domain.errors import InvalidInput, NotAuthenticated, NotFound, RuleViolation
from engagement_tracker.domain.grants import AccessRegister
from engagement_tracker.domain.values import Actor

PREFIX = "etk_"
#: ``etk_`` and 43 URL-safe base64 characters (32 bytes, unpadded).
TOKEN_FORM = re.compile(r"etk_[A-Za-z0-9_-]{43}")
#: The longest a token may be valid for (a token without expiry is valid until revoked).
MAX_LIFETIME = timedelta(days=3660)


def new_secret() -> str:
    """A fresh token: ``etk_`` + 32 bytes from the operating system's CSPRNG, URL-safe, unpadded."""
    return PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


def digest_of(secret: str) -> str:
    """The form a token is recorded in: SHA-256 of the secret, hex (the secret has 256 bits of entropy,
    so a plain hash is as strong as a slow one)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@attrs.frozen
class IssuedToken:
    """What ``issue_token`` returns: the token's id, its party, its expiry, and the secret, shown once
    (None when the command was already recorded: a lost secret is revoked and issued again)."""

    token: UUID
    party: UUID
    expires_at: datetime | None
    secret: str | None = attrs.field(repr=False)


def _require_admin(admin: object, action: str, path: CommandPath) -> Actor:
    return require_admin(admin, action, path.held_grants)


def _expiry(expires: object, now: datetime) -> datetime | None:
    if expires is None:
        return None
    if isinstance(expires, timedelta):
        if expires <= timedelta(0) or expires > MAX_LIFETIME:
            raise InvalidInput("expires", f"{expires}: expected a duration above zero and at most {MAX_LIFETIME.days} days")
        return now + expires
    if isinstance(expires, datetime) and expires.tzinfo is not None:
        return expires
    raise InvalidInput("expires", f"{expires!r}: expected a duration (timedelta) or a timezone-aware datetime")


@grant_checked
def issue_token(path: CommandPath, party_id: object, admin: Actor, expires: object = None, label: str | None = None,
                command_id: object = None) -> CommandResult[IssuedToken]:
    """An admin (granted now, and still at commit) issues a token identifying a registered party."""
    _require_admin(admin, "issue a token", path)
    pid = path.party(party_id).id
    if path.party(pid).erased:
        raise RuleViolation("issue token", "erased", [f"party {pid} was erased: it is issued no token"])
    if label is not None:
        label = require_text(label, "label", MAX_NAME_CHARS)
    expires_at = _expiry(expires, path.now())
    cid = path.resolve_command_id(command_id)
    token = derived_id(cid, "token") if command_id is not None else path.ids()
    secret = new_secret()
    sealed = path.sealing.seal_optional(pid, label, "label")

    def decide(register: AccessRegister, at: datetime) -> IssuedToken:
        register.issue_token(admin, token, pid, digest_of(secret), sealed, expires_at, at)
        return IssuedToken(token, pid, expires_at, secret)

    done = path.update(AccessRegister, AccessRegister.ID, "access register", decide, command_id=cid,
                       start=AccessRegister.start)
    shown = IssuedToken(token, pid, expires_at, secret if done.recorded_now else None)
    return CommandResult(shown, done.command_id, done.recorded_now, done.aggregate_id, done.versions)


@grant_checked
def revoke_token(path: CommandPath, token_id: object, admin: Actor, command_id: object = None) -> CommandResult[None]:
    """An admin revokes a token: from the moment it commits, the token authenticates nobody."""
    _require_admin(admin, "revoke a token", path)
    token = as_uuid(token_id, "token_id")

    def decide(register: AccessRegister, at: datetime) -> None:
        register.revoke_token(admin, token, at)

    return path.update(AccessRegister, AccessRegister.ID, "access register", decide, command_id=command_id)


def list_tokens(path: CommandPath, admin: Actor, party_id: object = None) -> list[dict[str, Any]]:
    """Every token issued (admins): id, party, label, issued, by, expiry, revoked, valid now; never a secret
    or its digest."""
    _require_admin(admin, "list tokens", path)
    register = path.access_register()
    only = None if party_id is None else str(as_uuid(party_id, "party_id"))
    now = path.now()
    rows = []
    for token, held in ({} if register is None else register.tokens).items():
        if only is not None and held["party"] != only:
            continue
        expires = held["expires_at"]
        rows.append({
            "token": token, "party": held["party"], "label": path.sealing.unseal(held["label"]),
            "issued_at": held["issued_at"].isoformat(), "by": held["by"],
            "expires_at": None if expires is None else expires.isoformat(),
            "revoked_at": None if held["revoked_at"] is None else held["revoked_at"].isoformat(),
            "valid": held["revoked_at"] is None and (expires is None or expires > now),
        })
    return rows


@attrs.frozen
class Identity:
    """Who a bearer token identified, read at the access register's ``register_version``: the party,
    and the token as a reliance a recording command checks again at commit (``rely``)."""

    party: UUID
    register_version: int
    reliance: TokenReliance

    def rely(self) -> None:
        """Inside a recording command's scope (``access.relying_on_grants``): the command relies on this
        token as read then, so a revocation committed since refuses it (NotAuthenticated, nothing recorded)."""
        note_register_version(self.register_version)
        rely_on_token(self.reliance)


def identify(path: CommandPath, secret: object) -> Identity:
    """The party a bearer token identifies now, and the token as a reliance; NotAuthenticated for a
    missing, malformed, unknown, revoked or expired token, or one whose party was erased."""
    if not isinstance(secret, str) or not secret:
        raise NotAuthenticated("no token given")
    if not TOKEN_FORM.fullmatch(secret):
        raise NotAuthenticated("the token is malformed (expected etk_ and 43 characters)")
    digest = digest_of(secret)
    register = path.access_register()
    token, party = _holder(path, register, digest)
    assert register is not None  # noqa: S101 - a token was found in it
    reliance = TokenReliance(token, str(party), register.tokens[token]["expires_at"],
                             functools.partial(_recheck, path, digest))
    return Identity(party, register.version, reliance)


def authenticate(path: CommandPath, secret: object) -> UUID:
    """The party a bearer token identifies now (see :func:`identify`).

    Inside a recording command (``access.relying_on_grants``), the token is relied on: the
    transaction that records the command checks that the access register has not moved since it
    was read here, and a revocation that commits first refuses the command (NotAuthenticated,
    nothing recorded); an expiry before the command's time refuses it too."""
    identity = identify(path, secret)
    identity.rely()
    return identity.party


def _recheck(path: CommandPath, digest: str) -> None:
    """After the register moved: the token read again, as committed now (NotAuthenticated if revoked)."""
    register = path.access_register()
    note_register_version(0 if register is None else register.version)
    _holder(path, register, digest)


def _holder(path: CommandPath, register: AccessRegister | None, digest: str) -> tuple[str, UUID]:
    """The valid token with this digest and its party, in ``register`` as read now."""
    found = None if register is None else register.token_holder(digest, path.now())
    if found is None:
        raise NotAuthenticated("the token is unknown, revoked or expired")
    try:
        erased = path.party(found[1]).erased
    except NotFound:
        erased = True
    if erased:
        raise NotAuthenticated("the token's party was erased")
    return found


__all__ = [
    "Identity", "IssuedToken", "authenticate", "digest_of", "identify", "issue_token", "list_tokens", "new_secret",
    "revoke_token",
]
