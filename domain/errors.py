"""The errors of the domain core: one root, typed subclasses.

Every refusal names what was refused and what would have been accepted, and is raised
before anything is recorded: a refused command writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable


class EtrackError(Exception):
    """Root of every error raised on purpose by engagement-tracker."""


class InvalidInput(EtrackError, ValueError):
    """Raised when a value is malformed: empty or oversized text, a negative duration, an unknown theme."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class PeriodCut(InvalidInput):
    """Raised when a window of months cuts a period of the release's time grain (asked for, or coarsened to)."""

    def __init__(self, field: str, problem: str, grain: str) -> None:
        #: The grain whose periods the window must hold whole (month, quarter, year).
        self.grain = grain
        super().__init__(field, problem)


class NotFound(EtrackError, LookupError):
    """Raised when no engagement, cohort or party has the given id."""

    def __init__(self, kind: str, ident: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"no {kind} with id {ident}")


class AlreadyExists(EtrackError, ValueError):
    """Raised when creating something under an id that is already taken."""

    def __init__(self, kind: str, ident: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"a {kind} with id {ident} already exists")


class NotPermitted(EtrackError, PermissionError):
    """Raised when a party acts, or reads, beyond what its role allows."""

    def __init__(self, action: str, reason: str, allowed: Iterable[str] = ()) -> None:
        self.action = action
        self.reason = reason
        self.allowed = tuple(allowed)
        hint = f"; allowed: {', '.join(self.allowed)}" if self.allowed else ""
        super().__init__(f"{action} refused: {reason}{hint}")


class NotAuthenticated(EtrackError, PermissionError):
    """Raised when a bearer token is missing, malformed, unknown, revoked or expired (the token is never echoed)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"not authenticated: {reason}; an admin issues a token with etrack token issue PARTY_ID")


class StepNotAllowed(EtrackError):
    """Raised when a workflow step is not allowed from the current state."""

    def __init__(self, workflow: str, state: str, step: str, allowed: Iterable[str]) -> None:
        self.workflow = workflow
        self.state = state
        self.step = step
        self.allowed = tuple(sorted(allowed))
        super().__init__(
            f"{workflow}: '{step}' is not allowed in state '{state}'; "
            f"allowed steps: {', '.join(self.allowed) or 'none (terminal state)'}"
        )


class RuleViolation(EtrackError):
    """Raised when a step is allowed from the state but a domain rule refuses it."""

    def __init__(self, step: str, state: str, problems: Iterable[str]) -> None:
        self.step = step
        self.state = state
        self.problems = tuple(problems)
        super().__init__(f"'{step}' refused in state '{state}': {'; '.join(self.problems)}")


class CapacityExceeded(RuleViolation):
    """Raised when a coach would accompany more teams at once than the configured limit."""


class ConcurrencyConflict(EtrackError):
    """Raised when another writer changed the same record first and retries ran out."""


class SealingError(EtrackError):
    """Raised when content cannot be sealed or unsealed (unknown subject, wrong key, tampered ciphertext)."""


class SubjectErased(SealingError):
    """Raised when unsealing content of a subject whose key was destroyed (GDPR erasure)."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__(f"subject {subject} was erased: its sealed content is unreadable")


class StoreError(EtrackError):
    """Raised when the event store cannot be opened or read (bad URL, corrupted file, unreachable server)."""

    def __init__(self, message: str, *, command_id: str | None = None) -> None:
        #: Set when a write failed and whether it was recorded is unknown: retrying the command
        #: with this id records it at most once.
        self.command_id = command_id
        super().__init__(message)



class UnknownTenant(StoreError, LookupError):
    """Raised when a tenant is named that the store does not have (a read or a write never makes one)."""

    def __init__(self, name: str, known: Iterable[str], *, where: str = "") -> None:
        self.name = name
        self.known = tuple(known)
        listed = ", ".join(self.known) if self.known else "none yet"
        at = f" in {where}" if where else ""
        super().__init__(f"no tenant {name!r}{at}; known: {listed}. Make one with `etrack tenant create ORG`; "
                         "nothing was created")

class DisclosureRisk(NotPermitted):
    """Raised when a release would let someone combine released values into what fewer than k
    persons (or mostly one source) stand behind. It says what the analyst can do (a coarser
    shape, a wider window, wait for more persons), never which cell or group was too small."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(action, reason)


class CalendarReserved(DisclosureRisk):
    """Raised when an exploratory exact release would make a shape the release calendar reserves
    unreleasable for a period whose calendar releases are not recorded yet."""


class BudgetExceeded(NotPermitted):
    """Raised when a differentially private release would spend more rho (zCDP) than the analyst holds
    (or the analyst holds no privacy budget)."""


class HistoryRewritten(EtrackError):
    """Raised when a witness is shown a checkpoint that does not extend the history it cosigned."""


class WitnessRefusal(EtrackError):
    """Raised when a witness refuses a checkpoint submitted as c2sp.org/tlog-witness ``add-checkpoint`` says;
    ``status`` is the protocol's HTTP status: 400 a malformed request (or an old size above the checkpoint's),
    403 no valid signature of the log's key, 404 a log the witness does not know, 409 an old size that is not
    the size it last cosigned (``latest_size``), 422 a checkpoint not consistent with what it cosigned."""

    def __init__(self, status: int, message: str, latest_size: int | None = None) -> None:
        self.status = status
        self.latest_size = latest_size
        super().__init__(message)


class InconsistentCheckpoint(HistoryRewritten, WitnessRefusal):
    """Raised when a witness is shown, by ``add-checkpoint``, a checkpoint that does not extend the one it
    cosigned last (a fork, a rewritten history, a failing consistency proof): status 422."""

    def __init__(self, message: str) -> None:
        WitnessRefusal.__init__(self, 422, message)


class QuorumNotMet(EtrackError):
    """Raised when the witnesses' cosignatures gathered for a checkpoint do not meet the quorum of the
    c2sp.org/tlog-policy in force (who answered, and how, is said beside it)."""


class MissingDependency(EtrackError):
    """Raised when the environment lacks what a command needs: an optional extra or an outside tool."""


class RecordedOutOfOrder(EtrackError, ValueError):
    """Raised when an event would be recorded at a time before the previous event of the same
    engagement, cohort or party (a clock that ran backwards): history must read forwards."""

    def __init__(self, kind: str, ident: object, at: object, previous: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident}: cannot record an event at {at}, before its previous event at {previous}; "
                         "the clock ran backwards (check the host's time or the injected clock)")


class ImportRefused(InvalidInput):
    """Raised when an import file has bad rows: every one is listed (line, column, reason) and
    nothing was written."""

    def __init__(self, kind: str, problems: Iterable[tuple[int, str, str]]) -> None:
        #: Every bad row: (line, column, reason); line 0 is the whole file, column "" the whole row.
        self.problems = tuple(problems)
        self.kind = kind
        shown = "; ".join(_problem_text(p) for p in self.problems[:5])
        more = f"; and {len(self.problems) - 5} more" if len(self.problems) > 5 else ""
        super().__init__("file", f"{len(self.problems)} bad row(s) in the {kind} file, nothing was imported: "
                                 f"{shown}{more}")


def _problem_text(problem: tuple[int, str, str]) -> str:
    line, column, reason = problem
    where = "the file" if line == 0 else f"line {line}"
    return f"{where}{f', column {column}' if column else ''}: {reason}"
