"""The cohort steps of the application: ``app.cohorts.<step>(cohort_id, actor, ...)``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from engagement_tracker.domain.access import cohort_read_scope, grant_checked, require_coach_grant
from engagement_tracker.domain.application import (
    cohort_accompaniment,
    cohort_closing,
    cohort_framing,
    cohort_metrics,
)
from engagement_tracker.domain.application.templates import latest_template
from engagement_tracker.domain.checks import MAX_NAME_CHARS, require_text
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.cohort_metrics import DriftRule, metric_series
from engagement_tracker.domain.cohort_record import CohortRecord
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.deadlines import cycle_status
from engagement_tracker.domain.values import Actor, CohortRules

R = TypeVar("R")


if TYPE_CHECKING:  # the application holds the cohort commands: app.cohorts
    from engagement_tracker.domain.application.command_path import CommandPath


class CohortService:
    """Peer-coaching cohorts: ``app.cohorts.<step>(cohort_id, actor, ...)``.

    Free text is sealed under its author's own key (the cohort's name under the cohort's);
    members appear by pseudonymous id.
    """

    def __init__(self, path: CommandPath) -> None:
        self.path = path

    def ids(self) -> Iterator[UUID]:
        """Every cohort id, in the order they were opened."""
        return self.path.ids_of(Cohort.Created.TOPIC)

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

    @property
    def drift_rule(self) -> DriftRule:
        """The rule in force (ETRACK_DRIFT_WINDOW, ETRACK_DRIFT_Z)."""
        return cohort_metrics.drift_rule(self.path)

    def get(self, cohort_id: object, version: int | None = None) -> Cohort:
        return self.path.load(Cohort, cohort_id, "cohort", version)

    def record(self, cohort_id: object, version: int | None = None) -> CohortRecord:
        """The cohort and its rituals, decisions and readings (``cohort_record.py``), folded from its
        events up to ``version``: what the views read; sealed values only."""
        return CohortRecord.of(self.path.history(Cohort, cohort_id, "cohort", version))

    # --- the metrics: readings, targets, the coach's logged time, and their reads (cohort_metrics.py) ---

    record_reading = cohort_metrics.record_reading
    log_coaching = cohort_metrics.log_coaching
    set_key_result_target = cohort_metrics.set_key_result_target
    metrics = cohort_metrics.metrics
    experiment_effects = cohort_metrics.experiment_effects

    # --- the steps, by phase: each a function of this service in a module of its own -------------

    add_member = cohort_framing.add_member
    remove_member = cohort_framing.remove_member
    set_scope = cohort_framing.set_scope
    set_objective = cohort_framing.set_objective
    add_key_result = cohort_framing.add_key_result
    add_metric = cohort_framing.add_metric
    plan_experiment = cohort_framing.plan_experiment
    start_accompaniment = cohort_framing.start_accompaniment

    hold_ritual = cohort_accompaniment.hold_ritual
    record_decision = cohort_accompaniment.record_decision
    start_experiment = cohort_accompaniment.start_experiment
    end_experiment = cohort_accompaniment.end_experiment
    give_feedback = cohort_accompaniment.give_feedback
    update_playbook = cohort_accompaniment.update_playbook
    complete_checkpoint = cohort_accompaniment.complete_checkpoint
    record_signal = cohort_accompaniment.record_signal

    begin_closing = cohort_closing.begin_closing
    record_closing_synthesis = cohort_closing.record_closing_synthesis
    record_sharing = cohort_closing.record_sharing
    prepare_scale_up = cohort_closing.prepare_scale_up
    close = cohort_closing.close
    abandon = cohort_closing.abandon
    leave_testimonial = cohort_closing.leave_testimonial

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
