"""Confidential content on its way in and out: text checked and sealed under one subject's key,
read back as "[erased]" once that key is destroyed. Every command reaches the vault (the
:class:`~engagement_tracker.domain.sealing.Sealer` port) through this one object, ``path.sealing``.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from engagement_tracker.domain.checks import MAX_TEXT_CHARS, require_member, require_text
from engagement_tracker.domain.errors import SubjectErased
from engagement_tracker.domain.party import Party
from engagement_tracker.domain.retention import session_subject
from engagement_tracker.domain.sealing import Sealer
from engagement_tracker.domain.values import Sealed, Signal
from engagement_tracker.domain.vocabulary import PartyKind, Polarity, SignalContext

#: What a sealed text reads as once its subject was erased.
ERASED = "[erased]"


class Confidential:
    """Seal and unseal through the vault port; nothing is kept here but the port."""

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer

    def seal(self, subject: UUID, text: object, field: str, max_chars: int = MAX_TEXT_CHARS) -> Sealed:
        """Validate ``text`` and seal it under ``subject``'s key."""
        return self.sealer.seal(str(subject), require_text(text, field, max_chars))

    def make_signal(
        self,
        subject: UUID,
        theme: str,
        context: SignalContext | str,
        polarity: Polarity | str,
        intensity: int,
        unit: str,
        observed_on: date,
        note: str | None,
    ) -> Signal:
        """A signal to record: its context and polarity checked, its note sealed under ``subject``'s key."""
        return Signal(
            theme,
            require_member(SignalContext, context, "context"),
            require_member(Polarity, polarity, "polarity"),
            intensity,
            unit,
            observed_on,
            None if note is None else self.seal(subject, note, "note", 2_000),
        )

    def seal_session_notes(self, coachee: UUID, engagement_id: UUID, notes: object) -> Sealed | None:
        """A session's notes, sealed under the engagement's own session key (``retention.py``), so the
        retention policy can erase them alone; refused like any content once the coachee was erased."""
        if notes is None:
            return None
        text = require_text(notes, "notes", MAX_TEXT_CHARS)  # checked before any key is made
        if self.sealer.is_erased(str(coachee)):
            raise SubjectErased(str(coachee))
        subject = session_subject(coachee, engagement_id)
        self.sealer.create_subject(subject)  # a key alone holds no personal data
        return self.sealer.seal(subject, text)

    def seal_optional(self, subject: UUID, text: object, field: str) -> Sealed | None:
        return None if text is None else self.seal(subject, text, field)

    def unseal(self, sealed: Sealed | None) -> str | None:
        """Plaintext of ``sealed``, or "[erased]" once its subject was erased."""
        if sealed is None:
            return None
        try:
            return self.sealer.unseal(sealed)
        except SubjectErased:
            return ERASED


    def new_party(self, kind: PartyKind, name: str, contact: str | None, pid: UUID, at: datetime) -> Party:
        """A party to save: its key made first (a key alone holds no personal data), then its name sealed."""
        self.sealer.create_subject(str(pid))
        return Party.register(
            pid, kind, self.sealer.seal(str(pid), name), None if contact is None else self.sealer.seal(str(pid), contact), at
        )
