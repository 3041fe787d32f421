"""How values carried by events are stored: every one has a registered transcoding.

The names are a persisted, public format (like event topics): renaming one needs an upcaster.
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

import attrs
from eventsourcing.persistence import (
    Transcoder,
    Transcoding,
)

from engagement_tracker.domain.values import VALUE_TYPES

# --- transcodings: every value carried by an event has one (a persisted, public format) ---


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class BytesAsBase64(Transcoding):
    type = bytes
    name = "bytes_b64"

    def encode(self, obj: bytes) -> str:
        return base64.b64encode(obj).decode("ascii")

    def decode(self, data: str) -> bytes:
        return base64.b64decode(data)


class AttrsTranscoding(Transcoding):
    """Encodes a frozen attrs value as its fields.

    Decoding normally goes through the constructor (its converters turn JSON lists back into
    tuples and strings into enum members). Stored history is never refused, though: if a value
    no longer passes today's checks (a theme removed from the list, a tightened invariant), it
    is rebuilt as stored, so old history always replays.
    """

    def __init__(self, cls: type, name: str) -> None:
        self.type = cls
        self.name = name
        self._fields = tuple(f.name for f in attrs.fields(cls))

    @property
    def fields(self) -> tuple[str, ...]:
        """The names ``encode`` writes, in order (a faster encoder writes the same ones)."""
        return self._fields

    def encode(self, obj: Any) -> dict[str, Any]:
        return {f: getattr(obj, f) for f in self._fields}

    def decode(self, data: dict[str, Any]) -> Any:
        try:
            return self.type(**data)
        except (ValueError, TypeError):
            obj: Any = object.__new__(self.type)
            for field in self._fields:
                raw = data.get(field)
                object.__setattr__(obj, field, tuple(raw) if isinstance(raw, list) else raw)
            return obj


def register_value_transcodings(transcoder: Transcoder) -> None:
    transcoder.register(DateAsISO())  # type: ignore[attr-defined]
    transcoder.register(BytesAsBase64())  # type: ignore[attr-defined]
    for name, cls in VALUE_TYPES.items():
        transcoder.register(AttrsTranscoding(cls, name))  # type: ignore[attr-defined]

