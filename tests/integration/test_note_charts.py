"""The synthesis note's charts as people read them (issue #24, item 7): a trend needs two periods
or more (one period's values are numbers in the table); the learning-dip note appears only where a
dip was released; a heading stays with its chart when printed."""

from __future__ import annotations

import re

import pytest

from engagement_tracker.adapters.pages.synthesis import synthesis_note
from engagement_tracker.domain import Role
from engagement_tracker.projections.anonymity import Fact
from tests.integration.test_differential_privacy import many_facts, service_with
from tests.support import granted, new_tracker

pytest.importorskip("matplotlib")


def dips(persons: int = 60) -> list[Fact]:
    return [Fact("signal", "signal", "Ops", f"2026-0{1 + i % 3}", f"d{i}", frozenset({f"q{i}"}), "learning_dip",
                 "tech", "drains", 2) for i in range(persons)]


def sections(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([a-z-]+)">(.*?)</section>', html, flags=re.S))


@pytest.mark.parametrize("with_dips", [False, True])
def test_a_quarter_by_month_draws_trends_and_a_dip_note_only_with_a_dip(with_dips: bool) -> None:
    app = new_tracker("memory:")
    try:
        analyst = granted(app, Role.ANALYST, "Ana Lyst")
        service = service_with(app, many_facts(300) + (dips() if with_dips else []))
        page = sections(synthesis_note(service, analyst, "2026-Q1"))
        assert 'id="trends"' in page["signals"] and "<svg" in page["signals"]  # three months: trends and a chart
        assert 'id="one-period"' not in page["signals"]
        assert ('id="dip-note"' in page["learning-dips"]) is with_dips
        assert ("No learning dip released" in page["learning-dips"]) is not with_dips
        if with_dips:
            assert "<svg" in page["learning-dips"]
    finally:
        app.close()


def test_one_period_is_a_number_not_a_trend() -> None:
    app = new_tracker("memory:")
    try:
        analyst = granted(app, Role.ANALYST, "Ana Lyst")
        service = service_with(app, many_facts(300))
        html = synthesis_note(service, analyst, "2026-02")
        page = sections(html)
        assert 'id="one-period"' in page["signals"]
        assert 'id="trends"' not in page["signals"] and "<svg" not in page["signals"]  # no one-dot chart
        assert re.search(r'class="num released" data-value="\d+"', page["signals"])  # the values, as numbers
        assert "break-inside: avoid" in html and "break-after: avoid" in html  # headings stay with charts in print
    finally:
        app.close()
