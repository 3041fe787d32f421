"""The documented exit codes (issue #14), from the installed command run as a subprocess: 0 done,
2 usage, 3 refused by a rule or a permission, 4 store or environment; ``--json`` errors for
scripts; never a traceback; long bad inputs echoed cut."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest

from engagement_tracker.domain import Actor
from tests.integration.test_cli_failures import run, stored  # noqa: F401 - the fixture
from tests.support import Cast


def cases(url: str, cast: Cast, eid: UUID, admin: Actor) -> list[tuple[list[str], int, str]]:
    coach = f"coach:{cast.coach.party}"
    lister = ["--as", f"admin:{admin.party}"]
    return [
        (["--db", url, "engagements", *lister], 0, ""),
        (["engagements", *lister, "--db", url], 0, ""),  # --db after the command
        (["--db", url, "engagements", *lister, "--colour"], 2, "UsageError"),
        (["--db", url, "engagements"], 2, "UsageError"),  # a read names its reader
        (["--db", url, "engagements", "--as", coach], 3, "NotPermitted"),
        (["--db", url, "tick", "--at", "31/12/2026"], 2, "UsageError"),
        (["--db", url, "step", str(eid), "record_session", "--as", coach, "duration_minutes=-5"], 2, "InvalidInput"),
        (["--db", url, "step", str(eid), "confirm_will", "--as", coach], 3, "StepNotAllowed"),
        (["--db", url, "show", str(eid), "--as", f"analyst:{cast.coach.party}"], 3, "NotPermitted"),
        (["--db", url, "step", "00000000-0000-4000-8000-000000000000", "resume", "--as", coach], 3, "NotFound"),
        (["--db", url + "-missing", "engagements", *lister], 4, "StoreError"),
        (["--db", "mysql://x", "engagements", *lister], 4, "StoreError"),
    ]


def test_every_exit_code_is_the_documented_one(stored: tuple[str, Cast, UUID, Actor],  # noqa: F811
                                               tmp_path: Path) -> None:
    for args, code, kind in cases(*stored):
        proc = run(*args, cwd=tmp_path)
        assert proc.returncode == code, (args, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stdout + proc.stderr, args
        if code:
            assert proc.stderr.startswith(f"error: {kind}: "), (args, proc.stderr)
            assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_json_errors_are_one_object_on_stderr(stored: tuple[str, Cast, UUID, Actor],  # noqa: F811
                                              tmp_path: Path) -> None:
    for args, code, kind in cases(*stored):
        if not code:
            continue
        for where in ("front", "back"):
            line = ["--json", *args] if where == "front" else [*args, "--json"]
            proc = run(*line, cwd=tmp_path)
            assert proc.returncode == code, (line, proc.stderr)
            doc = json.loads(proc.stderr)
            assert doc == {"error": kind, "message": doc["message"], "exit_code": code}, doc
            assert doc["message"]


def test_a_bad_setting_is_an_environment_error(stored: tuple[str, Cast, UUID, Actor],  # noqa: F811
                                               tmp_path: Path) -> None:
    url = stored[0]
    proc = run("--db", url, "engagements", cwd=tmp_path, env={"ETRACK_K_MIN": "many", "ETRACK_AS": f"admin:{stored[3].party}"})
    assert proc.returncode == 4 and proc.stderr.startswith("error: InvalidInput: ETRACK_K_MIN"), proc.stderr


def test_the_help_documents_the_exit_codes(tmp_path: Path) -> None:
    proc = run("--help", cwd=tmp_path)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for words in ("1 an audit found a fault", "2 usage error", "3 refused by a domain rule or permission",
                  "4 store or environment error"):
        assert words in text, words


@pytest.mark.parametrize("where", ["id", "actor", "time"])
def test_a_long_bad_input_is_echoed_cut(stored: tuple[str, Cast, UUID, Actor],  # noqa: F811
                                        tmp_path: Path, where: str) -> None:
    url, cast, eid, _ = stored
    huge = "x" * 100_000
    args = {
        "id": ["step", huge, "resume", "--as", f"coach:{cast.coach.party}"],
        "actor": ["show", str(eid), "--as", f"coach:{huge}"],
        "time": ["tick", "--at", huge],
    }[where]
    proc = run("--db", url, *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr) < 600 and "characters)" in proc.stderr, proc.stderr[:300]


def test_the_toml_file_configures_the_command_line(stored: tuple[str, Cast, UUID, Actor],  # noqa: F811
                                                   tmp_path: Path) -> None:
    url = stored[0]
    lister = {"ETRACK_AS": f"admin:{stored[3].party}"}
    (tmp_path / "etrack.toml").write_text(f'database_url = "{url}"\n', encoding="utf-8")
    assert run("engagements", cwd=tmp_path, env=lister).returncode == 0  # ./etrack.toml names the store
    (tmp_path / "etrack.toml").write_text('k_min = "many"\n', encoding="utf-8")
    bad = run("--db", url, "engagements", cwd=tmp_path, env=lister)
    assert bad.returncode == 4 and bad.stderr.startswith("error: InvalidInput: ETRACK_K_MIN"), bad.stderr
    assert run("--db", url, "engagements", cwd=tmp_path, env={"ETRACK_K_MIN": "5", **lister}).returncode == 0  # env wins
    missing = run("engagements", cwd=tmp_path, env={"ETRACK_CONFIG": "nope.toml", **lister})
    assert missing.returncode == 4 and "ETRACK_CONFIG" in missing.stderr and "Traceback" not in missing.stderr
