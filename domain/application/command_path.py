"""The command path shared by every command: load, decide, save, and retry on a clash.

A refused command raises a typed error (naming the current state) and saves nothing; a version
clash means another writer committed first (progress): the command re-reads and re-decides for
as long as clashes keep coming, within ``retry_seconds`` (``ETRACK_RETRY_SECONDS``, 10 s by
default), and only then raises ConcurrencyConflict. A decision that fails on re-read raises its
own typed error (a full team capacity is CapacityExceeded, never a conflict).
"""

from __future__ import annotations

import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.domain import Aggregate, OriginatorVersionError
from eventsourcing.persistence import (
    IntegrityError,
    PersistenceError,
)

from engagement_tracker.domain.access import (
    Grants,
    GrantsMoved,
    grant_guard,
    note_register_version,
    recheck_moved,
)
from engagement_tracker.domain.application.confidential import ERASED, Confidential
from engagement_tracker.domain.application.event_store import EventStore
from engagement_tracker.domain.checks import as_uuid, read_settings
from engagement_tracker.domain.coach_load import CapacityPolicy
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.command_ids import CommandOutcome, CommandResult, command_id_of, derived_id, require_command_id
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    EtrackError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    NotPermitted,
    RecordedOutOfOrder,
    StoreError,
)
from engagement_tracker.domain.grants import AccessRegister
from engagement_tracker.domain.party import Party
from engagement_tracker.domain.sealing import Sealer
from engagement_tracker.domain.vocabulary import SIGNAL_THEMES

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")

Clock = Callable[[], datetime]
IdFactory = Callable[[], UUID]



def require_in_order(kind: str, agg: Aggregate, previous: object) -> None:
    """Refuse what a command is about to record when an event is timed before the one before it
    (``previous``: the aggregate's last recorded event's time): history reads forwards."""
    last = previous
    for event in getattr(agg, "pending_events", ()):
        at = getattr(event, "timestamp", None)
        if isinstance(at, datetime) and isinstance(last, datetime) and at < last:
            raise RecordedOutOfOrder(kind, agg.id, at.isoformat(), last.isoformat())
        last = at if isinstance(at, datetime) else last


class CommandPath(EventStore):
    """Load, decide, save, retry: the path every command takes, and the ports it uses.

    The sealer (the key vault's port), the clock and the id factory are handed in, so history
    replays exactly and the domain chooses no backend.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        sealer: Sealer,
        clock: Clock,
        ids: IdFactory,
        max_retries: int | None = None,
    ) -> None:
        super().__init__(env)
        self._outcomes = threading.local()
        self.sealer = sealer
        #: Sealing and unsealing confidential text (the vault port, checked text, erased subjects).
        self.sealing = Confidential(sealer)
        self.clock = clock
        self.ids = ids
        if max_retries is not None and (
            isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0
        ):
            raise InvalidInput("max_retries", f"{max_retries!r}: expected a whole number >= 0, or None")
        #: An optional cap on retries; by default only ``retry_seconds`` bounds them.
        self.max_retries = max_retries
        #: Every ETRACK_* setting, checked now: a malformed one refuses to open the tracker.
        self.settings = read_settings(self.env.get)
        if self.settings.snapshot_interval is not None:
            interval = self.settings.snapshot_interval
            self.snapshotting_intervals = {Engagement: interval, Cohort: interval}  # type: ignore[misc]  # eventsourcing reads it per instance
        self.capacity = CapacityPolicy(self.settings.teams_warn_above, self.settings.teams_refuse_above)
        self.retry_seconds = self.settings.retry_seconds
        #: The signal taxonomy in force: the reading grid's themes plus this deployment's own.
        self.signal_themes: tuple[str, ...] = tuple(dict.fromkeys([*SIGNAL_THEMES, *self.settings.signal_themes]))

    def close(self) -> None:
        """Close the event store and the key vault."""
        super().close()
        closer = getattr(self.sealer, "close", None)
        if callable(closer):
            closer()

    # --- plumbing ---------------------------------------------------------------------------

    def now(self) -> datetime:
        at = self.clock()
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise InvalidInput("clock", "the injected clock must return timezone-aware datetimes")
        return at

    def update(
        self,
        cls: type[A],
        agg_id: object,
        kind: str,
        command: Callable[[A, datetime], R],
        companions: Callable[[A, datetime, bool], list[Aggregate]] | None = None,
        command_id: object = None,
        *,
        start: Callable[[datetime], A] | None = None,
    ) -> CommandResult[R]:
        """Load, decide, save; on a version clash re-read and re-decide (see :meth:`attempts`).

        Returns the command's :class:`Outcome`: the decision's value, and whether this call
        recorded it. ``companions`` returns other aggregates the command changed (for example the
        coach's load when a team engagement ends); they are saved in the same transaction. A
        command whose id (``command_id``, see ``command_ids.py``) is already stored writes nothing
        more. ``start`` makes the aggregate when there is none yet (a register, a budget): a
        writer that started it first makes this call re-read and decide on theirs. A decision that
        leaves nothing to record records nothing ("already recorded", no version).
        """
        ident = as_uuid(agg_id, f"{kind}_id")
        cid = self.resolve_command_id(command_id)
        for _attempt in self.attempts(f"{kind} {ident}"):
            started = False
            try:
                agg = self.load(cls, ident, kind)
            except NotFound:
                if start is None:
                    raise
                agg, started = start(self.now()), True
            else:
                if command_id is not None:  # asked of the state the decision is taken on: a save clashes if it moved
                    stored = self.stored_versions(ident, cid, agg.version)
                    if stored:
                        return self._replay_outcome(cls, ident, kind, command, cid, stored)
            # the time is read after the load: another writer's event, committed before it, is never later
            at = self.now()
            was_ended = bool(getattr(agg, "is_ended", False))
            previous = getattr(agg, "modified_on", None)
            try:
                result = command(agg, at)
                others = companions(agg, at, was_ended) if companions else []
            except EtrackError as exc:
                state = getattr(agg, "state", None)  # a workflow's; a register or a budget has none
                raise (exc if state is None else _with_state(exc, kind, state)) from None
            if not getattr(agg, "pending_events", ()) and not others:
                return CommandResult(result, cid, False, ident)  # nothing to record (a query paid for already)
            require_in_order(kind, agg, previous)
            try:
                done = self.commit(cid, kind, agg, *others)
            except AlreadyExists:
                if not started:
                    raise
                continue  # another writer started it first: re-read, then decide on theirs
            if done is not None:
                return CommandResult.of(result, done)
        raise AssertionError("unreachable")  # pragma: no cover

    def create(
        self,
        kind: str,
        make: Callable[[UUID, datetime], Sequence[Aggregate]],
        given_id: object = None,
        command_id: object = None,
    ) -> CommandResult[UUID]:
        """Create exactly once: the one path of every creating command (party, engagement, cohort).

        The new id is ``given_id``, else derived from the caller's ``command_id`` (so a retry of the
        same command finds what it created), else new. ``make(id, at)`` returns the new aggregate
        first, then any other aggregate it changed (saved in the same transaction); it is called
        again after a clash with another writer. An id already taken is AlreadyExists, unless the
        same command took it: then nothing more is written and the outcome says "already recorded".
        """
        cid = self.resolve_command_id(command_id)
        ident = self.new_id(given_id, command_id, cid, kind)
        for _attempt in self.attempts(f"{kind} {ident}"):
            if self.exists(ident):
                if command_id is not None and command_id_of(self._stored_event(ident, 1, kind, cid)) == cid:
                    return CommandResult.of(ident, self.tell(CommandOutcome(cid, False, ident, (1,))))
                raise AlreadyExists(kind, ident)
            created, *others = make(ident, self.now())
            recorded = self.commit(cid, kind, created, *others)
            if recorded is not None:
                return CommandResult.of(ident, recorded)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- exactly once -----------------------------------------------------------------------

    @property
    def last_command(self) -> CommandOutcome | None:
        """Deprecated: every command returns its :class:`Outcome`. What the last command called from
        this thread did: recorded now, or already recorded."""
        warnings.warn("app.last_command is deprecated: a command returns its outcome (outcome.status)",
                      DeprecationWarning, stacklevel=2)
        return getattr(self._outcomes, "last", None)

    def tell(self, outcome: CommandOutcome) -> CommandOutcome:
        """Keep ``outcome`` for the deprecated ``last_command`` (this thread's last), and return it."""
        self._outcomes.last = outcome
        return outcome

    def resolve_command_id(self, given: object) -> str:
        return str(self.ids()) if given is None else require_command_id(given)

    def save(self, *objs: Any, command_id: str | None = None, **kwargs: Any) -> Any:
        """Save aggregates in one transaction, each new event stamped with ``command_id``."""
        for obj in objs:
            for event in getattr(obj, "_pending_events", ()):
                object.__setattr__(event, "command_id", command_id)
        return super().save(*objs, **kwargs)

    def commit(self, cid: str, kind: str, agg: Aggregate, *others: Aggregate) -> CommandOutcome | None:
        """Save one command's aggregates: what was recorded, or None after a clash with another writer.

        A clash or a lost connection may hide our own commit (the acknowledgement was lost and
        the driver retried) or the same command recorded by another caller: the first new
        version is read back, and if it holds our command id the command is recorded (once),
        by this call if the stored event is ours, else already. Otherwise a lost write is a
        StoreError saying nothing was recorded, or, when the store cannot be asked, that a retry
        with the same id is safe.
        """
        pending = list(getattr(agg, "_pending_events", ()))
        first = agg.version - len(pending) + 1
        versions = tuple(range(first, agg.version + 1))
        try:
            self.save(agg, *others, command_id=cid, **self.write_guard())
        except GrantsMoved:  # rolled back: the grants relied on are read again (refused if one was revoked)
            recheck_moved(self.held_grants)
            return None
        except IntegrityError:
            stored = self._stored_event(agg.id, first, kind, cid)
            if command_id_of(stored) != cid:
                if first == 1 and stored is not None:
                    raise AlreadyExists(kind, agg.id) from None
                return None  # another writer committed first: re-read and re-decide
            return self.tell(CommandOutcome(cid, bool(pending) and stored == pending[0], agg.id, versions))
        except PersistenceError as exc:
            try:
                stored = self._stored_event(agg.id, first, kind, cid)
            except StoreError:
                raise StoreError(
                    f"the store failed while writing {kind} {agg.id} ({exc}) and could not be asked whether "
                    f"command {cid} was recorded; retry with command_id={cid}: it is recorded at most once",
                    command_id=cid,
                ) from exc
            if command_id_of(stored) != cid:
                raise _unwritten(kind, agg.id, exc) from exc
            return self.tell(CommandOutcome(cid, bool(pending) and stored == pending[0], agg.id, versions))
        return self.tell(CommandOutcome(cid, True, agg.id, versions))

    def _replay_outcome(
        self,
        cls: type[A],
        ident: UUID,
        kind: str,
        command: Callable[[A, datetime], R],
        cid: str,
        stored: tuple[int, ...],
    ) -> CommandResult[R]:
        """The outcome of a command already recorded: its decision taken again on the state it was
        taken on (the version before its first event), and nothing saved."""
        result: Any = None
        if stored[0] > 1:
            before = self.load(cls, ident, kind, version=stored[0] - 1)
            try:
                result = command(before, self.now())
            except EtrackError:
                result = None  # the rules changed since; the command stays recorded as it was
        return CommandResult.of(cast(R, result), self.tell(CommandOutcome(cid, False, ident, stored)))

    def attempts(self, what: str) -> Iterator[int]:
        """Attempts at one command. Each clash is another writer's commit, that is progress, so the
        command tries again, after a short randomised pause (so racing writers spread out), until it
        goes through, its decision fails on the new state, or ``retry_seconds`` have passed (or the
        optional ``max_retries``): then ConcurrencyConflict, with nothing recorded."""
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        while True:
            yield attempt
            attempt += 1
            if time.monotonic() >= deadline or (self.max_retries is not None and attempt > self.max_retries):
                raise ConcurrencyConflict(
                    f"{what} was changed by other writers {attempt} times in a row "
                    f"for {self.retry_seconds:g} s; nothing was recorded, try again"
                )
            time.sleep(random.uniform(0, min(0.05, 0.002 * attempt)))  # noqa: S311 - spreading retries, not secrecy

    def access_register(self) -> AccessRegister | None:
        """The store's access register (None until ``initialise`` ran).

        A damaged register (a deleted or reordered event) is a StoreError: no grant can be trusted,
        so every privileged call is refused; the trail's chain still verifies from the stored bytes.
        """
        try:
            return self.load(AccessRegister, AccessRegister.ID, "access register")
        except NotFound:
            return None
        except OriginatorVersionError as exc:
            raise StoreError(
                f"the access register {AccessRegister.ID} is damaged ({exc!r}): no grant can be checked; "
                "verify the audit trail from the stored bytes to find where"
            ) from None

    def write_guard(self) -> dict[str, Any]:
        """What a recording transaction must check before it commits: the grants the running command
        relied on (``access.relying_on_grants``), as a ``grant_guard`` the recorder checks against the
        access register's version, read in the same transaction once it holds the lock that orders it
        against any change to the register (``access.GrantGuard``). Nothing relied on: no check.
        A bearer token relied on that has expired by now refuses the command here (NotAuthenticated)."""
        guard = grant_guard(self.now)
        return {} if guard is None else {"grant_guard": guard}

    def held_grants(self) -> Grants:
        """Who holds which organisation-wide roles, read now (the gates call it at each privileged call)."""
        register = self.access_register()
        note_register_version(0 if register is None else register.version)
        return {} if register is None else register.grants()

    def party(self, party_id: object) -> Party:
        return self.load(Party, party_id, "party")

    def party_name(self, party_id: object) -> str:
        name = self.sealing.unseal(self.party(party_id).name)
        return name if name is not None else ERASED

    def new_id(self, given: object, command_id: object, cid: str, kind: str) -> UUID:
        """The id of what a creating command makes: given, derived from the caller's command id, or new."""
        if given is not None:
            return as_uuid(given, f"{kind}_id")
        return self.ids() if command_id is None else derived_id(cid, kind)


def _unwritten(kind: str, ident: object, exc: Exception) -> StoreError:
    """A write the store refused (disk full, read-only file, server gone): nothing was recorded."""
    return StoreError(f"the store could not write {kind} {ident}: {exc}; nothing was recorded")


def _with_state(exc: EtrackError, kind: str, state: str) -> EtrackError:
    """Name the current state in a refusal that does not already (every refusal says where it stood),
    except a permission's: a caller refused the engagement or cohort learns nothing of it."""
    if isinstance(exc, NotPermitted | NotAuthenticated):
        return exc
    if getattr(exc, "state", None) is None:
        exc.state = state  # type: ignore[attr-defined]
        if exc.args:
            exc.args = (f"{exc.args[0]} [{kind} state: {state}]", *exc.args[1:])
    return exc


#: What the tripartite contract shares with the sponsor of the steps taken (never sessions'
