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
from collections.abc import Iterable, Sequence

import attrs

from engagement_tracker.projections.audit_hashes import GENESIS, ODD_ID, JoinedRow, chain_hash, state_digest
from engagement_tracker.projections.seal_macs import GENESIS_TAG, record_tag_of_digest, seal_tag


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
    t_hash, s_tag = row[13], row[18]
    if t_hash is None or (sealed and s_tag is None):
        return None
    try:
        tag = bytes.fromhex(s_tag) if sealed else GENESIS_TAG
    except (TypeError, ValueError):
        return None
    return Start(int(row[0]), str(t_hash), int(row[0]) if sealed else 0, tag)


def scan_range(rows: Iterable[JoinedRow], start: Start, key: bytes | None, cp_position: int | None) -> RangeResult:
    """Recompute every state digest, seal and chain hash over ``rows`` from ``start``, comparing each
    entry field by field; FAILED at the first difference."""
    prev = start.prev
    checked = matched = pending = 0
    position = trail_head = 0
    first_matched = None
    cp_hash = GENESIS if cp_position == 0 else None
    seal_position, seal_tag_ = start.seal_position, start.seal_tag
    for (position, aggregate_id, version, topic, state,
         t_aggregate_id, t_version, t_topic, t_digest, actor, role, recorded_at, t_prev, t_hash,
         _, _, s_prev, s_rtag, s_tag) in rows:
        checked += 1
        if type(state) is bytes:  # the common case: one SHA-256, its bytes for the seal, its hex for the chain
            raw = hashlib.sha256(state).digest()
            digest = raw.hex()
        else:
            raw, digest = b"", state_digest(state)
        if aggregate_id.startswith(ODD_ID):
            return FAILED  # an id in another form: the full comparison decides
        if key is not None:
            if s_tag is None or s_prev != seal_position or type(state) is not bytes:
                return FAILED
            rtag = record_tag_of_digest(key, aggregate_id, version, topic, raw)
            tag = seal_tag(key, seal_tag_, seal_position, position, rtag)
            if s_rtag != rtag.hex() or s_tag != tag.hex():
                return FAILED  # a broken seal: the seal check names it
            seal_position, seal_tag_ = position, tag
        if t_hash is None:
            pending += 1
            prev = chain_hash(prev, position, aggregate_id, version, topic, digest)
        else:
            entry_hash = chain_hash(prev, position, aggregate_id, version, topic, digest, actor, role, recorded_at)
            if (pending or t_hash != entry_hash or t_prev != prev or t_aggregate_id != aggregate_id
                    or t_version != version or t_topic != topic or t_digest != digest):
                return FAILED  # something differs (or the trail is not a prefix): classify it slowly
            matched += 1
            if first_matched is None:
                first_matched = position
            trail_head = position
            prev = entry_hash
        if position == cp_position:
            cp_hash = prev
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
