"""The tamper suite on both backends: a database-only insider (no record key) is found at the exact first position.

Every attack writes to the database directly, as someone holding its password but not the record
key would: modify, delete, insert (in the middle and at the end: a copied event given the next
version), swap, re-topic, edit and rebuild the trail, forge a checkpoint.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Actor, EngagementTracker, Role, StoreError
from tests.support import Cast, FakeClock, drive, granted, new_tracker, open_engagement

RECORD_KEY = secrets.token_bytes(32).hex()


class Store:
    """Raw SQL on the store of ``url``, as an insider with database access runs it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pg = url.startswith("postgresql")
        if self.pg:
            self.schema = url.split("schema=")[1]
            self.events, self.pos = f'"{self.schema}".etrack_events', "notification_id"
            self.trail = f'"{self.schema}".etrack_audit_trail'
        else:
            self.events, self.pos, self.trail = "stored_events", "rowid", "audit_trail"

    @contextmanager
    def sql(self) -> Iterator[Callable[..., Any]]:
        if self.pg:
            import psycopg

            from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

            with psycopg.connect(postgres_conninfo(parse_url(self.url))) as conn:
                yield lambda q, args=(): conn.execute(q.replace("?", "%s"), args)
        else:
            con = sqlite3.connect(self.url.removeprefix("sqlite:///"))
            try:
                with con:
                    yield con.execute
            finally:
                con.close()

    def rows(self) -> list[tuple[int, str]]:
        with self.sql() as run:
            return [(int(p), str(t)) for p, t in run(f"SELECT {self.pos}, topic FROM {self.events} ORDER BY 1")]

    def tamper(self, kind: str, p: int, q: int) -> None:
        ev, pos = self.events, self.pos
        with self.sql() as run:
            if kind == "modified":
                run(f"UPDATE {ev} SET state = state || ? WHERE {pos} = ?", (b" ", p))
            elif kind == "deleted":
                run(f"DELETE FROM {ev} WHERE {pos} = ?", (p,))
            elif kind == "retopic":
                run(f"UPDATE {ev} SET topic = 'etrack:Engagement.SessionHeld' WHERE {pos} = ?", (p,))
            elif kind == "reordered":
                run(f"UPDATE {ev} SET {pos} = -1 WHERE {pos} = ?", (p,))
                run(f"UPDATE {ev} SET {pos} = ? WHERE {pos} = ?", (p, q))
                run(f"UPDATE {ev} SET {pos} = ? WHERE {pos} = -1", (q,))
            elif kind == "inserted":  # a forged record slipped in at p, the rest shifted up
                run(f"UPDATE {ev} SET {pos} = {pos} + 1000000 WHERE {pos} >= ?", (p,))
                run(f"UPDATE {ev} SET {pos} = {pos} - 999999 WHERE {pos} >= 1000000")
                oid = uuid4() if self.pg else uuid4().hex
                run(f"INSERT INTO {ev} (originator_id, originator_version, topic, state, {pos}) SELECT ?, "
                    f"originator_version, topic, state, ? FROM {ev} WHERE {pos} = ?", (oid, p, p + 1))
            elif kind == "appended":  # the copied event, given its aggregate's next version, at the end
                run(f"INSERT INTO {ev} (originator_id, originator_version, topic, state) SELECT originator_id, "
                    f"originator_version + 1, topic, state FROM {ev} WHERE {pos} = ?", (p,))
            if self.pg and kind in ("reordered", "inserted"):  # the sequence goes on after the largest id
                run(f"SELECT setval(pg_get_serial_sequence('{ev}', 'notification_id'), "
                    f"(SELECT max(notification_id) FROM {ev}))")


def history(url: str) -> tuple[EngagementTracker, Actor, Cast]:
    app = new_tracker(url, FakeClock(), ETRACK_RECORD_KEY=RECORD_KEY)
    cast = Cast.register(app)
    for milestone in ("accompaniment.in_progress", "framing.coherence"):
        drive(app, cast, open_engagement(app, cast), milestone)
    auditor = granted(app, Role.AUDITOR, "Audit & Co")
    bootstrap.audit_trail(app).catch_up()
    return app, auditor, cast


def engagement_positions(store: Store) -> list[int]:
    return [p for p, topic in store.rows() if topic.startswith("etrack:Engagement.")]


def reopen(app: EngagementTracker, url: str) -> EngagementTracker:
    app.close()
    return new_tracker(url, FakeClock(), ETRACK_RECORD_KEY=RECORD_KEY)


CASES = ["modified", "deleted", "inserted", "reordered", "retopic", "appended", "appended_then_written",
         "rebuilt_trail", "inserted_at_the_end"]


@pytest.mark.parametrize("case", CASES)
def test_an_insider_without_the_record_key_is_found_at_the_exact_first_position(durable_store_url: str,
                                                                                   case: str) -> None:
    app, auditor, cast = history(durable_store_url)
    store = Store(durable_store_url)
    mine = engagement_positions(store)
    p, q = mine[3], mine[7]
    last = store.rows()[-1][0]
    if case in ("appended", "appended_then_written", "inserted_at_the_end"):
        # the last event of the second engagement, copied with the next version: its aggregate loads it
        p = max(mine)
        store.tamper("appended", p, 0)
        expected = (last + 1, "inserted")
    elif case == "rebuilt_trail":
        store.tamper("modified", p, 0)
        expected = (p, "modified")
    else:
        store.tamper(case, p, q)
        expected = (p, {"retopic": "modified"}.get(case, case))
    app = reopen(app, durable_store_url)
    service = bootstrap.audit_service(app)
    if case == "rebuilt_trail":
        service.trail.rebuild()  # the forger recomputes the whole trail around the edit
    if case.startswith("appended"):
        service.trail.catch_up()  # projected like any other record: the trail alone agrees with the store
    if case == "appended_then_written":
        open_engagement(app, cast)  # an ordinary write after the forgery: sealed, chained after the last seal
        service.trail.catch_up()
    report = service.verify(auditor).to_dict()
    app.close()
    assert not report["ok"]
    assert (report["first_bad_position"], report["kind"]) == expected, report["faults"][:4]
    assert report["sealed"] is not None and report["sealed"] > 0


def test_an_intact_store_verifies_with_its_seals_and_keeps_verifying_as_it_grows(durable_store_url: str) -> None:
    app, auditor, cast = history(durable_store_url)
    service = bootstrap.audit_service(app)
    report = service.verify(auditor)
    assert report.ok and report.sealed == report.checked > 0, report.to_dict()
    drive(app, cast, open_engagement(app, cast), "framing.diagnosis")
    service.trail.catch_up()
    grown = service.verify(auditor)
    assert grown.ok and grown.sealed == grown.checked > report.checked
    app.close()


def test_a_wrong_record_key_is_refused_at_open_and_fails_verify_at_the_first_record(
        durable_store_url: str) -> None:
    app, auditor, _ = history(durable_store_url)
    app.close()
    wrong_key = secrets.token_bytes(32).hex()
    with pytest.raises(StoreError, match="belongs to another store"):  # the store knows its key (store_files.py)
        new_tracker(durable_store_url, FakeClock(), ETRACK_RECORD_KEY=wrong_key)
    wrong = new_tracker(durable_store_url, FakeClock(), ETRACK_RECORD_KEY=RECORD_KEY)
    wrong.recorder.record_key = bytes.fromhex(wrong_key)  # type: ignore[attr-defined]  # past the open's check
    report = bootstrap.audit_service(wrong).verify(auditor).to_dict()
    wrong.close()
    first = Store(durable_store_url).rows()[0][0]
    assert (report["first_bad_position"], report["kind"]) == (first, "inserted")


def test_a_forged_checkpoint_is_refused(durable_store_url: str) -> None:
    app, auditor, _ = history(durable_store_url)
    service = bootstrap.audit_service(app)
    key = Ed25519PrivateKey.generate()
    checkpoint = service.checkpoint(auditor, key)
    body, _, signatures = checkpoint["note"].partition("\n\n")
    origin, size, root = body.split("\n")
    for forged in (f"{origin}\n{int(size) - 1}\n{root}\n\n{signatures}",  # the size rewritten under the old signature
                   # the root rewritten (its first character changed: "A" unless it was one already)
                   checkpoint["note"].replace(root, ("B" if root.startswith("A") else "A") + root[1:])):
        report = service.verify(auditor, {"note": forged}, key.public_key()).to_dict()
        assert report["kind"] == "bad_signature", report["faults"]
    other = service.checkpoint(auditor, Ed25519PrivateKey.generate())  # a real note, signed by another key
    assert service.verify(auditor, {"note": other["note"]}, key.public_key()).to_dict()["kind"] == "bad_signature"
    assert service.verify(auditor, {"note": checkpoint["note"]}, key.public_key()).ok
    app.close()


def test_removed_trail_entries_at_the_end_are_found_by_a_checkpoint(durable_store_url: str) -> None:
    """The seals chain ends earlier when the last records and their seals go: a checkpoint knows the size."""
    app, auditor, cast = history(durable_store_url)
    open_engagement(app, cast)  # the last record is an engagement's, not the auditor's grant
    service = bootstrap.audit_service(app)
    key = Ed25519PrivateKey.generate()
    checkpoint = service.checkpoint(auditor, key)
    store = Store(durable_store_url)
    last = store.rows()[-1][0]
    seals = f'"{store.schema}".etrack_record_seals' if store.pg else "record_seals"
    tracking = f'"{store.schema}".etrack_tracking' if store.pg else "tracking"
    with store.sql() as run:  # the record, its seal, its trail entry, and the trail's position: all consistent
        run(f"DELETE FROM {store.events} WHERE {store.pos} = ?", (last,))
        run(f"DELETE FROM {seals} WHERE position = ?", (last,))
        run(f"DELETE FROM {store.trail} WHERE position = ?", (last,))
        run(f"UPDATE {tracking} SET notification_id = ? WHERE notification_id = ?", (last - 1, last))
    app = reopen(app, durable_store_url)
    report = bootstrap.audit_service(app).verify(auditor, checkpoint, key.public_key()).to_dict()
    app.close()
    assert (report["first_bad_position"], report["kind"]) == (last, "deleted"), report["faults"]


def test_a_malformed_record_key_is_refused_before_anything_is_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from engagement_tracker.domain import InvalidInput

    for bad in ("abc", "00" * 31, "not base64 !!"):
        with pytest.raises(InvalidInput, match="ETRACK_RECORD_KEY"):
            new_tracker(f"sqlite:///{tmp_path / 'x.sqlite'}", FakeClock(), ETRACK_RECORD_KEY=bad)
    assert not (tmp_path / "x.sqlite-record-key").exists()
    from tests.integration.test_audit_proofs import etrack

    printed = etrack("new-record-key", cwd=tmp_path).stdout.strip()
    assert len(bytes.fromhex(printed)) == 32
