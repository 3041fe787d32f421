"""One dimension table (domain/dimensions.py): every other list of dimensions is derived from it."""

from __future__ import annotations

from engagement_tracker.adapters.cli import rows as cli_rows
from engagement_tracker.adapters.views import rows as view_rows
from engagement_tracker.domain import dimensions
from engagement_tracker.domain.application import analysts, audit
from engagement_tracker.projections import analytics, anonymity, audit_log


def test_every_list_of_dimensions_is_the_one_table() -> None:
    assert anonymity.DIMENSIONS is dimensions.DIMENSIONS
    assert view_rows.RELEASED_DIMENSIONS is dimensions.DIMENSIONS  # the release tables' columns
    assert cli_rows.DIMENSIONS is dimensions.COLUMN_ORDER
    assert sorted(cli_rows.DIMENSIONS) == sorted(dimensions.DIMENSIONS)
    assert analytics.FAMILY_DIMENSIONS is dimensions.FAMILY_DIMENSIONS is analysts.FAMILY_DIMENSIONS
    assert anonymity.TIME_LEVELS is dimensions.PERIODS is analysts.PERIODS


def test_the_stored_and_printed_orders_are_the_public_ones() -> None:
    # the release tables' columns and the outputs' columns are public formats: their order is pinned
    assert dimensions.DIMENSIONS == ("theme", "context", "polarity", "intensity", "unit", "period", "metric")
    assert dimensions.COLUMN_ORDER == ("metric", "theme", "context", "polarity", "intensity", "unit", "period")


def test_each_family_groups_by_its_own_dimensions_and_defaults_among_them() -> None:
    for family, dims in dimensions.FAMILY_DIMENSIONS.items():
        assert set(dims) <= set(dimensions.DIMENSIONS) and len(set(dims)) == len(dims)
        assert set(dimensions.DEFAULT_BY[family]) <= set(dims)
        assert dimensions.DEFAULT_PERIOD[family] in dimensions.PERIODS


def test_the_default_origin_is_the_same_on_both_sides_of_the_trail_port() -> None:
    assert audit.DEFAULT_ORIGIN == audit_log.DEFAULT_ORIGIN
