"""Voluntary testimonials (domain/testimonials.py): left at closing, sealed under the author's key,
ratings released as aggregates under the signals' rules, texts quoted only with consent, erased
with their author."""

from __future__ import annotations

import re

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Actor, InvalidInput, NotPermitted, Role, RuleViolation
from tests.support import (
    Cast,
    CohortCast,
    FakeClock,
    admin,
    drive,
    event_count,
    frame_cohort,
    granted,
    new_tracker,
    open_engagement,
)

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def tracker():
    app = new_tracker("memory:", FakeClock(), ETRACK_K_MIN="3")
    yield app
    app.close()


def closed_engagement(app) -> tuple[Cast, object]:  # type: ignore[no-untyped-def]
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "closed")
    return cast, eid


def test_left_at_closing_once_and_refusals_write_nothing(tracker) -> None:
    cast = Cast.register(tracker)
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    before = event_count(tracker)
    with pytest.raises(RuleViolation, match="closing or closed"):
        tracker.engagements.leave_testimonial(eid, cast.coachee, {"would_recommend": 5}, "great")
    drive_rest = tracker.engagements.hold_closing_session
    drive_rest(eid, cast.coach, tracker.engagements.get(eid).tripartite_on,
               dict.fromkeys(tracker.engagements.get(eid).indicator_objectives, ("achieved", "measured")))
    before = event_count(tracker)
    with pytest.raises(NotPermitted, match="coachee"):
        tracker.engagements.leave_testimonial(eid, cast.coach, {"would_recommend": 5})
    with pytest.raises(InvalidInput, match="the items are"):
        tracker.engagements.leave_testimonial(eid, cast.coachee, {"charisma": 5})
    with pytest.raises(InvalidInput, match=r"1\.\.5"):
        tracker.engagements.leave_testimonial(eid, cast.coachee, {"would_recommend": 6})
    with pytest.raises(InvalidInput, match="no text to quote"):
        tracker.engagements.leave_testimonial(eid, cast.coachee, {"would_recommend": 4}, quote_consent=True)
    assert event_count(tracker) == before
    tracker.engagements.leave_testimonial(eid, cast.coachee, {"would_recommend": 5, "autonomy_gained": 4}, "it helped")
    with pytest.raises(InvalidInput, match="one each"):
        tracker.engagements.leave_testimonial(eid, cast.coachee, {"would_recommend": 1})
    e = tracker.engagements.get(eid)
    assert e.testimonial_authors == [str(cast.coachee.party)]
    (t,) = tracker.engagements.record(eid).testimonials.values()
    assert t.anonymous and not t.quote_consent and t.text.subject == str(cast.coachee.party)  # the author's key
    assert e.state == "closing"  # never changes the state


def test_a_cohort_member_leaves_one_at_closing(tracker) -> None:
    cc = CohortCast.register(tracker)
    cid = frame_cohort(tracker, cc)
    tracker.cohorts.begin_closing(cid, cc.coach)
    tracker.cohorts.leave_testimonial(cid, cc.members[0], {"quality_of_listening": 4}, "peers listened")
    with pytest.raises(NotPermitted):
        tracker.cohorts.leave_testimonial(cid, cc.coach, {"quality_of_listening": 4})
    assert list(tracker.cohorts.get(cid).testimonials) == [str(cc.members[0].party)]


def test_ratings_reach_analysts_only_as_released_aggregates_and_quotes_only_with_consent(tracker) -> None:
    authors = []
    for n in range(4):
        cast, eid = closed_engagement(tracker)
        tracker.engagements.leave_testimonial(eid, cast.coachee, {"would_recommend": 5}, f"text number {n}",
                                  quote_consent=n % 2 == 0)
        authors.append(cast)
    analyst = granted(tracker, Role.ANALYST, "Ana Lyst")
    rel = bootstrap.analyst_service(tracker).testimonials(analyst, ["metric"])
    assert {r.dims["metric"]: r.value for r in rel.released} == {"would_recommend=5": 4}
    quotes = tracker.engagements.testimonial_quotes(analyst)
    assert sorted(q["quote"] for q in quotes) == ["text number 0", "text number 2"]
    assert not UUID_RE.search(repr(quotes)) and all(set(q) == {"period", "quote", "status"} for q in quotes)
    assert not any("Marc" in str(q) for q in quotes)
    with pytest.raises(NotPermitted):
        tracker.engagements.testimonial_quotes(authors[0].coach)
    with pytest.raises(NotPermitted):
        bootstrap.analyst_service(tracker).testimonials(authors[0].coach, ["metric"])
    # erasure removes the text: sealed under the author's key
    tracker.parties.erase(authors[0].coachee.party, admin(tracker))
    assert sorted(q["quote"] for q in tracker.engagements.testimonial_quotes(analyst)) == ["text number 2"]


def test_too_few_authors_in_a_quarter_quote_nothing_and_release_nothing(tracker) -> None:
    cast, eid = closed_engagement(tracker)
    tracker.engagements.leave_testimonial(eid, cast.coachee, {"would_recommend": 5}, "only me", quote_consent=True)
    analyst = granted(tracker, Role.ANALYST, "Ana Lyst")
    assert tracker.engagements.testimonial_quotes(analyst) == [{"period": "2026-Q1", "quote": None, "status": "suppressed"}]
    rel = bootstrap.analyst_service(tracker).testimonials(analyst, ["metric"])
    assert not rel.released


def test_an_auditor_is_not_an_analyst_for_quotes(tracker) -> None:
    auditor = granted(tracker, Role.AUDITOR, "Audrey")
    with pytest.raises(NotPermitted):
        tracker.engagements.testimonial_quotes(Actor(auditor.party, Role.AUDITOR))
