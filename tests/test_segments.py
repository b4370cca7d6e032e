"""core.analytics.segments (#13: "by plan"): customers grouped by an attribute, against hand counts."""
from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from core.analytics import segments
from core.domain.facts import REQUEST_SCHEMA
from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import Window

UTC = dt.timezone.utc
START = dt.datetime(2026, 11, 24, tzinfo=UTC)
WINDOW = Window(START, START + dt.timedelta(days=1), "6h", "custom")
ADMIN = Scope.workspace()


def _rows(items):
    return pl.DataFrame([{"id": i, "api_id": 1, "customer_id": c, "timestamp": START + dt.timedelta(hours=h), "method": "GET",
                          "endpoint": "/x", "status": status, "load_time_ms": load, "response_size": 1}
                         for i, (c, h, status, load) in enumerate(items)], schema=REQUEST_SCHEMA)


ROWS = _rows([
    ("pro_1", 1, 200, 100.0), ("pro_1", 7, 500, 300.0), ("pro_2", 2, 404, 200.0),  # Pro: 3 requests, 2 customers, 2 failed
    ("free_1", 1, 200, 10.0), ("free_1", 13, 200, 10.0),                           # Free: 2 requests
    ("tiered", 20, 200, 50.0),                                                      # tier 2, no Plan
    ("bare", 3, 200, 50.0), (None, 4, 500, 50.0),                                   # no attributes; unattributed
    ("pro_1", 30, 200, 50.0),                                                       # after the window
])
CUSTOMERS = pl.DataFrame({
    "customer_id": ["pro_1", "pro_2", "free_1", "tiered", "bare"],
    "attributes": [json.dumps({"Plan": "Pro", "beta": True}), json.dumps({"Plan": "Pro"}), json.dumps({"Plan": "Free"}),
                   json.dumps({"tier": 2}), None],
})


def test_attribute_keys_are_listed_the_most_widespread_first():
    assert segments.attribute_keys(CUSTOMERS) == ["Plan", "beta", "tier"]


def test_attribute_values_are_text_and_only_customers_carrying_the_key_have_one():
    assert segments.attribute_values(CUSTOMERS, "beta").rows() == [("pro_1", "true")]
    assert segments.attribute_values(CUSTOMERS, "tier").rows() == [("tiered", "2")]
    assert sorted(segments.attribute_values(CUSTOMERS, "Plan").rows()) == [("free_1", "Free"), ("pro_1", "Pro"), ("pro_2", "Pro")]


def test_each_plan_counts_its_customers_requests_failures_and_p95_in_the_window():
    table = segments.segment_table(ROWS, segments.attribute_values(CUSTOMERS, "Plan"), WINDOW, ADMIN)
    got = table.select("value", "requests", "customers", "failed_requests", "error_rate_pct").rows()
    assert got == [("Pro", 3, 2, 2, pytest.approx(200 / 3)), ("Free", 2, 1, 0, 0.0)]
    pro = table.row(0, named=True)
    assert pro["avg_load_time_ms"] == pytest.approx(200.0)
    assert pro["p95_load_time_ms"] == pytest.approx(290.0, rel=0.01)  # 95th of 100, 200, 300 (interpolated)


def test_the_series_per_plan_adds_up_to_the_table():
    values = segments.attribute_values(CUSTOMERS, "Plan")
    series = segments.segment_series(ROWS, values, WINDOW, ADMIN, ["Pro", "Free"])
    assert series.columns == ["bucket", "Pro", "Free"]
    assert series.get_column("Pro").to_list() == [2, 1, 0, 0]  # 6-hour buckets: 1h and 2h, 7h
    assert series.get_column("Free").to_list() == [1, 0, 1, 0]


def test_a_customer_may_not_compare_segments():
    with pytest.raises(ScopeError):
        segments.segment_table(ROWS, segments.attribute_values(CUSTOMERS, "Plan"), WINDOW, Scope.customer("pro_1"))
