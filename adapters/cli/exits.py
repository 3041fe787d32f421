"""Exit codes, and the one way every failure leaves the command line.

======  =====================================================================================
status  meaning
======  =====================================================================================
0       done
1       an audit found a fault (``audit verify``, ``audit check-bundle``, a witness refusing)
2       usage error: an unknown option or command, a malformed value (``InvalidInput``)
3       refused by a domain rule or a permission (``NotPermitted``, ``StepNotAllowed``,
        ``RuleViolation``, ``NotFound``, ``AlreadyExists``, ``DisclosureRisk``, ...)
4       store or environment error (``StoreError``, ``ConcurrencyConflict``, an optional extra
        not installed, a malformed ETRACK_* setting, a file that cannot be read or written)
======  =====================================================================================

A failure prints one line on stderr, ``error: <Type>: <why>``, or with ``--json`` one JSON
object ``{"error": <Type>, "message": <why>, "exit_code": <status>}``; never a traceback
(``-v`` logs it at DEBUG for a bug report).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import NoReturn

import click

from engagement_tracker.domain.errors import (
    ConcurrencyConflict,
    EtrackError,
    InvalidInput,
    MissingDependency,
    StoreError,
)

OK, AUDIT_FAULT, USAGE, REFUSED, ENVIRONMENT = 0, 1, 2, 3, 4

EXIT_CODES_HELP = (
    "Exit status: 0 done; 1 an audit found a fault; 2 usage error (bad option or value); "
    "3 refused by a domain rule or permission; 4 store or environment error. "
    "With --json, errors are one JSON object on stderr."
)

log = logging.getLogger("engagement_tracker.cli")

#: Set by ``--json`` (anywhere on the line) or ETRACK_JSON_ERRORS=1: errors as JSON objects.
json_errors = False

_MAX_ECHO = 80


def is_environment(exc: EtrackError) -> bool:
    """A store, a setting or an installation problem: fixed outside the command line."""
    if isinstance(exc, StoreError | ConcurrencyConflict):
        return True
    if isinstance(exc, InvalidInput):
        return exc.field.startswith("ETRACK_") or "pip install" in exc.problem
    return isinstance(exc, MissingDependency)


def exit_code(exc: BaseException) -> int:
    """The documented exit status of a failure."""
    if isinstance(exc, EtrackError):
        if is_environment(exc):
            return ENVIRONMENT
        return USAGE if isinstance(exc, InvalidInput) else REFUSED
    if isinstance(exc, click.UsageError):
        return USAGE
    return ENVIRONMENT  # OSError and anything unforeseen: the environment (or a bug) stopped it


def cut(text: str, most: int = _MAX_ECHO) -> str:
    """A long input echoed back, cut to ``most`` characters (a 100 kB id is not printed whole)."""
    return text if len(text) <= most else f"{text[:most]}... ({len(text)} characters)"


def _cut_words(message: str) -> str:
    """Every over-long word of a message cut (an echoed input sits inside the message)."""
    return " ".join(cut(w) for w in message.split(" "))


def report(kind: str, message: str, code: int) -> None:
    """Print the one error line (or JSON object) on stderr; no markup, no hard wrap."""
    message = _cut_words(message)
    if json_errors:
        sys.stderr.write(json.dumps({"error": kind, "message": message, "exit_code": code}) + "\n")
    else:
        sys.stderr.write(f"error: {kind}: {message}\n")
    sys.stderr.flush()


def _store_failure(exc: BaseException) -> bool:
    """An SQLite or eventsourcing persistence error (imported here, when one happened: ``etrack --help``
    imports neither)."""
    if not type(exc).__module__.startswith(("sqlite3", "eventsourcing")):
        return False
    import sqlite3

    from eventsourcing.persistence import PersistenceError

    return isinstance(exc, sqlite3.DatabaseError | PersistenceError)


def fail(exc: BaseException) -> NoReturn:
    """Report a failure and exit with its documented status."""
    code = exit_code(exc)
    if isinstance(exc, click.UsageError):
        hint = f" (try '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        report("UsageError", exc.format_message() + hint, code)
    elif isinstance(exc, EtrackError):
        report(type(exc).__name__, str(exc), code)
    elif _store_failure(exc):  # a damaged file met on a path that does not map it itself
        report("StoreError", f"the store is damaged or unreadable ({exc}): restore it from the backup made "
               "together with the store", ENVIRONMENT)
        sys.exit(ENVIRONMENT)
    elif isinstance(exc, OSError):
        report(type(exc).__name__, f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), code)
    else:
        log.debug("unexpected failure", exc_info=exc)
        report("InternalError", f"{type(exc).__name__}: {exc} (a bug: run with -v for details and report it)",
               code)
    sys.exit(code)


def wants_json(argv: list[str]) -> bool:
    """``--json`` anywhere before ``--`` turns errors into JSON objects."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False
