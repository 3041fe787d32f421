"""A cohort's metrics over time (domain/cohort_metrics.py): readings, targets, drifts, experiment effects."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_tracker.domain.cohort_metrics import DriftRule, band_of, drifts
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, RuleViolation
from engagement_tracker.domain.values import MetricReading
from tests.support import CohortCast, FakeClock, event_count, frame_cohort, new_tracker

D0 = date(2026, 2, 2)


@pytest.fixture
def tracker():
    app = new_tracker("memory:", FakeClock(), ETRACK_DRIFT_WINDOW="3", ETRACK_DRIFT_Z="2")
    yield app
    app.close()


def test_readings_targets_band_and_a_drift_in_the_cohort_view(tracker) -> None:
    cc = CohortCast.register(tracker)
    cid = frame_cohort(tracker, cc)
    c, m = tracker.cohorts, cc.members
    c.set_key_result_target(cid, m[1], 1, "M1", 72)
    for n, value in enumerate([100, 102, 98, 101]):
        c.record_reading(cid, m[n % 5], "M1", value, D0 + timedelta(days=7 * n))
    c.record_reading(cid, m[0], "M1", 130, D0 + timedelta(days=28))  # far outside the band of 102, 98, 101
    view = c.view(cid, m[2])
    series = view["metric_series"]["M1"]
    assert series["name"] == "lead time"
    assert series["readings"][0] == ((D0).isoformat(), 100.0) and len(series["readings"]) == 5
    assert series["target"] == {"key_result": 1, "target": 72.0, "due": "2026-06-30"}
    assert [d["value"] for d in series["drifts"]] == [130.0]
    assert series["band"]["window"] == 3 and series["band"]["z"] == 2.0
    assert view["metric_series"]["M2"]["readings"] == [] and c.metrics(cid, cc.coach) == view["metric_series"]


def test_at_a_ritual_only_its_metrics_keeper_records_and_refusals_write_nothing(tracker) -> None:
    cc = CohortCast.register(tracker)
    cid = frame_cohort(tracker, cc, start=False)
    c, m = tracker.cohorts, cc.members
    before = event_count(tracker)
    with pytest.raises(RuleViolation, match="accompaniment or closing"):
        c.record_reading(cid, m[0], "M1", 1, D0)
    c.start_accompaniment(cid, cc.coach)
    ritual = c.hold_ritual(cid, m[0], "metrics_review", D0, m[0].party, m[1].party, m[2].party, "checklist", "x").value
    before = event_count(tracker)
    with pytest.raises(NotPermitted, match=str(m[2].party)):
        c.record_reading(cid, m[0], "M1", 1, D0, ritual)
    with pytest.raises(NotPermitted):
        c.record_reading(cid, cc.coach, "M1", 1, D0)  # members read the metrics; the coach does not
    with pytest.raises(InvalidInput, match="known: M1, M2, M3"):
        c.record_reading(cid, m[0], "lead", 1, D0)
    with pytest.raises(InvalidInput, match="ritual"):
        c.record_reading(cid, m[2], "M1", 1, D0, 9)
    with pytest.raises(InvalidInput, match="known: 1"):
        c.set_key_result_target(cid, m[0], 7, "M1", 3)
    assert event_count(tracker) == before
    assert c.record_reading(cid, m[2], "M1", 1, D0, ritual).value == 1
    assert c.get(cid).state == "accompaniment"  # readings never change the state


def test_experiment_effects_for_the_metrics_keeper_and_the_coach(tracker) -> None:
    cc = CohortCast.register(tracker)
    cid = frame_cohort(tracker, cc)
    c, m = tracker.cohorts, cc.members
    c.hold_ritual(cid, m[0], "metrics_review", D0, m[0].party, m[1].party, m[2].party, "checklist", "x")
    start = tracker.now().date()
    for n, value in enumerate([10, 12]):
        c.record_reading(cid, m[3], "M1", value, start - timedelta(days=10 - n))
    c.start_experiment(cid, m[0], "E1")
    c.end_experiment(cid, m[0], "E1")
    ended = c.get(cid).experiments["E1"].ended_at.date()
    c.record_reading(cid, m[3], "M1", 6, ended + timedelta(days=1))
    effects = {(e["experiment"], e["metric"]): e for e in c.experiment_effects(cid, m[2])}
    e1 = effects[("E1", "M1")]
    assert (e1["before"], e1["after"], e1["effect"]) == ([10.0, 12.0], [6.0], -5.0)
    assert effects[("E1", "M2")]["effect"] is None
    assert c.experiment_effects(cid, cc.coach) == list(effects.values())
    with pytest.raises(NotPermitted, match="metrics keeper"):
        c.experiment_effects(cid, m[0])


def test_a_bad_drift_setting_is_refused_when_the_tracker_opens() -> None:
    with pytest.raises(InvalidInput, match="ETRACK_DRIFT_WINDOW"):
        new_tracker("memory:", FakeClock(), ETRACK_DRIFT_WINDOW="1")
    with pytest.raises(InvalidInput, match="ETRACK_DRIFT_Z"):
        new_tracker("memory:", FakeClock(), ETRACK_DRIFT_Z="nan")


# --- the drift rule over random series, against a direct reading of its definition -----------------

values_st = st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=30)


@settings(max_examples=300, deadline=None)
@given(values=values_st, window=st.integers(2, 8), z=st.floats(0.1, 5))
def test_a_reading_drifts_exactly_when_it_leaves_the_band_of_the_window_before_it(values, window, z) -> None:
    rule = DriftRule(window, z)
    readings = [MetricReading("M1", v, D0 + timedelta(days=i)) for i, v in enumerate(values)]
    found = {d["read_on"] for d in drifts(readings, rule)}
    for i, v in enumerate(values):
        if i < window:
            assert readings[i].read_on.isoformat() not in found  # no band before n readings
            continue
        last = values[i - window:i]
        mean, sd = statistics.fmean(last), statistics.stdev(last)
        outside = v < mean - z * sd or v > mean + z * sd
        assert (readings[i].read_on.isoformat() in found) == outside
    band = band_of(values, rule)
    assert (band is None) == (len(values) < window)
    if band is not None:
        assert band.low <= band.mean <= band.high
