"""`etrack` as a user runs it: a real process, a real SQLite file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engagement_tracker.adapters.demo import COACHEES, COACHES, PEERS, SAMPLE_NOTES, SPONSORS, access_actor

ROOT = Path(__file__).resolve().parents[2]
#: A reader named where the store fails first (an error opening it comes before the gate).
NOBODY = ("--as", "admin:00000000-0000-4000-8000-000000000000")


def etrack(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "engagement_tracker.adapters.cli", *args],
        cwd=cwd, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                                       "COLUMNS": "200"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"etrack {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def demo_free_text() -> list[str]:
    """Every string literal of the demo script longer than a label: all of it is sealed input."""
    import ast

    from engagement_tracker.adapters import demo

    tree = ast.parse(Path(demo.__file__).read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return sorted(s for s in strings if " " in s and len(s) > 24 and "{" not in s and not s.startswith(("http",)))


def store_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.glob("etrack.sqlite*")))


ADMIN = str(access_actor("admin"))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo")
    first = etrack("demo", cwd=directory)
    assert "17 engagements and cohorts recorded now, 17 in the store" in first.stdout
    return directory


def test_demo_prints_phases_and_a_timeline(demo_dir: Path) -> None:
    out = etrack("demo", cwd=demo_dir).stdout
    for phase in ("framing", "accompaniment", "closing", "closed", "declined", "abandoned"):
        assert phase in out
    assert "ClosingMeetingHeld" in out and "Timeline of engagement" in out
    assert "Peer-coaching cohorts" in out and "at the limit" in out


def test_running_the_demo_twice_neither_fails_nor_duplicates(demo_dir: Path) -> None:
    listing = lambda: json.loads(etrack("engagements", "--format", "json", "--as", ADMIN, cwd=demo_dir).stdout)  # noqa: E731
    before = listing()
    again = etrack("demo", cwd=demo_dir)
    assert "0 engagements and cohorts recorded now, 17 in the store" in again.stdout
    assert listing() == before
    assert len(before) == 15
    kinds = {row["coachee_kind"] for row in before}
    assert kinds == {"person", "team"}


def test_the_store_holds_no_name_and_no_note_in_clear(demo_dir: Path) -> None:
    raw = store_bytes(demo_dir)
    assert len(raw) > 100_000
    secrets = [*COACHES.values(), *SPONSORS.values(), *(name for _, name in COACHEES.values()), *PEERS.values(),
               *SAMPLE_NOTES, *demo_free_text()]
    assert len(secrets) > 60
    leaked = [s for s in secrets if s.encode() in raw or s.encode("utf-16-le") in raw]
    assert leaked == []


def test_listing_as_csv_and_json(demo_dir: Path) -> None:
    csv_out = etrack("engagements", "--format", "csv", "--as", ADMIN, cwd=demo_dir).stdout.splitlines()
    assert csv_out[0] == "id,state,coachee_kind,org_unit,sessions,opened_at"
    assert len(csv_out) == 16


def test_workflow_diagram_prints_mermaid(tmp_path: Path) -> None:
    out = etrack("workflow", "diagram", "engagement", cwd=tmp_path).stdout
    assert "stateDiagram-v2" in out and "framing_formalisation --> accompaniment_in_progress" in out
    data = json.loads(etrack("workflow", "diagram", "engagement", "--format", "json", cwd=tmp_path).stdout)
    assert data["workflow"] == "engagement"


def test_a_user_drives_an_engagement_from_the_command_line(tmp_path: Path) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'cli.sqlite'}"]
    coach = etrack(*db, "--create", "party", "register", "--name", "Claire Dubois", cwd=tmp_path).stdout.strip()
    coachee = etrack(*db, "party", "register", "--kind", "team", "--name", "Team Orion", cwd=tmp_path).stdout.strip()
    sponsor = etrack(*db, "party", "register", "--name", "Sophie Laurent", cwd=tmp_path).stdout.strip()
    ungranted = etrack(*db, "open", "--as", f"coach:{coach}", "--coachee", coachee, "--sponsor", sponsor,
                       "--unit", "Digital Factory", cwd=tmp_path, check=False)
    assert ungranted.returncode == 3 and "holds no coach grant" in ungranted.stderr
    admin = etrack(*db, "init", "--admin-name", "Ada Admin", cwd=tmp_path).stdout.strip()
    etrack(*db, "grant", "coach", coach, "--as", f"admin:{admin}", cwd=tmp_path)
    eid = etrack(*db, "open", "--as", f"coach:{coach}", "--coachee", coachee, "--sponsor", sponsor,
                 "--unit", "Digital Factory", cwd=tmp_path).stdout.strip()
    out = etrack(*db, "step", eid, "hold_first_meeting", "--as", f"coach:{coach}", "held_on=2026-01-05", cwd=tmp_path)
    assert json.loads(out.stdout)["state"] == "framing.first_meeting"

    refused = etrack(*db, "step", eid, "record_session", "--as", f"coach:{coach}", "held_on=2026-01-06",
                     "duration_minutes=60", "themes=delegation", cwd=tmp_path, check=False)
    assert refused.returncode == 3
    assert "StepNotAllowed" in refused.stderr and "framing.first_meeting" in refused.stderr

    wrong = etrack(*db, "step", eid, "confirm_will", "--as", f"sponsor:{sponsor}", cwd=tmp_path, check=False)
    assert wrong.returncode == 3 and "NotPermitted" in wrong.stderr

    view = json.loads(etrack(*db, "show", eid, "--as", f"sponsor:{sponsor}", cwd=tmp_path).stdout)
    assert view["scope"] == "contract" and view["parties"]["coachee"]["name"] == "Team Orion"


def test_a_corrupted_store_is_a_clear_error_and_is_left_alone(tmp_path: Path) -> None:
    bad = tmp_path / "etrack.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    before = bad.read_bytes()
    proc = etrack("engagements", *NOBODY, cwd=tmp_path, check=False)
    assert proc.returncode == 4
    assert "StoreError" in proc.stderr and "not an SQLite database" in proc.stderr
    assert bad.read_bytes() == before


def test_an_unknown_store_url_names_the_accepted_forms(tmp_path: Path) -> None:
    proc = etrack("--db", "mysql://x", "engagements", *NOBODY, cwd=tmp_path, check=False)
    assert proc.returncode == 4 and "sqlite:///path" in proc.stderr


@pytest.mark.parametrize("command", [("engagements",), ("cohorts",), ("tick", "--at", "2026-01-01T00:00:00+00:00")])
def test_an_empty_listing_in_csv_still_has_its_header(tmp_path: Path, command: tuple[str, ...]) -> None:
    import io

    import pandas as pd

    db = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    admin = etrack("--db", db, "init", "--admin-name", "Ada Admin", cwd=tmp_path).stdout.strip()  # nothing else
    reader = () if command[0] == "tick" else ("--as", f"admin:{admin}")
    done = etrack("--db", db, *command, *reader, "--format", "csv", cwd=tmp_path)
    frame = pd.read_csv(io.StringIO(done.stdout))
    assert len(frame) == 0 and len(frame.columns) >= 4 and "id" in frame.columns
