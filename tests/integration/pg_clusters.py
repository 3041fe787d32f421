"""Two PostgreSQL 15 clusters of a test's own: a primary and a streaming standby (``pg_basebackup -R``),
on their own ports and data directories, run as the ``postgres`` user when the test runs as root
(the server refuses root). Used by the failover and read-replica tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

BIN = Path(os.environ.get("ETRACK_PG_BIN", "/usr/lib/postgresql/15/bin"))


def missing() -> str | None:
    """Why the clusters cannot be made here, or None."""
    if not (BIN / "initdb").exists() or not (BIN / "pg_ctl").exists():
        return f"no PostgreSQL binaries in {BIN} (apt-get install postgresql-15, or set ETRACK_PG_BIN)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser (the server refuses root)"
    return None


def _as_postgres(*cmd: str, timeout: float = 120) -> str:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    proc = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@attrs.define
class Pair:
    """A primary and its synchronous streaming standby."""

    root: Path
    primary_port: int
    standby_port: int

    @property
    def primary(self) -> Path:
        return self.root / "primary"

    @property
    def standby(self) -> Path:
        return self.root / "standby"

    def url(self, *, query: str = "", both: bool = True) -> str:
        hosts = f"127.0.0.1:{self.primary_port},127.0.0.1:{self.standby_port}" if both else f"127.0.0.1:{self.primary_port}"
        return f"postgresql://postgres@{hosts}/postgres{'?' + query if query else ''}"

    def standby_url(self, query: str = "") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.standby_port}/postgres{'?' + query if query else ''}"

    def stop_primary_immediately(self) -> None:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.primary), "stop", "-m", "immediate", "-w")

    def promote_standby(self) -> None:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.standby), "promote", "-w", "-t", "60")

    def stop(self) -> None:
        for data in (self.primary, self.standby):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(Exception):
                    _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate", "-w")


def _start(data: Path, log: Path) -> None:
    _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start")


@contextlib.contextmanager
def primary_and_standby(*, synchronous: bool = True) -> Iterator[Pair]:
    """Make, start and (at the end) stop and remove a primary and a streaming standby; with ``synchronous``
    every commit waits for the standby to have it (no acknowledged command is lost by a failover)."""
    root = Path(tempfile.mkdtemp(prefix="etrack-ha-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    pair = Pair(root, free_port(), free_port())
    try:
        _as_postgres(str(BIN / "initdb"), "-D", str(pair.primary), "-U", "postgres", "--auth=trust", "--no-sync",
                     "-E", "UTF8", "--locale=C")
        with (pair.primary / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {pair.primary_port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{root}'\nfsync = off\nwal_level = replica\n"
                       "max_wal_senders = 5\nmax_connections = 60\n"
                       f"synchronous_standby_names = '{'*' if synchronous else ''}'\n")
        _start(pair.primary, root / "primary.log")
        _as_postgres(str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(pair.primary_port), "-U", "postgres",
                     "-D", str(pair.standby), "-R", "-X", "stream", "-c", "fast")
        with (pair.standby / "postgresql.conf").open("a") as conf:  # its own port; no standby of its own to wait for
            conf.write(f"\nport = {pair.standby_port}\nsynchronous_standby_names = ''\n")
        _start(pair.standby, root / "standby.log")
        _wait_streaming(pair)
        yield pair
    finally:
        pair.stop()
        shutil.rmtree(root, ignore_errors=True)


def _wait_streaming(pair: Pair, seconds: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + seconds
    while True:
        with psycopg.connect(host="127.0.0.1", port=pair.primary_port, user="postgres", dbname="postgres") as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").fetchone()
        if row is not None and row[0] >= 1:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the standby did not start streaming")
        time.sleep(0.1)
