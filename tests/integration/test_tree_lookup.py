"""The stored audit tree is read by key: SQLite searches its primary key for each node asked (a
scan of the whole tree on every projected page made rebuild's cost per event grow with the
trail), and every backend answers the same nodes, however many are asked at once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engagement_tracker.adapters import bootstrap
from engagement_tracker.projections.audit_tree import frontier_keys
from tests.support import Cast, drive, new_tracker, open_engagement


def test_nodes_are_searched_by_key_and_every_one_asked_is_answered(tmp_path: Path) -> None:
    path = tmp_path / "tree.sqlite"
    app, memory = new_tracker(f"sqlite:///{path}"), new_tracker("memory:")
    try:
        for tracker in (app, memory):
            cast = Cast.register(tracker)
            for _ in range(10):
                drive(tracker, cast, open_engagement(tracker, cast), "accompaniment.in_progress")
        trail = bootstrap.audit_trail(app)
        trail.catch_up()
        view = trail.view
        with sqlite3.connect(path) as db:
            stored = {(int(r[0]), int(r[1])): bytes(r[2]) for r in db.execute("SELECT level, idx, hash FROM audit_tree")}
        assert len(stored) > 250  # more than one chunk of keys
        asked = [*stored, (0, 10**9), (40, 0)]  # and two that do not exist
        assert view.nodes(asked) == stored
        assert view.leaf_count() == sum(1 for level, _ in stored if level == 0)
        assert set(view.nodes(frontier_keys(view.leaf_count()))) == set(frontier_keys(view.leaf_count()))

        statements: list[str] = []
        with view.datastore.transaction(commit=False) as c:
            c.sqlite_cursor.connection.set_trace_callback(statements.append)
        try:
            view.nodes(frontier_keys(view.leaf_count()))
        finally:
            with view.datastore.transaction(commit=False) as c:
                c.sqlite_cursor.connection.set_trace_callback(None)
        lookup = [s for s in statements if "audit_tree" in s]
        assert lookup
        with sqlite3.connect(path) as db:
            plan = " ".join(str(row[3]) for s in lookup for row in db.execute(f"EXPLAIN QUERY PLAN {s}"))
        assert "SEARCH audit_tree USING PRIMARY KEY" in plan and "SCAN audit_tree" not in plan, plan

        memory_trail = bootstrap.audit_trail(memory)
        memory_trail.catch_up()
        size = memory_trail.view.leaf_count()
        assert size == memory.recorder.max_notification_id()
        assert set(memory_trail.view.nodes(frontier_keys(size))) == set(frontier_keys(size))
    finally:
        app.close()
        memory.close()
