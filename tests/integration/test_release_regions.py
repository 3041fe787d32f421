"""The region rule against the attacks of issue 13, on every backend; refusals record nothing."""

from __future__ import annotations

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import DisclosureRisk, NotPermitted, Role
from engagement_tracker.projections.analytics import AnalystService
from tests.integration.test_analytics import engagement_with_signals
from tests.support import granted, new_tracker


def people(app, n: int, unit: str, signals: int = 1, theme: str = "turnover") -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        engagement_with_signals(app, signals, theme, unit)


def recorded(service: AnalystService) -> tuple[int, dict[str, object], dict[str, object]]:
    view = service.analytics.view
    return len(view.ledger("signal")), view.regions("signal"), view.parts("signal")


@pytest.fixture
def app(store_url):  # type: ignore[no-untyped-def]
    tracker = new_tracker(store_url)
    yield tracker
    tracker.close()


def test_attack_three_releases_isolating_one_new_person_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    """Release 1: everyone. One new person X records a signal in Parent/Big. Release 2: unit=Parent.
    Release 3: unit=Other. Release 2 + release 3 - release 1 would be X's contribution exactly."""
    people(app, 6, "Parent/Big")
    people(app, 6, "Other")
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    service = bootstrap.analyst_service(app)
    first = service.summary(analyst, ["theme"], period="year")
    assert first.total == 12
    people(app, 1, "Parent/Big")  # X
    before = recorded(service)
    with pytest.raises(DisclosureRisk) as refused:
        service.summary(analyst, ["theme"], unit="Parent", period="year")
    assert recorded(service) == before  # nothing recorded
    message = str(refused.value)
    assert "coarser shape" in message and "wider window" in message and "more persons" in message
    assert "Parent" not in message and "turnover" not in message  # never which cell or region
    # release 3 alone (unit=Other, no new facts there) is harmless, and still accepted
    other = service.summary(analyst, ["theme"], unit="Other", period="year")
    assert other.total == 6
    # once k more persons joined, the same release is no longer a difference of fewer than k
    people(app, 5, "Parent/Big")
    assert service.summary(analyst, ["theme"], unit="Parent", period="year").total == 12


def test_attack_a_suppressed_cell_derived_from_a_differently_shaped_query_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    """by=[unit] hides Parent/Small (4 persons) and releases Parent/Big = 30; by=[theme], unit=Parent
    would release 34: Parent/Small = 4."""
    people(app, 10, "Parent/Big", signals=3)
    people(app, 4, "Parent/Small")
    people(app, 6, "Other/A", signals=3)
    people(app, 6, "Other/B", signals=3)
    people(app, 3, "Other/C")
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    service = bootstrap.analyst_service(app)
    by_unit = service.summary(analyst, ["unit"], period="year")
    values = {r.dims["unit"]: r.value for r in by_unit.rows}
    assert values["Parent/Big"] == 30 and values["Parent/Small"] is None and by_unit.total == 73
    before = recorded(service)
    with pytest.raises(DisclosureRisk):
        service.summary(analyst, ["theme"], unit="Parent", period="year")
    assert recorded(service) == before
    # by another analyst: the rule composes over every release, whoever made it
    other = granted(app, Role.ANALYST, "Other Analyst")
    with pytest.raises(DisclosureRisk):
        service.summary(other, ["theme"], unit="Parent", period="year")
    assert recorded(service) == before


def test_the_same_release_again_and_disjoint_windows_are_accepted(app) -> None:  # type: ignore[no-untyped-def]
    people(app, 6, "Ops", signals=3)
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    service = bootstrap.analyst_service(app)
    first = service.summary(analyst, ["theme", "period"])
    again = service.summary(analyst, ["theme", "period"])
    assert [r.value for r in again.rows] == [r.value for r in first.rows]
    months = sorted(r.dims["period"] for r in first.released)
    for month in months:  # each month alone: a sum of the regions already published
        assert service.summary(analyst, ["theme", "period"], since=month, until=month).total == 6
    assert len(service.analytics.view.ledger("signal")) == 2 + len(months)


def test_a_disclosure_risk_is_a_refusal_the_cli_reports_without_a_traceback() -> None:
    assert issubclass(DisclosureRisk, NotPermitted)
