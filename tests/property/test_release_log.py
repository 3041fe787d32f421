"""The release ledger and the audit log's release leaves always agree (issue #24, item 6).

Random facts and random sequences of releases, refusals, commands of several releases, commands
that fail after asking, and plans (trials), by two analysts, on the memory store and an SQLite
file and PostgreSQL: after every step each ledger row has exactly one ``ReleaseLog.Released`` leaf that states
it (who, when, shape, k, the digest of its rows), and a refused or failed call, or a plan,
adds no leaf.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import InvalidInput
from engagement_tracker.domain.errors import DisclosureRisk, PeriodCut
from engagement_tracker.domain.release_log import ReleaseLog
from engagement_tracker.projections.outputs import rows_of
from engagement_tracker.projections.release_ledger import check_ledger, rows_digest
from tests.conftest import POSTGRES_URL, _drop_schema
from tests.property.test_release_regions import dataset, facts, queries
from tests.regions_harness import ANALYST, OTHER_ANALYST, Harness
from tests.support import new_tracker

steps = st.lists(st.one_of(facts.map(lambda f: ("facts", f)), queries.map(lambda q: ("query", q)),
                           queries.map(lambda q: ("other", q)), queries.map(lambda q: ("plan", q)),
                           st.lists(queries, min_size=2, max_size=3).map(lambda qs: ("batch", qs)),
                           st.lists(queries, min_size=1, max_size=3).map(lambda qs: ("failing", qs))),
                 min_size=2, max_size=10)


class Failed(Exception):
    """What a command raises after asking its releases (a page that could not be written)."""


def agree(h: Harness) -> int:
    """The ledger and the log's leaves agree, row for leaf; returns how many leaves there are."""
    leaves = bootstrap.release_leaves(h.app)
    logged = list(leaves.logged())
    ledger = h.view.ledger_rows()
    assert check_ledger(logged, ledger) == ([], 0)
    assert sorted(int(leaf.fields["release"]) for leaf in logged) == sorted(ledger)
    for analyst in (ANALYST, OTHER_ANALYST):  # each analyst's log: versions 1, 2, ... with no gap
        versions = [int(s.originator_version) for s in h.app.recorder.select_events(ReleaseLog.id_for(analyst.party))]
        assert versions == list(range(1, len(versions) + 1))
    return len(logged)


def ask(h: Harness, analyst: Any, query: dict[str, Any]) -> None:
    try:
        rel = h.summary(analyst, **query)
    except (DisclosureRisk, InvalidInput, PeriodCut):
        return
    if rel.rows:  # recorded: its leaf carries the digest of the rows the analyst received
        last = list(bootstrap.release_leaves(h.app).logged())[-1]
        assert last.fields["rows_sha256"] == rows_digest(rows_of(rel))
        assert last.fields["analyst"] == str(analyst.party)


def _url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """A fresh store of ``backend`` for one example: its URL, and the PostgreSQL schema to drop after."""
    if backend == "memory":
        return "memory:", None
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'p{uuid.uuid4().hex}.sqlite'}", None
    request.getfixturevalue("postgres_available")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    return f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}", schema


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(first=dataset, plan=steps)
def test_the_ledger_and_the_release_leaves_always_agree(backend: str, tmp_path: Path, request: pytest.FixtureRequest,
                                                       first: Any, plan: Any) -> None:
    url, schema = _url(backend, tmp_path, request)
    app = new_tracker(url)
    try:
        h = Harness.open(app, bootstrap.analytics(app).view, calendar=False)
        h.add(first)
        for kind, step in plan:
            before_rows, before_leaves = len(h.view.ledger_rows()), agree(h)
            if kind == "facts":
                h.add(step)
            elif kind in ("query", "other"):
                ask(h, ANALYST if kind == "query" else OTHER_ANALYST, step)
            elif kind == "plan":  # trials only: nothing recorded
                h.service.plan(ANALYST, "2026")
                assert agree(h) == before_leaves
            elif kind == "batch":
                h.batch(OTHER_ANALYST, step)
            else:  # a command that fails after asking: none of its releases, no leaf

                def build(queries: list[dict[str, Any]] = step) -> None:
                    for query in queries:
                        try:
                            h.service.summary(ANALYST, **query)
                        except (DisclosureRisk, InvalidInput, PeriodCut):
                            continue
                    raise Failed

                with pytest.raises(Failed):
                    h.service.atomically(build)
                assert len(h.view.ledger_rows()) == before_rows
            after = agree(h)
            assert after - before_leaves == len(h.view.ledger_rows()) - before_rows  # one leaf per row recorded
        event(f"{min(agree(h), 3)}+ releases logged")
    finally:
        app.close()
        if schema is not None:
            _drop_schema(schema)
