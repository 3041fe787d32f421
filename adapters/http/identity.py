"""Who calls: a bearer token (or the pages' session cookie) identifies a recorded party.

The token identifies; it does not authorise. The caller names the role it acts in with the
``Etrack-Role`` header, or the role is the party's place in what it addresses (the coach, coachee
or sponsor of that engagement; the coach or a member of that cohort), or, for an
organisation-wide call, the first of the call's roles the party is granted. Then the domain's
gates decide, exactly as for any other caller: a claimed role the party does not hold is refused
there (403), never here.

A request's token is relied on the way a gate's grant is (``domain/access.py``): every route runs
inside ``relying_on_grants`` with the token as read when the request was authenticated
(:class:`CallerRoute`), so a command or a release the request records is recorded only if the
access register still says, in the recording transaction, that the token is valid; a revocation
that commits first refuses it (401, nothing recorded).

Repeated bad tokens from one address are slowed: after ``FREE_FAILURES`` failures within
``WINDOW`` seconds each further attempt waits, doubling up to ``MAX_DELAY`` seconds. The table is
in memory and bounded (``MAX_ADDRESSES``); a token is never logged nor echoed.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from fastapi.routing import APIRoute

from engagement_tracker.domain.access import hides_steps, relying_on_grants
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.application.tokens import Identity
from engagement_tracker.domain.errors import InvalidInput, NotAuthenticated, NotFound
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role

ROLE_HEADER = "Etrack-Role"
SESSION_COOKIE = "etrack_session"


class Throttle:
    """Failed authentications per client address, in memory: a bounded table, a sliding window."""

    FREE_FAILURES = 5
    WINDOW = 60.0
    MAX_DELAY = 2.0
    MAX_ADDRESSES = 10_000

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def delay(self, address: str) -> float:
        """How long a new attempt from ``address`` waits before it is answered."""
        now = self._clock()
        with self._lock:
            recent = [t for t in self._failures.get(address, []) if now - t < self.WINDOW]
            excess = len(recent) - self.FREE_FAILURES
        return 0.0 if excess < 0 else min(self.MAX_DELAY, 0.05 * 2 ** excess)

    def failed(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            recent = [t for t in self._failures.pop(address, []) if now - t < self.WINDOW][-64:]
            self._failures[address] = [*recent, now]
            while len(self._failures) > self.MAX_ADDRESSES:
                self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)


def bearer_of(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None when there is none)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("the Authorization header is not 'Bearer <token>'")
    return token.strip()


def authenticate(app: EngagementTracker, throttle: Throttle, secret: str | None, address: str) -> Identity:
    """Who ``secret`` identifies now; slowed when the address failed repeatedly."""
    wait = throttle.delay(address)
    if wait:
        time.sleep(wait)
    if secret is None:
        raise NotAuthenticated("no token given (Authorization: Bearer etk_...)")
    try:
        identity = app.access.identify(secret)
    except NotAuthenticated:
        throttle.failed(address)
        raise
    throttle.succeeded(address)
    return identity


def claimed_role(raw: str | None) -> Role | None:
    """The role named by the ``Etrack-Role`` header (None when absent)."""
    if raw is None or raw == "":
        return None
    try:
        return Role(raw.strip().lower())
    except ValueError:
        raise InvalidInput(ROLE_HEADER, f"{raw[:40]!r}: expected one of "
                           f"{', '.join(r.value for r in Role if r is not Role.SYSTEM)}") from None


class Caller:
    """The party a request's token identifies, and how it chooses the role it acts in."""

    def __init__(self, app: EngagementTracker, identity: Identity, claimed: Role | None) -> None:
        self.app = app
        self.identity = identity
        self.party: UUID = identity.party
        self.claimed = claimed

    def as_(self, role: Role) -> Actor:
        return Actor(self.party, self.claimed or role)

    def granted(self, roles: Sequence[Role]) -> Actor:
        """For an organisation-wide call taken by ``roles``: the claimed role, else the first of them the
        party is granted now, else the first (the gate then refuses it, naming the grant missing)."""
        if self.claimed is not None:
            return Actor(self.party, self.claimed)
        held = self.app.held_grants().get(str(self.party), frozenset())
        return Actor(self.party, next((r for r in roles if r.value in held), roles[0]))

    def in_engagement(self, engagement_id: object) -> Actor:
        """The party's place in the engagement (coach, coachee, sponsor), else its admin or auditor grant."""
        if self.claimed is not None:
            return Actor(self.party, self.claimed)
        e = self.app.engagements.get(engagement_id)
        for role, party in ((Role.COACH, e.coach), (Role.COACHEE, e.coachee), (Role.SPONSOR, e.sponsor)):
            if party == self.party:
                return Actor(self.party, role)
        return self.granted((Role.ADMIN, Role.AUDITOR, Role.COACHEE))

    def in_cohort(self, cohort_id: object) -> Actor:
        """The party's place in the cohort (coach, member), else its admin or auditor grant."""
        if self.claimed is not None:
            return Actor(self.party, self.claimed)
        c = self.app.cohorts.get(cohort_id)
        if c.coach == self.party:
            return Actor(self.party, Role.COACH)
        if str(self.party) in c.members:
            return Actor(self.party, Role.MEMBER)
        return self.granted((Role.ADMIN, Role.AUDITOR, Role.MEMBER))

    def places(self) -> list[dict[str, str]]:
        """The engagements and cohorts this party has a place in (for the pages' home)."""
        found: list[dict[str, str]] = []
        for eid in self.app.engagements.ids():
            try:
                e = self.app.engagements.get(eid)
            except NotFound:  # pragma: no cover - listed, then gone: never in an event store
                continue
            for role, party in ((Role.COACH, e.coach), (Role.COACHEE, e.coachee), (Role.SPONSOR, e.sponsor)):
                if party == self.party:
                    state = e.state.split(".", 1)[0] if hides_steps(role) else e.state  # a sponsor: the phase
                    found.append({"kind": "engagement", "id": str(eid), "role": role.value, "state": state})
        for cid in self.app.cohorts.ids():
            c = self.app.cohorts.get(cid)
            if c.coach == self.party or str(self.party) in c.members:
                role = Role.COACH if c.coach == self.party else Role.MEMBER
                found.append({"kind": "cohort", "id": str(cid), "role": role.value, "state": c.state})
        return found


def relying_on_caller(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` run inside a recording scope that relies on its caller's token (see the module's
    docstring): the same thread as the service calls, so the scope reaches their commit. A page reads
    its session cookie inside the endpoint, and relies on it there."""

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        with relying_on_grants():
            for who in (v for v in kwargs.values() if isinstance(v, Caller)):
                who.identity.rely()
            return endpoint(*args, **kwargs)

    # FastAPI reads the parameters from the signature, with their annotations resolved in the
    # endpoint's own module (its annotations are strings there).
    run.__signature__ = inspect.signature(endpoint, eval_str=True)  # type: ignore[attr-defined]
    return run


class CallerRoute(APIRoute):
    """Every synchronous route of a router runs relying on its caller's token (``relying_on_caller``)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = relying_on_caller(endpoint)
        super().__init__(path, endpoint, **kwargs)
