"""The read models in memory, for the ``memory:`` store: the audit trail, the analysts' facts, the directory.

Each view holds its entries or facts and eventsourcing's tracking position under one lock, so
they change together, as the SQL views change them in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.popo import POPOTrackingRecorder

from engagement_tracker.domain.access import GrantGuard
from engagement_tracker.domain.application.analysts import PendingDpLeaf, PendingRelease
from engagement_tracker.projections.analytics import NAME as ANALYTICS
from engagement_tracker.projections.analytics import AnalyticsView, group_verdict, watched
from engagement_tracker.projections.anonymity import Fact, Tally, TallyRow, tally, tally_row
from engagement_tracker.projections.audit_chain import AuditEntry, EntryRow
from engagement_tracker.projections.audit_trail import TRAIL_NAME, AuditTrailView
from engagement_tracker.projections.audit_tree import Key, Node
from engagement_tracker.projections.directory import NAME as DIRECTORY
from engagement_tracker.projections.directory import DirectoryView, Entry
from engagement_tracker.projections.regions import Block, Refiner
from engagement_tracker.projections.release_ledger import LedgerRow, level_text
from engagement_tracker.projections.weak_signals import Source


class MemoryAuditTrailView(POPOTrackingRecorder, AuditTrailView):
    """The trail in memory, for the ``memory:`` store."""

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[AuditEntry] = []
        self._tree: dict[Key, bytes] = {}
        self._leaves = 0  # level-0 nodes (counted as they come, not by scanning the tree per page)

    def append(self, rows: Sequence[EntryRow], tracking: Tracking, nodes: Iterable[Node] = ()) -> None:
        with self._database_lock:
            self._assert_tracking_uniqueness(tracking)
            last = self._entries[-1].position if self._entries else 0
            if rows and rows[0][0] <= last:
                raise IntegrityError(f"audit trail position {rows[0][0]} already recorded")
            new = {(level, idx): h for level, idx, h in nodes}
            if new.keys() & self._tree.keys():
                raise IntegrityError("audit tree node already recorded")
            self._entries.extend(AuditEntry(*row) for row in rows)
            self._tree.update(new)
            self._leaves += sum(1 for level, _ in new if level == 0)
            self._insert_tracking(tracking)

    def add_nodes(self, nodes: Iterable[Node]) -> None:
        with self._database_lock:
            for level, idx, h in nodes:
                if (level, idx) not in self._tree:
                    self._tree[(level, idx)] = h
                    self._leaves += level == 0

    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        with self._database_lock:
            return {k: self._tree[k] for k in keys if k in self._tree}

    def leaf_count(self) -> int:
        with self._database_lock:
            return self._leaves

    def entries(self, start: int = 1, limit: int | None = None) -> list[AuditEntry]:
        with self._database_lock:
            chosen = [e for e in self._entries if e.position >= start]
        return chosen if limit is None else chosen[:limit]

    def head(self) -> AuditEntry | None:
        with self._database_lock:
            return self._entries[-1] if self._entries else None

    def clear(self) -> None:
        with self._database_lock:
            self._entries.clear()
            self._tree.clear()
            self._leaves = 0
            self._max_tracking_ids.pop(TRAIL_NAME, None)



class MemoryAnalyticsView(POPOTrackingRecorder, AnalyticsView):
    """Facts, tallies, sources and the release ledger, in memory."""

    def __init__(self) -> None:
        super().__init__()
        self._facts: list[tuple[int, Fact]] = []
        self._tallies: dict[tuple[Any, ...], Tally] = {}
        self._sources: dict[str, Source] = {}
        self._ledger: list[dict[str, Any]] = []
        self._parts: dict[str, list[Block]] = {}  # fine key -> its parts (survive a rebuild, like the ledger)
        self._regions: dict[str, Block] = {}
        self._region_family: dict[str, str] = {}
        self._dp_answers: dict[str, str] = {}

    def append(
        self, facts: Sequence[tuple[int, Fact]], sources: dict[str, Source], tracking: Tracking,
        tallies: Sequence[Tally] = (),
    ) -> None:
        with self._database_lock:
            self._assert_tracking_uniqueness(tracking)
            merged = tally([*(self._tallies[t.key] for t in tallies if t.key in self._tallies), *tallies])
            self._tallies.update({t.key: t for t in merged})
            self._facts.extend(facts)
            self._sources.update({k: Source(v.kind, v.unit, set(v.persons)) for k, v in sources.items()})
            self._insert_tracking(tracking)

    def facts(self) -> list[Fact]:
        with self._database_lock:
            return [f for _, f in self._facts]

    def tallies(self, family: str, since: str | None = None, until: str | None = None) -> list[Tally]:
        low, high = since or "", until or "9999-99"
        with self._database_lock:
            return sorted((t for t in self._tallies.values() if t.family == family and low <= t.month <= high),
                          key=lambda t: tuple(map(str, t.key)))

    def tally_rows(self, family: str, since: str | None = None, until: str | None = None) -> list[TallyRow]:
        return [tally_row(t) for t in self.tallies(family, since, until)]

    def sources(self, ids: Iterable[str] | None = None) -> dict[str, Source]:
        with self._database_lock:
            keys = self._sources.keys() if ids is None else set(ids) & self._sources.keys()
            return {k: Source(self._sources[k].kind, self._sources[k].unit, set(self._sources[k].persons))
                    for k in keys}

    def clear(self) -> None:
        with self._database_lock:
            self._facts.clear()
            self._tallies.clear()
            self._sources.clear()
            self._max_tracking_ids.pop(ANALYTICS, None)

    def ledger(self, family: str) -> list[dict[str, Any]]:
        with self._database_lock:
            return [{"k": r["k"]} for r in self._ledger if r["family"] == family]

    def record_releases(
        self, items: Sequence[PendingRelease], guard: GrantGuard | None = None, *, commit: bool = True,
    ) -> list[int]:
        with self._database_lock:
            events = getattr(self, "events_recorder", None)  # the store's recorder (it shares this lock)
            if guard is not None and events is not None:
                guard.require(events.register_version() or 0)
            kept = (dict(self._parts), dict(self._regions), dict(self._region_family), list(self._ledger))
            try:
                ids = [self._record_one(item) for item in items]
            except BaseException:
                self._parts, self._regions, self._region_family, self._ledger = kept  # nothing written
                raise
            if not commit:  # a trial: everything as it was
                self._parts, self._regions, self._region_family, self._ledger = kept
            elif self.release_leaves is not None and ids:  # under the store's lock, as the ledger: both or neither
                recorder = self.release_leaves.recorder

                def version_of(log_id: Any) -> int:
                    last = recorder.select_events(log_id, desc=True, limit=1)
                    return int(last[0].originator_version) if last else 0

                try:
                    recorder.insert_events(self.release_leaves.events(items, ids, version_of))
                except BaseException:
                    self._parts, self._regions, self._region_family, self._ledger = kept
                    raise
            return ids

    def trial_verdicts(
        self, items: Sequence[PendingRelease], groups: Sequence[Sequence[PendingRelease]], guard: GrantGuard | None = None,
    ) -> list[bool | None]:
        with self._database_lock:
            events = getattr(self, "events_recorder", None)
            if guard is not None and events is not None:
                guard.require(events.register_version() or 0)
            kept = (self._parts, self._regions, self._region_family, self._ledger)
            try:
                self._parts, self._regions, self._region_family, self._ledger = (
                    dict(self._parts), dict(self._regions), dict(self._region_family), list(self._ledger))
                read: list[Refiner] = []
                for item in items:
                    self._record_one(watched(item, read))
                after = (self._parts, self._regions, self._region_family, self._ledger)
                verdicts: list[bool | None] = []
                for group in groups:  # each on top of the items, then put back as they left it
                    self._parts, self._regions, self._region_family, self._ledger = (
                        dict(after[0]), dict(after[1]), dict(after[2]), list(after[3]))
                    verdicts.append(group_verdict(group, read, self._record_one))
                return verdicts
            finally:  # a trial: everything as it was
                self._parts, self._regions, self._region_family, self._ledger = kept

    def _record_one(self, item: PendingRelease) -> int:
        family = item.family
        earlier = [r["k"] for r in self._ledger if r["family"] == family]
        refiner = item.refine(len(earlier) + 1, max(earlier, default=0))
        keys = list(item.keys)
        new_parts: dict[str, list[Block]] = {}
        for i in range(0, len(keys), self.release_page):
            chunk = keys[i:i + self.release_page]
            new_parts.update(refiner.page(chunk, {key: list(self._parts[key]) for key in chunk if key in self._parts}))
        regions = {sig: self._regions[sig] for sig in refiner.regions_to_read if sig in self._regions}
        put, drop = refiner.finish(regions)  # raises: nothing written
        self._parts.update(new_parts)
        for sig in drop:
            self._regions.pop(sig, None)
        self._regions.update((b.sig, b) for b in put)
        self._region_family.update((b.sig, family) for b in put)
        rel = item.internal
        self._ledger.append({"family": family, "query": item.query, "rows": rel.published().rows,
                             "k": rel.policy.k, "at": item.at, "analyst": item.analyst,
                             "level": level_text(rel.level.time, rel.level.unit_depth), "total": rel.total})
        return len(self._ledger)

    def ledger_rows(self) -> dict[int, LedgerRow]:
        with self._database_lock:
            return {n: LedgerRow(n, r["at"], r["analyst"], r["family"], dict(r["query"]), r["k"], r["level"], r["total"],
                                 tuple((dict(row.dims), row.value, row.status) for row in r["rows"]))
                    for n, r in enumerate(self._ledger, start=1)}

    def regions(self, family: str) -> dict[str, Block]:
        with self._database_lock:
            return {sig: b for sig, b in self._regions.items() if self._region_family.get(sig) == family}

    def parts(self, family: str) -> dict[str, list[Block]]:
        with self._database_lock:
            return {key: list(blocks) for key, blocks in self._parts.items() if key.startswith(f'["{family}"')}

    def dp_answer(self, key: str) -> str | None:
        with self._database_lock:
            return self._dp_answers.get(key)

    def record_dp_answer(self, key: str, document: str, leaf: PendingDpLeaf | None = None) -> str:
        with self._database_lock:
            if key not in self._dp_answers and leaf is not None and self.release_leaves is not None:
                recorder = self.release_leaves.recorder  # logged first: if it fails, no answer either

                def version_of(log_id: Any) -> int:
                    last = recorder.select_events(log_id, desc=True, limit=1)
                    return int(last[0].originator_version) if last else 0

                recorder.insert_events(self.release_leaves.dp_events(key, leaf, version_of))
            return self._dp_answers.setdefault(key, document)


class MemoryDirectoryView(POPOTrackingRecorder, DirectoryView):
    """The directory in memory: one entry per engagement and cohort."""

    def __init__(self) -> None:
        super().__init__()
        self._entries: dict[str, Entry] = {}

    def save(self, entries: Sequence[Entry], tracking: Tracking) -> None:
        with self._database_lock:
            self._assert_tracking_uniqueness(tracking)
            self._entries.update((e.id, e) for e in entries)
            self._insert_tracking(tracking)

    def entries(self, ids: Iterable[str]) -> dict[str, Entry]:
        with self._database_lock:
            return {i: self._entries[i] for i in set(ids) if i in self._entries}

    def listing(self, kind: str | None = None) -> list[Entry]:
        with self._database_lock:
            chosen = [e for e in self._entries.values() if kind is None or e.kind == kind]
        return sorted(chosen, key=lambda e: e.position)

    def clear(self) -> None:
        with self._database_lock:
            self._entries.clear()
            self._max_tracking_ids.pop(DIRECTORY, None)
