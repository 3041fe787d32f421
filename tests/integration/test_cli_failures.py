"""Only typed failures from the command line (issue #11): each case is one
`error: <Type>: <why>` line on stderr, its documented exit status (2 usage, 3 refused,
4 store or environment, issue #14), no traceback, nothing written.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest

from engagement_tracker.domain import Actor, Role
from tests.support import Cast, FakeClock, drive, event_count, granted, new_tracker, open_engagement

ROOT = Path(__file__).resolve().parents[2]
#: A reader named where the store fails first (an error opening it comes before the gate).
NOBODY = ("--as", "admin:00000000-0000-4000-8000-000000000000")

#: Run the CLI with a module hidden, as if its extra were not installed.
NO_PSYCOPG = "import sys; sys.modules['psycopg'] = None; sys.modules['psycopg_pool'] = None; "
#: Run the CLI on a full disk: every SQLite connection is capped at its file's current size, so
#: the next write that needs a new page fails with SQLITE_FULL ("database or disk is full").
FULL_DISK = (
    "import sqlite3; _connect = sqlite3.connect\n"
    "def _capped(*a, **k):\n"
    "    conn = _connect(*a, **k); conn.execute('PRAGMA max_page_count = 1'); return conn\n"
    "sqlite3.connect = _capped\n"
)
MAIN = "from engagement_tracker.adapters.cli import main; main()"


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, prelude: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", prelude + MAIN] if prelude else [sys.executable, "-m",
                                                                       "engagement_tracker.adapters.cli"]
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200", **(env or {})},
    )


#: The exit status each kind of failure documents (adapters/cli/exits.py).
STATUS = {"InvalidInput": 2, "UsageError": 2, "StoreError": 4, "ConcurrencyConflict": 4}


def refused(proc: subprocess.CompletedProcess[str], kind: str, *words: str, status: int | None = None) -> str:
    """The process printed one `error: <kind>: ...` line, its exit status, and no traceback."""
    expected = status if status is not None else STATUS.get(kind, 3)
    assert proc.returncode == expected, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {kind}: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def stored(tmp_path: Path) -> tuple[str, Cast, UUID, Actor]:
    """An SQLite file with one engagement in accompaniment and an admin."""
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cast = Cast.register(app)
    admin = granted(app, Role.ADMIN, "Ada Admin")
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    app.close()
    return url, cast, eid, admin


def count(url: str) -> int:
    app = new_tracker(url)
    try:
        return event_count(app)
    finally:
        app.close()


# --- 1. analysts' and auditors' arguments -----------------------------------------------------------

@pytest.mark.parametrize("options,field", [
    (["--by", "colour"], "colour"),
    (["--unit", "Ops!!"], "unit:"),
    (["--since", "20260101"], "since:"),
    (["--until", "2026-13"], "until:"),
    (["--k", "1"], "k:"),
])
def test_bad_release_arguments(stored: tuple[str, Cast, UUID, Actor], tmp_path: Path, options: list[str],
                               field: str) -> None:
    url, _, _, admin = stored
    proc = run("--db", url, "signals", "summary", "--as", f"admin:{admin.party}", *options, cwd=tmp_path)
    refused(proc, "InvalidInput", field)


def test_a_malformed_checkpoint_file(stored: tuple[str, Cast, UUID, Actor], tmp_path: Path) -> None:
    url, _, _, admin = stored
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_text(json.dumps({"position": "abc", "head_hash": "00"}))
    proc = run("--db", url, "audit", "verify", "--as", f"admin:{admin.party}", "--checkpoint", str(checkpoint),
               cwd=tmp_path)
    refused(proc, "InvalidInput", "checkpoint:", "position")


def test_replay_of_a_version_out_of_range(stored: tuple[str, Cast, UUID, Actor], tmp_path: Path) -> None:
    url, _, eid, admin = stored
    refused(run("--db", url, "replay", str(eid), "--as", f"admin:{admin.party}", "--version", "999", cwd=tmp_path),
            "InvalidInput", "version:")


# --- 2. settings ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key,value", [
    ("ETRACK_K_MIN", "abc"), ("ETRACK_K_MIN", "0"), ("ETRACK_K_MIN", "-1"),
    ("ETRACK_CIPHER_KEY", "notakey"), ("ETRACK_CIPHER_KEY", "QUFBQQ=="),
    ("ETRACK_SNAPSHOT_INTERVAL", "x"), ("ETRACK_TEAMS_WARN_ABOVE", "x"),
])
def test_a_malformed_setting_is_refused_when_the_store_opens(tmp_path: Path, key: str, value: str) -> None:
    db = tmp_path / "new.sqlite"
    proc = run("--db", f"sqlite:///{db}", "party", "register", "--name", "Ann", cwd=tmp_path, env={key: value})
    refused(proc, "InvalidInput", f"{key}:", status=4)  # a bad setting: the environment
    assert list(tmp_path.iterdir()) == []  # no store, no vault


def test_k_min_is_refused_before_a_release_is_read(stored: tuple[str, Cast, UUID, Actor], tmp_path: Path) -> None:
    url, _, _, admin = stored
    proc = run("--db", url, "signals", "summary", "--as", f"admin:{admin.party}", cwd=tmp_path,
               env={"ETRACK_K_MIN": "abc"})
    refused(proc, "InvalidInput", "ETRACK_K_MIN:", "whole number >= 3", status=4)


# --- 3. PostgreSQL without its driver --------------------------------------------------------------------

@pytest.mark.parametrize("command", [["engagements", *NOBODY], ["party", "register", "--name", "Ann"]])
def test_postgresql_without_psycopg(tmp_path: Path, command: list[str]) -> None:
    proc = run("--db", "postgresql://postgres@127.0.0.1:5432/test", *command, cwd=tmp_path, prelude=NO_PSYCOPG)
    refused(proc, "StoreError", "pip install 'engagement-tracker[postgres]'")


# --- 4. a full disk ------------------------------------------------------------------------------------------

def test_a_step_on_a_full_disk_records_nothing(stored: tuple[str, Cast, UUID, Actor], tmp_path: Path) -> None:
    url, cast, eid, _ = stored
    before = count(url)
    proc = run("--db", url, "step", str(eid), "record_session", "--as", f"coach:{cast.coach.party}",
               "held_on=2026-01-25", "duration_minutes=60", "themes=career", "notes=" + "y" * 20_000,
               cwd=tmp_path, prelude=FULL_DISK)
    refused(proc, "StoreError", "could not write", "nothing was recorded", "full")
    assert count(url) == before
    ok = run("--db", url, "engagements", "--format", "json", "--as", f"admin:{stored[3].party}", cwd=tmp_path)
    assert ok.returncode == 0 and json.loads(ok.stdout)[0]["sessions"] == 0


def test_a_party_on_a_full_disk_records_nothing(stored: tuple[str, Cast, UUID, Actor], tmp_path: Path) -> None:
    url, _, _, _ = stored
    path = url[len("sqlite:///"):]
    with sqlite3.connect(path) as conn:  # no room left in the file's last pages: any event needs a new one
        conn.execute("CREATE TABLE ballast (b BLOB)")
        conn.execute("INSERT INTO ballast VALUES (zeroblob(1))")
    before = count(url)
    for _ in range(20):  # fill the free room a page at a time, until a registration cannot be written
        proc = run("--db", url, "party", "register", "--name", "N" * 200, cwd=tmp_path, prelude=FULL_DISK)
        if proc.returncode != 0:
            break
        before += 1
    refused(proc, "StoreError", "could not write", "nothing was recorded")
    assert count(url) == before


# --- 5. bad --db values ------------------------------------------------------------------------------------

@pytest.mark.parametrize("db,words", [
    ("foo://x", ["unsupported store URL"]),
    ("/path/that/does/not/exist.sqlite", ["no store at /path/that/does/not/exist.sqlite"]),  # a plain path is SQLite
    ("sqlite:////path/that/does/not/exist.sqlite", ["no store at"]),
    ("sqlite:///", ["names no file"]),
    ("postgresql://", ["names no database"]),
])
def test_a_bad_db_value_for_a_read(tmp_path: Path, db: str, words: list[str]) -> None:
    refused(run("--db", db, "engagements", *NOBODY, cwd=tmp_path), "StoreError", *words)


def test_a_bad_db_directory_for_a_write(tmp_path: Path) -> None:
    proc = run("--db", "sqlite:////path/that/does/not/exist.sqlite", "--create", "party", "register", "--name", "Ann",
               cwd=tmp_path)
    refused(proc, "StoreError", "does not exist")
