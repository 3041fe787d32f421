"""The coach's ICF hours log, read from the recorded sessions (the rules: ``domain/coach_hours.py``)."""

from __future__ import annotations

from typing import Any

from engagement_tracker.domain.access import require_hours_log_reader
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.application.confidential import ERASED
from engagement_tracker.domain.checks import as_uuid
from engagement_tracker.domain.coach_hours import CONFIDENTIAL, hours_totals
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Billing, PartyKind, Role


def hours_log(path: CommandPath, viewer: Actor, coach: object = None) -> dict[str, Any]:
    """A coach's ICF log (the coach reads their own; an auditor gives ``coach``, and sees no name).

    Returns ``{"coach", "lines": [...], "totals": {...}}``; lines in the order sessions were
    held (then engagement, session). Every line: engagement id, session number, the version of
    its SessionHeld event, the client (named only with consent), date, individual or team,
    group size, minutes, hours, paid hours, pro bono hours. Cohort work logged by the coach
    (``app.cohorts.log_coaching``) is a line too: the cohort's id, the log's number and the
    version of its CoachingLogged event, "cohort", the members at that moment, never a name.
    """
    coach_id = require_hours_log_reader(viewer, None if coach is None else as_uuid(coach, "coach"),
                                        path.held_grants)
    may_name = viewer.role is Role.COACH
    lines: list[dict[str, Any]] = []
    clients: list[str] = []
    for eid in list(path.ids_of(Engagement.Created.TOPIC)):
        e = path.load(Engagement, eid, "engagement")
        if e.coach != coach_id or not e.sessions_held:
            continue
        client = _client_name(path, e) if may_name and e.icf_named else CONFIDENTIAL
        clients.append(str(e.coachee))
        team = e.coachee_kind == PartyKind.TEAM.value
        for event in _sessions_held(path, e):
            s = event.session
            hours = round(s.duration_minutes / 60, 2)
            paid = event.billing == Billing.PAID.value
            lines.append({
                "engagement": str(e.id),
                "session": s.number,
                "version": event.originator_version,
                "client": client,
                "held_on": s.held_on.isoformat(),
                "coaching": "team" if team else "individual",
                "group_size": event.group_size if team else 1,
                "minutes": s.duration_minutes,
                "hours": hours,
                "paid_hours": hours if paid else 0.0,
                "pro_bono_hours": 0.0 if paid else hours,
            })
    for cid in list(path.ids_of(Cohort.Created.TOPIC)):
        c = path.load(Cohort, cid, "cohort")
        if c.coach != coach_id:
            continue
        logged = [ev for ev in path.events.get(c.id) if isinstance(ev, Cohort.CoachingLogged)]
        if logged:
            clients.extend(str(m) for m in c.members)  # each member is a client of group coaching
        for n, event in enumerate(logged, start=1):
            hours = round(event.duration_minutes / 60, 2)
            paid = event.billing == Billing.PAID.value
            lines.append({
                "engagement": str(c.id),  # the cohort's id: an auditor finds the event there
                "session": n,
                "version": event.originator_version,
                "client": CONFIDENTIAL,  # a cohort's members are never named in the log
                "held_on": event.held_on.isoformat(),
                "coaching": "cohort",
                "group_size": event.group_size,
                "minutes": event.duration_minutes,
                "hours": hours,
                "paid_hours": hours if paid else 0.0,
                "pro_bono_hours": 0.0 if paid else hours,
            })
    lines.sort(key=lambda r: (r["held_on"], r["engagement"], r["session"]))
    totals = hours_totals(lines, clients)
    totals["sessions"] = len(lines)
    return {"coach": str(coach_id), "lines": lines, "totals": totals}


def _sessions_held(path: CommandPath, e: Engagement) -> list[Any]:
    return [ev for ev in path.events.get(e.id) if isinstance(ev, Engagement.SessionHeld)]


def _client_name(path: CommandPath, e: Engagement) -> str:
    name = path.party_name(e.coachee)
    return CONFIDENTIAL if name == ERASED else name
