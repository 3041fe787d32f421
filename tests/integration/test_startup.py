"""Start-up (issue #28): a command imports only what it uses.

``python -X importtime`` lists every module a process imported; ``etrack --help`` must import none
of the application (no store, no domain model, no eventsourcing), and neither it nor a read command
may import the pages (jinja2, matplotlib), OpenDP, psycopg, pyarrow or the numeric stack; a list of
engagements neither builds the workflow machine nor loads the ciphers. The table
``etrack --help`` prints without importing the commands is checked against the commands themselves.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from engagement_tracker.adapters import cli as cli_package
from engagement_tracker.domain import Role
from tests.support import Cast, granted, new_tracker, open_engagement

ROOT = Path(__file__).resolve().parents[2]

#: What no command that does not need it may import: the optional extras and the numeric stack.
HEAVY = ("jinja2", "matplotlib", "opendp", "psycopg", "psycopg_pool", "pyarrow", "numpy", "pandas", "polars",
         "scipy", "duckdb", "playwright", "fastapi", "uvicorn", "engagement_tracker.adapters.pages")
#: ... and what ``--help`` does not need either: the application, its store and its output.
APPLICATION = ("eventsourcing", "cryptography", "rich", "attrs", "transitions", "sqlite3",
               "engagement_tracker.domain.application", "engagement_tracker.adapters.bootstrap",
               "engagement_tracker.projections")
#: ... and what a read that decides no step and unseals nothing (``etrack engagements``) does not need: the
#: workflow machine (transitions, and the asyncio it imports), the ciphers and keys, the PostgreSQL backend, the
#: progress bars (drawn only on a terminal).
UNUSED_BY_A_LIST = ("transitions", "six", "asyncio", "ssl", "cryptography", "eventsourcing.postgres", "rich.progress",
                    "eventsourcing.cryptography")
#: ... and what a listing of the directory (``etrack engagements``, ``etrack cohorts``) on a current store does not
#: need at all (issue #28): eventsourcing (its Application, its ~140 event classes built at import), any aggregate,
#: the application layer, the wiring of the full path; it reads the views and the grants (``adapters/view_reads.py``).
UNUSED_BY_A_LISTING = ("eventsourcing", "engagement_tracker.domain.application", "engagement_tracker.domain.engagement",
                       "engagement_tracker.domain.cohort", "engagement_tracker.domain.grants",
                       "engagement_tracker.domain.party", "engagement_tracker.adapters.bootstrap",
                       "engagement_tracker.projections.directory", "engagement_tracker.adapters.cli.store")


def imported(*args: str, db: Path | None = None) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``etrack ARGS`` under ``python -X importtime``: the process and every module it imported."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": os.environ.get("HOME", "/")}
    if db is not None:
        env["ETRACK_DATABASE_URL"] = f"sqlite:///{db}"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "engagement_tracker.adapters.cli", *args],
                          capture_output=True, text=True, check=False, env=env, cwd=ROOT)
    modules = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    modules.discard("package")  # the header line: "import time: self [us] | cumulative | imported package"
    return proc, modules


def offenders(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_help_imports_no_application_and_no_extra() -> None:
    proc, modules = imported("--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "engagements" in proc.stdout and "Exit status" in proc.stdout
    assert "click" in modules and "engagement_tracker.adapters.cli" in modules  # the measurement sees imports
    assert offenders(modules, HEAVY + APPLICATION) == []


def test_a_read_command_imports_no_extra(tmp_path: Path) -> None:
    db = tmp_path / "read.sqlite"
    app = new_tracker(f"sqlite:///{db}")
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    coach = cast.of(Role.COACH)
    auditor = granted(app, Role.AUDITOR, "An Auditor")
    app.close()
    proc, modules = imported("engagements", "--as", str(auditor), "--format", "json", db=db)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert str(eid) in proc.stdout
    assert "engagement_tracker.adapters.bootstrap" in modules  # a directory behind the store: the full path
    assert offenders(modules, HEAVY + UNUSED_BY_A_LIST) == []
    proc, modules = imported("engagements", "--as", str(auditor), "--format", "json", db=db)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert str(eid) in proc.stdout
    assert "engagement_tracker.adapters.view_reads" in modules  # the directory is current: the views alone
    assert offenders(modules, HEAVY + UNUSED_BY_A_LIST + UNUSED_BY_A_LISTING) == []
    proc, modules = imported("cohorts", "--as", str(auditor), db=db)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert offenders(modules, HEAVY + UNUSED_BY_A_LIST + UNUSED_BY_A_LISTING) == []
    proc, modules = imported("engagements", "--as", str(coach), db=db)
    assert proc.returncode == 3 and "NotPermitted" in proc.stderr  # refused on the same path
    assert offenders(modules, HEAVY + UNUSED_BY_A_LISTING) == []
    proc, modules = imported("timeline", str(eid), "--as", str(coach), db=db)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert offenders(modules, HEAVY) == []


def test_the_help_table_is_the_commands_own() -> None:
    """Every module's COMMANDS is in the table under its name, with its module, attribute and help."""
    listed: dict[str, click.Command] = {}
    for module in cli_package.COMMAND_MODULES:
        for command in importlib.import_module(f"{cli_package.__name__}.{module}").COMMANDS:
            assert command.name is not None
            listed[command.name] = command
    assert set(listed) == set(cli_package.LAZY_COMMANDS)
    for name, command in listed.items():
        module, attribute, summary = cli_package.LAZY_COMMANDS[name]
        assert getattr(importlib.import_module(f"{cli_package.__name__}.{module}"), attribute) is command
        assert command.help is not None
        for limit in (45, 74, 10**6):  # as click shortens it for a terminal of any width
            assert click.Command(name, help=summary).get_short_help_str(limit) == command.get_short_help_str(limit), name
        words = " ".join(command.help.split())  # the docstring's lines joined, as click shows them
        assert summary in words or summary.rstrip(".") in words
        assert cli_package.load_command(name) is command


@pytest.mark.parametrize("name", sorted(cli_package.LAZY_COMMANDS))
def test_every_command_loads_with_the_global_options(name: str) -> None:
    result = CliRunner().invoke(cli_package.cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    command = cli_package.cli.get_command(click.Context(cli_package.cli), name)
    assert command is not None
    leaves = list(command.commands.values()) if isinstance(command, click.Group) else [command]
    for leaf in leaves:
        if not isinstance(leaf, click.Group):
            assert "--db" in {opt for p in leaf.params for opt in p.opts}, (name, leaf.name)


def test_cohort_dashboard_joins_cohort_when_cohort_is_loaded() -> None:
    result = CliRunner().invoke(cli_package.cli, ["cohort", "--help"])
    assert result.exit_code == 0, result.output
    assert "dashboard" in result.output


def test_an_unknown_command_is_a_usage_error() -> None:
    proc, _modules = imported("engagemnts")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "engagemnts" in proc.stderr


def test_a_terminal_still_gets_its_progress_bar(tmp_path: Path) -> None:
    """rich.progress is imported only when a bar is drawn: a rebuild whose stderr is a terminal draws one."""
    import pty

    db = tmp_path / "bar.sqlite"
    app = new_tracker(f"sqlite:///{db}")
    open_engagement(app, Cast.register(app))
    app.close()
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": os.environ.get("HOME", "/"),
           "ETRACK_DATABASE_URL": f"sqlite:///{db}", "TERM": "xterm"}
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", "projections", "rebuild"],
                              stdout=subprocess.PIPE, stderr=follower, text=True, check=False, env=env, cwd=ROOT)
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: everything was read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert proc.returncode == 0, drawn[-2000:]
    assert "records projected" in proc.stdout
    text = drawn.decode("utf-8", "replace")
    assert "rebuilding" in text and "records" in text and "ETA" in text
    assert re.search(r"(\d+)/\1\S* records", text), text[-500:]  # the bar reached its total
