"""The two workflows, each defined once: which step is allowed from which state, under which
guards, and where it leads (the engine that answers with them is ``workflow_engine.py``).

Guards read the subject's state duck-typed (this module imports no aggregate) and list *why*
they refuse; a refused step names the state and the accepted steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engagement_tracker.domain.workflow_engine import Guard, Problems, Workflow, guard

__all__ = ["COHORT_WORKFLOW", "ENGAGEMENT_WORKFLOW", "Guard", "Problems", "Workflow", "guard"]


# =============================================================================================
# The individual engagement: framing -> accompaniment -> closing (DOMAIN.md, seed 001)
# =============================================================================================
# Guards read the engagement's state (duck-typed: this module imports no aggregate).


@guard("first meeting not yet recorded")
def _meeting_not_held(e: Any, **_: Any) -> Problems:
    return [f"the first meeting was already recorded on {e.first_meeting_on}"] if e.first_meeting_on else []


@guard("first meeting held")
def _meeting_held(e: Any, **_: Any) -> Problems:
    return [] if e.first_meeting_on else ["the first meeting has not been recorded yet"]


@guard("not yet confirmed by this party")
def _not_confirmed_by(e: Any, role: str = "", **_: Any) -> Problems:
    return [f"the {role} already confirmed the will to work together"] if role in e.will_confirmed else []


@guard("the other party confirmed")
def _other_confirmed(e: Any, role: str = "", **_: Any) -> Problems:
    other = "coachee" if role == "coach" else "coach"
    return [] if other in e.will_confirmed else [f"waiting for the {other} to confirm"]


@guard("framing complete")
def _framing_complete(e: Any, **_: Any) -> Problems:
    return list(e.framing_gaps())


@guard("within the contract")
def _within_contract(e: Any, held_on: Any = None, **_: Any) -> Problems:
    return list(e.contract_gaps(held_on))


@guard("a review is outstanding")
def _review_outstanding(e: Any, **_: Any) -> Problems:
    return [] if e.review_requested_by else ["no intermediate review is outstanding"]


@guard("no amendment pending")
def _no_amendment_pending(e: Any, **_: Any) -> Problems:
    return ["an amendment is already awaiting agreement"] if e.pending_amendment else []


@guard("an amendment awaits this party")
def _amendment_awaits(e: Any, role: str = "", **_: Any) -> Problems:
    if e.pending_amendment is None:
        return ["no amendment is awaiting agreement"]
    if role in e.pending_amendment.agreed_by:
        return [f"the {role} already agreed to the pending amendment"]
    return []


@guard("every indicator evaluated")
def _every_indicator_evaluated(e: Any, evaluated: Iterable[str] = (), **_: Any) -> Problems:
    missing = sorted(set(e.indicator_objectives) - set(evaluated))
    return [f"indicator {k} has no evaluation" for k in missing]


@guard("a team engagement")
def _team_engagement(e: Any, **_: Any) -> Problems:
    return [] if e.coachee_kind == "team" else ["quarterly reviews are for team coaching; this coachee is a person"]


@guard("deadline not yet recorded")
def _deadline_not_recorded(subject: Any, deadline: str = "", **_: Any) -> Problems:
    return [f"{deadline} was already recorded as missed"] if deadline in subject.missed else []


@guard("a disclosure proposal by the other party")
def _disclosure_awaits(e: Any, role: str = "", **_: Any) -> Problems:
    proposal = e.disclosure_proposal
    if proposal is None:
        return ["no disclosure proposal is awaiting acceptance"]
    if proposal["by"] == role:
        return [f"the {role} proposed it; the other party accepts"]
    return []


_ACTIVE = ["accompaniment.in_progress", "accompaniment.review_pending"]

ENGAGEMENT_WORKFLOW = Workflow(
    "engagement",
    states=[
        {
            "name": "framing",
            "children": ["first_meeting", "diagnosis", "tripartite", "coherence", "formalisation"],
            "initial": "first_meeting",
        },
        {
            "name": "accompaniment",
            "children": ["in_progress", "review_pending", "suspended"],
            "initial": "in_progress",
        },
        "closing",
        "closed",
        "declined",
        "abandoned",
    ],
    transitions=[
        # framing
        {"trigger": "hold_first_meeting", "source": "framing.first_meeting", "dest": None,
         "conditions": [_meeting_not_held]},
        {"trigger": "confirm_will", "source": "framing.first_meeting", "dest": "framing.diagnosis",
         "conditions": [_meeting_held, _not_confirmed_by, _other_confirmed]},
        {"trigger": "confirm_will", "source": "framing.first_meeting", "dest": None,
         "conditions": [_meeting_held, _not_confirmed_by]},
        {"trigger": "decline", "source": "framing.first_meeting", "dest": "declined"},
        {"trigger": "record_diagnosis", "source": "framing.diagnosis", "dest": "framing.tripartite"},
        {"trigger": "hold_tripartite_meeting", "source": ["framing.tripartite", "framing.coherence"],
         "dest": "framing.coherence"},
        {"trigger": "validate_coherence", "source": "framing.coherence", "dest": "framing.formalisation"},
        {"trigger": "define_indicator", "source": "framing.formalisation", "dest": None},
        {"trigger": "record_synthesis", "source": "framing.formalisation", "dest": None},
        {"trigger": "fix_contract", "source": "framing.formalisation", "dest": None},
        {"trigger": "start_accompaniment", "source": "framing.formalisation",
         "dest": "accompaniment.in_progress", "conditions": [_framing_complete]},
        # accompaniment
        {"trigger": "record_session", "source": _ACTIVE, "dest": None, "conditions": [_within_contract]},
        {"trigger": "commit_action", "source": _ACTIVE, "dest": None},
        {"trigger": "complete_action", "source": _ACTIVE, "dest": None},
        {"trigger": "drop_action", "source": _ACTIVE, "dest": None},
        {"trigger": "measure_indicator", "source": _ACTIVE, "dest": None},
        {"trigger": "request_review", "source": "accompaniment.in_progress",
         "dest": "accompaniment.review_pending"},
        {"trigger": "hold_review", "source": "accompaniment.review_pending",
         "dest": "accompaniment.in_progress"},
        {"trigger": "suspend", "source": _ACTIVE, "dest": "accompaniment.suspended"},
        {"trigger": "resume", "source": "accompaniment.suspended", "dest": "accompaniment.review_pending",
         "conditions": [_review_outstanding]},
        {"trigger": "resume", "source": "accompaniment.suspended", "dest": "accompaniment.in_progress"},
        {"trigger": "propose_amendment", "source": "accompaniment", "dest": None,
         "conditions": [_no_amendment_pending]},
        {"trigger": "agree_amendment", "source": "accompaniment", "dest": None,
         "conditions": [_amendment_awaits]},
        {"trigger": "hold_closing_session", "source": "accompaniment.in_progress", "dest": "closing",
         "conditions": [_every_indicator_evaluated]},
        {"trigger": "hold_quarterly_review", "source": "accompaniment", "dest": None,
         "conditions": [_team_engagement]},
        # closing
        {"trigger": "hold_closing_meeting", "source": "closing", "dest": "closed"},
        # early end, from any phase that has not ended
        {"trigger": "abandon", "source": ["framing", "accompaniment", "closing"], "dest": "abandoned"},
        # coaches notice weak (or strong) signals through the contract at every level
        {"trigger": "record_signal", "source": ["framing", "accompaniment", "closing"], "dest": None},
        # coachee and sponsor agree what the sponsor may see
        {"trigger": "propose_disclosure", "source": ["framing", "accompaniment", "closing"], "dest": None},
        {"trigger": "accept_disclosure", "source": ["framing", "accompaniment", "closing"], "dest": None,
         "conditions": [_disclosure_awaits]},
        # the deadline clock records what fell due (tick); it never changes the state
        {"trigger": "miss_deadline", "source": ["framing", "accompaniment", "closing"], "dest": None,
         "conditions": [_deadline_not_recorded]},
    ],
    initial="framing",
    final=["closed", "declined", "abandoned"],
)


# =============================================================================================
# Peer-coaching cohort: framing -> accompaniment -> closing (DOMAIN.md, seed 002)
# =============================================================================================


@guard("cohort framing complete")
def _cohort_framing_complete(c: Any, **_: Any) -> Problems:
    return list(c.framing_gaps())


@guard("closing items recorded")
def _cohort_closing_complete(c: Any, **_: Any) -> Problems:
    return list(c.closing_gaps())


@guard("membership stays within bounds")
def _membership_bounds(c: Any, change: int = 0, **_: Any) -> Problems:
    return list(c.membership_problems(change))


_COHORT_OPEN = ["framing", "accompaniment", "closing"]

COHORT_WORKFLOW = Workflow(
    "cohort",
    states=["framing", "accompaniment", "closing", "closed", "abandoned"],
    transitions=[
        {"trigger": "add_member", "source": ["framing", "accompaniment"], "dest": None,
         "conditions": [_membership_bounds]},
        {"trigger": "remove_member", "source": ["framing", "accompaniment"], "dest": None,
         "conditions": [_membership_bounds]},
        {"trigger": "set_scope", "source": "framing", "dest": None},
        {"trigger": "set_objective", "source": "framing", "dest": None},
        {"trigger": "add_key_result", "source": ["framing", "accompaniment"], "dest": None},
        {"trigger": "add_metric", "source": ["framing", "accompaniment"], "dest": None},
        {"trigger": "plan_experiment", "source": ["framing", "accompaniment"], "dest": None},
        {"trigger": "start_accompaniment", "source": "framing", "dest": "accompaniment",
         "conditions": [_cohort_framing_complete]},
        {"trigger": "hold_ritual", "source": "accompaniment", "dest": None},
        {"trigger": "record_decision", "source": "accompaniment", "dest": None},
        {"trigger": "start_experiment", "source": "accompaniment", "dest": None},
        {"trigger": "end_experiment", "source": "accompaniment", "dest": None},
        {"trigger": "give_feedback", "source": ["accompaniment", "closing"], "dest": None},
        {"trigger": "update_playbook", "source": "accompaniment", "dest": None},
        {"trigger": "complete_checkpoint", "source": "accompaniment", "dest": None},
        {"trigger": "begin_closing", "source": "accompaniment", "dest": "closing"},
        {"trigger": "record_closing_synthesis", "source": "closing", "dest": None},
        {"trigger": "record_sharing", "source": "closing", "dest": None},
        {"trigger": "prepare_scale_up", "source": "closing", "dest": None},
        {"trigger": "close", "source": "closing", "dest": "closed", "conditions": [_cohort_closing_complete]},
        {"trigger": "record_signal", "source": _COHORT_OPEN, "dest": None},
        {"trigger": "abandon", "source": _COHORT_OPEN, "dest": "abandoned"},
        {"trigger": "miss_deadline", "source": _COHORT_OPEN, "dest": None, "conditions": [_deadline_not_recorded]},
    ],
    initial="framing",
    final=["closed", "abandoned"],
)
