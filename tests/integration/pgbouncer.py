"""A pgbouncer of a test's own, in **transaction** pooling mode, in front of the test's PostgreSQL:
its own port, ini and user list in a temporary directory, run as the ``postgres`` user when the
test runs as root (pgbouncer refuses root). Debian's package: ``apt-get install -y pgbouncer``.

pgbouncer writes every log line to its stderr as well as to its logfile: that stderr goes to a file
(``stderr.txt``), never to a pipe nobody reads while it runs. An unread pipe fills after about 64 KiB of
log (a few hundred connections) and pgbouncer then blocks in ``write()``: every client stalls, a
transaction it had begun stays "idle in transaction" holding its locks (the 60-tenant stall)."""

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
from urllib.parse import urlsplit

import attrs

BINARY = os.environ.get("ETRACK_PGBOUNCER", "/usr/sbin/pgbouncer")


def missing() -> str | None:
    """Why pgbouncer cannot run here, or None."""
    if not Path(BINARY).exists() and shutil.which("pgbouncer") is None:
        return f"no pgbouncer at {BINARY} (apt-get install -y pgbouncer, or set ETRACK_PGBOUNCER)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@attrs.define
class Bouncer:
    """A running pgbouncer: its port, and the URL of the test's database through it."""

    port: int
    root: Path
    direct_url: str

    def url(self, query: str = "") -> str:
        """``direct_url`` with pgbouncer's host and port, and ``pooler=transaction`` (plus ``query``)."""
        parts = urlsplit(self.direct_url)
        user = parts.netloc.rpartition("@")[0] or "postgres"
        extra = "&".join(q for q in (parts.query, "pooler=transaction", query) if q)
        return f"postgresql://{user}@127.0.0.1:{self.port}{parts.path}?{extra}"

    def stats(self) -> dict[str, dict[str, int]]:
        """pgbouncer's ``SHOW STATS`` by database. Its admin console speaks the simple query protocol
        only: psycopg's ClientCursor sends a query without parameters that way."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="pgbouncer",
                             autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
            cur = conn.execute("SHOW STATS")
            names = [d.name for d in cur.description or ()]
            return {str(row[0]): {n: int(v) for n, v in zip(names[1:], row[1:], strict=True)}
                    for row in cur.fetchall()}


@contextlib.contextmanager
def running(direct_url: str, *, pool_size: int = 8, max_clients: int = 200) -> Iterator[Bouncer]:
    """Start pgbouncer (pool_mode = transaction) in front of ``direct_url``'s server; stop it at the end."""
    parts = urlsplit(direct_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    root = Path(tempfile.mkdtemp(prefix="etrack-pgbouncer-"))
    as_root = os.geteuid() == 0
    listen = _free_port()
    (root / "userlist.txt").write_text('"postgres" ""\n')
    (root / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={host} port={port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {root}/userlist.txt\n"
        "admin_users = postgres\nstats_users = postgres\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {pool_size}\nmax_client_conn = {max_clients}\n"
        f"logfile = {root}/pgbouncer.log\npidfile = {root}/pgbouncer.pid\n"
    )
    if as_root:
        for path in (root, *root.iterdir()):
            shutil.chown(path, "postgres", "postgres")
    stderr = (root / "stderr.txt").open("wb")
    proc = subprocess.Popen([BINARY if Path(BINARY).exists() else "pgbouncer", str(root / "pgbouncer.ini")],
                            user="postgres" if as_root else None, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", listen), timeout=0.5):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (root / "pgbouncer.log").read_text() if (root / "pgbouncer.log").exists() else ""
                raise RuntimeError(f"pgbouncer did not start: {(root / 'stderr.txt').read_text()} {log}")
            time.sleep(0.05)
        yield Bouncer(listen, root, direct_url)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        stderr.close()
        shutil.rmtree(root, ignore_errors=True)
