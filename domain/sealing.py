"""The sealing port: how the domain turns confidential text into Sealed values and back.

The domain depends on this Protocol only; the vault that holds one key per subject is an
adapter (``adapters/vault.py``), stored apart from the events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from engagement_tracker.domain.values import Sealed


class Sealer(Protocol):
    """Seals text under one subject's key; unseals it while that key exists."""

    def create_subject(self, subject: str) -> None:
        """Create the subject's key if it has none (idempotent)."""

    def seal(self, subject: str, plaintext: str) -> Sealed:
        """Encrypt ``plaintext`` under ``subject``'s key. Raises SealingError if unknown."""

    def unseal(self, sealed: Sealed) -> str:
        """Decrypt. Raises SubjectErased after erasure, SealingError if tampered."""

    def erase_subject(self, subject: str) -> bool:
        """Destroy the subject's key for good. Returns False if it was already gone."""

    def is_erased(self, subject: str) -> bool:
        """True once the subject's key was destroyed."""


# --- one read, one key lookup per subject --------------------------------------------------------
#
# A view unseals many values under the same few keys (the coach's notes, the coachee's). Inside
# ``one_read()`` a vault looks each subject's key up once and keeps it for the rest of that read
# only (this context: thread or task), then forgets it: an erasure that commits during the read
# is seen by the next read, as it would be had the read started a moment later.

_KEYS: ContextVar[dict[str, bytes] | None] = ContextVar("etrack_read_keys", default=None)


@contextmanager
def one_read() -> Iterator[None]:
    """The scope of one read: each subject's key is looked up once inside it (nested reads join)."""
    if _KEYS.get() is not None:
        yield
        return
    token = _KEYS.set({})
    try:
        yield
    finally:
        _KEYS.reset(token)


def key_for(subject: str, look_up: Callable[[str], bytes]) -> bytes:
    """``look_up(subject)``, remembered for the rest of the current :func:`one_read` (if any)."""
    keys = _KEYS.get()
    if keys is None:
        return look_up(subject)
    key = keys.get(subject)
    if key is None:
        key = keys[subject] = look_up(subject)
    return key
