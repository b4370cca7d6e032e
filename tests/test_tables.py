"""core.present.tables: which columns a table shows at 1366 px, and how the customer list is filtered by volume
and ordered (ties to the busier customer)."""
import datetime as dt

import polars as pl
import pytest

from core.present.tables import (
    CUSTOMER,
    CUSTOMER_ID,
    CUSTOMER_PRIORITY,
    CUSTOMER_WIDTHS,
    LAST_ACTIVE_AT,
    TABLE_WIDTH_PX,
    fitting_columns,
    rank_customers,
)

UTC = dt.timezone.utc


def _customers() -> pl.DataFrame:
    """mc.customer_list rows: a one-request customer failing once, two busy ones with equal error rates."""
    at = lambda h: dt.datetime(2026, 11, 25, h, tzinfo=UTC)  # noqa: E731
    return pl.DataFrame({
        "customer_id": ["solo", "big", "mid", "quiet"],
        "display_name": ["Solo", "big Co", "Mid Ltd", None],
        "requests": [1, 900, 300, 40],
        "error_rate_pct": [100.0, 5.0, 5.0, None],
        "p95_load_time_ms": [80.0, 250.0, 250.0, 40.0],
        "last_active": [at(1), at(9), at(11), at(3)],
    })


def _ids(frame: pl.DataFrame) -> list[str]:
    return frame.get_column("customer_id").to_list()


def test_by_default_every_customer_is_listed_busiest_first():
    assert _ids(rank_customers(_customers())) == ["big", "mid", "quiet", "solo"]


def test_a_minimum_volume_keeps_one_request_customers_off_the_top_of_an_error_rate_sort():
    assert _ids(rank_customers(_customers(), sort="error_rate")) == ["solo", "big", "mid", "quiet"]
    assert _ids(rank_customers(_customers(), sort="error_rate", min_requests=10)) == ["big", "mid", "quiet"]


def test_equal_rates_go_to_the_busier_customer_first():
    assert _ids(rank_customers(_customers(), sort="p95", min_requests=2)) == ["big", "mid", "quiet"]


def test_customers_without_a_value_sort_last():
    assert _ids(rank_customers(_customers(), sort="error_rate", min_requests=2))[-1] == "quiet"


def test_last_active_sorts_the_most_recent_first():
    assert _ids(rank_customers(_customers(), sort="last_active")) == ["mid", "big", "quiet", "solo"]


def test_names_sort_alphabetically_whatever_their_case():
    # "big Co" before "Mid Ltd" although "b" > "M" in code points; a customer without a name comes last.
    assert _ids(rank_customers(_customers(), sort="name")) == ["big", "mid", "solo", "quiet"]


def test_a_minimum_above_everyone_leaves_an_empty_list_with_the_same_columns():
    ranked = rank_customers(_customers(), min_requests=10_000)
    assert (ranked.height, ranked.columns) == (0, _customers().columns)


def test_an_unknown_sort_is_refused():
    with pytest.raises(ValueError, match="Unknown sort"):
        rank_customers(_customers(), sort="mood")


# ---------------------------------------------------------------- columns that fit


def test_columns_are_taken_by_priority_while_they_fit_and_shown_in_the_tables_order():
    widths = {"a": 100, "b": 300, "c": 200, "d": 50}
    assert fitting_columns(["d", "c", "b", "a"], widths, ("a", "b", "c", "d"), budget_px=450) == ["d", "b", "a"]


def test_a_column_too_wide_for_what_is_left_is_skipped_for_a_narrower_one():
    widths = {"a": 100, "b": 300, "c": 200, "d": 50}
    assert fitting_columns(["a", "b", "c", "d"], widths, ("a", "c", "b", "d"), budget_px=360) == ["a", "c", "d"]


def test_the_customer_list_shows_the_columns_that_fit_1366_px():
    columns = [CUSTOMER, CUSTOMER_ID, "Requests", "Share (%)", "Requests over time", "Last active", "Error rate (%)",
               "p95 load time (ms)", LAST_ACTIVE_AT]
    shown = fitting_columns(columns, CUSTOMER_WIDTHS, CUSTOMER_PRIORITY)
    assert shown == [CUSTOMER, "Requests", "Share (%)", "Requests over time", "Last active", "Error rate (%)",
                     "p95 load time (ms)"]
    assert sum(CUSTOMER_WIDTHS[c] for c in shown) <= TABLE_WIDTH_PX
