"""The application: commands with an injected clock and id factory, and role-filtered reads.

It seals confidential text through the sealing port before any aggregate sees it, saves with
optimistic concurrency (a clash re-reads and re-decides, then raises ConcurrencyConflict), and
never chooses a backend: the environment it is given does (see ``adapters/storage.py``).
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import attrs
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    MapperDeserialisationError,
)

from engagement_tracker.domain.access import require_auditor
from engagement_tracker.domain.application.analysts import AnalystService
from engagement_tracker.domain.application.audit import AuditService
from engagement_tracker.domain.application.budget_commands import BudgetService
from engagement_tracker.domain.application.calendars import CalendarService
from engagement_tracker.domain.application.cohort_commands import CohortService
from engagement_tracker.domain.application.command_path import Clock, CommandPath, IdFactory
from engagement_tracker.domain.application.engagement_commands import EngagementService
from engagement_tracker.domain.application.grant_commands import AccessService
from engagement_tracker.domain.application.imports import ImportService
from engagement_tracker.domain.application.parties import PartyService
from engagement_tracker.domain.application.release_calendar import ReleaseCalendarService
from engagement_tracker.domain.application.reminders import ReminderService
from engagement_tracker.domain.application.retention import RetentionService
from engagement_tracker.domain.application.scheduling import SessionService
from engagement_tracker.domain.application.subject_access import SubjectService
from engagement_tracker.domain.application.templates import TemplateService
from engagement_tracker.domain.application.views import state_as_json
from engagement_tracker.domain.checks import as_uuid
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.engagement_record import EngagementRecord
from engagement_tracker.domain.errors import (
    InvalidInput,
    NotFound,
    StoreError,
)
from engagement_tracker.domain.sealing import Sealer
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import SYSTEM_PARTY, Role

#: The flat methods of 0.1 and where each went: ``app.<flat>`` is ``app.<service>.<method>``.
DEPRECATED_FLAT: dict[str, tuple[str, str]] = {
    "abandon": ("engagements", "abandon"),
    "accept_disclosure": ("engagements", "accept_disclosure"),
    "access_history": ("access", "history"),
    "agree_amendment": ("engagements", "agree_amendment"),
    "coach_hours": ("engagements", "coach_hours"),
    "coach_load": ("engagements", "coach_load"),
    "cohort_ids": ("cohorts", "ids"),
    "commit_action": ("engagements", "commit_action"),
    "complete_action": ("engagements", "complete_action"),
    "confirm_will": ("engagements", "confirm_will"),
    "consent_to_icf_log": ("engagements", "consent_to_icf_log"),
    "decline": ("engagements", "decline"),
    "define_indicator": ("engagements", "define_indicator"),
    "drop_action": ("engagements", "drop_action"),
    "engagement": ("engagements", "get"),
    "engagement_ids": ("engagements", "ids"),
    "engagement_record": ("engagements", "record"),
    "engagement_view": ("engagements", "view"),
    "erase_subject": ("parties", "erase"),
    "fix_contract": ("engagements", "fix_contract"),
    "grant": ("access", "grant"),
    "grant_privacy_budget": ("budgets", "grant"),
    "grants": ("access", "grants"),
    "hold_closing_meeting": ("engagements", "hold_closing_meeting"),
    "hold_closing_session": ("engagements", "hold_closing_session"),
    "hold_first_meeting": ("engagements", "hold_first_meeting"),
    "hold_quarterly_review": ("engagements", "hold_quarterly_review"),
    "hold_review": ("engagements", "hold_review"),
    "hold_tripartite_meeting": ("engagements", "hold_tripartite_meeting"),
    "initialise": ("access", "initialise"),
    "leave_testimonial": ("engagements", "leave_testimonial"),
    "measure_indicator": ("engagements", "measure_indicator"),
    "open_engagement": ("engagements", "open"),
    "privacy_budget": ("budgets", "balance"),
    "propose_amendment": ("engagements", "propose_amendment"),
    "propose_disclosure": ("engagements", "propose_disclosure"),
    "record_diagnosis": ("engagements", "record_diagnosis"),
    "record_session": ("engagements", "record_session"),
    "record_signal": ("engagements", "record_signal"),
    "record_synthesis": ("engagements", "record_synthesis"),
    "register_party": ("parties", "register"),
    "request_review": ("engagements", "request_review"),
    "resume": ("engagements", "resume"),
    "revoke": ("access", "revoke"),
    "spend_privacy_budget": ("budgets", "spend"),
    "start_accompaniment": ("engagements", "start_accompaniment"),
    "suspend": ("engagements", "suspend"),
    "testimonial_quotes": ("engagements", "testimonial_quotes"),
    "timeline": ("engagements", "timeline"),
    "validate_coherence": ("engagements", "validate_coherence"),
}


class EngagementTracker(CommandPath):
    """The domain core's application: one command path and the services composed on it.

    ``app.engagements``, ``app.cohorts``, ``app.parties``, ``app.access`` (grants) and
    ``app.budgets`` (privacy budgets) each hold the same command path; ``app.audit`` (the audit trail)
    and ``app.analysts`` (released aggregates) are built on first use; ``app.tick`` records the
    deadlines that fell due and ``app.replay`` shows a past state to auditors. The flat methods of
    0.1 (``app.hold_first_meeting(...)``) still work for one minor version, with a DeprecationWarning.
    """

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
        max_retries: int | None = None,
    ) -> None:
        super().__init__(env, sealer=sealer, clock=clock, ids=ids, max_retries=max_retries)
        #: The services, each given this one command path (``app.engagements.hold_first_meeting(...)``).
        self.engagements = EngagementService(self)
        self.cohorts = CohortService(self)
        self.parties = PartyService(self)
        self.access = AccessService(self)
        self.budgets = BudgetService(self)
        #: The shapes a programme publishes each period, and the periods published (``release_calendar.py``).
        self.release_calendar = ReleaseCalendarService(self)
        #: Parties and engagements from a CSV file, every row checked first (``imports.py``).
        self.imports = ImportService(self, self.engagements)
        #: A person's data for them (GDPR articles 15, 16, 20): export, rectify (``subject_access.py``).
        self.subjects = SubjectService(self)
        #: Sessions planned ahead: schedule, reschedule, cancel, hold (``scheduling.py``).
        self.sessions = SessionService(self.engagements)
        #: A person's sessions and deadlines, nothing confidential (``calendars.py``).
        self.calendars = CalendarService(self)
        #: Reminders: queued by tick, once each; sent by adapters/reminder_mail.py (``reminders.py``).
        self.reminders = ReminderService(self)
        #: The retention policy: session content erased some years after an engagement ends, by tick
        #: (``retention.py``).
        self.retention = RetentionService(self)
        #: Programme templates (objectives and indicators; rituals and roles), applied at opening
        #: (``templates.py``).
        self.templates = TemplateService(self)
        #: How the services over read models are built on first use (``provide``, from bootstrap): a
        #: command that never reads the audit trail never creates its tables.
        self._read_services: dict[str, Callable[[], Any]] = {}
        self._built: dict[str, Any] = {}
        self._building = threading.Lock()

    def provide(self, *, audit: Callable[[], AuditService] | None = None,
                analysts: Callable[[], AnalystService] | None = None) -> None:
        """Bootstrap's wiring of the services that read a read model (``adapters/bootstrap.py``): each
        is built by its factory the first time it is used."""
        if audit is not None:
            self._read_services["audit"] = audit
        if analysts is not None:
            self._read_services["analysts"] = analysts

    def _read_service(self, name: str) -> Any:
        with self._building:
            if name not in self._built:
                factory = self._read_services.get(name)
                if factory is None:
                    raise StoreError(f"app.{name} reads a read model this tracker was not given: open it with "
                                     "engagement_tracker.adapters.bootstrap.open_tracker (which wires it)")
                self._built[name] = factory()
            return self._built[name]

    @property
    def audit(self) -> AuditService:
        """What auditors do with the audit trail (read, verify, checkpoint, publish, export, prove), built
        on first use."""
        service: AuditService = self._read_service("audit")
        return service

    @property
    def analysts(self) -> AnalystService:
        """Released aggregates for analysts (signals, trends, activity, testimonial ratings; exact or
        differentially private), built on first use."""
        service: AnalystService = self._read_service("analysts")
        return service

    if not TYPE_CHECKING:  # hidden from type checkers: a flat call in typed code is an error to fix

        def __getattr__(self, name: str) -> Any:
            """The flat methods of 0.1, kept for one minor version: each warns, then calls its service
            and returns what 0.1 returned (a command's value, not its outcome)."""
            moved = DEPRECATED_FLAT.get(name)
            if moved is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            service, method = moved
            warnings.warn(f"app.{name}(...) is deprecated: use app.{service}.{method}(...)", DeprecationWarning,
                          stacklevel=2)
            call = getattr(getattr(self, service), method)

            @functools.wraps(call)
            def flat(*args: Any, **kwargs: Any) -> Any:
                result = call(*args, **kwargs)
                return result.value if isinstance(result, CommandResult) else result

            return flat

    # --- point-in-time replay (auditors) -----------------------------------------------------------

    def replay(
        self, aggregate_id: object, viewer: Actor, version: int | None = None, at: datetime | None = None
    ) -> dict[str, Any]:
        """The state of an engagement, cohort or party at a version or a time, sealed fields shown sealed.

        For auditors and admins: nothing is unsealed, so the replay reads no confidential content.
        """
        require_auditor(viewer, "replay", self.held_grants)
        ident = as_uuid(aggregate_id, "aggregate_id")
        try:
            events = [cast(Aggregate.Event, e) for e in self.events.get(ident)]
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
        if isinstance(events[0], Engagement.Created):  # the decision state and what its events carry
            record = EngagementRecord.of(events[:version])
            content = {f.name: getattr(record, f.name) for f in attrs.fields(EngagementRecord)[1:]}
            return {**state_as_json(record.engagement), **state_as_json(content)}
        aggregate: Aggregate | None = None
        for event in events[:version]:
            aggregate = event.mutate(aggregate)
        state: dict[str, Any] = state_as_json(aggregate)
        return state

    def tick(self, now: datetime | None = None, on_progress: Callable[[int, int], None] | None = None,
             ) -> CommandResult[list[dict[str, Any]]]:
        """Record every deadline that fell due by ``now`` (default: the clock), exactly once.

        Returns its outcome, as every command does: ``value`` lists what was recorded now (kind, id,
        deadline, due_at), ``status`` is "recorded" when that is something and "already recorded" when
        nothing new fell due (running it again records nothing new). Its command id is ``tick:`` and
        ``now`` in UTC (``tick:20260301T000000.000000Z``), carried by every missed deadline it records,
        so an auditor finds which tick recorded what. It also queues the reminders due within 24
        hours, once each (``app.reminders``),
        applies the retention policy (``app.retention``: kind "engagement", deadline
        "retention:session_content"), and records the release calendar's releases of the period that
        closed last, once (``app.analysts.publish_calendar``; not in the rows returned, which are deadlines).
        ``on_progress(done, total)`` is told after each engagement or cohort looked at.
        """
        now = self.now() if now is None else now
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise InvalidInput("now", "expected a timezone-aware datetime")
        command_id = "tick:" + now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        self.reminders.queue_due(now)  # before the deadlines are recorded: what falls due is reminded once
        system = Actor(SYSTEM_PARTY, Role.SYSTEM)
        recorded: list[dict[str, Any]] = []
        sources: list[tuple[str, type[Engagement] | type[Cohort], list[UUID]]] = [
            ("engagement", Engagement, list(self.ids_of(Engagement.Created.TOPIC))),
            ("cohort", Cohort, list(self.ids_of(Cohort.Created.TOPIC))),
        ]
        total, done = sum(len(ids) for _, _, ids in sources), 0
        for kind, cls, ids in sources:
            for agg_id in ids:
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
                rules = {"off_track_weeks": self.settings.off_track_weeks} if cls is Engagement else {}
                loaded = self.load(cls, agg_id, kind)
                if isinstance(loaded, Engagement):  # the retention policy, on the same read (retention.py)
                    recorded.extend(self.retention.apply_to(loaded, now))
                if not loaded.due_deadlines(now, **rules):
                    continue

                def record(
                    agg: Any, _at: datetime, kind: str = kind, rules: dict[str, int] = rules
                ) -> list[dict[str, Any]]:
                    rows = []
                    for deadline, due_at in agg.due_deadlines(now, **rules):
                        agg.miss_deadline(system, now, deadline, due_at)
                        rows.append(
                            {"kind": kind, "id": str(agg.id), "deadline": deadline, "due_at": due_at.isoformat()}
                        )
                    return rows

                outcome = self.update(cls, agg_id, kind, record, command_id=command_id)
                if outcome.recorded_now:  # else a tick at the same time, running beside this one, recorded them
                    recorded.extend(outcome.value)
        if "analysts" in self._read_services:  # the release calendar's releases of the period that closed
            self.analysts.publish_calendar(system, now)  # (etrack releases calendar show lists the periods)
        return CommandResult(recorded, command_id, bool(recorded))


__all__ = ["EngagementTracker"]
