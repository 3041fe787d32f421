"""Every time-based rule, in one place: what falls due, and when.

Deadlines are derived from an aggregate's recorded state, never from a clock inside the domain:
``tick(now)`` asks ``due_deadlines(now)`` and records a ``DeadlineMissed`` event for each one
found, so the log says when a deadline was missed. Each deadline has a stable key
(``contract_end:2026-06-30``, ``action:A1``, ``quarterly_review:2``, ``feedback:E1``,
``cycle_week:3``), so it is recorded once however often tick runs.

- **Contract end** (seed 001): still in accompaniment after the contract's end (with amendments).
- **Intersession actions**: an action still committed after its due date.
- **Quarterly review** (seed 000): team coaching is reviewed with management every quarter
  (91 days) of accompaniment.
- **Experiment feedback** (seed 002): within ``feedback_hours`` (72 by default) of its end.
- **The first cycle's checkpoints** (seed 002): one a week of the 30-day cycle.
- **Off-track** (coaching platforms' most requested flag): an engagement in accompaniment (not
  suspended) with no session for ``off_track_weeks`` weeks (4 by default,
  ``ETRACK_OFF_TRACK_WEEKS``). The gap is counted from the engagement's last activity date: the
  latest of its last session's date, the day accompaniment started and the day it last resumed.
  The key names that date (``off_track:2026-02-03``), so one gap is recorded once; the next
  session moves the date, which clears the flag, and a later gap is a new key, recorded again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from engagement_tracker.domain.checks import end_of
from engagement_tracker.domain.values import CohortRules, Experiment


class EngagementHistory(Protocol):
    """What the engagement rules read of an engagement (``engagement_history.EngagementHistory``
    has it; the aggregates call these rules, and the rules name them only by shape)."""

    @property
    def state(self) -> str: ...
    @property
    def phase(self) -> str: ...
    @property
    def coachee_kind(self) -> str: ...
    @property
    def contract_end(self) -> date | None: ...
    @property
    def accompaniment_started_at(self) -> datetime | None: ...
    @property
    def last_session_on(self) -> date | None: ...
    @property
    def resumed_on(self) -> date | None: ...
    @property
    def missed(self) -> Mapping[str, datetime]: ...
    @property
    def open_actions(self) -> Mapping[str, date | None]: ...
    @property
    def quarterly_reviews_held(self) -> int: ...


class CohortHistory(Protocol):
    """What the cohort rules read of a cohort (``cohort_history.CohortHistory`` has it)."""

    @property
    def state(self) -> str: ...
    @property
    def is_ended(self) -> bool: ...
    @property
    def rules(self) -> CohortRules: ...
    @property
    def cycle_started_at(self) -> datetime | None: ...
    @property
    def checkpoints(self) -> Mapping[str, datetime]: ...
    @property
    def experiments(self) -> Mapping[str, Experiment]: ...
    @property
    def missed(self) -> Mapping[str, datetime]: ...

#: What each week of the first cycle is for (seed 002).
CYCLE_WEEKS = {
    1: "frame the objective, define the metrics, choose the experiments",
    2: "execute, measure, document",
    3: "standardise what works, drop what does not",
    4: "synthesise, share, prepare scale-up",
}



#: Team coaching is reviewed with management every quarter of accompaniment.
QUARTER = timedelta(days=91)

#: Weeks without a session before an engagement in accompaniment is off track (ETRACK_OFF_TRACK_WEEKS).
OFF_TRACK_WEEKS = 4
#: The states of accompaniment in which sessions are expected (a suspension pauses the clock).
_SESSIONS_EXPECTED = ("accompaniment.in_progress", "accompaniment.review_pending")

Due = list[tuple[str, datetime]]


def last_activity_on(e: EngagementHistory) -> date | None:
    """The date an off-track gap counts from: the last session, the start, or the last resume."""
    if e.accompaniment_started_at is None:
        return None
    days = [e.accompaniment_started_at.date(), e.last_session_on, e.resumed_on]
    return max(d for d in days if d is not None)


def off_track_due(e: EngagementHistory, weeks: int = OFF_TRACK_WEEKS) -> tuple[str, datetime] | None:
    """The off-track deadline of the current gap (its key and when it falls due), or None."""
    since = last_activity_on(e)
    if since is None or e.state not in _SESSIONS_EXPECTED:
        return None
    return f"off_track:{since.isoformat()}", end_of(since + timedelta(weeks=weeks))


def off_track_status(e: EngagementHistory) -> dict[str, Any] | None:
    """The current off-track flag: recorded by tick for the current gap and not cleared since.

    A session held after the gap's start moves the last activity date, so the recorded key no
    longer names the current gap and the flag is cleared (the earlier record stays in ``missed``).
    """
    since = last_activity_on(e)
    if since is None or e.state not in _SESSIONS_EXPECTED:
        return None
    key = f"off_track:{since.isoformat()}"
    if key not in e.missed:
        return None
    return {"since": since.isoformat(), "due_at": e.missed[key].isoformat()}


def _not_recorded(due: Due, missed: Mapping[str, datetime]) -> Due:
    return [(k, d) for k, d in due if k not in missed]


def engagement_deadlines(e: EngagementHistory, now: datetime, off_track_weeks: int = OFF_TRACK_WEEKS) -> Due:
    """An engagement's deadlines that fell due by ``now``, neither met nor already recorded."""
    due: Due = []
    if e.phase == "accompaniment":
        off_track = off_track_due(e, off_track_weeks)
        if off_track is not None and now >= off_track[1]:
            due.append(off_track)
        end = e.contract_end
        if end is not None and now >= end_of(end):
            due.append((f"contract_end:{end.isoformat()}", end_of(end)))
        for key, action_due in e.open_actions.items():
            if action_due is not None and now >= end_of(action_due):
                due.append((f"action:{key}", end_of(action_due)))
        if e.coachee_kind == "team" and e.accompaniment_started_at is not None:
            quarter = 1
            while (deadline := e.accompaniment_started_at + QUARTER * quarter) <= now:
                if e.quarterly_reviews_held < quarter:
                    due.append((f"quarterly_review:{quarter}", deadline))
                quarter += 1
    return _not_recorded(due, e.missed)


def checkpoint_due(c: CohortHistory, week: int) -> datetime | None:
    """When week ``week`` of the cohort's first cycle ends (None before the cycle starts)."""
    if c.cycle_started_at is None:
        return None
    return c.cycle_started_at + timedelta(weeks=week)


def cohort_deadlines(c: CohortHistory, now: datetime) -> Due:
    """A cohort's deadlines that fell due by ``now``, neither met nor already recorded."""
    if c.is_ended:
        return []
    due: Due = []
    window = timedelta(hours=c.rules.feedback_hours)
    for exp in c.experiments.values():
        if exp.ended_at is not None and exp.feedback_at is None and now > exp.ended_at + window:
            due.append((f"feedback:{exp.key}", exp.ended_at + window))
    if c.state == "accompaniment":
        for week in range(1, c.rules.cycle_weeks + 1):
            deadline = checkpoint_due(c, week)
            if deadline is not None and now > deadline and str(week) not in c.checkpoints:
                due.append((f"cycle_week:{week}", deadline))
    return _not_recorded(due, c.missed)


def cycle_status(c: CohortHistory, now: datetime) -> list[dict[str, Any]]:
    """The first cycle's checkpoints: done, due or late, as of ``now``."""
    rows = []
    for week in range(1, c.rules.cycle_weeks + 1):
        due = checkpoint_due(c, week)
        done = c.checkpoints.get(str(week))
        if done is not None:
            status = "done" if due is None or done <= due else "done late"
        elif due is None:
            status = "not started"
        else:
            status = "late" if now > due else "due"
        rows.append({"week": week, "purpose": CYCLE_WEEKS.get(week, "cycle work"),
                     "due_at": due.isoformat() if due else None, "status": status})
    return rows
