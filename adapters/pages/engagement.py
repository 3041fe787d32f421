"""The progress report of one engagement: built from the viewer's role-filtered view, nothing else.

``engagement_report(app, id, viewer)`` reads ``app.engagements.view`` (``domain/application/views.py``
decides what each role sees: the sponsor only what the coachee and the sponsor agreed to share;
the coachee everything but the coach's session notes; the coach everything) and renders that
dict. The page gets no other data, so it cannot show what the view leaves out. A measurement
that falls back after progress is drawn and labelled as a learning dip, never as a failure.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from engagement_tracker.adapters.pages.charts import indicator_chart
from engagement_tracker.adapters.pages.render import chart, render
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.errors import NotPermitted
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import DisclosureItem, Role

#: Who may have a progress report: the engagement's three parties (auditors read the trail instead).
REPORT_ROLES = (Role.COACH, Role.COACHEE, Role.SPONSOR)


def engagement_report(app: EngagementTracker, engagement_id: object, viewer: Actor) -> str:
    """The report as one self-contained HTML page; NotPermitted for anyone but the three parties."""
    if viewer.role not in REPORT_ROLES:
        raise NotPermitted("read a progress report", f"a {viewer.role.value} has no progress report of an engagement",
                           [r.value for r in REPORT_ROLES])
    return render_engagement(app.engagements.view(engagement_id, viewer), viewer.role.value)


def indicator_points(indicator: dict[str, Any]) -> list[tuple[date | int, float, str]]:
    """The measurements to draw: by date when dates are shared, else by their number."""
    rows = indicator["measurements"]
    return [
        (date.fromisoformat(m["measured_on"]) if "measured_on" in m else n, float(m["value"]), m["status"])
        for n, m in enumerate(rows, start=1)
    ]


def render_engagement(view: dict[str, Any], role: str) -> str:
    """Render a view as ``engagement_view`` returned it for a viewer of ``role``."""
    indicators = []
    for i in view.get("indicators", []):
        svg = indicator_chart(i["key"], i["label"], i["unit"], i["baseline"], i["target"], indicator_points(i))
        indicators.append({**i, "chart": chart(svg),
                           "dips": sum(1 for m in i["measurements"] if m["status"] == "learning_dip")})
    withheld = []
    if view["scope"] == "contract":
        agreed = set(view["disclosure"]["agreed"])
        withheld = [item.value for item in DisclosureItem if item.value not in agreed]
    names = {role_: p["name"] for role_, p in view["parties"].items()} if "name" in next(
        iter(view["parties"].values()), {}) else {}
    return render(
        "engagement.html.j2",
        title="Coaching progress report",
        subtitle=f"{view['org_unit']} · phase {view['phase']}" + (f" · state {view['state']}" if "state" in view else ""),
        source=f"engagement {view['id']}",
        viewer=f"its {role}",
        role=role,
        v=view,
        names=names,
        indicators=indicators,
        withheld=withheld,
    )
