"""The cohort steps of the application: ``app.cohorts.<step>(cohort_id, actor, ...)``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from engagement_tracker.domain.access import cohort_read_scope, grant_checked, require_coach_grant
from engagement_tracker.domain.application.cohort_metrics import CohortMetrics
from engagement_tracker.domain.application.event_store import as_uuid
from engagement_tracker.domain.application.templates import latest_template
from engagement_tracker.domain.application.testimonial_commands import leave_testimonial
from engagement_tracker.domain.checks import MAX_NAME_CHARS, require_text
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.cohort_metrics import metric_series
from engagement_tracker.domain.cohort_record import CohortRecord
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.deadlines import cycle_status
from engagement_tracker.domain.values import Actor, CohortRules, DataPoint, Sealed
from engagement_tracker.domain.vocabulary import Polarity, SignalContext

R = TypeVar("R")


if TYPE_CHECKING:  # the application holds the cohort commands: app.cohorts
    from engagement_tracker.domain.application.command_path import CommandPath


class CohortService(CohortMetrics):
    """Peer-coaching cohorts: ``app.cohorts.<step>(cohort_id, actor, ...)``.

    Free text is sealed under its author's own key (the cohort's name under the cohort's);
    members appear by pseudonymous id.
    """

    def __init__(self, path: CommandPath) -> None:
        self.path = path

    def ids(self) -> Iterator[UUID]:
        """Every cohort id, in the order they were opened."""
        return self.path.ids_of(Cohort.Created.TOPIC)

    def leave_testimonial(
        self,
        cohort_id: object,
        actor: Actor,
        ratings: Mapping[str, int],
        text: str | None = None,
        quote_consent: bool = False,
        anonymous: bool = True,
        *,
        command_id: object = None,
    ) -> CommandResult[None]:
        """A member leaves a voluntary testimonial at closing: ratings 1-5, an optional text (sealed)."""
        return leave_testimonial(self.path, Cohort, cohort_id, actor, ratings, text, quote_consent, anonymous, command_id)

    def _do(
        self,
        cohort_id: object,
        step: str,
        actor: Actor,
        command: Callable[[Cohort, datetime], R],
        command_id: object = None,
    ) -> CommandResult[R]:
        def checked(c: Cohort, at: datetime) -> R:
            c.precheck(step, actor)
            return command(c, at)

        return self.path.update(Cohort, cohort_id, "cohort", checked, command_id=command_id)

    def _seal(self, author: Actor, text: object, field: str) -> Sealed:
        """Shared work is sealed under its author's own key: erasing a member erases what they wrote."""
        return self.path.sealing.seal(author.party, text, field, 2_000)

    @grant_checked
    def open(
        self,
        actor: Actor,
        org_unit: str,
        name: str,
        rules: CohortRules | None = None,
        cohort_id: UUID | None = None,
        *,
        template: str | None = None,
        command_id: object = None,
    ) -> CommandResult[UUID]:
        """A coach opens a cohort; ``rules`` default to the seed's numbers (5-8 members, 3 metrics, ...).

        The coach must hold a coach grant (``domain/grants.py``). ``template``: a programme template's
        name (``app.templates``: rituals and roles), recorded as applied at opening."""
        require_coach_grant(actor, self.path.held_grants, "open")
        self.path.party(actor.party)
        name = require_text(name, "name", MAX_NAME_CHARS)
        applied = None if template is None else latest_template(self.path, template, "cohort")

        def make(cid: UUID, at: datetime) -> list[Cohort]:
            self.path.sealer.create_subject(str(cid))  # the cohort's own key, for its name
            cohort = Cohort.open(cid, actor, at, org_unit, self.path.sealer.seal(str(cid), name), rules)
            if applied is not None:
                cohort.apply_template(actor, at, applied["name"], applied["version"], applied["content"])
            return [cohort]

        return self.path.create("cohort", make, cohort_id, command_id)

    def get(self, cohort_id: object, version: int | None = None) -> Cohort:
        return self.path.load(Cohort, cohort_id, "cohort", version)

    def record(self, cohort_id: object, version: int | None = None) -> CohortRecord:
        """The cohort and its rituals, decisions and readings (``cohort_record.py``), folded from its
        events up to ``version``: what the views read; sealed values only."""
        return CohortRecord.of(self.path.history(Cohort, cohort_id, "cohort", version))

    def add_member(self, cohort_id: object, actor: Actor, member: object, *, command_id: object = None) -> CommandResult[None]:
        member_id = self.path.party(member).id
        return self._do(
            cohort_id, "add_member", actor, lambda c, at: c.add_member(actor, at, member_id), command_id=command_id
        )

    def remove_member(self, cohort_id: object, actor: Actor, member: object, *, command_id: object = None) -> CommandResult[None]:
        member_id = as_uuid(member, "member")
        return self._do(
            cohort_id,
            "remove_member",
            actor,
            lambda c, at: c.remove_member(actor, at, member_id),
            command_id=command_id,
        )

    def set_scope(self, cohort_id: object, actor: Actor, scope: str, *, command_id: object = None) -> CommandResult[None]:
        return self._do(
            cohort_id,
            "set_scope",
            actor,
            lambda c, at: c.set_scope(actor, at, self._seal(actor, scope, "scope")),
            command_id=command_id,
        )

    def set_objective(
        self, cohort_id: object, actor: Actor, objective: str, customer_result: str, *, command_id: object = None
    ) -> CommandResult[None]:
        return self._do(
            cohort_id,
            "set_objective",
            actor,
            lambda c, at: c.set_objective(
                actor,
                at,
                self._seal(actor, objective, "objective"),
                self._seal(actor, customer_result, "customer_result"),
            ),
            command_id=command_id,
        )

    def add_key_result(
        self, cohort_id: object, actor: Actor, statement: str, due: date, *, command_id: object = None
    ) -> CommandResult[int]:
        return self._do(
            cohort_id,
            "add_key_result",
            actor,
            lambda c, at: c.add_key_result(actor, at, self._seal(actor, statement, "statement"), due),
            command_id=command_id,
        )

    def add_metric(self, cohort_id: object, actor: Actor, name: str, *, command_id: object = None) -> CommandResult[str]:
        return self._do(
            cohort_id,
            "add_metric",
            actor,
            lambda c, at: c.add_metric(actor, at, self._seal(actor, name, "name")),
            command_id=command_id,
        )

    def plan_experiment(
        self, cohort_id: object, actor: Actor, key_result: int, hypothesis: str, *, command_id: object = None
    ) -> CommandResult[str]:
        return self._do(
            cohort_id,
            "plan_experiment",
            actor,
            lambda c, at: c.plan_experiment(actor, at, key_result, self._seal(actor, hypothesis, "hypothesis")),
            command_id=command_id,
        )

    def start_accompaniment(self, cohort_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
        return self._do(
            cohort_id,
            "start_accompaniment",
            actor,
            lambda c, at: c.start_accompaniment(actor, at),
            command_id=command_id,
        )

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
        *,
        command_id: object = None,
    ) -> CommandResult[int]:
        """A ritual with its three rotating roles (distinct members) and the artefact it produced."""
        facilitator_id = as_uuid(facilitator, "facilitator")
        scribe_id = as_uuid(scribe, "scribe")
        keeper_id = as_uuid(metrics_keeper, "metrics_keeper")
        return self._do(
            cohort_id,
            "hold_ritual",
            actor,
            lambda c, at: c.hold_ritual(
                actor,
                at,
                kind,
                held_on,
                facilitator_id,
                scribe_id,
                keeper_id,
                artefact_kind,
                self._seal(actor, artefact, "artefact"),
            ),
            command_id=command_id,
        )

    def record_decision(
        self,
        cohort_id: object,
        actor: Actor,
        statement: str,
        metric: str | None,
        value: float | None,
        decided_on: date | None,
        owner: object | None,
        *,
        command_id: object = None,
    ) -> CommandResult[int]:
        """A decision with its data point (a cohort metric and its value), date and owner (a member)."""
        point = None if metric is None or value is None else DataPoint(metric, value)
        owner_id = None if owner is None else as_uuid(owner, "owner")
        return self._do(
            cohort_id,
            "record_decision",
            actor,
            lambda c, at: c.record_decision(
                actor, at, self._seal(actor, statement, "statement"), point, decided_on, owner_id
            ),
            command_id=command_id,
        )

    def start_experiment(self, cohort_id: object, actor: Actor, key: str, *, command_id: object = None) -> CommandResult[None]:
        return self._do(
            cohort_id,
            "start_experiment",
            actor,
            lambda c, at: c.start_experiment(actor, at, key),
            command_id=command_id,
        )

    def end_experiment(self, cohort_id: object, actor: Actor, key: str, *, command_id: object = None) -> CommandResult[None]:
        return self._do(
            cohort_id, "end_experiment", actor, lambda c, at: c.end_experiment(actor, at, key), command_id=command_id
        )

    def give_feedback(
        self, cohort_id: object, actor: Actor, key: str, feedback: str, *, command_id: object = None
    ) -> CommandResult[bool]:
        return self._do(
            cohort_id,
            "give_feedback",
            actor,
            lambda c, at: c.give_feedback(actor, at, key, self._seal(actor, feedback, "feedback")),
            command_id=command_id,
        )

    def update_playbook(
        self, cohort_id: object, actor: Actor, practice: str, status: str, conditions: str, *, command_id: object = None
    ) -> CommandResult[None]:
        return self._do(
            cohort_id,
            "update_playbook",
            actor,
            lambda c, at: c.update_playbook(actor, at, practice, status, self._seal(actor, conditions, "conditions")),
            command_id=command_id,
        )

    def complete_checkpoint(
        self, cohort_id: object, actor: Actor, week: int, *, command_id: object = None
    ) -> CommandResult[None]:
        return self._do(
            cohort_id,
            "complete_checkpoint",
            actor,
            lambda c, at: c.complete_checkpoint(actor, at, week),
            command_id=command_id,
        )

    def begin_closing(self, cohort_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
        return self._do(cohort_id, "begin_closing", actor, lambda c, at: c.begin_closing(actor, at), command_id=command_id)

    def record_closing_synthesis(
        self, cohort_id: object, actor: Actor, synthesis: str, *, command_id: object = None
    ) -> CommandResult[None]:
        return self._do(
            cohort_id,
            "record_closing_synthesis",
            actor,
            lambda c, at: c.record_closing_synthesis(actor, at, self._seal(actor, synthesis, "synthesis")),
            command_id=command_id,
        )

    def record_sharing(self, cohort_id: object, actor: Actor, audience: str, *, command_id: object = None) -> CommandResult[None]:
        return self._do(
            cohort_id,
            "record_sharing",
            actor,
            lambda c, at: c.record_sharing(actor, at, self._seal(actor, audience, "audience")),
            command_id=command_id,
        )

    def prepare_scale_up(self, cohort_id: object, actor: Actor, plan: str, *, command_id: object = None) -> CommandResult[None]:
        return self._do(
            cohort_id,
            "prepare_scale_up",
            actor,
            lambda c, at: c.prepare_scale_up(actor, at, self._seal(actor, plan, "plan")),
            command_id=command_id,
        )

    def close(self, cohort_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
        return self._do(cohort_id, "close", actor, lambda c, at: c.close(actor, at), command_id=command_id)

    def abandon(
        self, cohort_id: object, actor: Actor, reason: str | None = None, *, command_id: object = None
    ) -> CommandResult[None]:
        return self._do(
            cohort_id,
            "abandon",
            actor,
            lambda c, at: c.abandon(actor, at, None if reason is None else self._seal(actor, reason, "reason")),
            command_id=command_id,
        )

    def record_signal(
        self,
        cohort_id: object,
        actor: Actor,
        theme: str,
        context: SignalContext | str,
        polarity: Polarity | str,
        intensity: int,
        unit: str,
        observed_on: date,
        note: str | None = None,
        *,
        command_id: object = None,
    ) -> CommandResult[None]:
        """The cohort's coach records a signal noticed through the cohort (see app.engagements.record_signal)."""
        app = self.path
        return self._do(
            cohort_id,
            "record_signal",
            actor,
            lambda c, at: c.record_signal(
                actor,
                at,
                app.sealing.make_signal(actor.party, theme, context, polarity, intensity, unit, observed_on, note),
                app.signal_themes,
            ),
            command_id=command_id,
        )

    def view(self, cohort_id: object, viewer: Actor, now: datetime | None = None) -> dict[str, Any]:
        """The cohort as ``viewer`` may see it: members and coach see its shared work unsealed."""
        record = self.record(cohort_id)
        c = record.cohort
        scope = cohort_read_scope(c, viewer, self.path.held_grants)
        unseal = self.path.sealing.unseal
        now = self.path.now() if now is None else now
        view: dict[str, Any] = {
            "id": str(c.id),
            "version": c.version,
            "state": c.state,
            "scope": scope,
            "org_unit": c.org_unit,
            "members": len(c.members),
            "rules": {
                f: getattr(c.rules, f)
                for f in ("min_members", "max_members", "metrics", "experiments", "feedback_hours", "cycle_weeks")
            },
            "allowed_steps": c.allowed_steps(),
            "rituals_held": c.rituals_held,
            "decisions": c.decisions_recorded,
            "cycle": cycle_status(c, now),
            "missed_deadlines": {k: d.isoformat() for k, d in c.missed.items()},
        }
        if c.template is not None:  # the programme template it was opened with (programme wording only)
            view["template"] = c.template
        if scope == "metadata":
            return view
        view.update(
            {
                "name": unseal(c.name),
                "coach": {"id": str(c.coach), "name": self.path.party_name(c.coach)},
                "member_list": [
                    {"id": m, "name": self.path.party_name(m), "joined_on": d.isoformat()} for m, d in c.members.items()
                ],
                "process_scope": unseal(c.scope),
                "objective": unseal(c.objective),
                "customer_result": unseal(c.customer_result),
                "key_results": [
                    {"number": k.number, "statement": unseal(k.statement), "due": k.due.isoformat()}
                    for k in c.key_results
                ],
                "metrics": {k: unseal(m.name) for k, m in c.metrics.items()},
                "experiments": [
                    {
                        "key": x.key,
                        "key_result": x.key_result,
                        "hypothesis": unseal(x.hypothesis),
                        "status": x.status.value,
                        "ended_at": x.ended_at.isoformat() if x.ended_at else None,
                        "feedback": unseal(c.feedback.get(x.key)),
                        "feedback_late": bool(
                            x.ended_at
                            and x.feedback_at
                            and x.feedback_at > x.ended_at + timedelta(hours=c.rules.feedback_hours)
                        ),
                    }
                    for x in c.experiments.values()
                ],
                "ritual_list": [
                    {
                        "number": r.number,
                        "kind": r.kind.value,
                        "held_on": r.held_on.isoformat(),
                        "facilitator": str(r.facilitator),
                        "scribe": str(r.scribe),
                        "metrics_keeper": str(r.metrics_keeper),
                        "artefact_kind": r.artefact_kind.value,
                        "artefact": unseal(r.artefact),
                    }
                    for r in record.rituals
                ],
                "decision_list": [
                    {
                        "number": d.number,
                        "statement": unseal(d.statement),
                        "metric": d.data_point.metric,
                        "value": d.data_point.value,
                        "decided_on": d.decided_on.isoformat(),
                        "owner": str(d.owner),
                    }
                    for d in record.decisions
                ],
                "playbook": {
                    k: {"status": p.status.value, "conditions": unseal(p.conditions)} for k, p in c.playbook.items()
                },
                "closing": {k: unseal(v) for k, v in c.closing.items()},
            }
        )
        if c.readings_recorded or c.targets:  # present once measured: cohorts without readings read as before
            view["metric_series"] = metric_series(record, self.drift_rule, view["metrics"])
        return view
