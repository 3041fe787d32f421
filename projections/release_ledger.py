"""The release ledger as leaves of the audit log: a release's digest, its leaf's fields, and the check
that the ledger and the log agree (pure functions).

Every exact release recorded in the release ledger is also an event of the store
(``ReleaseLog.Released``, ``domain/release_log.py``), written in the ledger's transaction
(``adapters/release_leaves.py``): a leaf of the Merkle log like every other record. The event
names who (the analyst's party id), when, the family, the shape asked (``by``, ``unit``,
``period``, ``since``, ``until``), the level released at, ``k``, the ledger row's id, the
number of rows the analyst received and their digest; never a released value. A differentially
private release is logged the same way when its answer is first recorded (in that transaction),
with ``epsilon`` and ``answer``, the query's digest its budget paid for (``BudgetSpent.query``);
asking it again returns the recorded answer, spends nothing and logs nothing.

**The digest of the rows released** (``rows_sha256``), so that anyone holding the rows an
analyst received (``etrack analytics ... --format json``, or ``rows_of`` in Python: the cells
and the ``total`` row, every column) recomputes it::

    lines      = sorted(json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
                        for row in rows)
    rows_sha256 = sha256("".join(line + "\\n" for line in lines).encode("utf-8")).hexdigest()

(the rows sorted, so the order they were printed in does not matter).

:func:`check_ledger` compares the ledger's rows (and the released cells kept with them) with the
log's events: a row changed, deleted or added behind the service's back is a fault named by the
store position of its event (``audit verify``). Rows recorded before releases were logged (an
older store) have no event; they are counted, not faulted: only rows numbered after the first
logged release must each have theirs. :func:`check_dp_leaves` does the same for differentially private
releases: each DP leaf's recorded answer must exist and digest to its ``rows_sha256``, and a budget spend
of its analyst must name that answer (``audit verify``: faults ``dp_answer_deleted``,
``dp_answer_modified``, ``dp_unpaid``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from engagement_tracker.domain.dimensions import COLUMN_ORDER
from engagement_tracker.projections.audit_chain import Fault
from engagement_tracker.projections.outputs import columns, dp_rows, release_rows
from engagement_tracker.projections.privacy import DpRelease

#: The topic of a release's event (``ReleaseLog.Released``): what the check and the listing read.
RELEASED_TOPIC = "etrack:ReleaseLog.Released"
#: The fields of a release's event, beyond who (``actor``) and when (``timestamp``).
LEAF_FIELDS = ("release", "answer", "family", "privacy", "by", "unit", "period", "since", "until", "level", "k", "epsilon",
               "rho", "delta", "mechanism", "threshold", "rows", "rows_sha256")


def rows_digest(rows: Iterable[Mapping[str, Any]]) -> str:
    """SHA-256 of the rows an analyst received, in the canonical form the module's docstring gives."""
    lines = sorted(json.dumps(dict(row), sort_keys=True, separators=(",", ":"), ensure_ascii=True) for row in rows)
    return hashlib.sha256("".join(line + "\n" for line in lines).encode("utf-8")).hexdigest()


def level_text(time: str, unit_depth: int | None) -> str:
    """A release's level as the ledger keeps it: 'quarter/None', 'month/1'."""
    return f"{time}/{unit_depth}"


def leaf_fields(release: int, family: str, query: Mapping[str, Any], internal: Any) -> dict[str, Any]:
    """The fields of the event that logs release number ``release`` (``ReleaseLog.Released``): ``internal``
    is what decided it (``anonymity.InternalRelease``); only its published rows' digest is kept."""
    rel = internal.published()
    rows = release_rows(rel)
    return {"release": release, "answer": None, "family": family, "privacy": "exact", "by": list(query["by"]),
            "unit": query["unit"],
            "period": query["period"], "since": query["since"], "until": query["until"],
            "level": level_text(rel.level.time, rel.level.unit_depth), "k": rel.policy.k, "epsilon": None,
            "rho": None, "delta": None, "mechanism": None, "threshold": None, "rows": len(rows), "rows_sha256": rows_digest(rows)}


def dp_leaf_fields(answer: str, family: str, query: Mapping[str, Any], rel: Any) -> dict[str, Any]:
    """The fields of the event that logs a differentially private release (``privacy.DpRelease``) whose
    answer is recorded under ``answer`` (the query's digest, which the analyst's budget paid for)."""
    rows = dp_rows(rel)
    return {"release": None, "answer": answer, "family": family, "privacy": "dp", "by": list(query["by"]),
            "unit": query["unit"], "period": query["period"], "since": query["since"], "until": query["until"],
            "level": level_text(rel.level.time, rel.level.unit_depth), "k": None, "epsilon": rel.epsilon,
            "rho": rel.rho, "delta": rel.delta, "mechanism": rel.mechanism, "threshold": rel.threshold,
            "rows": len(rows), "rows_sha256": rows_digest(rows)}


def check_dp_leaves(logged: Iterable[LoggedRelease], answers: Mapping[str, str | None],
                    paid: Mapping[str, set[str]]) -> list[Fault]:
    """The faults where a DP release's leaf and what backs it disagree: its ``answer`` must name a recorded
    DP answer (``answers``: key -> its JSON document, None when gone) whose rows digest to the leaf's
    ``rows_sha256``, and a budget spend of that analyst naming it (``paid``: analyst -> the digests their
    ``BudgetSpent`` events name). Each fault is named by the store position of the leaf."""
    faults: list[Fault] = []
    for leaf in logged:
        f = leaf.fields
        if f["privacy"] != "dp":
            continue
        key = str(f["answer"])
        where = f"DP release {key[:12]} ({f['family']}, by {f['analyst']})"
        document = answers.get(key)
        if document is None:
            faults.append(Fault(leaf.position, "dp_answer_deleted", f"{where} is logged but its recorded answer is gone"))
        elif rows_digest(dp_rows(DpRelease.of_document(json.loads(document), repeated=False))) != f["rows_sha256"]:
            faults.append(Fault(leaf.position, "dp_answer_modified", f"{where}: the recorded answer's rows differ "
                                "from the rows its leaf logged (rows_sha256)"))
        if key not in paid.get(str(f["analyst"]), set()):
            faults.append(Fault(leaf.position, "dp_unpaid", f"{where} is logged but no budget spend of that analyst "
                                "names its answer"))
    return faults


@attrs.frozen
class LedgerRow:
    """A release as the ledger keeps it, with its released cells (dimensions, value, status)."""

    id: int
    released_at: str
    analyst: str
    family: str
    query: dict[str, Any]
    k: int
    level: str
    total: int | None
    cells: tuple[tuple[dict[str, Any], int | None, str], ...]

    def rows(self) -> list[dict[str, Any]]:
        """The rows the analyst received (``outputs.release_rows``), rebuilt from what the ledger keeps."""
        by = list(self.query.get("by") or [])
        dims = [d for d in COLUMN_ORDER if d in by]
        time, _, depth = self.level.partition("/")
        common = {"level": time, "unit_depth": None if depth in ("None", "") else int(depth), "k": self.k,
                  "privacy": "exact"}
        rows = [{"scope": "cell", **{d: cell.get(d) for d in dims}, "value": value, "status": status, **common}
                for cell, value, status in self.cells]
        rows.append({"scope": "total", **dict.fromkeys(dims), "value": self.total,
                     "status": "released" if self.total is not None else "suppressed", **common})
        return [{c: row[c] for c in columns(by)} for row in rows]

    def fields(self) -> dict[str, Any]:
        """What its event must say of it."""
        rows = self.rows()
        q = self.query
        return {"release": self.id, "answer": None, "family": self.family, "privacy": "exact", "by": list(q.get("by") or []),
                "unit": q.get("unit"), "period": q.get("period"), "since": q.get("since"), "until": q.get("until"),
                "level": self.level, "k": self.k, "epsilon": None, "rho": None, "delta": None, "mechanism": None,
                "threshold": None, "rows": len(rows), "rows_sha256": rows_digest(rows),
                "analyst": self.analyst, "released_at": self.released_at}


@attrs.frozen
class LoggedRelease:
    """A release's event as the store holds it: its position, and its fields (``event_fields``)."""

    position: int
    fields: dict[str, Any]


def event_fields(event: Any) -> dict[str, Any]:
    """A ``ReleaseLog.Released`` event's fields, as :meth:`LedgerRow.fields` names them."""
    fields = {name: getattr(event, name) for name in LEAF_FIELDS}
    fields["by"] = list(fields["by"])
    return {**fields, "analyst": str(event.actor.party), "released_at": event.timestamp.isoformat()}


def check_ledger(logged: Iterable[LoggedRelease], ledger: Mapping[int, LedgerRow]) -> tuple[list[Fault], int]:
    """The faults where the ledger and the log's releases disagree, and how many ledger rows predate the
    log (recorded before releases were logged: no event, no fault). DP leaves: :func:`check_dp_leaves`."""
    faults: list[Fault] = []
    seen: set[int] = set()
    first: int | None = None
    last_position = 0
    for leaf in logged:
        last_position = max(last_position, leaf.position)
        if leaf.fields["privacy"] != "exact":  # a DP release: its answer's table, not the ledger, keeps it
            continue
        release = int(leaf.fields["release"])
        first = release if first is None else min(first, release)
        seen.add(release)
        row = ledger.get(release)
        where = f"release {release} ({leaf.fields['family']}, by {leaf.fields['analyst']})"
        if row is None:
            faults.append(Fault(leaf.position, "ledger_deleted", f"{where} is logged but its ledger row is gone"))
            continue
        kept = row.fields()
        differ = [name for name in (*LEAF_FIELDS, "analyst", "released_at") if kept.get(name) != leaf.fields.get(name)]
        if differ:
            faults.append(Fault(leaf.position, "ledger_modified", f"{where}: the ledger row differs from its logged "
                                f"release in {', '.join(differ)}"))
    predating = 0
    for release in sorted(set(ledger) - seen):
        if first is not None and release > first:
            faults.append(Fault(last_position, "ledger_inserted", f"release {release} in the ledger "
                                f"({ledger[release].family}) was never logged: a row added behind the service"))
        else:
            predating += 1
    return faults, predating


__all__ = ["LEAF_FIELDS", "RELEASED_TOPIC", "LedgerRow", "LoggedRelease", "check_dp_leaves", "check_ledger",
           "dp_leaf_fields", "event_fields", "leaf_fields", "level_text", "rows_digest"]
