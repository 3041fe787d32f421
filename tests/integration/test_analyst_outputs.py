"""What an analyst receives carries released values and the policy only.

Every analyst entry point (the analyst service's summary, activity, testimonials, trends and
differentially private releases; the synthesis note's data; testimonial quotes; the rows and
documents the CLI writes from them) is called on a store recorded by ``etrack demo``, and every
object it returns is walked, attribute by attribute and recursively (attrs fields, dataclass
fields, ``__dict__``, slots, public properties, dicts, lists, tuples, sets). Nothing reached may
be the id of anything stored (a person, an engagement, a cohort), its pseudonym, or a
suppression reason.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest

from engagement_tracker.adapters.bootstrap import analyst_service, open_tracker
from engagement_tracker.adapters.cli.rows import dp_rows, trend_rows
from engagement_tracker.adapters.cli.rows import release_rows as cli_release_rows
from engagement_tracker.adapters.demo import ScriptedClock, access_actor, seed
from engagement_tracker.adapters.pages.synthesis import synthesis_data
from engagement_tracker.domain import EngagementTracker, EtrackError
from engagement_tracker.projections.analytics import pseudonym, release_document, release_rows
from engagement_tracker.projections.anonymity import Release
from engagement_tracker.projections.privacy import DpRelease

#: Names an analyst's object may not have: what decided a release stays inside the service.
INTERNAL_NAMES = frozenset({"reason", "reasons", "population", "persons", "sources", "facts", "tallies"})
LEAVES = (str, bytes, int, float, bool, type(None), datetime)


def walk(obj: object, path: str = "", seen: set[int] | None = None) -> Iterator[tuple[str, object]]:
    """Every (path, value) reachable from ``obj``: each name (attribute or key) and each leaf."""
    seen = set() if seen is None else seen
    if isinstance(obj, LEAVES):
        yield path, obj
        return
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield f"{path}[{key!r}]", key
            yield from walk(value, f"{path}[{key!r}]", seen)
        return
    if isinstance(obj, list | tuple | set | frozenset):
        for i, value in enumerate(obj):
            yield from walk(value, f"{path}[{i}]", seen)
        return
    names: dict[str, None] = {}
    if attrs.has(type(obj)):
        names.update((f.name, None) for f in attrs.fields(type(obj)))
    if dataclasses.is_dataclass(obj):
        names.update((f.name, None) for f in dataclasses.fields(obj))
    names.update((n, None) for n in getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        names.update((n, None) for n in getattr(cls, "__slots__", ()) if isinstance(n, str))
    names.update((n, None) for n in dir(type(obj)) if not n.startswith("_")
                 and isinstance(getattr(type(obj), n, None), property))
    for name in names:
        value = getattr(obj, name)
        if callable(value) and not attrs.has(type(value)):
            continue
        yield f"{path}.{name}", name
        yield from walk(value, f"{path}.{name}", seen)


def forbidden_strings(app: EngagementTracker) -> dict[str, str]:
    """Every stored aggregate's id (as text and as hex) and its pseudonym -> what it is."""
    found: dict[str, str] = {}
    for n in app.recorder.select_notifications(1, 1_000_000):
        ident = str(n.originator_id)
        hexa = ident.replace("-", "")
        found.update({ident: f"id {ident}", hexa: f"id {ident}", pseudonym(ident): f"pseudonym of {ident}"})
    return found


def leaks(obj: object, forbidden: dict[str, str], own: frozenset[str] = frozenset()) -> list[str]:
    found = []
    for path, value in walk(obj):
        if isinstance(value, str):
            if value in INTERNAL_NAMES:
                found.append(f"{path}: an internal name")
            for text, what in forbidden.items():
                if text in value and text not in own:
                    found.append(f"{path}: {what}")
    return found


@pytest.fixture
def demo(durable_store_url: str) -> Iterator[EngagementTracker]:
    clock = ScriptedClock(datetime(2026, 1, 1, tzinfo=UTC))
    app = open_tracker(durable_store_url, clock=clock)
    seed(app, clock)
    yield app
    app.close()


def answers(app: EngagementTracker) -> list[tuple[str, object]]:
    """What every analyst entry point returns on the demo (a refusal: its message)."""
    service = analyst_service(app)
    analyst = access_actor("analyst")
    app.budgets.grant(analyst.party, 5.0, access_actor("admin"))
    got: list[tuple[str, object]] = []

    def ask(name: str, call: Callable[[], object]) -> object:
        try:
            value = call()
        except EtrackError as exc:  # a refusal is an answer too: its message names no one
            got.append((f"{name} (refused)", str(exc)))
            return None
        got.append((name, value))
        return value

    asks: list[tuple[str, Callable[[], object]]] = [
        ("summary", lambda: service.summary(analyst)),
        ("summary Finance", lambda: service.summary(analyst, ["theme"], unit="Finance", period="year")),
        ("summary context", lambda: service.summary(analyst, ["context", "period"], period="quarter")),
        ("summary unit", lambda: service.summary(analyst, ["unit"], period="year")),
        ("activity", lambda: service.activity(analyst)),
        ("activity unit", lambda: service.activity(analyst, ["metric", "unit"], period="year")),
        ("testimonials", lambda: service.testimonials(analyst)),
        ("trends", lambda: service.trends(analyst, period="quarter")),
        ("summary dp", lambda: service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=1.0)),
        ("summary dp again", lambda: service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=1.0)),
        ("trends dp", lambda: service.trends(analyst, period="quarter", privacy="dp", epsilon=1.0)),
        ("quotes", lambda: app.engagements.testimonial_quotes(analyst)),
        ("synthesis 2026", lambda: synthesis_data(service, analyst, "2026",
                                                 quotes_of=lambda: app.engagements.testimonial_quotes(analyst))),
        ("synthesis 2026-Q2", lambda: synthesis_data(service, analyst, "2026-Q2")),
    ]
    for name, call in asks:
        value = ask(name, call)
        if isinstance(value, Release):  # what the CLI writes of it (table, CSV, JSON, JSONL, Parquet rows)
            got += [(f"{name} rows", release_rows(value)), (f"{name} cli rows", cli_release_rows(value)),
                    (f"{name} document", release_document(value))]
        elif isinstance(value, DpRelease):
            got += [(f"{name} rows", dp_rows(value)), (f"{name} document", value.to_document())]
        elif isinstance(value, list) and name.startswith("trends"):
            got.append((f"{name} rows", trend_rows(value)))
    return got


def test_nothing_an_analyst_receives_names_a_person_a_source_or_a_reason(demo: EngagementTracker) -> None:
    forbidden = forbidden_strings(demo)
    assert len(forbidden) > 100  # the demo's parties, engagements and cohorts
    got = answers(demo)
    kinds = {type(v).__name__ for _, v in got}
    assert {"Release", "DpRelease", "list", "dict"} <= kinds  # the walk reached every kind of answer
    finance = dict(got)["summary Finance"]
    assert isinstance(finance, Release) and not finance.rows  # too few persons: nothing, and no one named
    problems = [f"{name}{leak}" for name, value in got for leak in leaks(value, forbidden)]
    assert problems == []


def test_the_walk_finds_what_a_release_must_not_carry(demo: EngagementTracker) -> None:
    """The check can fail: the internal release (kept inside the service) is caught on every count."""
    from engagement_tracker.projections.anonymity import Level, Policy, Tallies, release

    service = analyst_service(demo)
    service.analytics.catch_up()
    internal = release(Tallies(service.analytics.view.tally_rows("signal")), ["theme"], Policy(k=5), Level("year"))
    found = leaks(internal, forbidden_strings(demo))
    assert any(".population" in f and "an internal name" in f for f in found)
    assert any(".population[" in f and ": id " in f for f in found)  # the persons behind it
    assert any(".reason" in f for f in found)
    assert leaks(internal.published(), forbidden_strings(demo)) == []


def test_the_budget_read_names_only_its_reader(demo: EngagementTracker) -> None:
    """An analyst's own budget names the analyst (the reader), and no one else."""
    analyst = access_actor("analyst")
    budget = demo.budgets.balance(analyst)
    assert budget["analyst"] == str(analyst.party)
    assert leaks(budget, forbidden_strings(demo), own=frozenset({str(analyst.party)})) == []


def test_what_the_cli_writes_for_an_analyst_names_no_one(tmp_path: Path) -> None:
    """Every analyst command of ``etrack`` on the demo, in JSON, CSV, Parquet and the synthesis note:
    no stored id, no pseudonym, no internal name (a refusal: an exit code and a message, no traceback)."""
    root = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}

    def etrack(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", *args], cwd=tmp_path,
                              capture_output=True, text=True, env=env)

    assert etrack("demo").returncode == 0
    analyst, boss = str(access_actor("analyst")), str(access_actor("admin"))
    assert etrack("privacy-budget", "grant", analyst.split(":", 1)[1], "3", "--as", boss).returncode == 0
    runs = {
        "summary": ("signals", "summary", "--format", "json"),
        "summary Finance": ("signals", "summary", "--unit", "Finance", "--by", "theme", "--period", "year",
                            "--format", "json"),
        "summary csv": ("signals", "summary", "--by", "unit", "--period", "year", "--format", "csv"),
        "trends": ("signals", "trends", "--period", "quarter", "--format", "json"),
        "dp": ("signals", "summary", "--by", "theme", "--period", "year", "--privacy", "dp", "--epsilon", "1",
               "--format", "json"),
        "dp trends": ("signals", "trends", "--period", "quarter", "--privacy", "dp", "--epsilon", "1",
                      "--format", "json"),
        # over Q1: the whole year's activity is closed once the calendar recorded Q3 (the demo's tick)
        "activity": ("activity", "--since", "2026-01", "--until", "2026-03", "--format", "json"),
        "activity parquet": ("activity", "--by", "metric,unit", "--period", "quarter", "--since", "2026-01",
                             "--until", "2026-03", "--format", "parquet", "--out", str(tmp_path / "activity.parquet")),
        "ratings": ("testimonials", "ratings", "--format", "json"),
        "quotes": ("testimonials", "quotes", "--format", "json"),
        "synthesis": ("report", "synthesis", "--period", "2026", "--out", str(tmp_path / "note.html")),
    }
    got: dict[str, object] = {}
    for name, args in runs.items():
        proc = etrack(*args, "--as", analyst)
        assert "Traceback" not in proc.stderr, (name, proc.stderr)
        assert proc.returncode in (0, 3), (name, proc.returncode, proc.stderr)  # 3: refused (the region rule)
        got[f"{name} stderr"] = proc.stderr
        if proc.returncode:
            continue
        if "json" in args:
            got[name] = json.loads(proc.stdout)
        elif "csv" in args:
            got[name] = list(csv.DictReader(io.StringIO(proc.stdout)))
        else:
            got[f"{name} stdout"] = proc.stdout
    import pyarrow.parquet as pq

    got["activity parquet file"] = pq.read_table(tmp_path / "activity.parquet").to_pylist()
    got["synthesis file"] = (tmp_path / "note.html").read_text()
    assert {"summary", "summary Finance", "dp", "activity", "ratings", "quotes"} <= set(got)
    finance = got["summary Finance"]  # too few persons: no released cell, and no one named
    assert isinstance(finance, list) and all(r["status"] != "released" for r in finance)
    app = open_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", create=False)
    try:
        forbidden = forbidden_strings(app)
    finally:
        app.close()
    assert [f"{name}{leak}" for name, value in got.items() for leak in leaks(value, forbidden)] == []
