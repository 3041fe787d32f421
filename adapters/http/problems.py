"""Every typed error as an RFC 9457 problem document (``application/problem+json``).

One table maps the errors of ``domain/errors.py`` to an HTTP status; one handler writes the
document: ``type`` (a stable URN naming the error class), ``title`` (the class's one-line
docstring), ``status``, ``detail`` (the error's message, which never carries a token) and, for
a store outage, a ``Retry-After`` header with a 503.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from eventsourcing.persistence import PersistenceError

from engagement_tracker.domain.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    EtrackError,
    InvalidInput,
    MissingDependency,
    NotAuthenticated,
    NotFound,
    NotPermitted,
    RecordedOutOfOrder,
    StoreError,
    WitnessRefusal,
)

log = logging.getLogger("etrack.http")

PROBLEM = "application/problem+json"
#: Seconds a client waits before retrying after a store outage (503).
RETRY_AFTER = 1

#: The status of each typed error, most specific first.
STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (NotAuthenticated, 401),
    (NotPermitted, 403),  # DisclosureRisk, BudgetExceeded included
    (NotFound, 404),
    (InvalidInput, 422),
    (RecordedOutOfOrder, 409),
    (AlreadyExists, 409),
    (ConcurrencyConflict, 409),
    (StoreError, 503),
    (MissingDependency, 503),
)


class PreconditionFailed(EtrackError):
    """Raised when a write names a version (If-Match) that is not the resource's current one."""

    def __init__(self, expected: str, current: int | str) -> None:
        self.current = current
        if isinstance(current, str):  # a view's digest (a sponsor's: the version is hidden)
            super().__init__(f"If-Match {expected} is stale: what you may see of the resource changed (ETag "
                             f"\"{current}\"); read it again, then decide")
            return
        super().__init__(f"If-Match {expected} is stale: the resource is at version {current} (ETag \"{current}\"); "
                         "read it again, then decide")


def is_outage(exc: BaseException) -> bool:
    """A store that could not be reached or failed mid-call (not a typed refusal)."""
    if isinstance(exc, StoreError | PersistenceError | sqlite3.OperationalError):
        return True
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # pragma: no cover - the [postgres] extra is not installed
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | psycopg_pool.PoolTimeout)


def status_of(exc: BaseException) -> int:
    if isinstance(exc, PreconditionFailed):
        return 412
    if isinstance(exc, WitnessRefusal):
        return exc.status
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    if is_outage(exc):
        return 503
    return 409 if isinstance(exc, EtrackError) else 500  # StepNotAllowed, RuleViolation, SealingError, ...


def problem(exc: BaseException, instance: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The status, the problem document and the headers for ``exc``."""
    status = status_of(exc)
    name = type(exc).__name__ if isinstance(exc, EtrackError) else ("StoreError" if status == 503 else "InternalError")
    if status == 500:
        log.error("unexpected failure", exc_info=exc)
        detail = "an unexpected failure (a bug); nothing is known to have been recorded beyond what the log shows"
    elif status == 503 and not isinstance(exc, EtrackError):
        detail = f"the store failed ({type(exc).__name__}); try again: a command retried with its Idempotency-Key is " \
                 "recorded at most once"
    else:
        detail = str(exc)
    doc: dict[str, Any] = {
        "type": f"urn:etrack:error:{name}",
        "title": ((type(exc).__doc__ or name).strip().splitlines()[0]) if isinstance(exc, EtrackError) else name,
        "status": status,
        "detail": detail,
    }
    if instance:
        doc["instance"] = instance
    for field in ("field", "state", "allowed", "step", "command_id", "current"):
        value = getattr(exc, field, None)
        if isinstance(value, str | int) and not isinstance(value, bool):
            doc[field] = value
        elif isinstance(value, tuple):
            doc[field] = list(value)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="etrack"'
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER)
    return status, doc, headers


#: The problem document's schema, declared for every error response in the OpenAPI document.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
    },
}

_MEANING = {
    401: "no token, or a token unknown, revoked or expired",
    403: "refused by a gate: the role, a grant, or the party's place in the engagement or cohort",
    404: "no such engagement, cohort, party or token",
    409: "refused by the workflow or a domain rule (the current state and the allowed steps are named)",
    412: "If-Match names a version that is not the current one: nothing was written",
    422: "malformed input: a field, a value or a query parameter",
    503: "the store is unavailable: retry after Retry-After seconds (with the same Idempotency-Key)",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for the given error statuses (each a problem document)."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        headers = {"Retry-After": {"schema": {"type": "integer"}}} if status == 503 else {}
        declared[status] = {"description": _MEANING[status], "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}},
                            **({"headers": headers} if headers else {})}
    return declared


ERRORS = responses(401, 403, 404, 409, 412, 422, 503)
