"""`etrack coach hours` and the ICF steps as a user runs them: a real process, a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.integration.test_cli_and_demo import etrack
from tests.integration.test_cli_steps import as_
from tests.support import Cast, FakeClock, drive, new_tracker, open_engagement


def test_billing_consent_and_the_icf_log_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    app.close()
    db = ["--db", url]
    coach = as_("coach", cast.coach.party)
    etrack(*db, "step", str(eid), "record_session", *coach, "held_on=2026-01-20", "duration_minutes=90",
           "themes=delegation", "billing=pro_bono", cwd=tmp_path)
    etrack(*db, "step", str(eid), "record_session", *coach, "held_on=2026-01-27", "duration_minutes=60",
           "themes=delegation", cwd=tmp_path)
    log = json.loads(etrack(*db, "coach", "hours", *coach, "--format", "json", cwd=tmp_path).stdout)
    assert [(ln["pro_bono_hours"], ln["paid_hours"], ln["client"]) for ln in log["lines"]] == [
        (1.5, 0.0, "confidential"), (0.0, 1.0, "confidential")]
    assert log["totals"]["credentials"]["ACC"]["met"] is False

    etrack(*db, "step", str(eid), "consent_to_icf_log", *as_("coachee", cast.coachee.party), "named=true",
           cwd=tmp_path)
    rows = list(csv.DictReader(io.StringIO(etrack(*db, "coach", "hours", *coach, "--format", "csv",
                                                  cwd=tmp_path).stdout)))
    assert [r["client"] for r in rows] == ["Marc Petit", "Marc Petit"]
    assert [r["version"] for r in rows] and all(r["engagement"] == str(eid) for r in rows)

    table = etrack(*db, "coach", "hours", *coach, cwd=tmp_path).stdout
    assert "ACC: missing 97.5 hours" in table and "PCC: missing" in table

    refused = etrack(*db, "coach", "hours", *as_("sponsor", cast.sponsor.party), cwd=tmp_path, check=False)
    assert refused.returncode == 2 and refused.stderr.startswith("error: NotPermitted")
    assert "Traceback" not in refused.stderr
