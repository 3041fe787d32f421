"""The application: commands with an injected clock and id factory, and role-filtered reads.

It seals confidential text through the sealing port before any aggregate sees it, saves with
optimistic concurrency (a clash re-reads and re-decides, then raises ConcurrencyConflict), and
never chooses a backend: the environment it is given does (see ``adapters/storage.py``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

import attrs
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import (
    IntegrityError,
    MapperDeserialisationError,
    PersistenceError,
    Transcoder,
    Transcoding,
)

from engagement_tracker.domain.access import cohort_read_scope, read_scope, require_auditor, require_eraser
from engagement_tracker.domain.coach_load import CapacityPolicy, CoachLoad
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    EtrackError,
    InvalidInput,
    NotFound,
    StoreError,
    SubjectErased,
)
from engagement_tracker.domain.party import Party
from engagement_tracker.domain.sealing import Sealer
from engagement_tracker.domain.values import (
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    VALUE_TYPES,
    Actor,
    Contract,
    EndReason,
    Evaluation,
    IndicatorKind,
    Outcome,
    SIGNAL_THEMES,
    SYSTEM_PARTY,
    THEME_PATTERN,
    CohortRules,
    DataPoint,
    DisclosureItem,
    PartyKind,
    Polarity,
    QuarterlyDecisions,
    Role,
    Sealed,
    SessionTheme,
    Signal,
    SignalContext,
    SponsorFunction,
    require_member,
    require_text,
)

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")

Clock = Callable[[], datetime]
IdFactory = Callable[[], UUID]

ERASED = "[erased]"


# --- transcodings: every value carried by an event has one (a persisted, public format) ---


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class BytesAsBase64(Transcoding):
    type = bytes
    name = "bytes_b64"

    def encode(self, obj: bytes) -> str:
        return base64.b64encode(obj).decode("ascii")

    def decode(self, data: str) -> bytes:
        return base64.b64decode(data)


class AttrsTranscoding(Transcoding):
    """Encodes a frozen attrs value as its fields.

    Decoding normally goes through the constructor (its converters turn JSON lists back into
    tuples and strings into enum members). Stored history is never refused, though: if a value
    no longer passes today's checks (a theme removed from the list, a tightened invariant), it
    is rebuilt as stored, so old history always replays.
    """

    def __init__(self, cls: type, name: str) -> None:
        self.type = cls
        self.name = name
        self._fields = tuple(f.name for f in attrs.fields(cls))

    def encode(self, obj: Any) -> dict[str, Any]:
        return {f: getattr(obj, f) for f in self._fields}

    def decode(self, data: dict[str, Any]) -> Any:
        try:
            return self.type(**data)
        except (ValueError, TypeError):
            obj = object.__new__(self.type)
            for field in self._fields:
                raw = data.get(field)
                object.__setattr__(obj, field, tuple(raw) if isinstance(raw, list) else raw)
            return obj


def register_value_transcodings(transcoder: Transcoder) -> None:
    transcoder.register(DateAsISO())  # type: ignore[attr-defined]
    transcoder.register(BytesAsBase64())  # type: ignore[attr-defined]
    for name, cls in VALUE_TYPES.items():
        transcoder.register(AttrsTranscoding(cls, name))  # type: ignore[attr-defined]


def as_uuid(value: object, field: str) -> UUID:
    """Accept a UUID or its string form; anything else is InvalidInput."""
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise InvalidInput(field, f"{value!r} is not an id (a UUID)")


class EngagementTracker(Application):
    """The domain core's application: engagements, parties, and their reads."""

    name = "etrack"
    #: A snapshot every 20 engagement events (ETRACK_SNAPSHOT_INTERVAL overrides it).
    snapshotting_intervals = {Engagement: 20, Cohort: 20}  # noqa: RUF012 - eventsourcing's class-level config

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        sealer: Sealer,
        clock: Clock,
        ids: IdFactory,
        max_retries: int = 3,
    ) -> None:
        super().__init__(env)
        interval = self.env.get("ETRACK_SNAPSHOT_INTERVAL")
        if interval:
            if not interval.isdigit() or int(interval) < 1:
                raise InvalidInput("ETRACK_SNAPSHOT_INTERVAL", f"{interval!r} is not a positive whole number")
            self.snapshotting_intervals = {Engagement: int(interval), Cohort: int(interval)}
        self.capacity = CapacityPolicy(
            _env_int(self.env, "ETRACK_TEAMS_WARN_ABOVE", 3), _env_int(self.env, "ETRACK_TEAMS_REFUSE_ABOVE", 4)
        )
        self.cohorts = CohortCommands(self)
        extra = [t.strip() for t in (self.env.get("ETRACK_SIGNAL_THEMES") or "").split(",") if t.strip()]
        bad = [t for t in extra if not THEME_PATTERN.match(t)]
        if bad:
            raise InvalidInput("ETRACK_SIGNAL_THEMES", f"{bad}: themes are lowercase words joined by '_'")
        #: The signal taxonomy in force: the reading grid's themes plus this deployment's own.
        self.signal_themes: tuple[str, ...] = tuple(dict.fromkeys([*SIGNAL_THEMES, *extra]))
        self.snapshot_failures = 0
        self.sealer = sealer
        self.clock = clock
        self.ids = ids
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInput("max_retries", f"{max_retries!r}: expected a whole number >= 0")
        self.max_retries = max_retries

    def close(self) -> None:
        """Close the event store and the key vault."""
        super().close()
        closer = getattr(self.sealer, "close", None)
        if callable(closer):
            closer()

    def _take_snapshots(self, processing_event: Any) -> None:
        """Snapshot the aggregates just saved, from memory, in one write.

        eventsourcing's default reloads each aggregate from the store at the interval's exact
        version and writes each snapshot in its own transaction: most of the cost of a batched
        import. The aggregate being saved is already at hand, at its latest version; a snapshot
        there is as good a starting point for later loads. Its time is the aggregate's own (from
        the injected clock), so a store recorded twice with the same clock is the same.
        """
        if not self.snapshots or not self.snapshotting_intervals:
            return
        crossed: dict[Any, Any] = {}
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            interval = None if aggregate is None else self.snapshotting_intervals.get(type(aggregate))
            if interval and event.originator_version % interval == 0:
                crossed[event.originator_id] = aggregate
        if crossed:
            taken = [Snapshot.take(a) for a in crossed.values()]
            try:
                self.snapshots.put([
                    Snapshot(originator_id=t.originator_id, originator_version=t.originator_version,
                             timestamp=a.modified_on, topic=t.topic, state=t.state)
                    for t, a in zip(taken, crossed.values(), strict=True)
                ])
            except PersistenceError:  # the events are committed; a snapshot is only a cache
                self.snapshot_failures += 1

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)  # type: ignore[arg-type]
        register_value_transcodings(transcoder)

    # --- plumbing ---------------------------------------------------------------------------

    def _now(self) -> datetime:
        at = self.clock()
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise InvalidInput("clock", "the injected clock must return timezone-aware datetimes")
        return at

    def _get(self, cls: type[A], agg_id: object, kind: str, version: int | None = None) -> A:
        """Load an aggregate; unknown ids are NotFound, unreadable records a StoreError."""
        ident = as_uuid(agg_id, f"{kind}_id")
        try:
            agg = self.repository.get(ident, version=version)
        except AggregateNotFoundError:
            raise NotFound(kind, ident) from None
        except MapperDeserialisationError as exc:
            raise StoreError(
                f"cannot decode {kind} {ident}: the store is encrypted and ETRACK_CIPHER_KEY is missing or "
                f"wrong, or a record was corrupted ({str(exc)[:120]})"
            ) from None
        except PersistenceError as exc:
            raise StoreError(f"the store failed while reading {kind} {ident}; try again: {exc}") from exc
        if not isinstance(agg, cls):
            raise NotFound(kind, ident)
        return agg

    def _load(self, cls: type[A], agg_id: object, kind: str) -> A:
        return self._get(cls, agg_id, kind)

    def exists(self, agg_id: UUID) -> bool:
        """True if anything (engagement, party, ...) was recorded under ``agg_id``."""
        return bool(self.recorder.select_events(agg_id, limit=1))

    def _update(
        self,
        cls: type[A],
        agg_id: object,
        kind: str,
        command: Callable[[A, datetime], R],
        companions: Callable[[A, datetime, bool], list[Aggregate]] | None = None,
    ) -> R:
        """Load, decide, save; on a version clash re-read and re-decide, up to max_retries.

        ``companions`` returns other aggregates the command changed (for example the coach's
        load when a team engagement ends); they are saved in the same transaction.
        """
        for attempt in range(self.max_retries + 1):
            agg = self._load(cls, agg_id, kind)
            was_ended = bool(getattr(agg, "is_ended", False))
            at = self._now()
            try:
                result = command(agg, at)
                others = companions(agg, at, was_ended) if companions else []
            except EtrackError as exc:
                raise _with_state(exc, kind, getattr(agg, "state", "?")) from None
            try:
                self.save(agg, *others)
            except IntegrityError:
                if attempt == self.max_retries:
                    raise ConcurrencyConflict(
                        f"{kind} {agg.id} was changed by another writer {attempt + 1} times; "
                        "nothing was recorded, try again"
                    ) from None
                continue
            except PersistenceError as exc:
                raise StoreError(f"the store failed while saving {kind} {agg.id}; nothing was recorded: {exc}") from exc
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _engagement(
        self, engagement_id: object, step: str, actor: Actor, command: Callable[[Engagement, datetime], R]
    ) -> R:
        """Run an engagement step: permission and state are checked before any text is sealed."""

        def checked(e: Engagement, at: datetime) -> R:
            e.precheck(step, actor)
            return command(e, at)

        return self._update(Engagement, engagement_id, "engagement", checked, self._free_team_slot)

    def _free_team_slot(self, e: Engagement, at: datetime, was_ended: bool) -> list[Aggregate]:
        """When a team engagement ends, free its slot in the coach's load, in the same save."""
        if e.coachee_kind != PartyKind.TEAM.value or was_ended or not e.is_ended:
            return []
        load = self._coach_load(e.coach, at)
        load.release(e.id, Actor(e.coach, Role.COACH), at)
        return [load]

    def _coach_load(self, coach: UUID, at: datetime) -> CoachLoad:
        try:
            return self._get(CoachLoad, CoachLoad.id_for(coach), "coach load")
        except NotFound:
            return CoachLoad.start(coach, at)

    def coach_load(self, coach: object) -> dict[str, Any]:
        """A coach's active team engagements against the capacity policy."""
        coach_id = as_uuid(coach, "coach")
        load = self._coach_load(coach_id, self._now())
        n = len(load.active)
        return {
            "coach": str(coach_id), "active_team_engagements": list(load.active), "active": n,
            "warn_above": self.capacity.warn_above, "refuse_above": self.capacity.refuse_above,
            "status": "at the limit" if n >= self.capacity.refuse_above
            else "above the advised" if n > self.capacity.warn_above else "ok",
            "warnings_recorded": len(load.warnings),
        }

    def seal(self, subject: UUID, text: object, field: str, max_chars: int = MAX_TEXT_CHARS) -> Sealed:
        """Validate ``text`` and seal it under ``subject``'s key."""
        return self.sealer.seal(str(subject), require_text(text, field, max_chars))

    def _seal_optional(self, subject: UUID, text: object, field: str) -> Sealed | None:
        return None if text is None else self.seal(subject, text, field)

    def unseal(self, sealed: Sealed | None) -> str | None:
        """Plaintext of ``sealed``, or "[erased]" once its subject was erased."""
        if sealed is None:
            return None
        try:
            return self.sealer.unseal(sealed)
        except SubjectErased:
            return ERASED

    # --- parties ----------------------------------------------------------------------------

    def register_party(
        self,
        kind: PartyKind | str,
        name: str,
        contact: str | None = None,
        party_id: UUID | None = None,
    ) -> UUID:
        """Register a person or a team; the name and contact are sealed under its own key."""
        kind = require_member(PartyKind, kind, "kind")
        name = require_text(name, "name", MAX_NAME_CHARS)
        if contact is not None:
            contact = require_text(contact, "contact", MAX_NAME_CHARS)
        pid = self.ids() if party_id is None else as_uuid(party_id, "party_id")
        if self.exists(pid):
            raise AlreadyExists("party", pid)
        at = self._now()
        self.sealer.create_subject(str(pid))  # a key alone holds no personal data
        party = Party.register(
            pid, kind, self.sealer.seal(str(pid), name),
            None if contact is None else self.sealer.seal(str(pid), contact), at,
        )
        self._save_new(party, "party")
        return pid

    def _save_new(self, agg: Aggregate, kind: str) -> None:
        try:
            self.save(agg)
        except IntegrityError:
            raise AlreadyExists(kind, agg.id) from None

    def party(self, party_id: object) -> Party:
        return self._load(Party, party_id, "party")

    def party_name(self, party_id: object) -> str:
        name = self.unseal(self.party(party_id).name)
        return name if name is not None else ERASED

    # --- engagement commands ----------------------------------------------------------------

    def open_engagement(
        self,
        actor: Actor,
        coachee: object,
        sponsor: object,
        sponsor_function: SponsorFunction | str,
        org_unit: str,
        engagement_id: UUID | None = None,
    ) -> UUID:
        """The coach (``actor``) opens an engagement for a coachee and a sponsor."""
        coach_party = self.party(actor.party)
        coachee_party = self.party(coachee)
        sponsor_party = self.party(sponsor)
        if sponsor_party.kind is not PartyKind.PERSON:
            raise InvalidInput("sponsor", "a sponsor is a person, not a team")
        if coach_party.kind is not PartyKind.PERSON:
            raise InvalidInput("coach", "a coach is a person, not a team")
        eid = self.ids() if engagement_id is None else as_uuid(engagement_id, "engagement_id")
        if self.exists(eid):
            raise AlreadyExists("engagement", eid)
        for attempt in range(self.max_retries + 1):
            at = self._now()
            engagement = Engagement.open(
                eid, actor, at, coach_party.id, coachee_party.id, coachee_party.kind,
                sponsor_party.id, sponsor_function, org_unit,
            )
            others: list[Aggregate] = []
            if coachee_party.kind is PartyKind.TEAM:
                load = self._coach_load(coach_party.id, at)
                load.take(eid, actor, at, self.capacity)  # refuses above the limit
                others.append(load)
            try:
                self.save(engagement, *others)
            except IntegrityError:
                if self.exists(eid):
                    raise AlreadyExists("engagement", eid) from None
                if attempt == self.max_retries:
                    raise ConcurrencyConflict(
                        f"coach {coach_party.id}'s team load kept changing; nothing was recorded, try again"
                    ) from None
                continue
            return eid
        raise AssertionError("unreachable")  # pragma: no cover

    def hold_first_meeting(self, engagement_id: object, actor: Actor, held_on: date) -> None:
        self._engagement(engagement_id, "hold_first_meeting", actor, lambda e, at: e.hold_first_meeting(actor, at, held_on))

    def confirm_will(self, engagement_id: object, actor: Actor) -> None:
        self._engagement(engagement_id, "confirm_will", actor, lambda e, at: e.confirm_will(actor, at))

    def decline(self, engagement_id: object, actor: Actor, reason: EndReason | str, detail: str | None = None) -> None:
        self._engagement(engagement_id, "decline", actor, lambda e, at: e.decline(actor, at, reason, self._seal_optional(e.coachee, detail, "detail")),
        )

    def record_diagnosis(self, engagement_id: object, actor: Actor, diagnosis: str) -> None:
        self._engagement(engagement_id, "record_diagnosis", actor, lambda e, at: e.record_diagnosis(actor, at, self.seal(e.coachee, diagnosis, "diagnosis")),
        )

    def hold_tripartite_meeting(
        self,
        engagement_id: object,
        actor: Actor,
        held_on: date,
        organisation_request: Sequence[str],
        coachee_request: Sequence[str],
    ) -> list[str]:
        """Record objectives at two levels; returns their keys (O1, O2, ...)."""
        for field, statements in (("organisation_request", organisation_request), ("coachee_request", coachee_request)):
            if isinstance(statements, (str, bytes)) or not isinstance(statements, Iterable):
                raise InvalidInput(field, "expected a list of objective statements")
        organisation_request, coachee_request = list(organisation_request), list(coachee_request)

        def command(e: Engagement, at: datetime) -> list[str]:
            org = [self.seal(e.coachee, s, "organisation_request", 2_000) for s in organisation_request]
            own = [self.seal(e.coachee, s, "coachee_request", 2_000) for s in coachee_request]
            return e.hold_tripartite_meeting(actor, at, held_on, org, own)

        return self._engagement(engagement_id, "hold_tripartite_meeting", actor, command)

    def validate_coherence(self, engagement_id: object, actor: Actor) -> None:
        self._engagement(engagement_id, "validate_coherence", actor, lambda e, at: e.validate_coherence(actor, at))

    def define_indicator(
        self,
        engagement_id: object,
        actor: Actor,
        objective: str,
        kind: IndicatorKind | str,
        label: str,
        baseline: float,
        target: float,
        unit: str,
    ) -> str:
        """Define a progress indicator for an objective; returns its key (I1, I2, ...)."""
        return self._engagement(engagement_id, "define_indicator", actor, lambda e, at: e.define_indicator(
                actor, at, objective, kind, self.seal(e.coachee, label, "label", 500), baseline, target, unit
            ),
        )

    def record_synthesis(self, engagement_id: object, actor: Actor, reference: str, digest: str) -> None:
        self._engagement(engagement_id, "record_synthesis", actor, lambda e, at: e.record_synthesis(actor, at, reference, digest))

    def fix_contract(self, engagement_id: object, actor: Actor, sessions: int, start: date, end: date) -> None:
        self._engagement(engagement_id, "fix_contract", actor,
                         lambda e, at: e.fix_contract(actor, at, Contract(sessions, start, end)))

    def start_accompaniment(self, engagement_id: object, actor: Actor) -> None:
        self._engagement(engagement_id, "start_accompaniment", actor, lambda e, at: e.start_accompaniment(actor, at))

    def record_session(
        self,
        engagement_id: object,
        actor: Actor,
        held_on: date,
        duration_minutes: int,
        themes: Iterable[SessionTheme | str],
        notes: str | None = None,
    ) -> int:
        """Record a session with its themes and confidential notes (sealed); returns its number."""
        if isinstance(themes, (str, bytes)) or not isinstance(themes, Iterable):
            raise InvalidInput("themes", "expected a list of themes")
        themes = list(themes)
        return self._engagement(engagement_id, "record_session", actor, lambda e, at: e.record_session(
                actor, at, held_on, duration_minutes, themes, self._seal_optional(e.coachee, notes, "notes")
            ),
        )

    def commit_action(self, engagement_id: object, actor: Actor, description: str, due: date | None = None) -> str:
        return self._engagement(engagement_id, "commit_action", actor, lambda e, at: e.commit_action(actor, at, self.seal(e.coachee, description, "description", 2_000), due),
        )

    def complete_action(self, engagement_id: object, actor: Actor, key: str) -> None:
        self._engagement(engagement_id, "complete_action", actor, lambda e, at: e.complete_action(actor, at, key))

    def drop_action(self, engagement_id: object, actor: Actor, key: str) -> None:
        self._engagement(engagement_id, "drop_action", actor, lambda e, at: e.drop_action(actor, at, key))

    def measure_indicator(
        self, engagement_id: object, actor: Actor, indicator: str, value: float, measured_on: date
    ) -> None:
        self._engagement(engagement_id, "measure_indicator", actor, lambda e, at: e.measure_indicator(actor, at, indicator, value, measured_on))

    def request_review(self, engagement_id: object, actor: Actor) -> None:
        self._engagement(engagement_id, "request_review", actor, lambda e, at: e.request_review(actor, at))

    def hold_review(self, engagement_id: object, actor: Actor, held_on: date, summary: str | None = None) -> None:
        self._engagement(engagement_id, "hold_review", actor, lambda e, at: e.hold_review(actor, at, held_on, self._seal_optional(e.coachee, summary, "summary")),
        )

    def suspend(self, engagement_id: object, actor: Actor, reason: str | None = None) -> None:
        self._engagement(engagement_id, "suspend", actor, lambda e, at: e.suspend(actor, at, self._seal_optional(e.coachee, reason, "reason"))
        )

    def resume(self, engagement_id: object, actor: Actor) -> None:
        self._engagement(engagement_id, "resume", actor, lambda e, at: e.resume(actor, at))

    def propose_amendment(
        self, engagement_id: object, actor: Actor, extra_sessions: int = 0, new_end: date | None = None
    ) -> None:
        self._engagement(engagement_id, "propose_amendment", actor, lambda e, at: e.propose_amendment(actor, at, extra_sessions, new_end))

    def agree_amendment(self, engagement_id: object, actor: Actor) -> None:
        self._engagement(engagement_id, "agree_amendment", actor, lambda e, at: e.agree_amendment(actor, at))

    def hold_closing_session(
        self,
        engagement_id: object,
        actor: Actor,
        held_on: date,
        evaluations: Mapping[str, tuple[Outcome | str, str]],
    ) -> None:
        """Evaluate every indicator: ``{"I1": ("achieved", "evidence..."), ...}``."""
        if not isinstance(evaluations, Mapping):
            raise InvalidInput("evaluations", "expected a mapping of indicator key to (outcome, evidence)")
        evaluations = dict(evaluations)

        def command(e: Engagement, at: datetime) -> None:
            evs = []
            for key, pair in evaluations.items():
                if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                    raise InvalidInput("evaluations", f"{key}: expected (outcome, evidence)")
                outcome, evidence = pair
                evs.append(
                    Evaluation(str(key), require_member(Outcome, outcome, "outcome"),
                               self.seal(e.coachee, evidence, f"evidence of {key}", 2_000))
                )
            e.hold_closing_session(actor, at, held_on, evs)

        self._engagement(engagement_id, "hold_closing_session", actor, command)

    def hold_closing_meeting(
        self, engagement_id: object, actor: Actor, held_on: date, synthesis: str, recommendations: str
    ) -> None:
        self._engagement(engagement_id, "hold_closing_meeting", actor, lambda e, at: e.hold_closing_meeting(
                actor, at, held_on,
                self.seal(e.coachee, synthesis, "synthesis"),
                self.seal(e.coachee, recommendations, "recommendations"),
            ),
        )

    def hold_quarterly_review(
        self,
        engagement_id: object,
        actor: Actor,
        held_on: date,
        objectives_realigned: bool,
        coaches_added: int = 0,
        coaches_removed: int = 0,
        notes: str | None = None,
    ) -> int:
        """Team coaching: the quarterly review with management and its decisions; returns the quarter."""
        decisions = QuarterlyDecisions(bool(objectives_realigned), coaches_added, coaches_removed)
        return self._engagement(engagement_id, "hold_quarterly_review", actor, lambda e, at: e.hold_quarterly_review(actor, at, held_on, decisions,
                                                  self._seal_optional(e.coachee, notes, "notes")),
        )

    def make_signal(
        self,
        subject: UUID,
        theme: str,
        context: str,
        polarity: str,
        intensity: int,
        unit: str,
        observed_on: date,
        note: str | None,
    ) -> Signal:
        return Signal(
            theme, require_member(SignalContext, context, "context"), require_member(Polarity, polarity, "polarity"),
            intensity, unit, observed_on, None if note is None else self.seal(subject, note, "note", 2_000),
        )

    def record_signal(
        self,
        engagement_id: object,
        actor: Actor,
        theme: str,
        context: str,
        polarity: str,
        intensity: int,
        unit: str,
        observed_on: date,
        note: str | None = None,
    ) -> None:
        """The coach records a weak or strong signal: taxonomy only; any free text is sealed.

        ``unit`` is a coarse organisational unit (analysts see at most that); ``note`` never
        reaches an analyst.
        """
        self._engagement(engagement_id, "record_signal", actor, lambda e, at: e.record_signal(
            actor, at, self.make_signal(e.coachee, theme, context, polarity, intensity, unit, observed_on, note),
            self.signal_themes))

    def propose_disclosure(self, engagement_id: object, actor: Actor, items: Iterable[str]) -> None:
        """Coachee or sponsor proposes what the sponsor may see: objectives, indicators, evaluations, dates."""
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise InvalidInput("items", f"expected a list of: {', '.join(i.value for i in DisclosureItem)}")
        chosen = list(items)
        self._engagement(engagement_id, "propose_disclosure", actor,
                         lambda e, at: e.propose_disclosure(actor, at, chosen))

    def accept_disclosure(self, engagement_id: object, actor: Actor) -> None:
        """The other party accepts; from then on the sponsor's view holds exactly those items."""
        self._engagement(engagement_id, "accept_disclosure", actor, lambda e, at: e.accept_disclosure(actor, at))

    # --- erasure (GDPR) -----------------------------------------------------------------------

    def erase_subject(self, party_id: object, actor: Actor) -> dict[str, Any]:
        """Erase a person or team: record the erasure (no personal data), then destroy their key.

        Everything sealed under that key (names, contact, notes of their engagements) becomes
        unreadable for good; history and its audit chain still verify. Returns a receipt.
        Running it again for the same party returns the receipt again.
        """
        party = self.party(party_id)
        if not party.erased:
            self._update(Party, party.id, "party", lambda p, at: p.erase(actor, at))
            party = self.party(party.id)
        else:
            require_eraser(actor)
        destroyed = self.sealer.erase_subject(str(party.id))
        erased_at = party.modified_on.isoformat()
        token = f"etrack-erasure|{party.id}|{erased_at}|{party.version}"
        return {
            "subject": str(party.id),
            "erased_at": erased_at,
            "recorded_version": party.version,
            "key_destroyed_now": destroyed,
            "key_present": not self.sealer.is_erased(str(party.id)),
            "receipt": hashlib.sha256(token.encode()).hexdigest(),
        }

    # --- point-in-time replay (auditors) -----------------------------------------------------------

    def replay(
        self, aggregate_id: object, viewer: Actor, version: int | None = None, at: datetime | None = None
    ) -> dict[str, Any]:
        """The state of an engagement, cohort or party at a version or a time, sealed fields shown sealed.

        For auditors and admins: nothing is unsealed, so the replay reads no confidential content.
        """
        require_auditor(viewer, "replay")
        ident = as_uuid(aggregate_id, "aggregate_id")
        try:
            events = list(self.events.get(ident))
        except MapperDeserialisationError:
            raise StoreError(f"cannot decode {ident}: ETRACK_CIPHER_KEY is missing or wrong") from None
        if not events:
            raise NotFound("engagement, cohort or party", ident)
        if version is not None and at is not None:
            raise InvalidInput("version", "give a version or a time, not both")
        if at is not None:
            if not isinstance(at, datetime) or at.tzinfo is None:
                raise InvalidInput("at", "expected a timezone-aware datetime")
            upto = [e for e in events if e.timestamp <= at]
            if not upto:
                raise InvalidInput("at", f"{at.isoformat()} is before {ident} existed ({events[0].timestamp})")
            version = upto[-1].originator_version
        last = events[-1].originator_version
        if version is None:
            version = last
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= last:
            raise InvalidInput("version", f"{version!r}: {ident} has versions 1 to {last}")
        aggregate = None
        for event in events[:version]:
            aggregate = event.mutate(aggregate)
        return state_as_json(aggregate)

    def tick(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Record every deadline that fell due by ``now`` (default: the clock), exactly once.

        Returns what was recorded now: kind, id, deadline, due_at. Running it again records
        nothing new.
        """
        now = self._now() if now is None else now
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise InvalidInput("now", "expected a timezone-aware datetime")
        system = Actor(SYSTEM_PARTY, Role.SYSTEM)
        recorded: list[dict[str, Any]] = []
        sources: list[tuple[str, type[Engagement] | type[Cohort], Iterable[UUID]]] = [
            ("engagement", Engagement, list(self.engagement_ids())),
            ("cohort", Cohort, list(self.cohort_ids())),
        ]
        for kind, cls, ids in sources:
            for agg_id in ids:
                if not self._load(cls, agg_id, kind).due_deadlines(now):
                    continue

                def record(agg: Any, _at: datetime, kind: str = kind) -> list[dict[str, Any]]:
                    rows = []
                    for deadline, due_at in agg.due_deadlines(now):
                        agg.miss_deadline(system, now, deadline, due_at)
                        rows.append({"kind": kind, "id": str(agg.id), "deadline": deadline,
                                     "due_at": due_at.isoformat()})
                    return rows

                recorded.extend(self._update(cls, agg_id, kind, record))  # type: ignore[arg-type]
        return recorded

    def abandon(self, engagement_id: object, actor: Actor, reason: EndReason | str, detail: str | None = None) -> None:
        self._engagement(engagement_id, "abandon", actor, lambda e, at: e.abandon(actor, at, reason, self._seal_optional(e.coachee, detail, "detail")),
        )

    # --- reads ------------------------------------------------------------------------------

    def engagement(self, engagement_id: object, version: int | None = None) -> Engagement:
        """The aggregate itself (for embedding code and tests; carries sealed values only)."""
        return self._get(Engagement, engagement_id, "engagement", version)

    def engagement_ids(self) -> Iterator[UUID]:
        """Every engagement id, in the order they were opened."""
        return self._ids_of(Engagement.Created.TOPIC)

    def cohort_ids(self) -> Iterator[UUID]:
        """Every cohort id, in the order they were opened."""
        return self._ids_of(Cohort.Created.TOPIC)

    def _ids_of(self, topic: str) -> Iterator[UUID]:
        start = 1
        while True:
            page = self.recorder.select_notifications(start, 500, topics=[topic])
            for n in page:
                yield UUID(str(n.originator_id))
            if len(page) < 500:
                return
            start = page[-1].id + 1

    def engagement_view(self, engagement_id: object, viewer: Actor) -> dict[str, Any]:
        """The engagement as ``viewer`` may see it; a refused read raises NotPermitted.

        Scopes (``domain.access.READ_SCOPES``): coach and coachee see everything, content
        unsealed; the sponsor sees what the tripartite contract shares (objectives,
        indicators, measurements, outcomes, meeting dates), never session content;
        auditors and admins see states and dates, no content.
        """
        e = self.engagement(engagement_id)
        scope = read_scope(e, viewer)
        view: dict[str, Any] = {
            "id": str(e.id),
            "version": e.version,
            "state": e.state,
            "phase": e.phase,
            "opened_at": e.created_on.isoformat(),
            "updated_at": e.modified_on.isoformat(),
            "coachee_kind": e.coachee_kind,
            "org_unit": e.org_unit,
            "allowed_steps": e.allowed_steps(),
            "contract": None if e.contract is None else {
                "sessions": e.contract.sessions, "start": e.contract.start.isoformat(),
                "end": e.contract.end.isoformat(), "sessions_allowed": e.sessions_allowed,
                "end_with_amendments": e.contract_end.isoformat() if e.contract_end else None,
            },
            "sessions_held": len(e.sessions),
            "dates": {
                "first_meeting": _iso(e.first_meeting_on),
                "tripartite_meeting": _iso(e.tripartite_on),
                "reviews": [d.isoformat() for d in e.reviews_held],
                "sessions": [s.held_on.isoformat() for s in e.sessions],
                "closing_session": _iso(e.closing_session_on),
                "closing_meeting": _iso(e.closing_meeting_on),
            },
            "end_reason": e.end_reason,
            "missed_deadlines": {k: d.isoformat() for k, d in e.missed.items()},
            "quarterly_reviews": [d.isoformat() for d in e.quarterly_reviews],
            "scope": scope,
        }
        if scope == "metadata":
            view["parties"] = {"coach": str(e.coach), "coachee": str(e.coachee), "sponsor": str(e.sponsor)}
            return view
        view["parties"] = {
            role: {"id": str(pid), "name": self.party_name(pid)}
            for role, pid in (("coach", e.coach), ("coachee", e.coachee), ("sponsor", e.sponsor))
        }
        view["sponsor_function"] = e.sponsor_function
        view["disclosure"] = {"agreed": list(e.disclosure), "proposal": e.disclosure_proposal}
        shared = set(e.disclosure) if scope == "contract" else {i.value for i in DisclosureItem}
        if "objectives" in shared:
            view["objectives"] = [
                {"key": o.key, "level": o.level.value, "statement": self.unseal(o.statement)}
                for o in e.objectives.values()
            ]
        if "indicators" in shared:
            view["indicators"] = [self._indicator_view(e, i.key) for i in e.indicators.values()]
        if "evaluations" in shared:
            view["evaluations"] = {
                k: {"outcome": ev.outcome.value}
                | ({} if scope == "contract" else {"evidence": self.unseal(ev.evidence)})
                for k, ev in e.evaluations.items()
            }
        if "dates" not in shared:
            view.pop("dates")
            view.pop("quarterly_reviews")
            for indicator in view.get("indicators", []):
                for m in indicator["measurements"]:
                    m.pop("measured_on")
        if scope == "contract":  # the phase, never the step: no suspension, no activity rhythm
            for hidden in ("sessions_held", "missed_deadlines", "version", "updated_at", "allowed_steps", "state"):
                view.pop(hidden)
            return view
        view["will_confirmed_by"] = list(e.will_confirmed)
        view["diagnosis"] = self.unseal(e.diagnosis)
        view["synthesis_document"] = e.synthesis
        view["sessions"] = [
            {"number": s.number, "held_on": s.held_on.isoformat(), "duration_minutes": s.duration_minutes,
             "themes": [t.value for t in s.themes]} | ({"notes": self.unseal(s.notes)} if scope == "full" else {})
            for s in e.sessions
        ]
        view["actions"] = [
            {"key": a.key, "description": self.unseal(a.description), "due": _iso(a.due), "status": a.status.value}
            for a in e.actions.values()
        ]
        view["review_requested_by"] = e.review_requested_by
        view["pending_amendment"] = None if e.pending_amendment is None else {
            "extra_sessions": e.pending_amendment.extra_sessions,
            "new_end": _iso(e.pending_amendment.new_end),
            "agreed_by": [r.value for r in e.pending_amendment.agreed_by],
        }
        view["closing_synthesis"] = self.unseal(e.closing_synthesis)
        view["recommendations"] = self.unseal(e.recommendations)
        view["end_detail"] = self.unseal(e.end_detail)
        return view

    def _indicator_view(self, e: Engagement, key: str) -> dict[str, Any]:
        i = e.indicators[key]
        return {
            "key": i.key, "objective": i.objective, "kind": i.kind.value, "label": self.unseal(i.label),
            "baseline": i.baseline, "target": i.target, "unit": i.unit,
            "measurements": e.indicator_progress(key),
            "trend": (e.indicator_progress(key) or [{"status": "not measured"}])[-1]["status"],
        }

    def timeline(self, engagement_id: object, viewer: Actor) -> list[dict[str, Any]]:
        """Every recorded step of an engagement: when, which step, by which role, to which state."""
        e = self.engagement(engagement_id)
        scope = read_scope(e, viewer)
        rows = []
        for event in self.events.get(e.id):
            if scope == "contract" and not _sponsor_sees(event, e, viewer):
                continue
            rows.append(
                {
                    "version": event.originator_version,
                    "at": event.timestamp.isoformat(),
                    "event": type(event).__name__,
                    "role": event.actor.role.value,  # type: ignore[attr-defined]
                    "state": event.to_state if scope != "contract"  # type: ignore[attr-defined]
                    else _phase_of(event.to_state),  # type: ignore[attr-defined]
                }
            )
        return rows


class CohortCommands:
    """Peer-coaching cohorts: ``app.cohorts.<step>(cohort_id, actor, ...)``.

    Free text is sealed under its author's own key (the cohort's name under the cohort's);
    members appear by pseudonymous id.
    """

    def __init__(self, app: EngagementTracker) -> None:
        self.app = app

    def _do(self, cohort_id: object, step: str, actor: Actor, command: Callable[[Cohort, datetime], R]) -> R:
        def checked(c: Cohort, at: datetime) -> R:
            c.precheck(step, actor)
            return command(c, at)

        return self.app._update(Cohort, cohort_id, "cohort", checked)

    def _seal(self, author: Actor, text: object, field: str) -> Sealed:
        """Shared work is sealed under its author's own key: erasing a member erases what they wrote."""
        return self.app.seal(author.party, text, field, 2_000)

    def open(
        self, actor: Actor, org_unit: str, name: str, rules: CohortRules | None = None, cohort_id: UUID | None = None
    ) -> UUID:
        """A coach opens a cohort; ``rules`` default to the seed's numbers (5-8 members, 3 metrics, ...)."""
        self.app.party(actor.party)
        cid = self.app.ids() if cohort_id is None else as_uuid(cohort_id, "cohort_id")
        if self.app.exists(cid):
            raise AlreadyExists("cohort", cid)
        name = require_text(name, "name", MAX_NAME_CHARS)
        self.app.sealer.create_subject(str(cid))
        cohort = Cohort.open(cid, actor, self.app._now(), org_unit, self.app.sealer.seal(str(cid), name), rules)
        self.app._save_new(cohort, "cohort")
        return cid

    def get(self, cohort_id: object, version: int | None = None) -> Cohort:
        return self.app._get(Cohort, cohort_id, "cohort", version)

    def add_member(self, cohort_id: object, actor: Actor, member: object) -> None:
        member_id = self.app.party(member).id
        self._do(cohort_id, "add_member", actor, lambda c, at: c.add_member(actor, at, member_id))

    def remove_member(self, cohort_id: object, actor: Actor, member: object) -> None:
        member_id = as_uuid(member, "member")
        self._do(cohort_id, "remove_member", actor, lambda c, at: c.remove_member(actor, at, member_id))

    def set_scope(self, cohort_id: object, actor: Actor, scope: str) -> None:
        self._do(cohort_id, "set_scope", actor, lambda c, at: c.set_scope(actor, at, self._seal(actor, scope, "scope")))

    def set_objective(self, cohort_id: object, actor: Actor, objective: str, customer_result: str) -> None:
        self._do(cohort_id, "set_objective", actor, lambda c, at: c.set_objective(
            actor, at, self._seal(actor, objective, "objective"), self._seal(actor, customer_result, "customer_result")))

    def add_key_result(self, cohort_id: object, actor: Actor, statement: str, due: date) -> int:
        return self._do(cohort_id, "add_key_result", actor, lambda c, at: c.add_key_result(actor, at, self._seal(actor, statement, "statement"), due))

    def add_metric(self, cohort_id: object, actor: Actor, name: str) -> str:
        return self._do(cohort_id, "add_metric", actor, lambda c, at: c.add_metric(actor, at, self._seal(actor, name, "name")))

    def plan_experiment(self, cohort_id: object, actor: Actor, key_result: int, hypothesis: str) -> str:
        return self._do(cohort_id, "plan_experiment", actor, lambda c, at: c.plan_experiment(
            actor, at, key_result, self._seal(actor, hypothesis, "hypothesis")))

    def start_accompaniment(self, cohort_id: object, actor: Actor) -> None:
        self._do(cohort_id, "start_accompaniment", actor, lambda c, at: c.start_accompaniment(actor, at))

    def hold_ritual(
        self,
        cohort_id: object,
        actor: Actor,
        kind: str,
        held_on: date,
        facilitator: object,
        scribe: object,
        metrics_keeper: object,
        artefact_kind: str,
        artefact: str,
    ) -> int:
        """A ritual with its three rotating roles (distinct members) and the artefact it produced."""
        roles = [as_uuid(p, f) for p, f in ((facilitator, "facilitator"), (scribe, "scribe"),
                                             (metrics_keeper, "metrics_keeper"))]
        return self._do(cohort_id, "hold_ritual", actor, lambda c, at: c.hold_ritual(
            actor, at, kind, held_on, *roles, artefact_kind, self._seal(actor, artefact, "artefact")))

    def record_decision(
        self,
        cohort_id: object,
        actor: Actor,
        statement: str,
        metric: str | None,
        value: float | None,
        decided_on: date | None,
        owner: object | None,
    ) -> int:
        """A decision with its data point (a cohort metric and its value), date and owner (a member)."""
        point = None if metric is None or value is None else DataPoint(metric, value)
        owner_id = None if owner is None else as_uuid(owner, "owner")
        return self._do(cohort_id, "record_decision", actor, lambda c, at: c.record_decision(
            actor, at, self._seal(actor, statement, "statement"), point, decided_on, owner_id))

    def start_experiment(self, cohort_id: object, actor: Actor, key: str) -> None:
        self._do(cohort_id, "start_experiment", actor, lambda c, at: c.start_experiment(actor, at, key))

    def end_experiment(self, cohort_id: object, actor: Actor, key: str) -> None:
        self._do(cohort_id, "end_experiment", actor, lambda c, at: c.end_experiment(actor, at, key))

    def give_feedback(self, cohort_id: object, actor: Actor, key: str, feedback: str) -> bool:
        return self._do(cohort_id, "give_feedback", actor, lambda c, at: c.give_feedback(actor, at, key, self._seal(actor, feedback, "feedback")))

    def update_playbook(self, cohort_id: object, actor: Actor, practice: str, status: str, conditions: str) -> None:
        self._do(cohort_id, "update_playbook", actor, lambda c, at: c.update_playbook(
            actor, at, practice, status, self._seal(actor, conditions, "conditions")))

    def complete_checkpoint(self, cohort_id: object, actor: Actor, week: int) -> None:
        self._do(cohort_id, "complete_checkpoint", actor, lambda c, at: c.complete_checkpoint(actor, at, week))

    def begin_closing(self, cohort_id: object, actor: Actor) -> None:
        self._do(cohort_id, "begin_closing", actor, lambda c, at: c.begin_closing(actor, at))

    def record_closing_synthesis(self, cohort_id: object, actor: Actor, synthesis: str) -> None:
        self._do(cohort_id, "record_closing_synthesis", actor, lambda c, at: c.record_closing_synthesis(actor, at, self._seal(actor, synthesis, "synthesis")))

    def record_sharing(self, cohort_id: object, actor: Actor, audience: str) -> None:
        self._do(cohort_id, "record_sharing", actor, lambda c, at: c.record_sharing(actor, at, self._seal(actor, audience, "audience")))

    def prepare_scale_up(self, cohort_id: object, actor: Actor, plan: str) -> None:
        self._do(cohort_id, "prepare_scale_up", actor, lambda c, at: c.prepare_scale_up(actor, at, self._seal(actor, plan, "plan")))

    def close(self, cohort_id: object, actor: Actor) -> None:
        self._do(cohort_id, "close", actor, lambda c, at: c.close(actor, at))

    def abandon(self, cohort_id: object, actor: Actor, reason: str | None = None) -> None:
        self._do(cohort_id, "abandon", actor, lambda c, at: c.abandon(
            actor, at, None if reason is None else self._seal(actor, reason, "reason")))

    def record_signal(
        self,
        cohort_id: object,
        actor: Actor,
        theme: str,
        context: str,
        polarity: str,
        intensity: int,
        unit: str,
        observed_on: date,
        note: str | None = None,
    ) -> None:
        """The cohort's coach records a signal noticed through the cohort (see EngagementTracker.record_signal)."""
        app = self.app
        self._do(cohort_id, "record_signal", actor, lambda c, at: c.record_signal(
            actor, at, app.make_signal(actor.party, theme, context, polarity, intensity, unit, observed_on, note),
            app.signal_themes))

    def view(self, cohort_id: object, viewer: Actor, now: datetime | None = None) -> dict[str, Any]:
        """The cohort as ``viewer`` may see it: members and coach see its shared work unsealed."""
        c = self.get(cohort_id)
        scope = cohort_read_scope(c, viewer)
        unseal = self.app.unseal
        now = self.app._now() if now is None else now
        view: dict[str, Any] = {
            "id": str(c.id), "version": c.version, "state": c.state, "scope": scope, "org_unit": c.org_unit,
            "members": len(c.members), "rules": {f: getattr(c.rules, f) for f in
                                                 ("min_members", "max_members", "metrics", "experiments",
                                                  "feedback_hours", "cycle_weeks")},
            "allowed_steps": c.allowed_steps(), "rituals_held": len(c.rituals), "decisions": len(c.decisions),
            "cycle": c.cycle_status(now),
            "missed_deadlines": {k: d.isoformat() for k, d in c.missed.items()},
        }
        if scope == "metadata":
            return view
        view.update({
            "name": unseal(c.name),
            "coach": {"id": str(c.coach), "name": self.app.party_name(c.coach)},
            "member_list": [{"id": m, "name": self.app.party_name(m), "joined_on": d.isoformat()}
                            for m, d in c.members.items()],
            "process_scope": unseal(c.scope), "objective": unseal(c.objective),
            "customer_result": unseal(c.customer_result),
            "key_results": [{"number": k.number, "statement": unseal(k.statement), "due": k.due.isoformat()}
                            for k in c.key_results],
            "metrics": {k: unseal(m.name) for k, m in c.metrics.items()},
            "experiments": [
                {"key": x.key, "key_result": x.key_result, "hypothesis": unseal(x.hypothesis),
                 "status": x.status.value, "ended_at": x.ended_at.isoformat() if x.ended_at else None,
                 "feedback": unseal(c.feedback.get(x.key)),
                 "feedback_late": bool(x.ended_at and x.feedback_at and
                                       x.feedback_at > x.ended_at + timedelta(hours=c.rules.feedback_hours))}
                for x in c.experiments.values()
            ],
            "ritual_list": [
                {"number": r.number, "kind": r.kind.value, "held_on": r.held_on.isoformat(),
                 "facilitator": str(r.facilitator), "scribe": str(r.scribe),
                 "metrics_keeper": str(r.metrics_keeper), "artefact_kind": r.artefact_kind.value,
                 "artefact": unseal(r.artefact)}
                for r in c.rituals
            ],
            "decision_list": [
                {"number": d.number, "statement": unseal(d.statement), "metric": d.data_point.metric,
                 "value": d.data_point.value, "decided_on": d.decided_on.isoformat(), "owner": str(d.owner)}
                for d in c.decisions
            ],
            "playbook": {k: {"status": p.status.value, "conditions": unseal(p.conditions)}
                         for k, p in c.playbook.items()},
            "closing": {k: unseal(v) for k, v in c.closing.items()},
        })
        return view


def _with_state(exc: EtrackError, kind: str, state: str) -> EtrackError:
    """Name the current state in a refusal that does not already (every refusal says where it stood)."""
    if getattr(exc, "state", None) is None:
        exc.state = state  # type: ignore[attr-defined]
        if exc.args:
            exc.args = (f"{exc.args[0]} [{kind} state: {state}]", *exc.args[1:])
    return exc


def _env_int(env: Any, key: str, default: int) -> int:
    raw = env.get(key)
    if raw in (None, ""):
        return default
    if not str(raw).isdigit():
        raise InvalidInput(key, f"{raw!r} is not a whole number")
    return int(raw)


#: What the tripartite contract shares with the sponsor of the steps taken (never sessions'
#: content, the coachee's will, actions, suspensions or missed intersession actions).
SPONSOR_VISIBLE_EVENTS = frozenset({
    "Created", "TripartiteMeetingHeld", "CoherenceValidated", "IndicatorDefined", "ContractFixed",
    "AccompanimentStarted", "IndicatorMeasured", "ReviewRequested", "ReviewHeld", "AmendmentProposed",
    "AmendmentAgreed", "QuarterlyReviewHeld", "ClosingSessionHeld", "ClosingMeetingHeld", "Abandoned", "Declined",
    "DisclosureProposed", "DisclosureAgreed",
})


def _phase_of(state: str) -> str:
    return state.split(".", 1)[0]


def _sponsor_sees(event: Any, e: Engagement, viewer: Actor) -> bool:
    """A sponsor's timeline: the sponsor's own steps and the disclosure agreement always; other
    contract steps only once "dates" is agreed, each also needing its own item."""
    name = type(event).__name__
    if name not in SPONSOR_VISIBLE_EVENTS:
        return False
    if name in ("Created", "DisclosureProposed", "DisclosureAgreed") or event.actor == viewer:
        return True
    needs = SPONSOR_EVENT_ITEMS.get(name, set())
    return "dates" in e.disclosure and needs <= set(e.disclosure)


#: The disclosure items a sponsor must have agreed to see an event on the timeline (beyond "dates").
SPONSOR_EVENT_ITEMS = {
    "TripartiteMeetingHeld": {"objectives"}, "CoherenceValidated": {"objectives"},
    "IndicatorDefined": {"indicators"}, "IndicatorMeasured": {"indicators"},
    "ClosingSessionHeld": {"evaluations"},
}


def state_as_json(value: Any) -> Any:
    """An aggregate's state as JSON data, with every sealed value shown sealed (never opened)."""
    if isinstance(value, Sealed):
        return {"sealed": True, "subject": value.subject, "digest": value.digest}
    if isinstance(value, Aggregate):
        state = {k.lstrip("_"): state_as_json(v) for k, v in vars(value).items() if k != "_pending_events"}
        return {"type": type(value).__name__, **state}
    if attrs.has(type(value)):
        return {f.name: state_as_json(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (UUID,)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): state_as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [state_as_json(v) for v in value]
    return value


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


__all__ = ["ERASED", "CohortCommands", "EngagementTracker", "as_uuid", "register_value_transcodings"]
