"""core.analytics.cohorts: customers by the week of their first request × weeks since, against hand counts."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from core.analytics.cohorts import cohorts
from core.domain.facts import REQUEST_SCHEMA
from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import Window

UTC = dt.timezone.utc
MON = dt.datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
W = dt.timedelta(days=7)
WINDOW = Window(MON, MON + 3 * W + dt.timedelta(days=2), "1d", "custom")  # weeks of Nov 2, 9, 16 and two days of Nov 23


def _rows(items):
    return pl.DataFrame([{"id": i, "api_id": api, "customer_id": c, "timestamp": t, "method": "GET", "endpoint": "/x", "status": 200,
                          "load_time_ms": 10.0, "response_size": 1} for i, (api, c, t) in enumerate(items)], schema=REQUEST_SCHEMA)


ROWS = _rows([
    (1, "a", MON + dt.timedelta(hours=1)), (1, "a", MON + W + dt.timedelta(days=3)), (1, "a", MON + 3 * W),  # weeks 0, 1, 3
    (1, "b", MON + dt.timedelta(days=6)),                                                               # week 0 only
    (1, "c", MON + W + dt.timedelta(days=1)), (2, "c", MON + 2 * W),                                     # cohort Nov 9: weeks 0, 1
    (1, None, MON + dt.timedelta(hours=2)),                                                              # unattributed: no cohort
    (1, "old", MON + W),                                                                                 # first seen before the window
])
FIRST = pl.DataFrame({"customer_id": ["a", "b", "c", "c", "old"], "api_id": [1, 1, 1, 2, 1],
                      "first_seen": [MON + dt.timedelta(hours=1), MON + dt.timedelta(days=6), MON + W + dt.timedelta(days=1), MON + 2 * W,
                                     MON - W]}).with_columns(pl.col("api_id").cast(pl.Int32), pl.col("first_seen").dt.cast_time_unit("us"))


def test_cohorts_count_each_cohorts_active_customers_per_week_since_their_first():
    out = cohorts(ROWS, FIRST, WINDOW, Scope.workspace())
    got = [(r["cohort"].date().isoformat(), r["weeks_since"], r["cohort_size"], r["active"]) for r in out.to_dicts()]
    assert got == [
        ("2026-11-02", 0, 2, 2), ("2026-11-02", 1, 2, 1), ("2026-11-02", 2, 2, 0), ("2026-11-02", 3, 2, 1),
        ("2026-11-09", 0, 1, 1), ("2026-11-09", 1, 1, 1), ("2026-11-09", 2, 1, 0),
    ]
    assert out.filter(pl.col("weeks_since") == 1).get_column("retention_pct").to_list() == [50.0, 100.0]


def test_on_one_api_a_customer_joins_the_cohort_of_their_first_request_to_that_api():
    out = cohorts(ROWS, FIRST, WINDOW, Scope.workspace(), api_id=2)
    assert [(r["cohort"].date().isoformat(), r["weeks_since"], r["active"]) for r in out.to_dicts()] == [("2026-11-16", 0, 1), ("2026-11-16", 1, 0)]


def test_no_cohort_in_the_window_gives_an_empty_table_with_its_columns():
    out = cohorts(ROWS, FIRST.filter(pl.col("customer_id") == "old"), WINDOW, Scope.workspace())
    assert out.height == 0 and out.columns == ["cohort", "weeks_since", "cohort_size", "active", "retention_pct"]


def test_a_customer_scope_is_refused():
    with pytest.raises(ScopeError):
        cohorts(ROWS.filter(pl.col("customer_id") == "a"), FIRST, WINDOW, Scope.customer("a"))


# ---------------------------------------------------------------- the Customers page's retention model, from a database


def test_retention_page_counts_the_weekly_cohorts_of_one_api_from_the_rollups(engine, fresh_cache):
    from core.present.retention import cohort_cells, retention_page, retention_window
    from core.storage import store
    from tests.factories import make_request

    api = store.create_api(engine, "Orders API", api_key="orders-key", sdk_token="orders-token")["api_id"]
    now = MON + 3 * W + dt.timedelta(days=2, hours=5, minutes=17)
    store.write_requests(engine, [(api, make_request(customer_id=c, timestamp=t)) for c, t in [
        ("a", MON + dt.timedelta(hours=1)), ("a", MON + W + dt.timedelta(days=3)), ("b", MON + dt.timedelta(days=6)),
        ("c", MON + W + dt.timedelta(days=1)), ("c", now - dt.timedelta(minutes=5)),  # in the hour `now` cuts: a raw row
    ]])
    page = retention_page(engine, Scope.workspace(), api, now)
    # The API's first week starts the window: the weeks before it would be empty columns ("Sep 13 … Oct 04" on the
    # demo's Customers page, whose data starts in October).
    assert page.window == retention_window(now, first=MON) and page.window.start == MON and page.window.end == now
    assert page.new_vs_returning.height == 4
    by_key = {(r["cohort"].date().isoformat(), r["weeks_since"]): r["active"] for r in page.cohorts.to_dicts()}
    assert by_key[("2026-11-02", 0)] == 2 and by_key[("2026-11-02", 1)] == 1 and by_key[("2026-11-09", 2)] == 1
    assert page.new_vs_returning.get_column("new_customers").sum() == 3
    cells = cohort_cells(page.cohorts)
    assert cells.row(0) == ("Nov 09 · 1 customer", "week 0", 100.0)


def test_the_retention_window_is_the_last_12_weeks_or_from_the_apis_first_week():
    from core.present.retention import retention_text, retention_window

    now = MON + 20 * W + dt.timedelta(days=2, hours=5)
    twelve = retention_window(now)
    assert (twelve.start, twelve.end) == (MON + 9 * W, now)
    assert retention_window(now, first=MON).start == twelve.start  # older data: still 12 weeks
    young = retention_window(now, first=MON + 17 * W + dt.timedelta(days=4, hours=3))
    assert young.start == MON + 17 * W
    assert retention_window(now, first=now + dt.timedelta(days=3)).start == twelve.start  # a clock ahead: ignored
    assert retention_text("Orders API", twelve).endswith("the last 12 weeks, this one so far.")
    assert retention_text("Orders API", young).endswith("the 4 weeks since its first request, this one so far.")
    assert retention_text("Orders API", retention_window(now, first=now)).endswith(
        "the weeks after; its first week, so far.")
