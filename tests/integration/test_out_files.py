"""``--out FILE`` is written whole or not at all (issue #21, item 4).

Every command that takes ``--out`` is found in the click tree, so a new one is covered (or the
test names it, asking for its cases). Each is run refused (a reader without the grant: exit 3)
and failing (exit 2 or 4) against an existing file: the file is byte for byte as it was, and no
temporary file is left beside it. Allowed, the same command replaces the file. The helper itself
(adapters/files.py) is checked against a failure half-way through a write.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import click
import pytest

from engagement_tracker.adapters.cli import cli, main
from engagement_tracker.adapters.files import staged, text_out, write_out
from engagement_tracker.domain import Role
from engagement_tracker.domain.errors import InvalidInput
from tests.support import Cast, CohortCast, FakeClock, drive, frame_cohort, grant, granted, new_tracker, open_engagement

KEPT = b"an auditor's kept export\n\x00\xff bytes that must survive\n"


def out_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every command of the tree that takes --out, by its path (``audit export``)."""
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):  # the lazy group imports each command when asked for it
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from out_commands(command, path)
        elif any("--out" in p.opts for p in command.params):
            yield " ".join(path), command


def etrack(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the CLI in this process as the console script does; its exit status and stderr."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err


class Store:
    """An SQLite file with an engagement, a cohort, every organisation role granted, a signing key,
    and a witness that cosigned the first of two checkpoints."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.url = f"sqlite:///{where / 'etrack.sqlite'}"
        app = new_tracker(self.url, FakeClock())
        cast = Cast.register(app)
        self.eid = open_engagement(app, cast)
        drive(app, cast, self.eid, "accompaniment.in_progress")
        self.cid = frame_cohort(app, CohortCast.register(app))
        self.admin = f"admin:{grant(app, granted(app, Role.ADMIN, 'Ada').party, Role.ADMIN).party}"
        self.auditor = f"auditor:{granted(app, Role.AUDITOR, 'Audrey').party}"
        self.analyst = f"analyst:{granted(app, Role.ANALYST, 'Anna').party}"
        self.coach = f"coach:{cast.coach.party}"
        self.sponsor = f"sponsor:{cast.sponsor.party}"
        #: a party claiming each role without holding its grant
        self.outsider = app.parties.register("person", "Oscar Outsider").value
        app.close()
        self.key = str(where / "log.pem")
        self.public = self.run("audit", "keygen", self.key)
        witness = self.run("audit", "witness", "init", "--key", str(where / "w.pem"), "--state",
                           str(where / "w.json"))
        # a policy whose one witness never answers (port 9, discard): a push gathers no cosignature
        (where / "push.policy").write_text(f"log {self.run('audit', 'vkey', '--key', self.key)}\n"
                                           f"witness w {witness} http://127.0.0.1:9/\nquorum w\n")
        self.run("--db", self.url, "audit", "checkpoint", "--as", self.auditor, "--key", self.key,
                 "--out", str(where / "one.note"))
        self.run("audit", "witness", "cosign", str(where / "one.note"), "--state", str(where / "w.json"),
                 "--key", str(where / "w.pem"), "--log-key", self.public)
        app = new_tracker(self.url, FakeClock())
        open_engagement(app, Cast.register(app))
        app.close()
        self.run("--db", self.url, "audit", "checkpoint", "--as", self.auditor, "--key", self.key,
                 "--out", str(where / "two.note"))
        self.missing = f"sqlite:///{where / 'no-such-store.sqlite'}"

    def run(self, *args: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                assert not exc.code, (args, err.getvalue())
        return out.getvalue().strip()

    def as_outsider(self, role: str) -> str:
        return f"{role}:{self.outsider}"


#: Per command: the arguments (after ``--db URL``) when refused, failing and allowed; ``--out`` is added.
#: A refused case is None where the command reads nothing that a grant guards (then it says why).
Case = Callable[[Store], list[str]]
CASES: dict[str, dict[str, Any]] = {
    "activity": {
        "refused": lambda s: ["activity", "--as", s.as_outsider("analyst")],
        "failing": lambda s: ["activity", "--as", s.analyst, "--by", "colour"],
        # over Q1: the whole year's activity is closed once the release calendar recorded Q3 (the demo's tick)
        "ok": lambda s: ["activity", "--as", s.analyst, "--format", "csv", "--since", "2026-01", "--until", "2026-03"],
    },
    "releases calendar show": {
        "refused": lambda s: ["releases", "calendar", "show", "--as", s.as_outsider("analyst")],
        "failing": lambda s: ["releases", "calendar", "show", "--as", s.analyst, "--format", "colour"],
        "ok": lambda s: ["releases", "calendar", "show", "--as", s.analyst, "--format", "json"],
    },
    "testimonials ratings": {
        "refused": lambda s: ["testimonials", "ratings", "--as", s.as_outsider("analyst")],
        "failing": lambda s: ["testimonials", "ratings", "--as", s.analyst, "--by", "colour"],
        "ok": lambda s: ["testimonials", "ratings", "--as", s.analyst, "--format", "csv"],
    },
    "signals summary": {
        "refused": lambda s: ["signals", "summary", "--as", s.as_outsider("analyst")],
        "failing": lambda s: ["signals", "summary", "--as", s.analyst, "--by", "colour"],
        "ok": lambda s: ["signals", "summary", "--as", s.analyst, "--format", "json"],
    },
    "signals trends": {
        "refused": lambda s: ["signals", "trends", "--as", s.as_outsider("analyst"), "--format", "parquet"],
        "failing": lambda s: ["signals", "trends", "--as", s.analyst, "--since", "2026-13"],
        "ok": lambda s: ["signals", "trends", "--as", s.analyst, "--format", "csv"],
    },
    "audit checkpoint": {
        "refused": lambda s: ["audit", "checkpoint", "--as", s.as_outsider("auditor"), "--key", s.key],
        "failing": lambda s: ["audit", "checkpoint", "--as", s.auditor, "--key", str(s.where / "none.pem")],
        "ok": lambda s: ["audit", "checkpoint", "--as", s.auditor, "--key", s.key],
    },
    "audit consistency": {
        "refused": lambda s: ["audit", "consistency", "1", "--as", s.as_outsider("auditor")],
        "failing": lambda s: ["audit", "consistency", "100000", "--as", s.auditor],
        "ok": lambda s: ["audit", "consistency", "1", "--as", s.auditor],
    },
    "audit export": {
        "refused": lambda s: ["audit", "export", "--as", s.as_outsider("auditor")],
        "failing": lambda s: ["--db", s.missing, "audit", "export", "--as", s.auditor],
        "ok": lambda s: ["audit", "export", "--as", s.auditor],
    },
    "audit prove": {
        "refused": lambda s: ["audit", "prove", str(s.eid), "--as", s.as_outsider("auditor"), "--key", s.key],
        "failing": lambda s: ["audit", "prove", "not-an-id", "--as", s.auditor, "--key", s.key],
        "ok": lambda s: ["audit", "prove", str(s.eid), "--as", s.auditor, "--key", s.key],
    },
    "audit witness cosign": {
        # the witness builds the consistency proof from the store, as the reader it names
        "refused": lambda s: ["audit", "witness", "cosign", str(s.where / "two.note"), "--state",
                              str(s.where / "w.json"), "--key", str(s.where / "w.pem"),
                              "--as", s.as_outsider("auditor")],
        "failing": lambda s: ["audit", "witness", "cosign", str(s.where / "w.json"), "--state",
                              str(s.where / "w.json"), "--key", str(s.where / "w.pem"), "--as", s.auditor],
        "ok": None,  # cosigning changes the witness's state: checked in test_witness.py
    },
    "audit tiles": {
        "refused": None,
        "why": "--out names a directory, so an existing file there is refused by its type (exit 2) before anything "
               "is read; a reader lacking the grant is refused in test_reads_name_their_reader.py",
        "failing": lambda s: ["audit", "tiles", "--as", s.auditor, "--key", str(s.where / "none.pem")],
        "ok": None,  # --out is a directory of tiles: checked in test_tlog_tiles.py
    },
    "audit witness request": {
        "refused": lambda s: ["audit", "witness", "request", str(s.where / "two.note"), "--as", s.as_outsider("auditor")],
        "failing": lambda s: ["audit", "witness", "request", str(s.where / "none.note"), "--as", s.auditor],
        "ok": None,  # the request body: checked in test_witness_protocol.py
    },
    "releases plan": {
        "refused": lambda s: ["releases", "plan", "--period", "2026-Q1", "--as", s.as_outsider("analyst")],
        "failing": lambda s: ["releases", "plan", "--period", "2026-Q5", "--as", s.analyst],
        "ok": lambda s: ["releases", "plan", "--period", "2026-Q1", "--as", s.analyst, "--format", "csv"],
    },
    "audit witness push": {
        "refused": lambda s: ["audit", "witness", "push", str(s.where / "two.note"), "--policy",
                              str(s.where / "push.policy"), "--as", s.as_outsider("auditor")],
        "failing": lambda s: ["audit", "witness", "push", str(s.where / "two.note"), "--policy",
                              str(s.where / "push.policy"), "--as", s.auditor, "--timeout", "2"],  # QuorumNotMet
        "ok": None,  # pushing needs a witness that answers: checked in test_witness_http.py and test_http_log.py
    },
    "audit witness add-checkpoint": {
        "refused": None,
        "why": "the witness decides on its own state and key: it opens no store and names no reader",
        "failing": lambda s: ["audit", "witness", "add-checkpoint", str(s.where / "none.req"), "--state",
                              str(s.where / "w.json"), "--key", str(s.where / "w.pem")],
        "ok": None,  # cosigning changes the witness's state: checked in test_witness_protocol.py
    },
    "cohort dashboard": {
        "refused": lambda s: ["cohort", "dashboard", str(s.cid), "--as", s.sponsor],
        "failing": lambda s: ["cohort", "dashboard", str(s.cid), "--as", s.coach, "--format", "pdf",
                              "--chromium", str(s.where / "no-chromium")],
        "ok": None,  # written by a coach of the cohort: checked in test_pages.py
    },
    "report engagement": {
        "refused": lambda s: ["report", "engagement", str(s.eid), "--as", s.as_outsider("coach")],
        "failing": lambda s: ["--db", s.missing, "report", "engagement", str(s.eid), "--as", s.coach],
        "ok": lambda s: ["report", "engagement", str(s.eid), "--as", s.coach],
    },
    "report synthesis": {
        "refused": lambda s: ["report", "synthesis", "--period", "2026", "--as", s.as_outsider("analyst")],
        "failing": lambda s: ["report", "synthesis", "--period", "someday", "--as", s.analyst],
        "ok": None,  # releasable data needs k persons: checked in test_pages.py
    },
    "workflow diagram": {
        "refused": None,  # the workflow definition is public: no reader, nothing to refuse
        "failing": lambda s: ["workflow", "diagram", "--format", "svg"],  # no Mermaid CLI on the test PATH
        "ok": lambda s: ["workflow", "diagram", "--format", "json"],
    },
    "calendar": {
        "refused": lambda s: ["calendar", s.coach.split(":")[1], "--as", s.sponsor],  # another person's
        "failing": lambda s: ["calendar", "not-an-id", "--as", s.coach],
        "ok": lambda s: ["calendar", s.coach.split(":")[1], "--as", s.coach],
    },
    "subject export": {
        "refused": lambda s: ["subject", "export", str(s.outsider), "--as", s.as_outsider("admin")],
        "failing": lambda s: ["subject", "export", "not-an-id", "--as", s.admin],
        "ok": lambda s: ["subject", "export", str(s.outsider), "--as", s.admin],
    },
    "import template": {
        "refused": None,  # an import layout is public: no reader, nothing to refuse
        "failing": lambda s: ["import", "template", "cohorts"],  # not a layout: exit 2
        "ok": lambda s: ["import", "template", "engagements"],
    },
}

COMMANDS = dict(out_commands())


def test_every_command_taking_out_has_its_cases() -> None:
    missing = sorted(set(COMMANDS) - set(CASES))
    assert not missing, f"commands taking --out without a refused/failing case here: {missing}"
    assert not set(CASES) - set(COMMANDS), "a case for a command that no longer takes --out"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(tmp_path_factory.mktemp("out-files"))


def _argv(store: Store, args: list[str], target: Path) -> list[str]:
    db = [] if "--db" in args else ["--db", store.url]
    return [*db, *args, "--out", str(target)]


@pytest.mark.parametrize("how", ["refused", "failing"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_refused_or_failing_command_leaves_the_file_as_it_was(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    name: str, how: str,
) -> None:
    make = CASES[name][how]
    if make is None:
        pytest.skip(f"{name}: {CASES[name].get('why', 'nothing a grant guards, so nothing to refuse')}")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "kept.out"
    target.write_bytes(KEPT)
    os.chmod(target, 0o640)
    code, err = etrack(capsys, *_argv(store, make(store), target))
    if how == "refused":
        assert code == 3, (name, code, err)
        assert err.startswith("error: NotPermitted: "), err
    else:
        assert code in (1, 2, 4), (name, code, err)
        assert err.startswith("error: "), err
    assert target.read_bytes() == KEPT, f"{name} ({how}) changed the file"
    assert os.stat(target).st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.out"], "a temporary file was left behind"


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n]["ok"] is not None))
def test_an_allowed_command_replaces_the_file(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "kept.out"
    target.write_bytes(KEPT)
    code, err = etrack(capsys, *_argv(store, CASES[name]["ok"](store), target))
    assert code == 0, (name, err)
    assert target.read_bytes() not in (KEPT, b""), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.out"]


def test_a_write_failing_half_way_leaves_the_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "export.jsonl"
    target.write_bytes(KEPT)
    with pytest.raises(RuntimeError), text_out(target) as fh:
        fh.write("half an export\n" * 1000)
        fh.flush()
        raise RuntimeError("the store went away")
    assert target.read_bytes() == KEPT
    with pytest.raises(KeyboardInterrupt), staged(target) as tmp:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt
    assert target.read_bytes() == KEPT
    assert [p.name for p in tmp_path.iterdir()] == ["export.jsonl"]
    write_out(target, b"whole")
    assert target.read_bytes() == b"whole"
    write_out(tmp_path / "new.txt", "new")
    assert (tmp_path / "new.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.jsonl", "new.txt"]


@pytest.mark.parametrize("bad", ["dir", "no-parent"])
def test_out_must_be_a_file_in_an_existing_directory(tmp_path: Path, bad: str) -> None:
    target = tmp_path if bad == "dir" else tmp_path / "nowhere" / "x.txt"
    with pytest.raises(InvalidInput, match="out"):
        write_out(target, "x")
