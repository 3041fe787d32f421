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
    assert refused.returncode == 3 and refused.stderr.startswith("error: NotPermitted")  # a permission: exit 3
    assert "Traceback" not in refused.stderr


def test_testimonials_and_readings_from_the_command_line(tmp_path: Path) -> None:
    from tests.support import CohortCast, frame_cohort, granted

    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cc = CohortCast.register(app)
    cid = frame_cohort(app, cc)
    casts = []
    for n in range(6):  # k = 5 (the default): five authors in the fake clock's quarter, one by the CLI (today)
        cast = Cast.register(app)
        eid = open_engagement(app, cast)
        drive(app, cast, eid, "closed")
        casts.append((cast, eid))
        if n:
            app.engagements.leave_testimonial(eid, cast.coachee, {"would_recommend": 5}, f"quote {n}", quote_consent=n < 4)
    analyst = granted(app, "analyst", "Ana Lyst")
    app.close()
    db = ["--db", url]
    cast, eid = casts[0]
    etrack(*db, "step", str(eid), "leave_testimonial", *as_("coachee", cast.coachee.party),
           'ratings={"would_recommend": 5}', "text=quote 0", "quote_consent=true", cwd=tmp_path)
    member = cc.members[0]
    etrack(*db, "cohort", "step", str(cid), "record_reading", *as_("member", member.party), "metric=M1",
           "value=96.5", "read_on=2026-02-02", cwd=tmp_path)
    rated = etrack(*db, "testimonials", "ratings", *as_("analyst", analyst.party), "--format", "json",
                   "--by", "metric", cwd=tmp_path)
    assert [r["value"] for r in json.loads(rated.stdout) if r["metric"] == "would_recommend=5"] == [6]
    quoted = json.loads(etrack(*db, "testimonials", "quotes", *as_("analyst", analyst.party), "--format", "json",
                               cwd=tmp_path).stdout)
    assert sorted(q["quote"] for q in quoted if q["status"] == "released") == ["quote 1", "quote 2", "quote 3"]
    assert [q["status"] for q in quoted if q["period"] != "2026-Q1"] == ["suppressed"]  # one author alone
    refused = etrack(*db, "testimonials", "quotes", *as_("coach", casts[0][0].coach.party), cwd=tmp_path,
                     check=False)
    assert refused.returncode == 3 and "NotPermitted" in refused.stderr


def test_cohort_work_from_the_command_line_reaches_the_icf_log(tmp_path: Path) -> None:
    from tests.support import CohortCast, frame_cohort

    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    app = new_tracker(url, FakeClock())
    cc = CohortCast.register(app)
    cid = frame_cohort(app, cc)
    app.close()
    db = ["--db", url]
    done = etrack(*db, "cohort", "step", str(cid), "log_coaching", *as_("coach", cc.coach.party),
                  "held_on=2026-02-02", "duration_minutes=90", "billing=pro_bono", cwd=tmp_path)
    assert json.loads(done.stdout)["result"] == 5
    rows = list(csv.DictReader(io.StringIO(etrack(*db, "coach", "hours", *as_("coach", cc.coach.party), "--format",
                                                  "csv", cwd=tmp_path).stdout)))
    assert [(r["coaching"], r["group_size"], r["pro_bono_hours"], r["client"]) for r in rows] == [
        ("cohort", "5", "1.5", "confidential")]
