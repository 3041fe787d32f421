"""A store is one set of files opened together (``adapters/store_files.py``), on SQLite and PostgreSQL.

Each case breaks one file (the vault, the record key) the way a user or an operator would (lose it,
empty it, put another store's in its place), then opens the store: a StoreError naming the file
and saying to restore it from backup, and nothing recreated. PostgreSQL has no vault file: its
vault is a table of the store's schema, and its record key comes from ETRACK_RECORD_KEY.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from engagement_tracker.adapters import bootstrap, open_tracker
from engagement_tracker.adapters.store_files import STORE_TABLE, VAULT_STAMP_TABLE
from engagement_tracker.domain import Role, StoreError
from tests.support import Cast, FakeClock, granted, new_tracker

#: A reader for the reading commands (the store is checked when it is opened, before any grant).
ANY_ADMIN = "admin:00000000-0000-4000-8000-000000000001"

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "v0_1_0"
KEY = secrets.token_bytes(32).hex()


def env_for(url: str) -> dict[str, str]:
    """PostgreSQL's record key is the environment's; SQLite's is the file beside the store."""
    return {"ETRACK_RECORD_KEY": KEY} if url.startswith("postgresql") else {}


def make(url: str) -> None:
    app = open_tracker(url, clock=FakeClock(), env=env_for(url) or None)
    try:
        Cast.register(app)
    finally:
        app.close()


def reopen(url: str, **kwargs: Any) -> None:
    env = kwargs.pop("env", env_for(url))
    open_tracker(url, clock=FakeClock(), env=env or None, **kwargs).close()


def refused(url: str, *words: str, **kwargs: Any) -> str:
    with pytest.raises(StoreError) as caught:
        reopen(url, **kwargs)
    message = str(caught.value)
    for word in words:
        assert word in message, message
    return message


class Files:
    """The store's parts, as an operator reaches them: files beside SQLite, tables of a PostgreSQL schema."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pg = url.startswith("postgresql")
        self.schema = url.split("schema=")[1] if self.pg else ""
        self.path = "" if self.pg else url.removeprefix("sqlite:///")

    @property
    def vault(self) -> Path:
        return Path(f"{self.path}-vault")

    @property
    def key(self) -> Path:
        return Path(f"{self.path}-record-key")

    @contextmanager
    def sql(self) -> Iterator[Callable[..., Any]]:
        if self.pg:
            import psycopg

            from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

            with psycopg.connect(postgres_conninfo(parse_url(self.url)), autocommit=True) as conn:
                def run(q: str, args: tuple[Any, ...] = ()) -> list[Any]:
                    cur = conn.execute(q.replace("?", "%s"), args)
                    return cur.fetchall() if cur.description else []

                yield run
        else:
            con = sqlite3.connect(self.path)
            try:
                with con:
                    yield lambda q, args=(): con.execute(q, args).fetchall()
            finally:
                con.close()

    def table(self, name: str) -> str:
        return f'"{self.schema}".{name}' if self.pg else name

    def store_id(self) -> str:
        with self.sql() as run:
            return str(run(f"SELECT store_id FROM {self.table(STORE_TABLE)}")[0][0])

    def vault_stamp(self) -> str:
        if self.pg:
            with self.sql() as run:
                return str(run(f"SELECT store_id FROM {self.table(VAULT_STAMP_TABLE)}")[0][0])
        con = sqlite3.connect(self.vault)
        try:
            return str(con.execute(f"SELECT store_id FROM {VAULT_STAMP_TABLE}").fetchone()[0])
        finally:
            con.close()


def test_a_new_store_records_its_id_and_its_vault_carries_it(durable_store_url: str) -> None:
    make(durable_store_url)
    files = Files(durable_store_url)
    store_id = files.store_id()
    assert len(store_id) == 36 and files.vault_stamp() == store_id
    reopen(durable_store_url)  # opens again, the same id
    assert files.store_id() == store_id


def test_a_missing_vault_is_refused_and_never_recreated(durable_store_url: str) -> None:
    make(durable_store_url)
    files = Files(durable_store_url)
    if files.pg:
        with files.sql() as run:
            run(f"DROP TABLE {files.table('etrack_vault')}")
        refused(durable_store_url, f"{files.schema}.etrack_vault", "is missing", "restore it from the backup")
        with files.sql() as run:
            assert run("SELECT to_regclass(?) IS NULL", (files.table("etrack_vault"),))[0][0] is True
    else:
        files.vault.unlink()
        refused(durable_store_url, str(files.vault), "is missing", "restore it from the backup")
        assert not files.vault.exists()
    refused(durable_store_url, "is missing", create=False, adopt=False)  # a read says the same


def test_an_empty_vault_is_refused(durable_store_url: str) -> None:
    make(durable_store_url)
    files = Files(durable_store_url)
    if files.pg:
        with files.sql() as run:
            run(f"DELETE FROM {files.table('etrack_vault')}")
        refused(durable_store_url, "etrack_vault", "is empty", "restore it from the backup")
    else:
        files.vault.write_bytes(b"")
        refused(durable_store_url, str(files.vault), "is empty", "restore it from the backup")
        assert files.vault.stat().st_size == 0


def test_another_stores_vault_is_refused(durable_store_url: str, tmp_path: Path) -> None:
    make(durable_store_url)
    files = Files(durable_store_url)
    if files.pg:
        with files.sql() as run:  # a vault table restored from another store's backup carries that store's id
            run(f"UPDATE {files.table(VAULT_STAMP_TABLE)} SET store_id = ?", ("0" * 8 + "-0000-4000-8000-" + "0" * 12,))
        refused(durable_store_url, "etrack_vault", "belongs to another store", "restore it from the backup")
    else:
        other = tmp_path / "other" / "etrack.sqlite"
        other.parent.mkdir()
        make(f"sqlite:///{other}")
        shutil.copyfile(f"{other}-vault", files.vault)
        refused(durable_store_url, str(files.vault), "belongs to another store", "restore it from the backup")


def test_a_missing_record_key_is_refused_and_never_recreated(durable_store_url: str) -> None:
    make(durable_store_url)
    files = Files(durable_store_url)
    if files.pg:
        refused(durable_store_url, "ETRACK_RECORD_KEY is not set", "report every record as inserted", env={})
    else:
        files.key.unlink()
        refused(durable_store_url, str(files.key), "is missing", "restore it from the backup")
        assert not files.key.exists()


def test_an_empty_record_key_file_is_refused(sqlite_url: str) -> None:
    make(sqlite_url)
    files = Files(sqlite_url)
    files.key.write_text("")
    refused(sqlite_url, str(files.key), "is empty", "restore it from the backup")


def test_another_stores_record_key_is_refused(durable_store_url: str) -> None:
    make(durable_store_url)
    files = Files(durable_store_url)
    other = secrets.token_bytes(32).hex()
    if files.pg:
        refused(durable_store_url, "ETRACK_RECORD_KEY", "belongs to another store", env={"ETRACK_RECORD_KEY": other})
    else:
        files.key.write_text(other + "\n")
        refused(durable_store_url, str(files.key), "belongs to another store")
        refused(durable_store_url, "ETRACK_RECORD_KEY", "belongs to another store", env={"ETRACK_RECORD_KEY": other})


def test_a_read_never_creates_a_store(durable_store_url: str, tmp_path: Path) -> None:
    files = Files(durable_store_url)
    refused(durable_store_url, "no store at", "etrack init", create=False, adopt=False)
    if files.pg:
        with files.sql() as run:
            assert run("SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?",
                       (files.schema,))[0][0] == 0
    else:
        assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'etrack.sqlite'}"


def forget_store_ids(files: Files) -> None:
    """Make the store as the previous version left it: no store id, an unstamped vault."""
    with files.sql() as run:
        run(f"DROP TABLE {files.table(STORE_TABLE)}")
        if files.pg:
            run(f"DROP TABLE {files.table(VAULT_STAMP_TABLE)}")
    if not files.pg:
        con = sqlite3.connect(files.vault)
        try:
            con.execute(f"DROP TABLE {VAULT_STAMP_TABLE}")
            con.commit()
        finally:
            con.close()


def test_a_store_made_before_store_ids_is_adopted_by_its_first_write_only(durable_store_url: str) -> None:
    make(durable_store_url)
    files = Files(durable_store_url)
    forget_store_ids(files)
    reopen(durable_store_url, create=False, adopt=False)  # a read opens it and records nothing
    with files.sql() as run:
        probe = (f"SELECT to_regclass('{files.table(STORE_TABLE)}') IS NOT NULL" if files.pg
                 else f"SELECT count(*) FROM sqlite_master WHERE name = '{STORE_TABLE}'")
        assert run(probe)[0][0] in (False, 0)
    app = new_tracker(durable_store_url, **env_for(durable_store_url))
    try:
        granted(app, Role.AUDITOR, "Audit & Co")  # the adopted store still takes writes, sealed
        report = bootstrap.audit_service(app).verify(granted(app, Role.AUDITOR, "Second Auditor"))
        assert report.ok and report.sealed == report.checked, report.to_dict()
    finally:
        app.close()
    store_id = files.store_id()
    assert files.vault_stamp() == store_id
    if not files.pg:  # adopted: a vault swapped now is another store's, and a lost key is named
        files.key.unlink()
        refused(durable_store_url, "is missing")


def test_a_previous_store_with_another_key_is_refused_at_adoption(durable_store_url: str) -> None:
    make(durable_store_url)
    files = Files(durable_store_url)
    forget_store_ids(files)
    other = secrets.token_bytes(32).hex()
    refused(durable_store_url, "did not seal the records", env={"ETRACK_RECORD_KEY": other})
    with files.sql() as run:  # nothing adopted with the wrong key
        probe = (f"SELECT to_regclass('{files.table(STORE_TABLE)}') IS NOT NULL" if files.pg
                 else f"SELECT count(*) FROM sqlite_master WHERE name = '{STORE_TABLE}'")
        assert run(probe)[0][0] in (False, 0)


def test_the_0_1_0_store_is_read_without_a_trace_then_adopted_by_a_write(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [k for k in __import__("os").environ if k.startswith("ETRACK_")]:
        monkeypatch.delenv(var)
    for name in ("etrack.sqlite", "etrack.sqlite-vault"):
        shutil.copyfile(FIXTURE / name, tmp_path / name)
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    files = Files(url)
    reopen(url, create=False, adopt=False, env={})
    assert not files.key.exists()  # a read makes no key and records no id
    reopen(url, create=False, env={})  # the first open that may write adopts it
    assert files.key.exists() and files.vault_stamp() == files.store_id()
    reopen(url, create=False, env={})


# --- the command line ------------------------------------------------------------------------------


def etrack(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("content", [None, b"", b"SQLite format 3\x00" + bytes(4080)])
def test_a_read_on_a_file_that_is_not_a_store_creates_nothing(tmp_path: Path, content: bytes | None) -> None:
    db = tmp_path / "empty.sqlite"
    if content is not None:
        db.write_bytes(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = etrack("--db", str(db), "engagements", "--as", ANY_ADMIN, cwd=tmp_path)
    assert proc.returncode == 4 and proc.stderr.startswith("error: StoreError: "), proc.stderr
    assert ("no store at" if not content else "not a database") in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_another_sqlite_database_is_not_a_store(tmp_path: Path) -> None:
    db = tmp_path / "app.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE users (id INTEGER)")
    con.commit()
    con.close()
    for command in (["engagements", "--as", ANY_ADMIN], ["init", "--admin-name", "Ada"]):
        proc = etrack("--db", str(db), *command, cwd=tmp_path)
        assert proc.returncode == 4 and "not an etrack store" in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.sqlite"]


def test_a_write_creates_a_store_only_with_create(tmp_path: Path) -> None:
    db = str(tmp_path / "new.sqlite")
    proc = etrack("--db", db, "party", "register", "--name", "Ann", cwd=tmp_path)
    assert proc.returncode == 4 and "--create" in proc.stderr and not Path(db).exists(), proc.stderr
    proc = etrack("--db", db, "party", "register", "--name", "Ann", "--create", cwd=tmp_path)
    assert proc.returncode == 0 and len(proc.stdout.strip()) == 36, proc.stderr
    read = etrack("--db", db, "engagements", "--as", ANY_ADMIN, cwd=tmp_path)
    assert read.returncode == 3 and "StoreError" not in read.stderr, read.stderr  # a store: the reader is refused


def test_a_missing_vault_from_the_command_line_is_one_store_error(tmp_path: Path) -> None:
    db = tmp_path / "etrack.sqlite"
    assert etrack("--db", str(db), "init", "--admin-name", "Ada", cwd=tmp_path).returncode == 0
    Path(f"{db}-vault").unlink()
    for command in (["engagements", "--as", ANY_ADMIN], ["party", "register", "--name", "Ann"], ["init", "--admin-name", "Eve"]):
        proc = etrack("--json", "--db", str(db), *command, cwd=tmp_path)
        assert proc.returncode == 4, proc.stderr
        assert '"error": "StoreError"' in proc.stderr and "is missing: restore it from the backup" in proc.stderr
    assert not Path(f"{db}-vault").exists()


def test_a_damaged_store_is_a_store_error_on_every_reading_command(tmp_path: Path) -> None:
    demo = etrack("--db", str(tmp_path / "etrack.sqlite"), "demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    auditor = next(line.split()[1] for line in demo.stdout.splitlines() if line.strip().startswith("auditor "))
    db = tmp_path / "etrack.sqlite"
    with db.open("r+b") as fh:  # pages in the middle of the file overwritten
        fh.seek(db.stat().st_size // 3)
        fh.write(b"\xff" * 8192)
    for command in (["audit", "verify", "--as", f"auditor:{auditor}"], ["tick"], ["projections", "rebuild"]):
        proc = etrack("--db", str(db), *command, cwd=tmp_path)
        assert proc.returncode == 4, (command, proc.stderr)
        assert proc.stderr.startswith("error: StoreError:") and "restore it from the backup" in proc.stderr, (
            command, proc.stderr)


# --- a stored record newer than the code, or lacking a field it needs ----------------------------------


def rewrite_last_event(files: Files, eid: Any, change: Callable[[dict[str, Any]], None]) -> tuple[int, str]:
    """Rewrite the state of the engagement's last event in place, as a newer version (or damage) would."""
    import json

    events = files.table("etrack_events") if files.pg else "stored_events"
    ident = eid if files.pg else eid.hex
    with files.sql() as run:
        version, topic, state = run(f"SELECT originator_version, topic, state FROM {events} WHERE originator_id = ? "
                                    "ORDER BY originator_version DESC LIMIT 1", (ident,))[0]
        data = json.loads(bytes(state))
        change(data)
        run(f"UPDATE {events} SET state = ? WHERE originator_id = ? AND originator_version = ?",
            (json.dumps(data).encode(), ident, version))
    return int(version), str(topic)


@pytest.mark.parametrize("change,words", [
    (lambda state: state.update(class_version=99), ["newer engagement-tracker", "class_version 99"]),
    (lambda state: state.pop("actor"), ["lacks actor", "restore the store from its backup"]),
], ids=["newer", "lacking"])
def test_a_record_the_code_cannot_read_is_a_store_error_on_every_read_path(
        durable_store_url: str, tmp_path: Path, change: Callable[[dict[str, Any]], None], words: list[str]) -> None:
    from tests.support import drive, open_engagement

    app = new_tracker(durable_store_url, **env_for(durable_store_url))
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "met")
    auditor = granted(app, Role.AUDITOR, "Audit & Co")
    app.close()
    version, topic = rewrite_last_event(Files(durable_store_url), eid, change)
    named = [f"Engagement {eid} version {version}", f"topic {topic}", *words]
    app = new_tracker(durable_store_url, **env_for(durable_store_url))
    try:
        reads: list[Callable[[], Any]] = [
            lambda: app.engagements.get(eid),  # load
            lambda: app.engagements.view(eid, cast.coach),  # views
            lambda: app.engagements.timeline(eid, cast.coach),  # timeline
            lambda: app.replay(eid, auditor),  # replay
            lambda: app.engagements.confirm_will(eid, cast.coach).value,  # the next command
        ]
        for read in reads:
            with pytest.raises(StoreError) as caught:
                read()
            for word in named:
                assert word in str(caught.value), (word, str(caught.value))
    finally:
        app.close()
    if not durable_store_url.startswith("postgresql"):  # the command line: one line, exit 4
        db = durable_store_url.removeprefix("sqlite:///")
        for command in (["show", str(eid), "--as", f"coach:{cast.coach.party}"],
                        ["replay", str(eid), "--as", f"auditor:{auditor.party}"]):
            proc = etrack("--db", db, *command, cwd=tmp_path)
            assert proc.returncode == 4 and proc.stderr.startswith("error: StoreError:"), proc.stderr
            assert words[0] in proc.stderr and "Traceback" not in proc.stderr
