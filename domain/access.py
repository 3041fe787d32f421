"""Roles: who may take which step, and who may read what.

A role alone is not enough: the acting party must *be* the engagement's coach, coachee or
sponsor for the role it claims, and an organisation-wide role (admin, auditor, analyst, coach
opening an engagement or a cohort) must be *granted* to it at the moment of the call (the access
register, ``domain/grants.py``, read through a ``GrantsSource``). Every refusal is a NotPermitted
naming the roles accepted, or the grant that is missing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

import attrs

from engagement_tracker.domain.actor import Actor
from engagement_tracker.domain.errors import InvalidInput, NotAuthenticated, NotPermitted
from engagement_tracker.domain.vocabulary import SYSTEM_PARTY, Role

C, E, S = Role.COACH, Role.COACHEE, Role.SPONSOR

#: Engagement steps and the contract roles that may take them.
ENGAGEMENT_STEPS: Mapping[str, frozenset[Role]] = {
    "open": frozenset({C}),
    "hold_first_meeting": frozenset({C}),
    "confirm_will": frozenset({C, E}),  # each party confirms only its own will
    "decline": frozenset({C, E}),
    "record_diagnosis": frozenset({C}),
    "hold_tripartite_meeting": frozenset({C}),
    "validate_coherence": frozenset({C}),  # only the coach validates coherence
    "define_indicator": frozenset({C}),
    "record_synthesis": frozenset({C}),
    "fix_contract": frozenset({C}),
    "start_accompaniment": frozenset({C}),
    "record_session": frozenset({C}),  # never the sponsor
    "hold_scheduled_session": frozenset({C}),  # record_session, for a session scheduled ahead
    "schedule_session": frozenset({C, E}),  # coach and coachee plan their sessions; never the sponsor
    "reschedule_session": frozenset({C, E}),
    "cancel_session": frozenset({C, E}),
    "commit_action": frozenset({C, E}),
    "complete_action": frozenset({C, E}),
    "drop_action": frozenset({C, E}),
    "measure_indicator": frozenset({C, E, S}),
    "request_review": frozenset({C, E, S}),  # any of the three parties
    "hold_review": frozenset({C}),
    "suspend": frozenset({C, E}),
    "resume": frozenset({C, E}),
    "propose_amendment": frozenset({C, E, S}),
    "agree_amendment": frozenset({C, E, S}),
    "hold_closing_session": frozenset({C}),
    "hold_closing_meeting": frozenset({C}),
    "abandon": frozenset({C, E, S}),
    "hold_quarterly_review": frozenset({C, S}),  # coach and management
    "propose_disclosure": frozenset({E, S}),  # coachee and sponsor agree; the coach is not a party to it
    "accept_disclosure": frozenset({E, S}),
    "record_signal": frozenset({C}),  # the coach notices and records signals
    "miss_deadline": frozenset({Role.SYSTEM}),
    "consent_to_icf_log": frozenset({E}),  # only the client consents to be named in the coach's ICF log
    "leave_testimonial": frozenset({E}),  # the coachee, at closing (domain/testimonials.py)
}

M = Role.MEMBER

#: Cohort steps: the cohort's coach (who runs the programme), its members, the deadline clock.
COHORT_STEPS: Mapping[str, frozenset[Role]] = {
    "open": frozenset({C}),
    "add_member": frozenset({C}),
    "remove_member": frozenset({C, M}),  # a member may leave
    "set_scope": frozenset({C, M}),
    "set_objective": frozenset({C, M}),
    "add_key_result": frozenset({C, M}),
    "add_metric": frozenset({C, M}),
    "plan_experiment": frozenset({C, M}),
    "start_accompaniment": frozenset({C}),
    "hold_ritual": frozenset({C, M}),
    "record_decision": frozenset({C, M}),
    "start_experiment": frozenset({C, M}),
    "end_experiment": frozenset({C, M}),
    "give_feedback": frozenset({C, M}),
    "update_playbook": frozenset({C, M}),
    "complete_checkpoint": frozenset({C, M}),
    "begin_closing": frozenset({C}),
    "record_closing_synthesis": frozenset({C, M}),
    "record_sharing": frozenset({C, M}),
    "prepare_scale_up": frozenset({C, M}),
    "close": frozenset({C}),
    "abandon": frozenset({C}),
    "record_signal": frozenset({C}),
    "miss_deadline": frozenset({Role.SYSTEM}),
    # outside the workflow (they never change the state): metrics over time (cohort_metrics.py)
    "record_reading": frozenset({M}),  # the ritual's metrics keeper, or any member
    "set_key_result_target": frozenset({C, M}),
    "leave_testimonial": frozenset({M}),  # a member, at closing (domain/testimonials.py)
    "log_coaching": frozenset({C}),  # the coach's time with the cohort, for the ICF hours log
}

#: What each role may read of an engagement. The coach reads everything, including the
#: confidential session notes; the coachee their whole engagement but the coach's notes;
#: sponsors only what the tripartite contract shares: never diagnosis, session content,
#: actions or free text of the coachee.
READ_SCOPES: Mapping[Role, str] = {
    C: "full",
    E: "coachee",
    S: "contract",
    Role.ADMIN: "metadata",
    Role.AUDITOR: "metadata",
}


def hides_steps(role: object) -> bool:
    """Whether ``role`` reads an engagement in the contract scope (a sponsor's): the phase, never the step
    (no suspension), the version or the activity rhythm. Whatever such a caller receives then carries
    neither the state nor a version: a view, a timeline, a command's outcome, a refusal, an ETag."""
    return isinstance(role, Role) and READ_SCOPES.get(role) == "contract"


def party_for(engagement: Any, role: Role) -> Any:
    """The party that holds ``role`` in ``engagement`` (None for roles outside the contract)."""
    return {C: engagement.coach, E: engagement.coachee, S: engagement.sponsor, Role.SYSTEM: SYSTEM_PARTY}.get(role)


def _require(table: Mapping[str, frozenset[Role]], step: str, actor: Actor, holds_role: bool, what: str) -> None:
    roles = table.get(step, frozenset())
    allowed = sorted(r.value for r in roles)
    if actor.role not in roles:
        raise NotPermitted(step, f"a {actor.role.value} may not {step.replace('_', ' ')}", allowed)
    if not holds_role:
        raise NotPermitted(step, f"party {actor.party} is not this {what}'s {actor.role.value}", allowed)


def require_step(engagement: Any, step: str, actor: Actor) -> None:
    """Raise NotPermitted unless ``actor`` is the engagement's party in a role allowed ``step``."""
    _require(ENGAGEMENT_STEPS, step, actor, party_for(engagement, actor.role) == actor.party, "engagement")


def holds_cohort_role(cohort: Any, actor: Actor) -> bool:
    if actor.role is C:
        return bool(cohort.coach == actor.party)
    if actor.role is M:
        return str(actor.party) in cohort.members
    return actor.role is Role.SYSTEM and actor.party == SYSTEM_PARTY


def require_reader(viewer: object, field: str = "viewer") -> Actor:
    """Every read names its reader: anything but an Actor(party, role) is refused (deny by default)."""
    if not isinstance(viewer, Actor):
        raise InvalidInput(field, f"expected the reader as Actor(party, role), got {type(viewer).__name__}")
    return viewer


def require_metrics_keeper(cohort: Any, viewer: Actor) -> None:
    """Experiment effects: for the metrics keeper of the cohort's latest ritual, and its coach."""
    require_reader(viewer)
    keeper = UUID(cohort.ritual_keepers[-1]) if cohort.ritual_keepers else None
    if (viewer.role is C and viewer.party == cohort.coach) or (viewer.role is M and viewer.party == keeper):
        return
    who = f"the metrics keeper ({keeper})" if keeper else "the metrics keeper of a ritual (none held yet)"
    raise NotPermitted("read experiment effects", f"for {who} and the cohort's coach", [C.value, M.value])


def require_cohort_step(cohort: Any, step: str, actor: Actor) -> None:
    """Raise NotPermitted unless ``actor`` is the cohort's coach or a member, as ``step`` needs."""
    _require(COHORT_STEPS, step, actor, holds_cohort_role(cohort, actor), "cohort")


# --- grants: organisation-wide roles are honoured only while granted (domain/grants.py) -----------

#: Who holds which organisation-wide roles now: party id (str) -> the roles granted.
Grants = Mapping[str, frozenset[str]]
#: Where the gates read the grants at the moment of the call (the access register, read lazily).
GrantsSource = Callable[[], Grants]


def hold_grant(holders: dict[str, list[str]], party: str, role: str) -> None:
    """A grant recorded (``AccessRegister.RoleGranted``): ``party`` holds ``role`` from now on, after
    the roles it already holds. The one rule every reader of the register's events applies: the
    aggregate (``domain/grants.py``) and the read that needs only the grants (``adapters/view_reads.py``)."""
    holders.setdefault(party, []).append(role)


def drop_grant(holders: dict[str, list[str]], party: str, role: str) -> None:
    """A revocation recorded (``AccessRegister.RoleRevoked``): ``party`` no longer holds ``role``; a party
    left holding nothing is no longer listed. A revocation of a role not held raises (KeyError or
    ValueError): the register's commands never record one, so its history is damaged."""
    held = holders[party]
    held.remove(role)
    if not held:
        del holders[party]


def grants_of(holders: Mapping[str, list[str]]) -> Grants:
    """Who holds which roles, as the gates read them: party id (str) -> roles."""
    return {party: frozenset(roles) for party, roles in holders.items()}


def require_grant(actor: Actor, role: Role, grants: GrantsSource, action: str) -> None:
    """Raise NotPermitted unless ``actor``'s party holds ``role``'s grant now.

    Inside a command that records something (:func:`relying_on_grants`), the grant is also noted
    as relied on: the command path checks it again in the transaction that records the command."""
    if role.value not in grants().get(str(actor.party), frozenset()):
        raise NotPermitted(
            action,
            f"party {actor.party} holds no {role.value} grant; an admin grants it with "
            f"etrack grant {role.value} {actor.party}",
            [role.value],
        )
    scope = _SCOPE.get()
    if scope is not None:
        scope.rely(Reliance(str(actor.party), role.value, action))


# --- when a grant is checked: at commit ------------------------------------------------------------
#
# A gate reads the grants when the command starts; a revocation may commit while the command is
# still deciding. So a command that records something runs inside ``relying_on_grants()``: every
# grant a gate checked there is noted, with the access register's version the grants were read at.
# The recording transaction, once it holds the lock that orders it against any change to the
# register, reads the register's version in that same transaction (``GrantGuard.require``): the
# same version, and every grant relied on is still held. Another version: the transaction rolls
# back (``GrantsMoved``), the command path reads the grants again (``recheck_moved``): a grant
# relied on is gone, so the command is refused with NotPermitted and nothing is recorded; every
# grant is still held (another party's grant changed), so the command tries again. A revocation
# that commits first always wins.
#
# A bearer token is relied on the same way (``rely_on_token``, called by ``tokens.authenticate``
# inside the scope): a ``TokenRevoked`` is a change of the same register, so a revocation that
# commits while the command decides rolls its transaction back, and the token is checked again
# (``recheck_moved``): revoked, the command is refused with NotAuthenticated and nothing is
# recorded. A token's expiry is checked against the time the command records
# (``require_tokens_current``, just before the recording transaction).


@attrs.frozen
class Reliance:
    """A grant one command relied on: ``party`` (id, as a string) held ``role`` for ``action``."""

    party: str
    role: str
    action: str


@attrs.frozen(eq=False)
class TokenReliance:
    """A bearer token one command relied on: the party it identified, until when it is valid, and how
    to ask again whether it still is (``recheck``: raises NotAuthenticated when it is not)."""

    token: str
    party: str
    expires_at: datetime | None
    recheck: Callable[[], object] = attrs.field(repr=False)


class GrantsMoved(Exception):
    """Raised inside a recording transaction when the access register changed since the grants its
    command relied on were read: the transaction rolls back and the command path checks them again."""


@attrs.frozen
class GrantGuard:
    """What a recording transaction checks: the register still at the version the grants were read at."""

    version: int
    reliances: tuple[Reliance, ...]

    def require(self, stored_version: int) -> None:
        """``stored_version``: the register's version as committed, read inside the recording transaction
        (before its own events: a command that changes the register records it in the same batch)."""
        if stored_version != self.version:
            raise GrantsMoved(f"the access register is at version {stored_version}, not {self.version}")


class GrantScope:
    """The grants relied on by the command running in this context (thread or task)."""

    def __init__(self) -> None:
        self.reliances: list[Reliance] = []
        #: The bearer tokens the command relied on (``rely_on_token``).
        self.tokens: list[TokenReliance] = []
        #: The access register's version the gates first read the grants at (None: not read yet).
        self.register_version: int | None = None

    def rely(self, reliance: Reliance) -> None:
        if reliance not in self.reliances:
            self.reliances.append(reliance)

    def rely_on_token(self, reliance: TokenReliance) -> None:
        if all(t.token != reliance.token for t in self.tokens):
            self.tokens.append(reliance)


_SCOPE: ContextVar[GrantScope | None] = ContextVar("etrack_grant_scope", default=None)


@contextmanager
def relying_on_grants() -> Iterator[GrantScope]:
    """The scope of one recording command: grants checked inside it are re-checked at commit.

    Nested scopes join the outermost one (a command that calls another relies on both's grants)."""
    scope = _SCOPE.get()
    if scope is not None:
        yield scope
        return
    scope = GrantScope()
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def note_register_version(version: int) -> None:
    """Called where the grants are read (the access register's port): the version they were read at."""
    scope = _SCOPE.get()
    if scope is not None and scope.register_version is None:
        scope.register_version = version


def rely_on_token(reliance: TokenReliance) -> None:
    """Inside a recording command's scope: the command relies on this token (checked again at commit)."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.rely_on_token(reliance)


def require_tokens_current(now: Callable[[], datetime]) -> None:
    """Raise NotAuthenticated if a token the running command relied on has expired by ``now()``, the
    time the command records (the clock is read only when such a token expires at all)."""
    scope = _SCOPE.get()
    expiring = [t for t in (() if scope is None else scope.tokens) if t.expires_at is not None]
    at = now() if expiring else None
    for t in expiring:
        if at is not None and t.expires_at is not None and t.expires_at <= at:
            raise NotAuthenticated(
                f"the token expired at {t.expires_at.isoformat()}, before this was recorded; nothing was recorded"
            )


def relied_on_tokens() -> tuple[TokenReliance, ...]:
    """The bearer tokens the running command relied on so far (none outside a command's scope)."""
    scope = _SCOPE.get()
    return () if scope is None else tuple(scope.tokens)


def relied_on() -> tuple[Reliance, ...]:
    """The grants the running command relied on so far (none outside a command's scope)."""
    scope = _SCOPE.get()
    return () if scope is None else tuple(scope.reliances)


def grant_guard(now: Callable[[], datetime] | None = None) -> GrantGuard | None:
    """What the running command's recording transaction must check (None: it relied on no grant).

    Given the clock (``now``), a bearer token relied on that has expired by then refuses the command
    here, before its transaction (NotAuthenticated, :func:`require_tokens_current`)."""
    if now is not None:
        require_tokens_current(now)
    scope = _SCOPE.get()
    if scope is None or not (scope.reliances or scope.tokens) or scope.register_version is None:
        return None  # nothing relied on, or grants not read from an access register (a host's fixed table)
    return GrantGuard(scope.register_version, tuple(scope.reliances))


def recheck(reliances: tuple[Reliance, ...], grants: Grants) -> None:
    """Raise NotPermitted if a grant relied on is no longer held in ``grants`` (read at commit)."""
    for r in reliances:
        if r.role not in grants.get(r.party, frozenset()):
            raise NotPermitted(
                r.action,
                f"party {r.party}'s {r.role} grant was revoked before this was recorded (the revocation "
                "committed first); nothing was recorded. An admin grants it again with "
                f"etrack grant {r.role} {r.party}",
                [r.role],
            )


def recheck_moved(grants: GrantsSource) -> None:
    """After :class:`GrantsMoved`: read the grants again, as committed now, and raise NotPermitted if
    one relied on was revoked (NotAuthenticated if a token relied on was revoked or expired); otherwise
    the next attempt is guarded by the register as read now."""
    scope = _SCOPE.get()
    if scope is None:
        return
    scope.register_version = None
    for token in scope.tokens:
        token.recheck()
    recheck(tuple(scope.reliances), grants())


P = ParamSpec("P")
T = TypeVar("T")


def grant_checked(method: Callable[P, T]) -> Callable[P, T]:
    """Run a recording command in its own :func:`relying_on_grants` scope (see above)."""

    @functools.wraps(method)
    def command(*args: P.args, **kwargs: P.kwargs) -> T:
        with relying_on_grants():
            return method(*args, **kwargs)

    return command


def require_coach_grant(actor: Actor, grants: GrantsSource, action: str) -> None:
    """A coach opens engagements and cohorts only while granted coach (other roles are refused later)."""
    if isinstance(actor, Actor) and actor.role is C:
        require_grant(actor, C, grants, action)


def cohort_read_scope(cohort: Any, viewer: Actor, grants: GrantsSource) -> str:
    """Coach and members read the cohort's shared work; auditors and admins (granted) its metadata."""
    require_reader(viewer)
    if viewer.role in (Role.AUDITOR, Role.ADMIN):
        require_grant(viewer, viewer.role, grants, "read cohort")
        return "metadata"
    if viewer.role in (C, M) and holds_cohort_role(cohort, viewer):
        return "full"
    raise NotPermitted("read cohort", f"a {viewer.role.value} {viewer.party} is not this cohort's coach or member")


def read_scope(engagement: Any, viewer: Actor, grants: GrantsSource) -> str:
    """The scope ``viewer`` may read of ``engagement``; raise NotPermitted if none."""
    require_reader(viewer)
    scope = READ_SCOPES.get(viewer.role)
    if scope is None:
        raise NotPermitted(
            "read engagement",
            f"a {viewer.role.value} reads released aggregates, never an engagement",
            sorted(r.value for r in READ_SCOPES),
        )
    if viewer.role in (C, E, S) and party_for(engagement, viewer.role) != viewer.party:
        raise NotPermitted(
            "read engagement",
            f"party {viewer.party} is not this engagement's {viewer.role.value}",
        )
    if viewer.role in (Role.AUDITOR, Role.ADMIN):
        require_grant(viewer, viewer.role, grants, "read engagement")
    return scope


# --- organisation-wide gates: the trail, replay, erasure, analytics ---------------------------

#: Who reads, verifies, checkpoints and exports the audit trail, and replays history.
AUDIT_ROLES = (Role.AUDITOR, Role.ADMIN)
#: Who releases anonymised aggregates (signals, activity).
ANALYST_ROLES = (Role.ANALYST, Role.ADMIN)
#: Who erases a person (GDPR).
ERASURE_ROLES = (Role.ADMIN,)


def _require_role(viewer: object, action: str, roles: tuple[Role, ...], what: str, field: str = "viewer") -> Actor:
    if not isinstance(viewer, Actor):
        raise InvalidInput(field, f"expected Actor(party, role), got {type(viewer).__name__}")
    if viewer.role not in roles:
        raise NotPermitted(action, f"a {viewer.role.value} {what}", [r.value for r in roles])
    return viewer


def _require_granted_role(
    viewer: object, action: str, roles: tuple[Role, ...], what: str, grants: GrantsSource, field: str = "viewer"
) -> Actor:
    actor = _require_role(viewer, action, roles, what, field)
    require_grant(actor, actor.role, grants, action)
    return actor


def require_auditor(viewer: object, action: str, grants: GrantsSource) -> Actor:
    """Raise NotPermitted unless ``viewer`` is an auditor or admin holding that grant now."""
    return _require_granted_role(viewer, action, AUDIT_ROLES, "does not read the audit trail", grants)


def require_analyst(viewer: object, action: str, grants: GrantsSource) -> Actor:
    """Raise NotPermitted unless ``viewer`` is an analyst or admin holding that grant now."""
    return _require_granted_role(viewer, action, ANALYST_ROLES, "does not release aggregates", grants)


def require_hours_log_reader(viewer: object, coach: Any, grants: GrantsSource) -> Any:
    """Whose ICF hours log ``viewer`` may read: a coach their own; an auditor (granted) any coach's.

    Returns the coach's id; raises NotPermitted for any other reader or another coach's log."""
    actor = _require_role(viewer, "read coach hours", (C, Role.AUDITOR, Role.ADMIN), "does not read an ICF log")
    if actor.role is C:
        if coach is not None and coach != actor.party:
            raise NotPermitted("read coach hours", f"a coach reads their own ICF log, not {coach}'s", ["coach"])
        return actor.party
    require_grant(actor, actor.role, grants, "read coach hours")
    if coach is None:
        raise InvalidInput("coach", "an auditor names the coach whose ICF log to check")
    return coach


def require_coach_load_reader(viewer: object, coach: Any, grants: GrantsSource) -> Any:
    """Whose team coaching load ``viewer`` may read: a coach their own; an admin (granted) any coach's.

    Returns the coach's id; raises NotPermitted for any other reader or another coach's load."""
    actor = _require_role(viewer, "read coach load", (C, Role.ADMIN), "does not read a coach's load")
    if actor.role is C:
        if coach is not None and coach != actor.party:
            raise NotPermitted("read coach load", f"a coach reads their own load, not {coach}'s; an admin reads "
                               "any coach's", [C.value, Role.ADMIN.value])
        return actor.party
    require_grant(actor, actor.role, grants, "read coach load")
    if coach is None:
        raise InvalidInput("coach", "an admin names the coach whose load to read")
    return coach


#: Who lists every engagement and cohort (the directory: ids, states, units, counts; no names).
DIRECTORY_ROLES = (Role.ADMIN, Role.AUDITOR)


def require_directory_reader(viewer: object, grants: GrantsSource, action: str = "list engagements") -> Actor:
    """Raise NotPermitted unless ``viewer`` is an admin or auditor holding that grant now."""
    return _require_granted_role(viewer, action, DIRECTORY_ROLES, "does not list every engagement and cohort",
                                 grants)


ERASER_REFUSAL = "may not erase a person: only an admin erases a person"


def require_eraser(actor: object, grants: GrantsSource, action: str = "erase") -> Actor:
    """Raise NotPermitted unless ``actor`` is an admin holding the admin grant now."""
    return _require_granted_role(actor, action, ERASURE_ROLES, ERASER_REFUSAL, grants, "actor")


def require_erasure_role(actor: object, action: str = "erase") -> Actor:
    """The role alone (the aggregate's own check; the application checks the grant first)."""
    return _require_role(actor, action, ERASURE_ROLES, ERASER_REFUSAL, "actor")


def require_admin(actor: object, action: str, grants: GrantsSource) -> Actor:
    """Raise NotPermitted unless ``actor`` is an admin holding the admin grant now: tokens, parties
    registered through the HTTP API, and a programme's bulk work (imports, reminders, a person's data:
    GDPR articles 15, 16, 20)."""
    return _require_granted_role(actor, action, (Role.ADMIN,), f"may not {action}: only an admin does", grants, "admin")



#: Who reads the programme's templates (programme-wide wording, no personal data): admins and coaches.
TEMPLATE_READERS = (Role.ADMIN, C)


def require_template_reader(viewer: object, grants: GrantsSource) -> Actor:
    """Raise NotPermitted unless ``viewer`` is an admin or a coach holding that grant now."""
    return _require_granted_role(viewer, "read the programme templates", TEMPLATE_READERS,
                                 "does not read the programme's templates", grants)
