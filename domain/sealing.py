"""The sealing port: how the domain turns confidential text into Sealed values and back.

The domain depends on this Protocol only; the vault that holds one key per subject is an
adapter (``adapters/vault.py``), stored apart from the events.
"""

from __future__ import annotations

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
