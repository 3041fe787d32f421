"""A cohort's dashboard, for its members and its coach: built from the cohort view only.

``cohort_dashboard(app, id, viewer)`` reads ``app.cohorts.view`` (members and the coach see the
cohort's shared work) and renders: the objective and key results, the metrics, decisions with
their data point, date and owner, the rotation of roles, the 30-day cycle's status, and notable
incidents (missed deadlines, late feedback, drifts). Metric readings, key-result targets, the
variance band and drifts come from the view's ``metric_series`` (``domain/cohort_metrics.py``).

Metric readings over time light up when the view carries them, in this shape:
``view["metric_readings"] = {metric_key: [{"on": "YYYY-MM-DD", "value": 12.5}, ...]}``, a key
result's ``"metric"`` and numeric ``"target"`` in ``view["key_results"]``, and drifts as
``view["drifts"] = [{"metric": key, "on": "YYYY-MM-DD", "value": 12.5}]``.
``metric_panel`` renders one metric from a plain list of (date, value) and a target.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from engagement_tracker.adapters.pages.charts import readings_chart
from engagement_tracker.adapters.pages.render import chart, render
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.errors import NotPermitted
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role

DASHBOARD_ROLES = (Role.MEMBER, Role.COACH)


def cohort_dashboard(app: EngagementTracker, cohort_id: object, viewer: Actor) -> str:
    """The dashboard as one self-contained HTML page: members and the coach only (NotPermitted otherwise)."""
    if viewer.role not in DASHBOARD_ROLES:
        raise NotPermitted("open a cohort dashboard", "the dashboard is the cohort's members' and coach's",
                           [r.value for r in DASHBOARD_ROLES])
    return render_cohort(app.cohorts.view(cohort_id, viewer), viewer.role.value)


def metric_panel(key: str, name: str, readings: list[tuple[date, float]], target: float | None,
                 drifts: list[tuple[date, float]] | None = None) -> dict[str, Any]:
    """One metric's trend: its readings, its key result's target, the variance band and its drifts (as the
    view reports them), as a chart."""
    return {"key": key, "name": name, "readings": sorted(readings), "target": target,
            "chart": chart(readings_chart(key, name, readings, target, drifts=drifts or ()))}


def _panels(view: dict[str, Any]) -> list[dict[str, Any]]:
    series = view.get("metric_series")
    if series:  # the cohort view's readings over time (domain/cohort_metrics.py)
        return [
            metric_panel(key, s["name"] or key, [(date.fromisoformat(on), float(value)) for on, value in s["readings"]],
                         None if s["target"] is None else float(s["target"]["target"]),
                         [(date.fromisoformat(d["read_on"]), float(d["value"])) for d in s["drifts"]])
            for key, s in series.items() if s["readings"]
        ]
    readings = view.get("metric_readings") or {}
    targets = {kr["metric"]: kr["target"] for kr in view["key_results"]
               if kr.get("metric") is not None and kr.get("target") is not None}
    return [
        metric_panel(key, name, [(date.fromisoformat(r["on"]), float(r["value"])) for r in readings[key]],
                     targets.get(key), [(date.fromisoformat(d["on"]), float(d["value"]))
                                        for d in view.get("drifts") or [] if d.get("metric") == key])
        for key, name in view["metrics"].items() if key in readings
    ]


def incidents(view: dict[str, Any]) -> list[dict[str, str]]:
    """Notable incidents: missed deadlines, late feedback, drifts (when reported), oldest first."""
    rows = [{"kind": "missed deadline", "what": k.replace("_", " ").replace(":", " "), "on": d[:10]}
            for k, d in view["missed_deadlines"].items()]
    rows += [{"kind": "late feedback", "what": f"experiment {x['key']}: feedback after the deadline",
              "on": (x["ended_at"] or "")[:10]} for x in view["experiments"] if x["feedback_late"]]
    rows += [{"kind": "drift", "what": f"{view['metrics'].get(d['metric'], d['metric'])}: {d['value']:g} outside the band",
              "on": d["on"]} for d in view.get("drifts") or []]
    rows += [{"kind": "drift", "what": f"{s['name'] or key}: {d['value']:g} outside the band {d['low']:g} to {d['high']:g}",
              "on": d["read_on"]} for key, s in (view.get("metric_series") or {}).items() for d in s["drifts"]]
    return sorted(rows, key=lambda r: r["on"])


def render_cohort(view: dict[str, Any], role: str, panels: list[dict[str, Any]] | None = None) -> str:
    """Render a cohort view (scope ``full``); ``panels`` default to the view's metric readings."""
    if view["scope"] != "full":
        raise NotPermitted("open a cohort dashboard", "the dashboard shows the cohort's shared work: members and coach")
    names = {m["id"]: m["name"] for m in view["member_list"]}
    names[view["coach"]["id"]] = view["coach"]["name"]

    def who(pid: str) -> str:
        return names.get(pid) or "a former member"

    panels = _panels(view) if panels is None else panels
    return render(
        "cohort.html.j2",
        title=f"Cohort dashboard: {view['name']}",
        subtitle=f"{view['org_unit']} · {view['state']} · {view['members']} members",
        source=f"cohort {view['id']}",
        viewer=f"a {role} of the cohort",
        v=view,
        who=who,
        panels=panels,
        readings_of={p["key"]: len(p["readings"]) for p in panels},
        incidents=incidents(view),
    )
