"""Stateful property test of the engagement workflow.

Random sequences of valid and invalid steps, by random parties (including outsiders and
impostors), with random and often bad arguments. An ``advance`` rule takes the happy path's next
step so that runs reach accompaniment and closing. Invariants:

* a refused command changes nothing: the aggregate's state is unchanged and no event is pending;
* the aggregate reloaded from the store equals the live one;
* ``decide()`` agrees with the ``transitions`` machine on every step tried.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.vault import MemoryVault
from engagement_tracker.domain import ENGAGEMENT_WORKFLOW, Engagement, EtrackError, RuleViolation, StepNotAllowed
from engagement_tracker.domain.values import Actor, Contract, Evaluation, QuarterlyDecisions, Signal
from engagement_tracker.domain.vocabulary import SYSTEM_PARTY, Role
from tests.workflow_oracle import MachineOracle, decide_outcome

W = ENGAGEMENT_WORKFLOW
DAY0 = date(2026, 1, 5)
ROLES = [Role.COACH, Role.COACHEE, Role.SPONSOR]
THEME_CHOICES = [["delegation"], ["conflict", "career"], ["astrology"], [], "delegation"]


class EngagementMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app = open_tracker("memory:", clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
                                env={"ETRACK_SNAPSHOT_INTERVAL": "3"})  # reloads go through snapshots
        self.vault: MemoryVault = self.app.sealer  # type: ignore[assignment]
        self.oracle = MachineOracle(W)
        self.now = datetime(2026, 1, 1, 9, tzinfo=UTC)
        self.parties = {r: uuid4() for r in ROLES}
        self.outsider = uuid4()
        for pid in [*self.parties.values(), self.outsider]:
            self.vault.create_subject(str(pid))
        self.refusals = 0

    # --- helpers -------------------------------------------------------------------------

    def stored_events(self) -> int:
        return len(list(self.app.events.get(self.engagement.id)))

    def tick(self) -> datetime:
        self.now += timedelta(minutes=7)
        return self.now

    def sealed(self, text: str = "confidential") -> Any:
        return self.vault.seal(str(self.parties[Role.COACHEE]), text)

    def actor(self, role: Role) -> Actor:
        return Actor(self.parties[role], role)

    def build(self, step: str, data: st.DataObject) -> tuple[Any, dict[str, Any]]:
        """(a function of (engagement, actor, at), the facts decide() will see) for ``step``."""
        e: Engagement = self.engagement
        draw = data.draw
        offset = lambda: timedelta(days=draw(st.integers(-30, 260), label="days"))  # noqa: E731
        if step == "hold_first_meeting":
            return (lambda e, a, t: e.hold_first_meeting(a, t, DAY0)), {}
        if step == "confirm_will":
            return (lambda e, a, t: e.confirm_will(a, t)), {"role": "?"}
        if step == "decline":
            reason = draw(st.sampled_from(["mismatch", "other", "bogus"]))
            return (lambda e, a, t: e.decline(a, t, reason)), {}
        if step == "record_diagnosis":
            return (lambda e, a, t: e.record_diagnosis(a, t, self.sealed())), {}
        if step == "hold_tripartite_meeting":
            n_org, n_own = draw(st.integers(0, 2)), draw(st.integers(0, 2))
            return (lambda e, a, t: e.hold_tripartite_meeting(
                a, t, DAY0, [self.sealed()] * n_org, [self.sealed()] * n_own)), {}
        if step == "validate_coherence":
            return (lambda e, a, t: e.validate_coherence(a, t)), {}
        if step == "define_indicator":
            objective = draw(st.sampled_from(["O1", "O2", "O3", "nope"]))
            target = draw(st.sampled_from([5.0, 1.0, float("inf")]))
            return (lambda e, a, t: e.define_indicator(
                a, t, objective, "observable_result", self.sealed(), 1.0, target, "per week")), {}
        if step == "record_synthesis":
            digest = draw(st.sampled_from(["ab" * 32, "xyz"]))
            return (lambda e, a, t: e.record_synthesis(a, t, "DMS/1", digest)), {}
        if step == "fix_contract":
            sessions = draw(st.integers(1, 4))
            length = draw(st.integers(1, 200))
            return (lambda e, a, t: e.fix_contract(
                a, t, Contract(sessions, DAY0 + timedelta(days=10), DAY0 + timedelta(days=10 + length)))), {}
        if step == "start_accompaniment":
            return (lambda e, a, t: e.start_accompaniment(a, t)), {}
        if step == "record_session":
            held_on = DAY0 + offset()
            minutes = draw(st.sampled_from([60, 90, 0, -15, 999]))
            themes = draw(st.sampled_from(THEME_CHOICES))
            return (lambda e, a, t: e.record_session(a, t, held_on, minutes, themes, self.sealed())), \
                {"held_on": held_on}
        if step == "commit_action":
            return (lambda e, a, t: e.commit_action(a, t, self.sealed(), None)), {}
        if step in ("complete_action", "drop_action"):
            key = draw(st.sampled_from(["A1", "A2", "A9"]))
            return (lambda e, a, t: getattr(e, step)(a, t, key)), {}
        if step == "measure_indicator":
            key = draw(st.sampled_from(["I1", "I2", "I9"]))
            return (lambda e, a, t: e.measure_indicator(a, t, key, 3.0, DAY0)), {}
        if step == "hold_review":
            return (lambda e, a, t: e.hold_review(a, t, DAY0, None)), {}
        if step == "propose_amendment":
            extra = draw(st.integers(0, 2))
            return (lambda e, a, t: e.propose_amendment(a, t, extra, None)), {}
        if step == "agree_amendment":
            return (lambda e, a, t: e.agree_amendment(a, t)), {"role": "?"}
        if step == "hold_closing_session":
            keys = draw(st.lists(st.sampled_from(sorted(e.indicator_objectives) or ["I1"]), unique=True))
            evs = [Evaluation(k, "achieved", self.sealed()) for k in keys]
            return (lambda e, a, t: e.hold_closing_session(a, t, DAY0, evs)), {"evaluated": keys}
        if step == "hold_closing_meeting":
            return (lambda e, a, t: e.hold_closing_meeting(a, t, DAY0, self.sealed(), self.sealed())), {}
        if step == "abandon":
            return (lambda e, a, t: e.abandon(a, t, "other")), {}
        if step == "hold_quarterly_review":
            decisions = QuarterlyDecisions(draw(st.booleans()), draw(st.integers(0, 2)), 0)
            return (lambda e, a, t: e.hold_quarterly_review(a, t, DAY0, decisions, None)), {}
        if step == "record_signal":
            theme = draw(st.sampled_from(["turnover", "learning_dip", "gossip"]))
            intensity = draw(st.sampled_from([1, 5, 0, 9]))
            signal = Signal(theme, "tech", "drains", intensity, "Operations", DAY0, None)
            return (lambda e, a, t: e.record_signal(a, t, signal)), {}
        if step == "propose_disclosure":
            items = draw(st.sampled_from([["objectives"], ["dates", "indicators"], ["session_notes"], "dates"]))
            return (lambda e, a, t: e.propose_disclosure(a, t, items)), {}
        if step == "accept_disclosure":
            return (lambda e, a, t: e.accept_disclosure(a, t)), {"role": "?"}
        if step == "miss_deadline":
            key = draw(st.sampled_from(["action:A1", "contract_end:2026-05-05", "quarterly_review:1"]))
            return (lambda e, a, t: e.miss_deadline(a, t, key, self.now)), {"deadline": key}
        return (lambda e, a, t: getattr(e, step)(a, t)), {}  # request_review, suspend, resume

    def attempt(self, step: str, actor: Actor, command: Any, facts: dict[str, Any]) -> None:
        e = self.engagement
        if "role" in facts:
            facts = {"role": actor.role.value}
        before_state = copy.deepcopy(vars(e))
        before_version = e.version
        expected = self.oracle.outcome(step, e.state, e, **facts)
        assert decide_outcome(W, step, e.state, e, **facts) == expected
        try:
            command(e, actor, self.tick())
        except EtrackError as exc:
            self.refusals += 1
            assert self.stored_events() == self.saved, "a refused command reached the store"
            assert e.version == before_version
            assert not e.pending_events
            assert vars(e) == before_state, "a refused command changed the aggregate"
            if isinstance(exc, StepNotAllowed):
                assert expected == "invalid"
            if isinstance(exc, RuleViolation):
                assert expected == "refused"
            return
        assert expected not in ("invalid", "refused"), f"{step} succeeded where the machine says {expected}"
        assert e.state == expected
        assert all(ev.to_state == e.state for ev in e.pending_events[-1:])
        self.saved += len(e.pending_events)
        self.app.save(e)
        assert self.stored_events() == self.saved

    # --- rules ---------------------------------------------------------------------------

    @initialize(kind=st.sampled_from(["person", "team"]))
    def open(self, kind: str) -> None:
        self.kind = kind
        e = Engagement.open(
            uuid4(), self.actor(Role.COACH), self.tick(), self.parties[Role.COACH], self.parties[Role.COACHEE],
            self.kind, self.parties[Role.SPONSOR], "hr", "Operations",
        )
        self.app.save(e)
        self.engagement = e
        self.saved = 1

    @rule(
        step=st.sampled_from(sorted(W.steps)),
        role=st.sampled_from(ROLES),
        who=st.sampled_from(["party", "party", "party", "outsider", "system"]),
        data=st.data(),
    )
    def any_step(self, step: str, role: Role, who: str, data: st.DataObject) -> None:
        actor = {"party": self.actor(role), "outsider": Actor(self.outsider, role),
                 "system": Actor(SYSTEM_PARTY, Role.SYSTEM)}[who]
        command, facts = self.build(step, data)
        self.attempt(step, actor, command, facts)

    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """The happy path's next step, by the right party, with good arguments."""
        e = self.engagement
        happy = {
            "framing.diagnosis": ("record_diagnosis", Role.COACH),
            "framing.tripartite": ("hold_tripartite_meeting", Role.COACH),
            "framing.coherence": ("validate_coherence", Role.COACH),
            "accompaniment.review_pending": ("hold_review", Role.COACH),
            "accompaniment.suspended": ("resume", Role.COACHEE),
            "closing": ("hold_closing_meeting", Role.COACH),
        }
        if e.state in W.final:
            return
        if e.state == "framing.first_meeting":
            if not e.first_meeting_on:
                step, role = "hold_first_meeting", Role.COACH
            else:
                step = "confirm_will"
                role = Role.COACH if "coach" not in e.will_confirmed else Role.COACHEE
        elif e.state == "framing.formalisation":
            covered = set(e.indicator_objectives.values())
            missing = [k for k in e.objective_keys if k not in covered]
            if missing:
                self.attempt("define_indicator", self.actor(Role.COACH), lambda e, a, t: e.define_indicator(
                    a, t, missing[0], "observable_result", self.sealed(), 1.0, 5.0, "per week"), {})
                return
            step, role = ("record_synthesis", Role.COACH) if e.synthesis is None else (
                ("fix_contract", Role.COACH) if e.contract is None else ("start_accompaniment", Role.COACH))
            if step == "record_synthesis":
                self.attempt(step, self.actor(role), lambda e, a, t: e.record_synthesis(a, t, "DMS/1", "ab" * 32), {})
                return
            if step == "fix_contract":
                self.attempt(step, self.actor(role), lambda e, a, t: e.fix_contract(
                    a, t, Contract(3, DAY0, DAY0 + timedelta(days=120))), {})
                return
        elif e.state == "accompaniment.in_progress":
            if e.sessions_held < min(2, e.sessions_allowed) and data.draw(st.booleans()):
                held = DAY0 + timedelta(days=1 + e.sessions_held)
                self.attempt("record_session", self.actor(Role.COACH), lambda e, a, t: e.record_session(
                    a, t, held, 60, ["delegation"], self.sealed()), {"held_on": held})
                return
            keys = sorted(e.indicator_objectives)
            evs = [Evaluation(k, "partly", self.sealed()) for k in keys]
            self.attempt("hold_closing_session", self.actor(Role.COACH),
                         lambda e, a, t: e.hold_closing_session(a, t, DAY0, evs), {"evaluated": keys})
            return
        else:
            step, role = happy[e.state]
        command, facts = self.build(step, data)
        if step == "hold_tripartite_meeting":
            command = lambda e, a, t: e.hold_tripartite_meeting(a, t, DAY0, [self.sealed()], [self.sealed()])  # noqa: E731
        self.attempt(step, self.actor(role), command, facts)

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def reloaded_equals_live(self) -> None:
        if hasattr(self, "engagement"):
            assert self.app.repository.get(self.engagement.id) == self.engagement

    @invariant()
    def state_is_a_known_leaf(self) -> None:
        if hasattr(self, "engagement"):
            assert self.engagement.state in W.leaf_states
            event(f"phase reached: {self.engagement.phase}")

    def teardown(self) -> None:
        self.app.close()


TestEngagementWorkflow = EngagementMachine.TestCase
