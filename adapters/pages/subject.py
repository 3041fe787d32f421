"""A person's data as a page they can read (GDPR article 15): ``subject_page(export)`` renders the
dict ``app.subjects.export`` returns, and nothing else."""

from __future__ import annotations

import json
from typing import Any

from engagement_tracker.adapters.pages.render import render


def subject_page(export: dict[str, Any]) -> str:
    """The export as one self-contained HTML page (every value escaped)."""
    events = [{**e, "data_json": json.dumps(e["data"], indent=1, ensure_ascii=False, sort_keys=True)}
              for e in export["events"]]
    name = export["name"] or export["subject"]
    return render("subject.html.j2", title=f"Your data: {name}",
                  subtitle=f"Everything recorded about party {export['subject']}, exported {export['exported_at']}",
                  source="the event store", viewer=f"party {export['subject']}", x=export, events=events)
