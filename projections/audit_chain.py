"""The audit trail's hash chain over the *stored* records, and its verification: pure functions.

Each entry covers one stored event as it sits in the store (state bytes as stored, so
ciphertext stays ciphertext) and chains the previous entry's hash. The canonical encoding,
so that anyone can write an independent verifier in a few lines::

    state_sha256 = sha256(state bytes as stored).hexdigest()
    line         = f"{prev_hash}|{position}|{aggregate_id}|{version}|{topic}|{state_sha256}"
                   f"|{actor}|{role}|{recorded_at}"
    entry_hash   = sha256(line.encode("utf-8")).hexdigest()

with ``prev_hash`` = 64 zeros for the first entry, ``aggregate_id`` the UUID in its canonical
36-character form, ``position`` the store's notification id, and ``actor`` (a pseudonymous party
id), ``role`` and ``recorded_at`` (ISO 8601) as the entry states them, empty when unknown. So
who did what, and when, is covered by the chain too; verifying still needs no decryption key.

Records reach these functions with their aggregate id already canonical: the reader of the
store (``adapters/stored_records.py``) names an id stored in any form the store never writes
``[stored as '...']`` (:data:`ODD_ID`), so that it matches no entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

# The hashing primitives live in audit_hashes.py (the range scan shares them); named here too, as before.
from engagement_tracker.projections.audit_hashes import GENESIS as GENESIS  # noqa: PLC0414 - re-exported
from engagement_tracker.projections.audit_hashes import ODD_ID as ODD_ID  # noqa: PLC0414 - re-exported
from engagement_tracker.projections.audit_hashes import JoinedPages as JoinedPages  # noqa: PLC0414 - re-exported
from engagement_tracker.projections.audit_hashes import JoinedRow as JoinedRow  # noqa: PLC0414 - re-exported
from engagement_tracker.projections.audit_hashes import chain_hash as chain_hash  # noqa: PLC0414 - re-exported
from engagement_tracker.projections.audit_hashes import state_digest as state_digest  # noqa: PLC0414 - re-exported
from engagement_tracker.projections.audit_ranges import RangeResult, Start, scan_range
from engagement_tracker.projections.seal_macs import Seals
from engagement_tracker.projections.tracking import Record, Stamp


@attrs.frozen
class StoredRecord:
    """One stored event as the store holds it, reduced to what the chain covers."""

    position: int
    aggregate_id: str
    version: int
    topic: str
    state_sha256: str

    @classmethod
    def of_row(cls, position: int, aggregate_id: str, version: int, topic: Any, state: Any) -> StoredRecord:
        """A record from its stored fields, its aggregate id canonical (see :data:`ODD_ID`)."""
        return cls(position, aggregate_id, version, str(topic), state_digest(state))

    @property
    def key(self) -> tuple[str, int]:
        return (self.aggregate_id, self.version)


@attrs.frozen
class AuditEntry:
    position: int
    aggregate_id: str
    aggregate_type: str
    version: int
    topic: str
    event_type: str
    actor: str | None
    role: str | None
    recorded_at: str | None
    state_sha256: str
    prev_hash: str
    entry_hash: str

    @property
    def record(self) -> StoredRecord:
        return StoredRecord(self.position, self.aggregate_id, self.version, self.topic, self.state_sha256)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@functools.lru_cache(maxsize=1024)
def describe(topic: str) -> tuple[str, str]:
    """('Engagement', 'SessionHeld') from 'etrack:Engagement.SessionHeld'."""
    name = topic.rsplit(":", 1)[-1]
    aggregate, _, event_type = name.rpartition(".")
    return (aggregate or name, event_type or name)


#: An entry as the trail's tables hold it: AuditEntry's fields, in order.
EntryRow = tuple[int, str, str, int, str, str, str | None, str | None, str | None, str, str, str]


def build_rows(records: Iterable[Record], prev_hash: str, stamps: Iterable[Stamp]) -> list[EntryRow]:
    """Chain entries, as rows, for stored events that follow an entry whose hash is ``prev_hash``.

    ``AuditEntry(*row)`` is the entry. The line is :func:`chain_hash`'s, written out here: this
    is the projection's hottest loop, and calling it per entry made rebuilds 5-10% slower in
    alternating A/B runs. ``test_an_intact_store_verifies_and_the_trail_chains`` recomputes every
    entry with :func:`chain_hash`, so the two cannot drift apart.
    """
    sha256 = hashlib.sha256
    rows: list[EntryRow] = []
    for n, (actor, role, recorded_at) in zip(records, stamps, strict=True):
        aggregate_id, topic, state, version = n.originator_id, str(n.topic), n.state, n.originator_version
        digest = sha256(state).hexdigest() if type(state) is bytes else state_digest(state)
        aggregate_type, event_type = describe(topic)
        line = (f"{prev_hash}|{n.id}|{aggregate_id}|{version}|{topic}|{digest}"
                f"|{actor or ''}|{role or ''}|{recorded_at or ''}")
        entry_hash = sha256(line.encode("utf-8")).hexdigest()
        rows.append((n.id, aggregate_id, aggregate_type, version, topic, event_type, actor, role, recorded_at,
                     digest, prev_hash, entry_hash))
        prev_hash = entry_hash
    return rows


# --- verification ------------------------------------------------------------------------------


@attrs.frozen
class Fault:
    position: int
    kind: str  # modified | deleted | inserted | reordered | trail_modified | checkpoint_mismatch | bad_signature
    detail: str


SUMMARY_KINDS = frozenset({"checkpoint_mismatch", "bad_signature"})


@attrs.define
class Report:
    checked: int = 0
    trail_entries: int = 0
    pending: int = 0  # stored records beyond the trail's head, not yet projected
    head_position: int | None = None
    head_hash: str | None = None
    checkpoint: dict[str, Any] | None = None
    faults: list[Fault] = attrs.Factory(list)
    sealed: int | None = None  # records checked against their seals; None: no seals kept or no record key
    #: Set when the viewer holds no auditor grant but showed a signed checkpoint (or a kept export) that the
    #: log no longer extends: the refusal, reported beside the faults instead of hiding them.
    refused: str | None = None

    @property
    def ok(self) -> bool:
        return not self.faults

    @property
    def first(self) -> Fault | None:
        # at one position, what happened to a record (deleted, modified...) before what it broke
        return min(self.faults, key=lambda f: (f.position, f.kind in SUMMARY_KINDS)) if self.faults else None

    def to_dict(self) -> dict[str, Any]:
        first = self.first
        return {
            "ok": self.ok,
            "checked": self.checked,
            "trail_entries": self.trail_entries,
            "pending": self.pending,
            "head": {"position": self.head_position, "hash": self.head_hash},
            "checkpoint": self.checkpoint,
            "sealed": self.sealed,
            "first_bad_position": first.position if first else None,
            "kind": first.kind if first else None,
            "faults": [attrs.asdict(f) for f in self.faults[:100]],
            **({"refused": self.refused} if self.refused else {}),
        }


def verify(
    store: Iterable[StoredRecord],
    trail: Sequence[AuditEntry],
    checkpoint: dict[str, Any] | None = None,
    max_faults: int = 100,
    tracked: int | None = None,
) -> Report:
    """Compare the store with the trail (and a checkpoint's signed head), naming every fault.

    Records are matched by (aggregate id, version): a record the trail never saw is
    *inserted*, a trail entry missing from the store *deleted*, a known record at another
    place *reordered*, and different bytes under the same key *modified*. The trail's own chain
    is recomputed too (*trail_modified*), and the store's chain at the checkpoint's position
    must equal the signed head (*checkpoint_mismatch*).
    """
    report = Report(trail_entries=len(trail))
    faults = report.faults
    records = list(store)
    report.checked = len(records)

    # fast path: one chain over the store, compared entry by entry with the trail (no second hash)
    prev = GENESIS
    odd = [r for r in records if r.aggregate_id.startswith(ODD_ID)]  # never written by the store
    intact = len(trail) <= len(records) and not odd
    chained: dict[int, str] = {0: GENESIS}
    for i, r in enumerate(records):
        e = trail[i] if i < len(trail) else None
        described = e is not None and e.position == r.position
        prev = chain_hash(prev, r.position, r.aggregate_id, r.version, r.topic, r.state_sha256,
                          *((e.actor, e.role, e.recorded_at) if described and e else (None, None, None)))
        chained[r.position] = prev
        if intact and e is not None:
            intact = (e.entry_hash == prev and e.position == r.position and e.aggregate_id == r.aggregate_id
                      and e.version == r.version and e.topic == r.topic and e.state_sha256 == r.state_sha256
                      and e.prev_hash == (trail[i - 1].entry_hash if i else GENESIS))
    if records:
        report.head_position = records[-1].position
        report.head_hash = chained[records[-1].position]
    # the trail must reach the position its tracking row says it projected
    trail_head = trail[-1].position if trail else 0
    if tracked is not None and tracked > trail_head:
        faults.append(Fault(trail_head + 1, "trail_modified",
                            f"the trail ends at {trail_head} but says it projected up to {tracked}: entries were removed"))
        intact = False
    keys = [e.record.key for e in trail]
    if len(set(keys)) != len(keys):
        seen: set[tuple[str, int]] = set()
        duplicate = next(e for e in trail if e.record.key in seen or seen.add(e.record.key))  # type: ignore[func-returns-value]
        faults.append(Fault(duplicate.position, "trail_modified", "the trail names the same record twice"))
        check_checkpoint(report, chained, checkpoint)
        return report
    if intact:
        report.pending = len(records) - len(trail)
        check_checkpoint(report, chained, checkpoint)
        return report

    # 1. the trail's own chain
    prev = GENESIS
    for e in trail:
        expected = chain_hash(prev, e.position, e.aggregate_id, e.version, e.topic, e.state_sha256,
                              e.actor, e.role, e.recorded_at)
        if e.prev_hash != prev or e.entry_hash != expected:
            faults.append(Fault(e.position, "trail_modified", "the trail entry does not chain to the one before"))
            break
        prev = e.entry_hash

    # 2. the store against the trail
    in_store = {r.key: r for r in records}
    in_trail = {e.record.key: e for e in trail}
    i = j = 0
    covered = [r for r in records if r.position <= trail_head or r.key in in_trail]
    report.pending = len(records) - len(covered)
    while (i < len(covered) or j < len(trail)) and len(faults) < max_faults:
        s = covered[i] if i < len(covered) else None
        t = trail[j].record if j < len(trail) else None
        if s is not None and t is not None and s.key == t.key:
            if s.state_sha256 != t.state_sha256 or s.topic != t.topic:
                faults.append(Fault(t.position, "modified", f"{t.aggregate_id} v{t.version}: the stored bytes changed"))
            elif s.position != t.position:
                faults.append(Fault(min(s.position, t.position), "reordered",
                                    f"{t.aggregate_id} v{t.version} moved from {t.position} to {s.position}"))
            i, j = i + 1, j + 1
            continue
        s_known = s is not None and s.key in in_trail
        t_present = t is not None and t.key in in_store
        if s is not None and not s_known and (t is None or s.position <= t.position or t_present):
            kind = "modified" if t is not None and not t_present and s.position == t.position else "inserted"
            faults.append(Fault(s.position, kind, f"{s.aggregate_id} v{s.version} is not in the trail"))
            i += 1
            if kind == "modified":
                j += 1
            continue
        if t is not None and not t_present:
            faults.append(Fault(t.position, "deleted", f"{t.aggregate_id} v{t.version} is missing from the store"))
            j += 1
            continue
        if s is None or t is None:  # pragma: no cover - every case above consumed one side
            break
        # both known elsewhere: out of order
        faults.append(Fault(min(s.position, t.position), "reordered",
                            f"position {t.position} holds {s.aggregate_id} v{s.version}, "
                            f"the trail has {t.aggregate_id} v{t.version}"))
        i, j = i + 1, j + 1

    # 3. records under an id the store never writes: the application did not write them
    flagged = {f.position for f in faults}
    faults.extend(Fault(r.position, "inserted", f"{r.aggregate_id} v{r.version}: the store never writes an id "
                        "in this form, and the event does not load with its aggregate")
                  for r in odd if r.position not in flagged)

    # 4. the checkpoint: the store must still extend the signed head
    check_checkpoint(report, chained, checkpoint)
    return report


def verify_scan(
    joined: JoinedPages,
    trail_count: int,
    checkpoint: dict[str, Any] | None = None,
    tracked: int | None = None,
    seals: Seals | None = None,
    on_page: Callable[[int], None] | None = None,
) -> Report | None:
    """The common case in one streaming pass: an intact store whose trail is a prefix of it.

    Recomputes every state digest and the whole chain over the joined rows, and compares each
    entry field by field. Returns the report when everything matches, or ``None`` at the first
    difference: the caller then runs :func:`verify`, which finds and names every fault. So this
    never decides that something is wrong; it only proves, cheaply, that nothing is.

    With ``seals`` (the record key and the number of seal rows), each row's seal, joined beside
    it, is checked in the same pass (``projections/record_seals.py``): the report then says how
    many records were ``sealed``; any broken seal, or a seal without its record, defers too.
    ``on_page(n)`` is told of every page of ``n`` rows read (for a progress bar).
    """
    cp_position = int(checkpoint["position"]) if checkpoint is not None else None
    result = scan_range(joined, Start(), seals.key if seals is not None else None, cp_position, on_page)
    return finish(result, trail_count, checkpoint, tracked, seals)


def finish(result: RangeResult, trail_count: int, checkpoint: dict[str, Any] | None, tracked: int | None,
           seals: Seals | None) -> Report | None:
    """The report of a passed scan (one range, or ranges joined), or None where the full comparison
    must decide: the totals against the trail's and the seals' counts, the trail's tail, the checkpoint."""
    if not result.ok or result.matched != trail_count:
        return None  # the trail holds entries at positions the store no longer has
    if tracked is not None and tracked > result.trail_head:
        return None  # entries were removed from the trail's tail
    if checkpoint is not None and result.cp_hash != str(checkpoint["head_hash"]):
        return None
    if seals is not None and seals.count != result.checked:
        return None  # seals without their record: the seal check names them
    report = Report(checked=result.checked, trail_entries=trail_count, pending=result.pending,
                    sealed=result.checked if seals is not None else None)
    if result.checked:
        report.head_position, report.head_hash = result.last or 0, result.prev
    cp_position = int(checkpoint["position"]) if checkpoint is not None else None
    check_checkpoint(report, {cp_position: result.cp_hash} if cp_position is not None else {}, checkpoint)
    return report


def check_checkpoint(report: Report, chained: Mapping[int, str | None], checkpoint: dict[str, Any] | None) -> None:
    if checkpoint is None:
        return
    report.checkpoint = {k: checkpoint.get(k) for k in ("position", "head_hash", "created_at")}
    position, head = int(checkpoint["position"]), str(checkpoint["head_hash"])
    if chained.get(position) != head:
        report.faults.append(Fault(position, "checkpoint_mismatch",
                                   "the store's chain at the checkpoint's position is not the signed head: "
                                   "history before it was changed"))


def canonical_checkpoint(position: int, head_hash: str, created_at: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return f"etrack-checkpoint|{position}|{head_hash}|{created_at}".encode()


def export_lines(entries: Iterable[AuditEntry], leaf_hash: Callable[[AuditEntry], bytes]) -> Iterator[str]:
    """The trail as JSON Lines, one entry per line with its chain hash, its leaf ``index`` (0-based)
    and its Merkle ``leaf_hash`` (hex)."""
    for index, e in enumerate(entries):
        yield json.dumps({**e.to_dict(), "index": index, "leaf_hash": leaf_hash(e).hex()},
                         sort_keys=True, ensure_ascii=False)
