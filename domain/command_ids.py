"""Command ids: every command is recorded exactly once, or not at all, and the caller is told which.

Every command carries a command id, given by the caller (``command_id=`` on every command, or
``etrack step ... --command-id ID``) or made by the application. Each event the command records
carries that id (``event.command_id``). A retry that finds its command id already stored (after
a clash, a lost acknowledgement or a cut connection, in the same call or in a later one) writes
nothing more and returns the stored outcome: every command returns an :class:`Outcome`, its value
and whether this call recorded it or found it recorded.

The events' persisted form gained the ``command_id`` field in class version 2; events written
before (0.1.0) read through :meth:`Stamped.upcast_v1_v2` with ``command_id = None``.
"""

from __future__ import annotations

import re
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid5

import attrs

from engagement_tracker.domain.errors import InvalidInput

T = TypeVar("T")

#: A command id: a UUID, or a token of 1 to 128 letters, digits and ``. _ : -`` (a request id).
COMMAND_ID_FORM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
COMMAND_ID_ACCEPTED = "a UUID, or 1 to 128 letters, digits and . _ : - (starting with a letter or digit)"

#: Namespace of the ids derived from a command id (a new engagement, cohort or party opened by
#: a command the caller named gets the same id on every retry, so it is created at most once).
DERIVED_IDS = UUID("6f3b1d2e-8a7c-5e4f-9b0a-1c2d3e4f5a6b")


def require_command_id(value: object) -> str:
    """A caller's command id, as stored: the canonical form of a UUID, or the token as given."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, str) and COMMAND_ID_FORM.fullmatch(value):
        try:
            return str(UUID(value))
        except ValueError:
            return value
    shown = repr(value) if not isinstance(value, str) or len(value) <= 80 else repr(value[:80]) + "..."
    raise InvalidInput("command_id", f"{shown}: expected {COMMAND_ID_ACCEPTED}")


def derived_id(command_id: str, kind: str) -> UUID:
    """The id a creating command (``kind``: engagement, cohort, party) gives what it creates."""
    return uuid5(DERIVED_IDS, f"{kind}:{command_id}")


def command_id_of(event: object) -> str | None:
    """The command id an event was recorded by (None for events written before 0.2)."""
    value = getattr(event, "command_id", None)
    return value if isinstance(value, str) else None


class Stamped:
    """Mixed into every aggregate's base event class: its events carry ``command_id``.

    The command path stamps each event of a command with its id as it saves them (in one
    transaction); the field is not a constructor argument, so aggregates and their ``Created``
    events keep their signatures.
    """

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Events stored before command ids existed (class version 1) were recorded by no known command."""
        state["command_id"] = None


@attrs.frozen
class CommandOutcome:
    """What one command call did: recorded its events now, or found them recorded by an earlier call."""

    command_id: str
    recorded_now: bool
    aggregate_id: UUID | None = None
    versions: tuple[int, ...] = ()

    @property
    def status(self) -> str:
        return "recorded" if self.recorded_now else "already recorded"

    def describe(self) -> str:
        where = "" if self.aggregate_id is None else f" {self.aggregate_id}"
        at = "" if not self.versions else f" at version{'s' if len(self.versions) > 1 else ''} " + ", ".join(
            map(str, self.versions)
        )
        if self.recorded_now:
            return f"command {self.command_id}: recorded{where}{at}"
        return f"command {self.command_id}: already recorded{where}{at}; nothing more was written"


@attrs.frozen
class CommandResult(Generic[T]):
    """What a command returns: its value (a new id, a session's number, None), and what it recorded.

    ``status`` is "recorded" when this call recorded the command's events, "already recorded"
    when an earlier call with the same command id had (nothing more was written)."""

    value: T
    command_id: str
    recorded_now: bool
    aggregate_id: UUID | None = None
    versions: tuple[int, ...] = ()

    @classmethod
    def of(cls, value: T, done: CommandOutcome) -> CommandResult[T]:
        return cls(value, done.command_id, done.recorded_now, done.aggregate_id, done.versions)

    @property
    def status(self) -> str:
        return "recorded" if self.recorded_now else "already recorded"

    def describe(self) -> str:
        return CommandOutcome(self.command_id, self.recorded_now, self.aggregate_id, self.versions).describe()
