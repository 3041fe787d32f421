"""What a stored record must carry for this version to read it: the mapper every read goes through.

eventsourcing's mapper upcasts a record written at an older ``class_version`` and otherwise takes
the stored state as it is: a record written by a *newer* engagement-tracker (a higher
``class_version``, or an event class this version does not know) or one that lacks a field the
code needs would load as an object that fails later, far from the cause (an ``AttributeError``
in a view, an ``InternalError`` on the command line). :class:`CheckedMapper` refuses it when it is
read, with a :class:`StoreError` naming the aggregate, its version and the topic, so every read
path (a load, the views, the timeline, a replay, the next command, the command line) says the
same thing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from functools import lru_cache
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, find_id_convertor
from eventsourcing.utils import TopicError, resolve_topic

from engagement_tracker.domain.errors import StoreError

#: Set from the stored row, never carried in the state.
FROM_ROW = frozenset({"originator_id", "originator_version"})


@lru_cache(maxsize=512)
def required_fields(cls: type) -> frozenset[str]:
    """The fields an event class needs from the stored state (its dataclass fields without a default)."""
    if not dataclasses.is_dataclass(cls):
        return frozenset()
    return frozenset(f.name for f in dataclasses.fields(cls)
                     if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING) - FROM_ROW


def named(stored: StoredEvent) -> str:
    kind = str(stored.topic).removeprefix("etrack:").split(".")[0] or "aggregate"
    return f"{kind} {stored.originator_id} version {stored.originator_version} (topic {stored.topic})"


def newer(stored: StoredEvent, what: str) -> StoreError:
    return StoreError(f"the stored record of {named(stored)} was written by a newer engagement-tracker ({what}): "
                      "upgrade engagement-tracker to read this store; nothing was changed")


def lacking(stored: StoredEvent, fields: set[str] | frozenset[str]) -> StoreError:
    return StoreError(f"the stored record of {named(stored)} lacks {', '.join(sorted(fields))}, which this version "
                      "needs (damaged, or written by another program): restore the store from its backup")


class CheckedMapper(Mapper[UUID]):
    """eventsourcing's mapper, refusing a record newer than the code or lacking a needed field."""

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        try:
            cls = resolve_topic(stored_event.topic)
        except TopicError:
            raise newer(stored_event, "an event this version does not know") from None
        try:
            state = stored_event.state
            if self.cipher:
                state = self.cipher.decrypt(state)
            if self.compressor:
                state = self.compressor.decompress(state)
            event_state: dict[str, Any] = self.transcoder.decode(state)
        except Exception as exc:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic '{stored_event.topic}', originator_id "
                f"'{stored_event.originator_id}' and originator_version {stored_event.originator_version}: {exc}"
            ) from exc
        if not isinstance(event_state, dict):
            raise lacking(stored_event, {"its state"})
        class_version = getattr(cls, "class_version", 1)
        from_version = event_state.pop("class_version", 1)
        if not isinstance(from_version, int) or from_version > class_version:
            raise newer(stored_event, f"class_version {from_version}; this version reads up to {class_version}")
        try:
            while from_version < class_version:
                getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
                from_version += 1
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise lacking(stored_event, {f"what its upcaster reads ({type(exc).__name__}: {exc})"}) from None
        missing = required_fields(cls) - event_state.keys()
        if missing:
            raise lacking(stored_event, missing)
        if issubclass(cls, Snapshot):
            self._check_snapshot(stored_event, event_state)
        convert = find_id_convertor(cls, cast(Hashable, type(stored_event.originator_id)))
        event_state["originator_id"] = convert(stored_event.originator_id)
        event_state["originator_version"] = stored_event.originator_version
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", event_state)
        return domain_event

    @staticmethod
    def _check_snapshot(stored: StoredEvent, event_state: dict[str, Any]) -> None:
        try:
            aggregate = resolve_topic(str(event_state["topic"]))
        except TopicError:
            raise newer(stored, f"a snapshot of {event_state['topic']}, which this version does not know") from None
        inner = event_state.get("state")
        version = inner.get("class_version", 1) if isinstance(inner, dict) else 1
        if not isinstance(inner, dict) or not isinstance(version, int):
            raise lacking(stored, {"the aggregate's state"})
        if version > getattr(aggregate, "class_version", 1):
            raise newer(stored, f"snapshot class_version {version}; this version reads up to "
                                f"{getattr(aggregate, 'class_version', 1)}")
