"""Stateful property test of the cohort workflow, with the engagement's invariants.

Random steps by random actors (the coach, members, outsiders, the system clock) with random and
often bad arguments, and an ``advance`` rule that takes the happy path. Invariants: a refused
command changes nothing (aggregate and store); reloaded equals live (through snapshots);
``decide()`` agrees with the ``transitions`` machine on every step tried.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from engagement_tracker.adapters import open_tracker
from engagement_tracker.domain import COHORT_WORKFLOW, Cohort, EtrackError, RuleViolation, StepNotAllowed
from engagement_tracker.domain.values import Actor, DataPoint, Signal
from engagement_tracker.domain.vocabulary import SYSTEM_PARTY, Role
from tests.workflow_oracle import MachineOracle, decide_outcome

W = COHORT_WORKFLOW
DAY0 = date(2026, 3, 2)


class CohortMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app = open_tracker("memory:", clock=lambda: datetime(2026, 3, 1, tzinfo=UTC),
                                env={"ETRACK_SNAPSHOT_INTERVAL": "3"})
        self.oracle = MachineOracle(W)
        self.now = datetime(2026, 3, 2, 9, tzinfo=UTC)
        self.coach = uuid4()
        self.people = [uuid4() for _ in range(10)]

    def tick(self) -> datetime:
        self.now += timedelta(hours=5)
        return self.now

    def sealed(self) -> Any:
        return self.app.sealer.seal(str(self.cohort.id), "shared work")

    def stored_events(self) -> int:
        return len(list(self.app.events.get(self.cohort.id)))

    def member(self, data: st.DataObject, label: str = "who") -> Any:
        return data.draw(st.sampled_from(self.people), label=label)

    def build(self, step: str, data: st.DataObject) -> tuple[Any, dict[str, Any]]:
        draw = data.draw
        if step in ("add_member", "remove_member"):
            who = self.member(data)
            return (lambda c, a, t: getattr(c, step)(a, t, who)), {"change": 1 if step == "add_member" else -1}
        if step in ("set_scope", "record_closing_synthesis", "record_sharing", "prepare_scale_up"):
            return (lambda c, a, t: getattr(c, step)(a, t, self.sealed())), {}
        if step == "set_objective":
            return (lambda c, a, t: c.set_objective(a, t, self.sealed(), self.sealed())), {}
        if step == "add_key_result":
            return (lambda c, a, t: c.add_key_result(a, t, self.sealed(), DAY0)), {}
        if step == "add_metric":
            return (lambda c, a, t: c.add_metric(a, t, self.sealed())), {}
        if step == "plan_experiment":
            kr = draw(st.integers(0, 3))
            return (lambda c, a, t: c.plan_experiment(a, t, kr, self.sealed())), {}
        if step == "hold_ritual":
            kind = draw(st.sampled_from(["weekly_standup", "metrics_review", "bogus"]))
            f, s, k = (self.member(data, n) for n in ("f", "s", "k"))
            return (lambda c, a, t: c.hold_ritual(a, t, kind, DAY0, f, s, k, "checklist", self.sealed())), {}
        if step == "record_decision":
            point = draw(st.sampled_from([None, DataPoint("M1", 3.0), DataPoint("M9", 1.0)]))
            owner = draw(st.sampled_from([None, *self.people[:3]]))
            return (lambda c, a, t: c.record_decision(a, t, self.sealed(), point, DAY0, owner)), {}
        if step in ("start_experiment", "end_experiment"):
            key = draw(st.sampled_from(["E1", "E2", "E9"]))
            return (lambda c, a, t: getattr(c, step)(a, t, key)), {}
        if step == "give_feedback":
            key = draw(st.sampled_from(["E1", "E2"]))
            return (lambda c, a, t: c.give_feedback(a, t, key, self.sealed())), {}
        if step == "update_playbook":
            status = draw(st.sampled_from(["standardised", "abandoned", "maybe"]))
            return (lambda c, a, t: c.update_playbook(a, t, "practice-1", status, self.sealed())), {}
        if step == "complete_checkpoint":
            week = draw(st.integers(0, 5))
            return (lambda c, a, t: c.complete_checkpoint(a, t, week)), {}
        if step == "miss_deadline":
            key = draw(st.sampled_from(["feedback:E1", "cycle_week:1"]))
            return (lambda c, a, t: c.miss_deadline(a, t, key, self.now)), {"deadline": key}
        if step == "abandon":
            return (lambda c, a, t: c.abandon(a, t, None)), {}
        if step == "record_signal":
            theme = draw(st.sampled_from(["energy_gain", "nonsense"]))
            signal = Signal(theme, "business", "gives", draw(st.integers(0, 6)), "Operations", DAY0, None)
            return (lambda c, a, t: c.record_signal(a, t, signal)), {}
        return (lambda c, a, t: getattr(c, step)(a, t)), {}

    def attempt(self, step: str, actor: Actor, command: Any, facts: dict[str, Any]) -> None:
        c = self.cohort
        before, version = copy.deepcopy(vars(c)), c.version
        expected = self.oracle.outcome(step, c.state, c, **facts)
        assert decide_outcome(W, step, c.state, c, **facts) == expected
        try:
            command(c, actor, self.tick())
        except EtrackError as exc:
            assert (c.version, c.pending_events, vars(c)) == (version, [], before)
            assert self.stored_events() == self.saved
            if isinstance(exc, StepNotAllowed):
                assert expected == "invalid"
            if expected == "refused":  # a guard failed: the aggregate must say why, as a RuleViolation
                assert isinstance(exc, RuleViolation) or not isinstance(exc, StepNotAllowed)
            return
        assert expected not in ("invalid", "refused"), f"{step} succeeded where the machine says {expected}"
        assert c.state == expected
        self.saved += len(c.pending_events)
        self.app.save(c)
        assert self.stored_events() == self.saved

    @initialize()
    def open(self) -> None:
        cid = uuid4()
        self.app.sealer.create_subject(str(cid))
        name = self.app.sealer.seal(str(cid), "cohort")
        c = Cohort.open(cid, Actor(self.coach, Role.COACH), self.tick(), "Operations", name)
        self.app.save(c)
        self.cohort, self.saved = c, 1

    @rule(step=st.sampled_from(sorted(W.steps)),
          who=st.sampled_from(["coach", "member", "member", "outsider", "system"]), data=st.data())
    def any_step(self, step: str, who: str, data: st.DataObject) -> None:
        if who == "coach":
            actor = Actor(self.coach, Role.COACH)
        elif who == "system":
            actor = Actor(SYSTEM_PARTY, Role.SYSTEM)
        else:
            actor = Actor(self.member(data, "actor") if who == "member" else uuid4(), Role.MEMBER)
        command, facts = self.build(step, data)
        self.attempt(step, actor, command, facts)

    @rule()
    def advance(self) -> None:
        c = self.cohort
        coach = Actor(self.coach, Role.COACH)
        members = [Actor(UUID(m), Role.MEMBER) for m in c.members]
        lead = members[0] if members else coach
        if c.state == "framing":
            if len(c.members) < c.rules.min_members:
                newcomer = next(p for p in self.people if str(p) not in c.members)
                self.attempt("add_member", coach, lambda c, a, t: c.add_member(a, t, newcomer), {"change": 1})
            elif c.scope is None:
                self.attempt("set_scope", lead, lambda c, a, t: c.set_scope(a, t, self.sealed()), {})
            elif c.objective is None:
                self.attempt("set_objective", lead,
                             lambda c, a, t: c.set_objective(a, t, self.sealed(), self.sealed()), {})
            elif not c.key_results:
                self.attempt("add_key_result", lead, lambda c, a, t: c.add_key_result(a, t, self.sealed(), DAY0), {})
            elif len(c.metrics) < c.rules.metrics:
                self.attempt("add_metric", lead, lambda c, a, t: c.add_metric(a, t, self.sealed()), {})
            elif len(c.experiments) < c.rules.experiments:
                self.attempt("plan_experiment", lead, lambda c, a, t: c.plan_experiment(a, t, 1, self.sealed()), {})
            else:
                self.attempt("start_accompaniment", coach, lambda c, a, t: c.start_accompaniment(a, t), {})
        elif c.state == "accompaniment":
            self.attempt("begin_closing", coach, lambda c, a, t: c.begin_closing(a, t), {})
        elif c.state == "closing":
            for step in ("record_closing_synthesis", "record_sharing", "prepare_scale_up"):
                key = {"record_closing_synthesis": "synthesis", "record_sharing": "sharing",
                       "prepare_scale_up": "scale_up"}[step]
                if key not in c.closing:
                    self.attempt(step, lead, lambda c, a, t, s=step: getattr(c, s)(a, t, self.sealed()), {})
                    return
            self.attempt("close", coach, lambda c, a, t: c.close(a, t), {})

    @invariant()
    def reloaded_equals_live(self) -> None:
        if hasattr(self, "cohort"):
            assert self.app.repository.get(self.cohort.id) == self.cohort
            event(f"cohort state: {self.cohort.state}")

    @invariant()
    def membership_within_bounds(self) -> None:
        if hasattr(self, "cohort"):
            c = self.cohort
            assert len(c.members) <= c.rules.max_members
            if c.state == "accompaniment":
                assert len(c.members) >= c.rules.min_members

    def teardown(self) -> None:
        self.app.close()


TestCohortWorkflow = CohortMachine.TestCase
