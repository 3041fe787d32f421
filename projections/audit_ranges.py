"""The streaming verification pass over ranges of the log, and how ranges are joined. Pure.

Each trail entry stores the hash it chains from (``prev_hash``) and its own (``entry_hash``), and
each record seal stores its own tag; so a range of positions can be checked on its own, starting
from the stored hashes of the row just before it (its *boundary row*), which the previous range
checked as its last row. Joining the ranges therefore only needs: every range passed, each range
started from the row the previous one ended on, no trail entry follows a row the trail has not
reached yet (the trail is a prefix of the store), and the totals. One range from the genesis is
exactly the one-process pass (``audit_chain.verify_scan`` runs it that way; ``audit_chain.finish``
turns a passed scan into the report).

A range never decides that something is wrong; it only proves, cheaply, that nothing is: any
difference makes the caller run the full comparison, which finds and names every fault.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from engagement_tracker.projections.audit_hashes import (
    ENTRY_HASH,
    GENESIS,
    SEAL_TAG,
    JoinedPages,
    JoinedRow,
    state_digest,
)
from engagement_tracker.projections.seal_macs import GENESIS_TAG, hmac_states, text_field


@attrs.frozen
class Start:
    """Where a range starts: after ``position`` (None: from the first row, at the genesis)."""

    position: int | None = None
    prev: str = GENESIS
    seal_position: int = 0
    seal_tag: bytes = GENESIS_TAG


@attrs.frozen
class RangeResult:
    """What a range proved (``ok``), and what the join needs."""

    ok: bool
    start: int | None = None  # the boundary row it started after (None: the genesis)
    checked: int = 0
    matched: int = 0
    pending: int = 0  # rows the trail has not reached yet
    first_matched: int | None = None
    last: int | None = None  # the last position it checked
    trail_head: int = 0
    prev: str = GENESIS
    cp_hash: str | None = None


FAILED = RangeResult(ok=False)


def start_after(row: JoinedRow, sealed: bool) -> Start | None:
    """The start of the range after boundary row ``row``: its stored entry hash and seal tag
    (None when the row has no trail entry or no seal: then no range may start there)."""
    t_hash, s_tag = row[ENTRY_HASH], row[SEAL_TAG]
    if t_hash is None or (sealed and s_tag is None):
        return None
    try:
        tag = bytes.fromhex(s_tag) if sealed else GENESIS_TAG
    except (TypeError, ValueError):
        return None
    return Start(int(row[0]), str(t_hash), int(row[0]) if sealed else 0, tag)


#: What a tampered row can raise in the pass (a version that is not an integer, a topic that is not
#: text, an id that does not encode...): the pass defers, the full comparison names it.
_ODD_VALUES = (TypeError, ValueError, AttributeError, OverflowError, struct.error)


def scan_range(joined_pages: JoinedPages, start: Start, key: bytes | None, cp_position: int | None,
               on_page: Callable[[int], None] | None = None) -> RangeResult:
    """Recompute every state digest, seal and chain hash over the rows from ``start``, comparing each
    entry field by field; FAILED at the first difference. ``on_page(n)`` is told of every page read.

    The hot loop of ``audit verify``, written for speed (``test_the_fast_scan_never_passes_what_the_full_
    comparison_fails`` holds it to the full comparison): each state is hashed once (its bytes for the
    seal, its hex for the chain); an id is made canonical once per aggregate, a topic encoded once per
    topic; both HMACs continue SHA-256 states that absorbed the key's pads once (:func:`hmac_states`),
    which is what ``record_tag_of_digest`` and ``seal_tag`` compute.
    """
    sha256 = hashlib.sha256
    pack_q, pack_qq = struct.Struct(">q").pack, struct.Struct(">qq").pack
    canonical = joined_pages.canonical
    ids: dict[Any, tuple[str, bytes]] = {}  # stored id -> its canonical text, and that text as the record tag has it
    topics: dict[Any, bytes] = {}
    prev = start.prev
    checked = matched = pending = 0
    position = trail_head = 0
    first_matched = None
    cp_hash = GENESIS if cp_position == 0 else None
    seal_position, seal_tag_ = start.seal_position, start.seal_tag
    sealed = key is not None
    inner, outer = hmac_states(key) if key is not None else (sha256(), sha256())
    record_inner, seal_inner = inner.copy(), inner.copy()
    record_inner.update(b"etrack-record-v1")
    seal_inner.update(b"etrack-seal-v1")
    try:
        for page in joined_pages.pages:
            for (position, stored_id, version, topic, state, t_aggregate_id, t_same, t_digest, stamp, t_prev, t_hash,
                 s_prev, s_rtag, s_tag) in page:
                known = ids.get(stored_id)
                if known is None:
                    name = canonical(stored_id)
                    if name is None:
                        return FAILED  # an id in another form: the full comparison decides
                    known = ids[stored_id] = (name, text_field(name))
                aggregate_id, id_text = known
                if type(state) is bytes:  # the common case: one SHA-256, its bytes for the seal, its hex for the chain
                    raw = sha256(state).digest()
                    digest = raw.hex()
                elif sealed:
                    return FAILED
                else:
                    digest = state_digest(state)
                if sealed:
                    if s_prev != seal_position:  # no seal (None), or one that does not follow the last
                        return FAILED
                    topic_text = topics.get(topic)
                    if topic_text is None:
                        topic_text = topics[topic] = text_field(topic)
                    h = record_inner.copy()
                    h.update(id_text + pack_q(version) + topic_text + raw)
                    o = outer.copy()
                    o.update(h.digest())
                    rtag = o.digest()
                    h = seal_inner.copy()
                    h.update(seal_tag_ + pack_qq(seal_position, position) + rtag)
                    o = outer.copy()
                    o.update(h.digest())
                    tag = o.digest()
                    if s_rtag != rtag.hex() or s_tag != tag.hex():
                        return FAILED  # a broken seal: the seal check names it
                    seal_position, seal_tag_ = position, tag
                # the chain line (audit_chain's canonical encoding); with no entry, the stamp is "||"
                entry_hash = sha256(f"{prev}|{position}|{aggregate_id}|{version}|{topic}|{digest}|{stamp}"
                                    .encode()).hexdigest()
                if t_hash is None:
                    if stamp != "||":
                        return FAILED
                    pending += 1
                    prev = entry_hash
                else:
                    if (pending or t_hash != entry_hash or t_prev != prev or t_aggregate_id != aggregate_id
                            or t_same != 1 or t_digest != digest or stamp is None):
                        return FAILED  # something differs (or the trail is not a prefix): classify it slowly
                    matched += 1
                    if first_matched is None:
                        first_matched = position
                    trail_head = position
                    prev = entry_hash
                if position == cp_position:
                    cp_hash = prev
            checked += len(page)
            if on_page is not None:
                on_page(len(page))
    except _ODD_VALUES:
        return FAILED
    return RangeResult(True, start.position, checked, matched, pending, first_matched,
                       position if checked else start.position, trail_head, prev, cp_hash)


def joined(results: Sequence[RangeResult]) -> RangeResult:
    """The ranges, in position order, as one: FAILED unless each passed and started where the previous
    ended, and no trail entry follows a row the trail had not reached."""
    if not results or not all(r.ok for r in results) or results[0].start is not None:
        return FAILED
    pending_seen = False
    for before, after in itertools.pairwise(results):
        if after.start is None or after.start != before.last:
            return FAILED  # a gap or an overlap between ranges
    for r in results:
        if pending_seen and r.matched:
            return FAILED  # an entry after a row the trail has not reached: not a prefix
        pending_seen = pending_seen or bool(r.pending)
    cp = next((r.cp_hash for r in results if r.cp_hash is not None), None)
    last = results[-1]
    return RangeResult(True, None, sum(r.checked for r in results), sum(r.matched for r in results),
                       sum(r.pending for r in results), results[0].first_matched, last.last,
                       max(r.trail_head for r in results), last.prev, cp)
