"""The command line as people use it (issue #14): the step listing, completion of step names,
internal steps offered nowhere, --db anywhere and as a plain path, ids never cut, logging."""

from __future__ import annotations

import json
import re
from pathlib import Path
from uuid import UUID

from engagement_tracker.domain import Actor
from engagement_tracker.domain.application.steps import COHORT_STEPS, ENGAGEMENT_STEPS
from tests.integration.test_cli_failures import run, stored  # noqa: F401 - the fixture
from tests.support import Cast


def test_steps_lists_every_step_with_arguments_types_and_roles(tmp_path: Path) -> None:
    proc = run("steps", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    for workflow, catalogue in (("engagement", ENGAGEMENT_STEPS), ("cohort", COHORT_STEPS)):
        listed = {r["step"]: r for r in rows if r["workflow"] == workflow}
        people = {n for n, s in catalogue.items() if not s.system_only and n != "open"}
        assert set(listed) == people, workflow
        for name, row in listed.items():
            step = catalogue[name]
            assert row["who"] == list(step.roles)
            assert [a["name"] for a in row["arguments"]] == [p.name for p in step.parameters]
            assert all(a["type"] and a["accepts"] for a in row["arguments"])
    assert "miss_deadline" not in proc.stdout
    signal = next(r for r in rows if (r["workflow"], r["step"]) == ("engagement", "record_signal"))
    assert {a["name"]: a["type"] for a in signal["arguments"]}["intensity"] == "INT"
    only = json.loads(run("steps", "cohort", "--format", "json", cwd=tmp_path).stdout)
    assert {r["workflow"] for r in only} == {"cohort"}
    table = run("steps", "engagement", cwd=tmp_path)
    assert "record_session" in table.stdout and "held_on=DATE" in table.stdout


def test_shell_completion_offers_step_names(tmp_path: Path) -> None:
    env = {"_ETRACK_COMPLETE": "bash_complete", "COMP_WORDS": "etrack step X record_s", "COMP_CWORD": "3"}
    proc = run(cwd=tmp_path, env=env, prelude="import sys; sys.argv[0] = 'etrack'\n")
    assert proc.stdout.split() == ["plain,record_session", "plain,record_signal", "plain,record_synthesis"]
    env["COMP_WORDS"], env["COMP_CWORD"] = "etrack cohort step X miss", "4"
    assert run(cwd=tmp_path, env=env, prelude="import sys; sys.argv[0] = 'etrack'\n").stdout.strip() == ""


def test_internal_steps_are_offered_nowhere(stored: tuple[str, Cast, UUID, Actor],  # noqa: F811
                                            tmp_path: Path) -> None:
    url, cast, eid, _ = stored
    view = json.loads(run("--db", url, "show", str(eid), "--as", f"coach:{cast.coach.party}", cwd=tmp_path).stdout)
    assert view["allowed_steps"] and "miss_deadline" not in view["allowed_steps"]
    refused = run("--db", url, "step", str(eid), "confirm_will", "--as", f"coach:{cast.coach.party}", cwd=tmp_path)
    assert refused.returncode == 3 and "miss_deadline" not in refused.stderr
    assert "miss_deadline" not in run("step", "--help", cwd=tmp_path).stdout.split("Not taken by hand")[0]


def test_db_goes_anywhere_and_a_plain_path_is_sqlite(stored: tuple[str, Cast, UUID, Actor],  # noqa: F811
                                                     tmp_path: Path) -> None:
    url = stored[0]
    path = url.removeprefix("sqlite:///")
    lister = ("--as", f"admin:{stored[3].party}")
    for args in (["--db", path, "engagements"], ["engagements", "--db", path], ["engagements", "--db", url]):
        proc = run(*args, *lister, "--format", "json", cwd=tmp_path)
        assert proc.returncode == 0 and len(json.loads(proc.stdout)) == 1, (args, proc.stderr)
    relative = run("engagements", "--db", "./here.sqlite", *lister, cwd=tmp_path)
    assert relative.returncode == 4 and "no store at ./here.sqlite" in relative.stderr


def test_piped_tables_never_cut_ids_nor_wrap(stored: tuple[str, Cast, UUID, Actor],  # noqa: F811
                                             tmp_path: Path) -> None:
    url, _, eid, admin = stored
    proc = run("--db", url, "engagements", "--as", f"admin:{admin.party}", cwd=tmp_path, env={"COLUMNS": "40"})
    assert proc.returncode == 0
    assert str(eid) in proc.stdout  # whole, on one line
    uuids = re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", proc.stdout)
    assert uuids == [str(eid)]


def test_verbose_logs_and_the_log_level_setting(stored: tuple[str, Cast, UUID, Actor],  # noqa: F811
                                                tmp_path: Path) -> None:
    url = stored[0]
    lister = {"ETRACK_AS": f"admin:{stored[3].party}"}
    quiet = run("--db", url, "engagements", cwd=tmp_path, env=lister)
    assert quiet.stderr == ""
    loud = run("--db", url, "engagements", "-vv", cwd=tmp_path, env=lister)
    assert loud.returncode == 0 and "DEBUG engagement_tracker" in loud.stderr, loud.stderr
    env = run("--db", url, "engagements", cwd=tmp_path, env={"ETRACK_LOG_LEVEL": "debug", **lister})
    assert "DEBUG engagement_tracker" in env.stderr
    bad = run("--db", url, "engagements", cwd=tmp_path, env={"ETRACK_LOG_LEVEL": "chatty", **lister})
    assert bad.returncode == 0 and "expected DEBUG, INFO, WARNING or ERROR" in bad.stderr


def on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run etrack with stderr on a pseudo-terminal (stdout piped): what the terminal showed."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "engagement_tracker.adapters.cli", *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=follower,
                            env={"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PATH": "/usr/bin:/bin",
                                 "COLUMNS": "120", "TERM": "xterm"})
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return proc.wait(), shown.decode(errors="replace")


def test_long_work_shows_a_progress_bar_on_a_terminal_only(stored: tuple[str, Cast, UUID, Actor],  # noqa: F811
                                                           tmp_path: Path) -> None:
    url, _, _, admin = stored
    code, shown = on_a_terminal(["--db", url, "projections", "rebuild"], tmp_path)
    assert code == 0 and "rebuilding" in shown and "records" in shown and "ETA" in shown, shown
    code, shown = on_a_terminal(["--db", url, "audit", "verify", "--as", str(admin)], tmp_path)
    assert code == 0 and "verifying" in shown, shown
    code, shown = on_a_terminal(["--db", url, "audit", "export", "--as", str(admin), "--out", "t.jsonl"], tmp_path)
    assert code == 0 and "exporting" in shown and "entries written" in shown, shown
    code, shown = on_a_terminal(["--db", url, "tick", "--at", "2026-06-01"], tmp_path)
    assert code == 0 and "deadlines" in shown and "engagements and cohorts" in shown, shown
    code, shown = on_a_terminal(["--db", url, "projections", "rebuild", "--quiet"], tmp_path)
    assert code == 0 and "rebuilding" not in shown
    piped = run("--db", url, "projections", "rebuild", cwd=tmp_path)
    assert piped.returncode == 0 and "rebuilding" not in piped.stderr + piped.stdout
    assert "records projected" in piped.stdout


def test_a_rendered_diagram_needs_the_mermaid_cli(tmp_path: Path) -> None:
    missing = run("workflow", "diagram", "cohort", "--format", "svg", cwd=tmp_path)
    assert missing.returncode == 4 and missing.stderr.startswith("error: MissingDependency: ")
    assert "npm install -g @mermaid-js/mermaid-cli" in missing.stderr and "Traceback" not in missing.stderr
    # a stand-in mmdc on PATH: the diagram's text goes in, the rendered file comes out
    tools = tmp_path / "bin"
    tools.mkdir()
    fake = tools / "mmdc"
    fake.write_text('#!/bin/sh\ncp "$2" "$4.src"; printf "<svg>%s</svg>" "$(head -1 "$2")" > "$4"\n', encoding="utf-8")
    fake.chmod(0o755)
    env = {"PATH": f"{tools}:/usr/bin:/bin"}
    svg = run("workflow", "diagram", "cohort", "--format", "svg", cwd=tmp_path, env=env)
    assert svg.returncode == 0 and svg.stdout == "<svg>stateDiagram-v2</svg>", svg.stderr
    png = run("workflow", "diagram", "engagement", "--format", "png", "--out", "e.png", cwd=tmp_path, env=env)
    assert png.returncode == 0 and (tmp_path / "e.png").read_text(encoding="utf-8") == "<svg>stateDiagram-v2</svg>"
    fake.write_text("#!/bin/sh\necho 'Error: no browser' >&2; exit 1\n", encoding="utf-8")
    broken = run("workflow", "diagram", "cohort", "--format", "svg", cwd=tmp_path, env=env)
    assert broken.returncode == 4 and "no browser" in broken.stderr
