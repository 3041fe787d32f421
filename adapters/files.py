"""Files written whole or not at all: every ``--out FILE``, a witness's state, the log's tiles.

The output goes to a temporary file beside the target (same directory, so the rename stays on
one file system); it is fsynced and only then renamed over the target (``os.replace``, atomic
on POSIX), and the directory is fsynced so the rename survives a crash. A command refused
(exit 3) or failing anywhere before that point (exit 1, 2 or 4, an interrupt) removes its
temporary file and leaves an existing target byte for byte as it was.

Every command that takes ``--out`` writes through this module (tests/integration/test_out_files.py
finds them in the click tree and checks each, refused and failing), and so do the auditors' files
(``adapters/audit.py``: a witness's state, tiles, proofs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from engagement_tracker.domain.errors import InvalidInput

#: Temporary files are named ``.<target name>.<random>.part``: hidden, and easy to recognise.
TEMP_SUFFIX = ".part"


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a directory that cannot be opened (some file systems): the rename is done anyway
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def staged(target: str | Path) -> Iterator[Path]:
    """A temporary path beside ``target`` to write to (by any means, e.g. a browser printing a
    PDF); renamed over ``target`` when the block ends without an exception, removed otherwise.

    The target must be a file name in an existing directory (InvalidInput otherwise, before
    anything is written)."""
    path = Path(target)
    if path.is_dir():
        raise InvalidInput("out", f"{path} is a directory: give a file name")
    directory = path.parent
    if not directory.is_dir():
        raise InvalidInput("out", f"{directory} does not exist: give a file in an existing directory")
    import tempfile  # only a write to a file needs it (tempfile imports shutil, bz2, lzma, random)

    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=directory)
    except OSError as exc:
        raise InvalidInput("out", f"cannot write in {directory}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync(tmp)
        if path.exists():  # keep the target's permissions (mkstemp makes 0600)
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)


@contextmanager
def text_out(target: str | Path) -> Iterator[IO[str]]:
    """A text file (UTF-8) that replaces ``target`` when the block ends without an exception."""
    with staged(target) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        yield fh


def write_out(target: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``target`` whole, or leave it as it was; a file that cannot
    be written is InvalidInput naming it."""
    try:
        with staged(target) as tmp:
            if isinstance(data, bytes):
                tmp.write_bytes(data)
            else:
                tmp.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput("out", f"cannot write {target}: {exc.strerror}") from None
