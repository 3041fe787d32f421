"""Every release is a leaf of the audit log, and an auditor lists and proves them (issue #24, item 6).

On the demo's store (an SQLite file and a PostgreSQL schema), through the console script: a
release's leaf states who, when, the shape, k and the digest of the very rows the analyst
received (recomputed here from the JSON the analyst got); a refused or failed command and a plan
add no leaf; a ledger row changed, deleted or added in the database behind the service is named
by ``audit verify`` with its position; an analyst's bundle (``audit prove --releases``) holds
offline, and fails once a release in it is altered.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.audit import load_signing_key
from engagement_tracker.adapters.cli import main
from engagement_tracker.adapters.demo import access_actor
from engagement_tracker.adapters.storage import parse_url, postgres_conninfo
from engagement_tracker.domain import DisclosureRisk, EngagementTracker
from engagement_tracker.domain.privacy_budget import PrivacyBudget
from engagement_tracker.domain.release_log import ReleaseLog
from engagement_tracker.projections.audit_trail import public_key_hex
from engagement_tracker.projections.release_ledger import RELEASED_TOPIC, rows_digest
from tests.support import new_tracker

ANALYST, AUDITOR = access_actor("analyst"), access_actor("auditor")
AS_ANALYST, AS_AUDITOR = f"analyst:{ANALYST.party}", f"auditor:{AUDITOR.party}"


def etrack(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    """Run the console script in this process on ``url``: its exit status, stdout and stderr."""
    try:
        main(["--db", url, *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out, captured.err


@pytest.fixture
def demo(durable_store_url: str, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[str, EngagementTracker]]:
    code, _, err = etrack(capsys, durable_store_url, "demo")
    assert code == 0, err
    app = new_tracker(durable_store_url)
    try:
        yield durable_store_url, app
    finally:
        app.close()


def listed(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> list[dict[str, Any]]:
    code, out, err = etrack(capsys, url, "audit", "releases", "--as", AS_AUDITOR, "--format", "json", *args)
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def released(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> list[dict[str, Any]]:
    """An analyst's summary as JSON (the rows received)."""
    code, out, err = etrack(capsys, url, "signals", "summary", "--as", AS_ANALYST, "--format", "json", *args)
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def test_a_release_is_a_leaf_stating_the_rows_the_analyst_received(
        demo: tuple[str, EngagementTracker], capsys: pytest.CaptureFixture[str]) -> None:
    url, app = demo
    before = listed(capsys, url)
    rows = released(capsys, url, "--by", "theme")
    after = listed(capsys, url)
    assert len(after) == len(before) + 1
    leaf = after[-1]
    assert (leaf["analyst"], leaf["family"], leaf["by"], leaf["k"], leaf["rows"]) == (
        str(ANALYST.party), "signal", "theme", 5, len(rows))
    assert leaf["rows_sha256"] == rows_digest(rows)  # recomputed from what the analyst received
    assert listed(capsys, url, "--analyst", str(ANALYST.party)) == [r for r in after if r["analyst"] == str(ANALYST.party)]
    assert listed(capsys, url, "--since", "2999-01-01") == []
    # the leaf is the trail's entry at that position: the analyst named as its actor
    entries = {e.position: e for e in app.audit.entries(AUDITOR, leaf["position"], 1)}
    entry = entries[leaf["position"]]
    assert (entry.topic, entry.actor, entry.role) == (RELEASED_TOPIC, str(ANALYST.party), "analyst")
    assert app.audit.verify(AUDITOR).ok
    # no released value is in the leaf's stored state
    states = bootstrap.release_leaves(app).stored_states(ANALYST.party)
    state = json.loads(states[entry.version])
    assert "value" not in state and not any(isinstance(v, dict) and "value" in v for v in state.values())


def test_a_refused_or_failed_command_or_a_plan_adds_no_leaf(
        demo: tuple[str, EngagementTracker], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url, _ = demo
    before = listed(capsys, url)
    for args, status in ((["signals", "summary", "--as", AS_ANALYST, "--k", "2"], 2),  # below the floor
                         (["signals", "summary", "--as", AS_ANALYST, "--out", str(tmp_path / "missing" / "s.csv")], 2),
                         (["report", "synthesis", "--period", "2026-Q3", "--as", AS_ANALYST, "--out",
                           str(tmp_path / "missing" / "n.html")], 2),
                         (["releases", "plan", "--period", "2026-Q3", "--as", AS_ANALYST], 0)):  # trials only
        assert etrack(capsys, url, *args)[0] == status, args
        assert listed(capsys, url) == before, args
    released(capsys, url, "--by", "context")  # and one that works: the count can move
    assert len(listed(capsys, url)) == len(before) + 1


def _execute(url: str, sqlite_sql: str, pg_sql: str, *params: Any) -> None:
    """Run a statement in the store's database behind the service's back."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(sqlite_sql, params)
        return
    config = parse_url(url)
    with psycopg.connect(postgres_conninfo(config), autocommit=True) as conn:
        conn.execute(SQL(pg_sql).format(Identifier(config.schema)), params)


TAMPERING = {
    "k": ("UPDATE release_ledger SET k = k + 1 WHERE id = ?",
          "UPDATE {}.etrack_release_ledger SET k = k + 1 WHERE id = %s", "ledger_modified", "k"),
    "a released value": ("UPDATE released_rows SET value = value + 1 WHERE release_id = ? AND value IS NOT NULL",
                         "UPDATE {}.etrack_released_rows SET value = value + 1 WHERE release_id = %s "
                         "AND value IS NOT NULL", "ledger_modified", "rows_sha256"),
    "a deleted row": ("DELETE FROM release_ledger WHERE id = ?", "DELETE FROM {}.etrack_release_ledger WHERE id = %s",
                      "ledger_deleted", "gone"),
}


@pytest.mark.parametrize("change", sorted(TAMPERING))
def test_a_ledger_row_changed_behind_the_service_is_named_with_its_position(
        demo: tuple[str, EngagementTracker], capsys: pytest.CaptureFixture[str], change: str) -> None:
    url, app = demo
    released(capsys, url, "--by", "theme")
    leaf = listed(capsys, url)[-1]
    assert app.audit.verify(AUDITOR).ok
    sqlite_sql, pg_sql, kind, named = TAMPERING[change]
    _execute(url, sqlite_sql, pg_sql, leaf["release"])
    report = app.audit.verify(AUDITOR)
    assert not report.ok
    fault = report.first
    assert (fault.position, fault.kind) == (leaf["position"], kind)
    assert f"release {leaf['release']}" in fault.detail and named in fault.detail
    code, out, _ = etrack(capsys, url, "audit", "verify", "--as", AS_AUDITOR, "--json")
    assert code == 1 and json.loads(out)["first_bad_position"] == leaf["position"]


def test_a_row_added_to_the_ledger_behind_the_service_is_named(
        demo: tuple[str, EngagementTracker], capsys: pytest.CaptureFixture[str]) -> None:
    url, app = demo
    released(capsys, url, "--by", "theme")
    leaf = listed(capsys, url)[-1]
    _execute(url, "INSERT INTO release_ledger (released_at, analyst, family, query, k, level, total, population) "
                  "SELECT released_at, analyst, family, query, k, level, total, population FROM release_ledger WHERE id = ?",
             "INSERT INTO {0}.etrack_release_ledger (released_at, analyst, family, query, k, level, total, population) "
             "SELECT released_at, analyst, family, query, k, level, total, population FROM {0}.etrack_release_ledger "
             "WHERE id = %s", leaf["release"])
    report = app.audit.verify(AUDITOR)
    assert [f.kind for f in report.faults] == ["ledger_inserted"]
    assert f"release {leaf['release'] + 1} " in report.faults[0].detail


def test_an_analysts_releases_are_proven_offline_and_an_altered_one_fails(
        demo: tuple[str, EngagementTracker], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url, _ = demo
    rows = released(capsys, url, "--by", "theme")
    key, bundle_path = tmp_path / "log.pem", tmp_path / "releases.json"
    assert etrack(capsys, url, "audit", "keygen", str(key))[0] == 0
    code, _, err = etrack(capsys, url, "audit", "prove", str(ANALYST.party), "--releases", "--as", AS_AUDITOR,
                          "--key", str(key), "--out", str(bundle_path))
    assert code == 0, err
    bundle = json.loads(bundle_path.read_text())
    mine = [e for e in bundle["entries"] if e.get("release")]
    assert mine and mine[-1]["release"]["rows_sha256"] == rows_digest(rows)
    assert {e["aggregate_id"] for e in bundle["grants"]["entries"]} == {bundle["grants"]["aggregate_id"]}
    trusted = public_key_hex(load_signing_key(str(key)).public_key())
    code, out, _ = etrack(capsys, url, "audit", "check-bundle", str(bundle_path), "--public-key", trusted)
    assert code == 0 and "holds" in out
    for alter in ("k", "rows_sha256", "state"):
        forged = json.loads(bundle_path.read_text())
        last = [e for e in forged["entries"] if e.get("release")][-1]
        if alter == "state":  # the stored record itself, rewritten to say k 2
            state = json.loads(base64.b64decode(last["state"]))
            state["k"] = 2
            last["state"] = base64.b64encode(json.dumps(state).encode()).decode()
        else:
            last["release"][alter] = 2 if alter == "k" else "0" * 64
        path = tmp_path / f"forged-{alter}.json"
        path.write_text(json.dumps(forged))
        code, out, _ = etrack(capsys, url, "audit", "check-bundle", str(path), "--public-key", trusted)
        assert code == 1 and "FAULT" in out, alter


def test_a_differentially_private_release_is_a_leaf_once_and_names_what_its_budget_paid(
        demo: tuple[str, EngagementTracker], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url, app = demo
    admin = access_actor("admin")
    assert etrack(capsys, url, "privacy-budget", "grant", str(ANALYST.party), "2", "--as", f"admin:{admin.party}")[0] == 0
    before = listed(capsys, url)
    rows = released(capsys, url, "--by", "theme", "--privacy", "dp", "--epsilon", "0.5")
    after = listed(capsys, url)
    assert len(after) == len(before) + 1
    leaf = after[-1]
    assert (leaf["privacy"], leaf["epsilon"], leaf["k"], leaf["release"], leaf["rows"]) == ("dp", 0.5, None, None,
                                                                                            len(rows))
    assert leaf["rows_sha256"] == rows_digest(rows)
    budget = app.repository.get(PrivacyBudget.id_for(ANALYST.party))
    assert leaf["answer"] in budget.paid  # the leaf names the query its budget paid for
    assert released(capsys, url, "--by", "theme", "--privacy", "dp", "--epsilon", "0.5") == rows  # asked again: free
    assert listed(capsys, url) == after  # and not logged again
    assert app.audit.verify(AUDITOR).ok
    key, bundle_path = tmp_path / "log.pem", tmp_path / "releases.json"
    assert etrack(capsys, url, "audit", "keygen", str(key))[0] == 0
    code, _, err = etrack(capsys, url, "audit", "prove", str(ANALYST.party), "--releases", "--as", AS_AUDITOR,
                          "--key", str(key), "--out", str(bundle_path))
    assert code == 0, err
    bundle = json.loads(bundle_path.read_text())
    assert [e["event_type"] for e in bundle["budget"]["entries"]][-1] == "BudgetSpent"
    trusted = public_key_hex(load_signing_key(str(key)).public_key())
    assert etrack(capsys, url, "audit", "check-bundle", str(bundle_path), "--public-key", trusted)[0] == 0
    bundle["budget"]["entries"][-1]["actor"] = str(AUDITOR.party)  # a spend attributed to someone else
    bundle_path.write_text(json.dumps(bundle))
    assert etrack(capsys, url, "audit", "check-bundle", str(bundle_path), "--public-key", trusted)[0] == 1


DP_TAMPERING = {
    "a changed answer": ("dp_answer_modified", "differ"),
    "a deleted answer": ("dp_answer_deleted", "gone"),
    "a deleted spend": ("dp_unpaid", "no budget spend"),
}


@pytest.mark.parametrize("change", sorted(DP_TAMPERING))
def test_a_dp_answer_changed_behind_the_service_is_named_with_its_leaf_position(
        demo: tuple[str, EngagementTracker], capsys: pytest.CaptureFixture[str], change: str) -> None:
    """``audit verify`` checks DP leaves too: the answer a leaf names must be recorded, digest to the leaf's
    ``rows_sha256``, and be named by a budget spend of that analyst."""
    url, app = demo
    admin = access_actor("admin")
    assert etrack(capsys, url, "privacy-budget", "grant", str(ANALYST.party), "2", "--as", f"admin:{admin.party}")[0] == 0
    released(capsys, url, "--by", "theme", "--privacy", "dp", "--epsilon", "0.5")
    leaf = listed(capsys, url)[-1]
    assert leaf["privacy"] == "dp" and app.audit.verify(AUDITOR).ok
    key = leaf["answer"]
    if change == "a changed answer":  # one more (or one first) noisy cell: the rows no longer digest as logged
        document = json.loads(str(bootstrap.analytics(app).view.dp_answer(key)))
        document["rows"].append({"theme": "forged", "value": 999, "low_95": 990.0, "high_95": 1008.0})
        _execute(url, "UPDATE analytic_dp_answers SET document = ? WHERE key = ?",
                 "UPDATE {}.etrack_analytic_dp_answers SET document = %s WHERE key = %s", json.dumps(document), key)
    elif change == "a deleted answer":
        _execute(url, "DELETE FROM analytic_dp_answers WHERE key = ?",
                 "DELETE FROM {}.etrack_analytic_dp_answers WHERE key = %s", key)
    else:  # the budget's spend rewritten to name another query (what a deleted spend leaves: no spend names it)
        budget = app.repository.get(PrivacyBudget.id_for(ANALYST.party))
        table = str(app.recorder.events_table_name).rpartition(".")[2]  # type: ignore[attr-defined]
        if url.startswith("sqlite"):
            _execute(url, f"UPDATE {table} SET state = replace(state, ?, ?) WHERE topic = ?", "",
                     key.encode(), ("0" * 64).encode(), PrivacyBudget.BudgetSpent.TOPIC)
        else:
            _execute(url, "", f"UPDATE {{}}.{table} SET state = convert_to(replace(convert_from(state, 'UTF8'), "
                              "%s, %s), 'UTF8') WHERE topic = %s", key, "0" * 64, PrivacyBudget.BudgetSpent.TOPIC)
        assert key in budget.paid
    report = app.audit.verify(AUDITOR)
    kind, named = DP_TAMPERING[change]
    dp_faults = [f for f in report.faults if f.kind.startswith("dp_")]
    assert [(f.position, f.kind) for f in dp_faults] == [(leaf["position"], kind)]
    assert key[:12] in dp_faults[0].detail and named in dp_faults[0].detail


def _race(trackers: list[EngagementTracker], by: list[str]) -> list[BaseException]:
    """An exact and a DP release of ANALYST, asked at the same instant on two trackers: what went wrong."""
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def ask(tracker: EngagementTracker, dp: bool) -> None:
        barrier.wait()
        try:
            if dp:
                tracker.analysts.summary(ANALYST, by=by, privacy="dp", epsilon=0.5)
            else:
                tracker.analysts.summary(ANALYST, by=by)
        except DisclosureRisk:
            pass  # the region rule may refuse the exact one: a refusal, not a clash
        except Exception as exc:  # any other error fails the test: the caller reports it
            failures.append(exc)

    threads = [threading.Thread(target=ask, args=(trackers[0], False)), threading.Thread(target=ask, args=(trackers[1], True))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_an_exact_and_a_private_release_of_one_analyst_at_once_both_become_leaves(
        demo: tuple[str, EngagementTracker]) -> None:
    """The analyst's log version is read in the recording transaction, under what serialises the store's
    writers: two releases racing (an exact one and a DP one, which takes no ledger lock) never clash."""
    url, app = demo
    app.budgets.grant(ANALYST.party, 5.0, access_actor("admin"))
    trackers = [new_tracker(url), new_tracker(url)]
    try:
        before = len(app.audit.releases(AUDITOR, ANALYST.party))
        shapes = [["theme"], ["context"], ["theme", "context"]]
        for by in shapes:
            assert _race(trackers, by) == []
        logged = app.audit.releases(AUDITOR, ANALYST.party)
        assert sum(1 for r in logged[before:] if r["privacy"] == "dp") == len(shapes)
        assert app.audit.verify(AUDITOR).ok
        versions = [int(s.originator_version) for s in app.recorder.select_events(ReleaseLog.id_for(ANALYST.party))]
        assert versions == list(range(1, len(versions) + 1))
    finally:
        for t in trackers:
            t.close()
