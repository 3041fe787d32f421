"""Records sealed at write time: a keyed, chained MAC per stored event, and its check. Pure.

Each stored event gets a seal row, written by the recorder in the transaction that stores it
(``adapters/sealed_recorders.py``), in a table of its own (the events' format does not change)::

    record_tag = HMAC-SHA256(K, "etrack-record-v1" || str(aggregate_id) || i64(version) || str(topic)
                                || SHA-256(state bytes as stored))
    tag        = HMAC-SHA256(K, "etrack-seal-v1" || prev_tag || i64(prev_position) || i64(position)
                                || record_tag)

with ``prev_tag`` / ``prev_position`` those of the seal before it (32 zero bytes and 0 for the
first), ``str`` and ``i64`` as in ``audit_log``. ``K`` is the record key, kept outside the
database. Without it, no one can write a seal that verifies: a record added, changed, re-topicked,
moved or removed by someone who can only write to the database breaks its seal or the chain at
that exact position. The seal row also names (aggregate id, version), so that a broken seal can
say whether its record was changed, moved elsewhere, or pushed aside by an inserted one.

What seals cannot show: the *last* records removed together with their seals (the chain just
ends earlier). A signed checkpoint, or a witness's cosigned size, shows that.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from engagement_tracker.projections.audit_chain import Fault
from engagement_tracker.projections.seal_macs import GENESIS_TAG, RecordMacs, record_tag, seal_tag, state_digest, text_field

#: (position, aggregate_id or None, version or None, topic or None, state or None,
#:  seal's aggregate_id or None, seal's version or None, prev_position or None, record_tag hex or None, tag hex or None)
#: in position order: a stored record joined with the seal row at its position, or a seal row alone.
SealedRow = tuple[Any, ...]








@attrs.frozen
class Seal:
    """One seal row as stored."""

    position: int
    aggregate_id: str
    version: int
    prev_position: int
    record_tag: str
    tag: str

    def row(self) -> tuple[int, str, int, int, str, str]:
        return (self.position, self.aggregate_id, self.version, self.prev_position, self.record_tag, self.tag)


#: A seal row as stored: position, aggregate_id, version, prev_position, record_tag hex, tag hex.
SealRow = tuple[int, str, int, int, str, str]


def seal_rows(macs: RecordMacs, records: Iterable[tuple[int, str, int, str, bytes]],
              last: tuple[int, bytes] | None) -> list[SealRow]:
    """The seal rows of new records (position, aggregate id, version, topic, state), after the last seal
    (its position and tag; None when there is none): the recorders' write path. Each state is hashed
    once, each id and topic written as a text field once per batch, both MACs continue the keyed
    states of ``macs``; the same rows as :func:`seal` (``tests/unit/test_seal_macs.py``)."""
    prev_position, prev_tag = last if last is not None else (0, GENESIS_TAG)
    sha256 = hashlib.sha256
    record_tag_, seal_tag_ = macs.record_tag, macs.seal_tag
    fields: dict[str, bytes] = {}
    out: list[SealRow] = []
    for position, aggregate_id, version, topic, state in records:
        id_field = fields.get(aggregate_id)
        if id_field is None:
            id_field = fields[aggregate_id] = text_field(aggregate_id)
        topic_field = fields.get(topic)
        if topic_field is None:
            topic_field = fields[topic] = text_field(topic)
        rtag = record_tag_(id_field, version, topic_field, state_digest(state) if type(state) is not bytes else
                           sha256(state).digest())
        tag = seal_tag_(prev_tag, prev_position, position, rtag)
        out.append((position, aggregate_id, version, prev_position, rtag.hex(), tag.hex()))
        prev_position, prev_tag = position, tag
    return out


def seal(key: bytes, records: Iterable[tuple[int, str, int, str, bytes]], last: tuple[int, bytes] | None) -> list[Seal]:
    """Seals for new records (position, aggregate id, version, topic, state), after the last seal
    (its position and tag; None when there is none), computed as the module docstring writes them:
    the reference :func:`seal_rows` is held to."""
    prev_position, prev_tag = last if last is not None else (0, GENESIS_TAG)
    out = []
    for position, aggregate_id, version, topic, state in records:
        rtag = record_tag(key, aggregate_id, version, topic, state)
        tag = seal_tag(key, prev_tag, prev_position, position, rtag)
        out.append(Seal(position, aggregate_id, version, prev_position, rtag.hex(), tag.hex()))
        prev_position, prev_tag = position, tag
    return out


@attrs.define
class SealCheck:
    """What the seal check found: how many records it checked, and the faults, by position."""

    checked: int = 0
    faults: list[Fault] = attrs.Factory(list)


def check_seals(
    rows: Iterable[SealedRow],
    key: bytes,
    stored_at: Callable[[str, int], int | None],
    sealed_at: Callable[[str, int], int | None],
    max_faults: int = 100,
) -> SealCheck:
    """One pass over the store joined with its seals, in position order, naming every broken seal.

    ``stored_at(aggregate_id, version)`` answers where the store holds that record now and
    ``sealed_at`` where a seal names it (None when nowhere; asked only at a broken seal): a record
    the seal at its position does not describe was *reordered* (it is sealed
    elsewhere and the sealed one is elsewhere too), *inserted* (the sealed one moved on) or
    *modified* (the sealed one is gone: these are its changed bytes, id or topic). A record with no
    seal is *inserted*; a seal with no record *deleted*; a seal that does not chain to the one
    before says the records between were removed (*deleted*) or that the seal itself was forged.
    """
    result = SealCheck()
    faults = result.faults
    prev_position, prev_tag = 0, GENESIS_TAG
    for row in rows:
        if len(faults) >= max_faults:
            break
        position, aggregate_id, version, topic, state, s_aggregate, s_version, s_prev, s_rtag, s_tag = row
        if aggregate_id is not None:
            result.checked += 1
        if s_tag is None:
            faults.append(Fault(position, "inserted", f"{aggregate_id} v{version} carries no seal: it was not "
                                "written by the application (record seal)"))
            continue
        try:
            stored_tag, stored_rtag = bytes.fromhex(s_tag), bytes.fromhex(s_rtag)
            chained = (s_prev == prev_position
                       and hmac.compare_digest(seal_tag(key, prev_tag, prev_position, position, stored_rtag), stored_tag))
        except (TypeError, ValueError):
            stored_tag, stored_rtag, chained = GENESIS_TAG, b"", False
        if not chained:
            if isinstance(s_prev, int) and s_prev > prev_position:
                faults.append(Fault(prev_position + 1, "deleted", f"the seal at {position} follows the one at "
                                    f"{s_prev}, which is gone: records after {prev_position} were removed "
                                    "(record seal)"))
            else:
                faults.append(Fault(position, "inserted", f"the seal at {position} was not made with the record "
                                    "key (record seal)"))
            prev_position, prev_tag = position, stored_tag  # resynchronise on it
            continue
        prev_position, prev_tag = position, stored_tag
        if aggregate_id is None:
            faults.append(Fault(position, "deleted", f"{s_aggregate} v{s_version} is missing from the store "
                                "(record seal)"))
            continue
        actual = record_tag(key, aggregate_id, version, str(topic), state)
        if hmac.compare_digest(actual, stored_rtag):
            continue
        if (aggregate_id, version) != (s_aggregate, s_version):
            moved = stored_at(str(s_aggregate), int(s_version))
            if moved is not None and moved != position:
                elsewhere = sealed_at(aggregate_id, version)
                kind = "reordered" if elsewhere is not None and elsewhere != position else "inserted"
                faults.append(Fault(position, kind, f"position {position} holds {aggregate_id} v{version}; its seal "
                                    f"names {s_aggregate} v{s_version}, now at {moved} (record seal)"))
                continue
        faults.append(Fault(position, "modified", f"{s_aggregate} v{s_version}: the stored record no longer matches "
                            "its seal (bytes, id or topic changed) (record seal)"))
    return result
