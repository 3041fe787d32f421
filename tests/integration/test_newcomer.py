"""What a newcomer hit on the way (issue #22, item 7), each case as they met it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from uuid import uuid4

import pytest

from engagement_tracker.adapters.demo import access_actor
from engagement_tracker.domain import InvalidInput, NotPermitted, Role
from tests.support import Cast, CohortCast, FakeClock, admin, frame_cohort, grant, granted, new_tracker, open_engagement

ROOT = Path(__file__).resolve().parents[2]
MAIN = "from engagement_tracker.adapters.cli import main; main()"
UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def etrack(*args: str, cwd: Path, hide: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """The command line; ``hide`` runs it as if those modules (an extra) were not installed."""
    prelude = "".join(f"sys.modules[{name!r}] = None; " for name in hide)
    command = [sys.executable, "-c", f"import sys; {prelude}{MAIN}"] if hide else [
        sys.executable, "-m", "engagement_tracker.adapters.cli"]
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    where = tmp_path_factory.mktemp("demo")
    proc = etrack("demo", cwd=where)
    assert proc.returncode == 0, proc.stderr
    yield where, proc.stdout


# --- a missing extra ----------------------------------------------------------------------------------


@pytest.mark.parametrize("extra,hide,command", [
    ("pages", ("jinja2",), ["report", "engagement", "{eid}", "--as", "coach:{coach}", "--out", "p.html"]),
    ("pages", ("jinja2",), ["report", "synthesis", "--period", "2026-Q1", "--as", "{analyst}", "--out", "n.html"]),
    ("pdf", ("playwright", "playwright.sync_api"),
     ["report", "engagement", "{eid}", "--as", "coach:{coach}", "--out", "p.pdf", "--format", "pdf"]),
    ("dp", ("opendp", "opendp.prelude"), ["signals", "summary", "--as", "{analyst}", "--privacy", "dp", "--epsilon",
                                          "0.5"]),
])
@pytest.mark.parametrize("as_json", [False, True])
def test_a_missing_extra_names_the_whole_pip_command_and_exits_4(demo: tuple[Path, str], extra: str,
                                                                  hide: tuple[str, ...], command: list[str],
                                                                  as_json: bool) -> None:
    where, out = demo
    eid, coach = re.search(r"etrack timeline (\S+) --as coach:(\S+)", out).groups()  # type: ignore[union-attr]
    args = [a.format(eid=eid, coach=coach, analyst=access_actor("analyst")) for a in command]
    proc = etrack(*(["--json"] if as_json else []), *args, cwd=where, hide=hide)
    assert proc.returncode == 4, proc.stderr
    wanted = f"pip install 'engagement-tracker[{extra}]'"
    if as_json:
        doc = json.loads(proc.stderr)
        assert doc["error"] == "MissingDependency" and doc["exit_code"] == 4 and wanted in doc["message"]
    else:
        assert proc.stderr.startswith("error: MissingDependency: ") and wanted in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not list(where.glob("*.html")) + list(where.glob("*.pdf"))


# --- the demo ------------------------------------------------------------------------------------------


def test_the_demo_prints_a_command_to_try_as_each_role_and_each_one_works(demo: tuple[Path, str]) -> None:
    where, out = demo
    tries = out.split("Try next, as each role:")[1].strip().splitlines()
    roles = {m.group(1) for line in tries if (m := re.search(r"--as (\w+):", line))}
    assert {"coach", "coachee", "sponsor", "auditor", "analyst", "admin"} <= roles
    coachee = re.search(r"^\s+coachee\s+(\S+)$", out, re.M)
    sponsor = re.search(r"^\s+sponsor\s+(\S+)$", out, re.M)
    assert coachee and sponsor and UUID_RE.fullmatch(coachee.group(1)) and UUID_RE.fullmatch(sponsor.group(1))
    for line in tries:
        if line.strip().startswith("etrack ") and "<" not in line:
            proc = etrack(*line.split()[1:], cwd=where)
            assert proc.returncode == 0, (line, proc.stderr)


def test_ids_printed_in_the_demo_tables_are_whole_and_accepted(demo: tuple[Path, str]) -> None:
    where, out = demo
    table = out.split("Peer-coaching cohorts")[1].split("Team coaching load")[0]
    ids = UUID_RE.findall(table)
    assert len(ids) == 2  # each cohort, its whole id
    auditor = re.search(r"auditor:[0-9a-f-]{36}", out)
    assert auditor, out
    listed = json.loads(etrack("cohorts", "--as", auditor.group(0), "--format", "json", cwd=where).stdout)
    assert {c["id"] for c in listed} == set(ids)


# --- labels with accents --------------------------------------------------------------------------------


def test_an_org_unit_accepts_letters_with_accents(tmp_path: Path) -> None:
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}")
    cast = Cast.register(app)
    eid = app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "line_manager", "Opérations/Zürich").value
    assert app.engagements.get(eid).org_unit == "Opérations/Zürich"
    decomposed = unicodedata.normalize("NFD", "Île-de-France/Évry")  # as some keyboards send it: compared in NFC
    other = app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "line_manager", decomposed).value
    assert app.engagements.get(other).org_unit == unicodedata.normalize("NFC", decomposed)
    for sentence in ("Marc Petit est en difficulté avec son manager", "_Opérations", "Zürich!"):
        with pytest.raises(InvalidInput, match="is not an org unit"):
            app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "line_manager", sentence)
    reader = f"admin:{admin(app).party}"
    app.close()
    proc = etrack("--db", str(tmp_path / "etrack.sqlite"), "engagements", "--as", reader, "--format", "json", cwd=tmp_path)
    assert "Opérations/Zürich" in {e["org_unit"] for e in json.loads(proc.stdout)}


# --- privacy budgets go to analysts ---------------------------------------------------------------------


def test_a_privacy_budget_is_granted_only_to_a_party_holding_the_analyst_grant(tracker) -> None:  # type: ignore[no-untyped-def]
    boss = admin(tracker)
    stranger = tracker.parties.register("person", "Not An Analyst").value
    coach = granted(tracker, Role.COACH, "A Coach")
    for party in (stranger, coach.party, boss.party):
        with pytest.raises(NotPermitted, match=f"holds no analyst grant.*etrack grant analyst {party}"):
            tracker.budgets.grant(party, 1.0, boss)
    assert tracker.budgets.balance(boss, stranger)["granted_rho"] == 0.0  # nothing recorded
    analyst = grant(tracker, stranger, Role.ANALYST)
    tracker.budgets.grant(stranger, 1.0, boss)
    assert tracker.budgets.balance(analyst)["granted_rho"] == 1.0


# --- nothing dated before what it belongs to existed ----------------------------------------------------


def test_signals_and_coaching_time_dated_before_their_engagement_or_cohort_are_refused() -> None:
    clock = FakeClock()  # 2026-01-01
    app = new_tracker("memory:", clock)
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    signal = ("bureaucratic_friction", "management", "drains", 3, "Operations")
    with pytest.raises(InvalidInput, match=r"observed_on: 2025-12-31 is before this engagement existed"):
        app.engagements.record_signal(eid, cast.coach, *signal, date(2025, 12, 31))
    app.engagements.record_signal(eid, cast.coach, *signal, date(2026, 1, 1))  # the day it was opened: accepted
    cc = CohortCast.register(app)
    cid = frame_cohort(app, cc)
    with pytest.raises(InvalidInput, match=r"observed_on: 2025-06-01 is before this cohort existed"):
        app.cohorts.record_signal(cid, cc.coach, "energy_gain", "business", "gives", 4, "Operations",
                                  date(2025, 6, 1))
    with pytest.raises(InvalidInput, match=r"held_on: 2025-12-01 is before this cohort existed"):
        app.cohorts.log_coaching(cid, cc.coach, date(2025, 12, 1), 90)
    before = app.cohorts.get(cid).version
    app.cohorts.log_coaching(cid, cc.coach, date(2026, 1, 2), 90)
    assert app.cohorts.get(cid).version == before + 1  # the refusals recorded nothing
    app.close()


# --- store URLs and the bare command --------------------------------------------------------------------


def test_a_relative_sqlite_url_meant_as_absolute_says_four_slashes(tmp_path: Path) -> None:
    meant = tmp_path / "abs" / "x.sqlite"  # written sqlite:///<meant without its leading '/'>
    meant.parent.mkdir()
    (tmp_path / "cwd").mkdir()
    relative = str(meant).lstrip("/")
    for command in (["engagements", "--as", f"admin:{uuid4()}"], ["--create", "party", "register", "--name", "Ann"]):
        proc = etrack("--db", f"sqlite:///{relative}", *command, cwd=tmp_path / "cwd")
        assert proc.returncode == 4, proc.stderr
        assert "is relative to the working directory; an absolute path needs four slashes: sqlite:////" in proc.stderr
    assert list(meant.parent.iterdir()) == [] and list((tmp_path / "cwd").iterdir()) == []


def test_etrack_alone_prints_its_help_without_an_error(tmp_path: Path) -> None:
    proc = etrack(cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("Usage: etrack") and "Commands:" in proc.stdout
    assert "error:" not in proc.stdout + proc.stderr and "UsageError" not in proc.stdout


def test_a_made_up_id_is_refused_not_created(tmp_path: Path) -> None:
    """A whole id that names nothing is NotFound (exit 3), on a store that exists."""
    db = str(tmp_path / "etrack.sqlite")
    assert etrack("--db", db, "init", "--admin-name", "Ada", cwd=tmp_path).returncode == 0
    proc = etrack("--db", db, "show", str(uuid4()), "--as", f"coach:{uuid4()}", cwd=tmp_path)
    assert proc.returncode == 3 and "NotFound" in proc.stderr
