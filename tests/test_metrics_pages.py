"""core.present page models and display helpers: display helpers on hand-made frames, and the page models on tests.factories.seed_small
(expected numbers worked out by hand in the comments)."""
from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest

from core.analytics import customers as mc
from core.analytics import metrics
from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import Window, custom, window
from core.present import fmt
from core.present.cards import NO_PREVIOUS, comparison_text, number, overview_cards, period_text, points_text
from core.present.customers import customers_page, widget_cards
from core.present.home import api_cards, home_cards, home_page
from core.present.my_dashboard import my_dashboard
from core.present.page_data import data_version
from core.present.profile import profile_cards, profile_page
from core.present.series import activity_cells, api_sparklines, chart_series, endpoint_activity
from core.present.tables import (
    CHANGE,
    attributes_table,
    chart_labels,
    customer_table,
    favorites_table,
    known_table,
    quiet_table,
    search_customers,
    top_chart_rows,
    top_table,
)
from core.storage import cache, prune, store
from tests.factories import NOW, make_request, seed_small
from tests.test_metrics import W7, W24, at, rows_frame

ADMIN = Scope.workspace()
UTC = dt.timezone.utc
BERLIN = "Europe/Berlin"  # UTC+1 in November

# seed_small, 7D window [11-18 12:00, 11-25 12:00), daily buckets 11-18 … 11-25 (8), nothing before:
#   Orders:  cust_a 1h (100 ms), 2h (300 ms), 30h (500, /boom); cust_b 3h (3000 B), 5h (404, /missing); nobody 4h
#   Billing: cust_a 6h (/invoices); cust_c 7h, 8h (POST 201) (/invoices)
# 9 requests, 2 failed; cust_a 4, cust_b 2, cust_c 2.


def ms_shown(text: str) -> float:
    """The milliseconds a card shows ("251.6 ms" → 251.6): a percentile card is compared, within the
    histograms' 1 %, with the exact percentile worked out by hand."""
    match = re.fullmatch(r"(\d+\.\d) ms", text)
    assert match, f"not a load time in ms: {text!r}"
    return float(match.group(1))


@pytest.fixture
def apis(engine):
    ids = seed_small(engine)
    yield ids
    cache.invalidate(engine)


# ---------------------------------------------------------------- small text helpers


def test_points_text_gives_the_change_in_percentage_points():
    assert (points_text(2.5, 2.0), points_text(1.0, 3.25), points_text(4.0, 4.0)) == ("+0.5 pp", "-2.2 pp", "0.0 pp")


def test_a_change_that_rounds_to_zero_has_no_sign():
    # Home showed "-0.0 pp" for an error rate down by 0.04 points (and "+0.0%" for equal counts): no change
    # is neither up nor down.
    assert (points_text(2.46, 2.5), points_text(2.54, 2.5), fmt.delta_text(1000, 1000), fmt.delta_text(99_999, 100_000)) == (
        "0.0 pp", "0.0 pp", "0.0%", "0.0%")
    assert (points_text(2.56, 2.5), fmt.delta_text(999, 1000)) == ("+0.1 pp", "-0.1%")


def test_points_text_is_none_without_a_previous_value():
    assert (points_text(2.5, None), points_text(None, 2.0), points_text(float("nan"), 1.0)) == (None, None, None)


def test_number_has_thousands_separators_and_one_decimal():
    assert (number(1234.56), number(2.5), number(None)) == ("1,234.6", "2.5", "–")


@pytest.mark.parametrize("length, text", [
    (dt.timedelta(hours=5), "5 hours"), (dt.timedelta(hours=1), "1 hour"), (dt.timedelta(hours=24), "24 hours"),
    (dt.timedelta(days=7), "7 days"), (dt.timedelta(days=1, hours=6), "1 day 6 hours"), (dt.timedelta(days=2, hours=1), "2 days 1 hour"),
    # A range brushed to the minute: before, these read "0 hours" and "3 days".
    (dt.timedelta(minutes=1), "1 minute"), (dt.timedelta(minutes=45), "45 minutes"),
    (dt.timedelta(days=3, minutes=5), "3 days 5 minutes"), (dt.timedelta(hours=2, minutes=30), "2 hours 30 minutes"),
])
def test_period_text_says_a_windows_length_as_people_do(length, text):
    assert period_text(length) == text


def test_comparison_text_names_the_period_before():
    assert comparison_text(W7) == "changes compare with the 7 days before"


@pytest.mark.parametrize(("preset", "period"), [("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days")])
def test_comparison_text_names_a_presets_period_when_now_is_not_on_the_hour(preset, period):
    # A preset starts on a whole hour, so at 12:39 its window is 21 minutes short: the note read
    # "changes compare with the 6 days 23 hours 39 minutes before".
    shifted = window(preset, NOW + dt.timedelta(minutes=39))
    assert comparison_text(shifted) == f"changes compare with the {period} before"
    assert comparison_text(shifted, covered=False).endswith(f"over the whole {period} before")


def test_a_custom_range_names_its_own_length():
    brushed = Window(NOW - dt.timedelta(hours=2, minutes=30), NOW, "1h", "custom")
    assert comparison_text(brushed) == "changes compare with the 2 hours 30 minutes before"


def test_all_time_has_nothing_to_compare_with():
    assert comparison_text(window("all", NOW, data_start=NOW - dt.timedelta(days=45))) == (
        "All Time has no earlier period to compare with")


# ---------------------------------------------------------------- cards


def test_overview_cards_show_values_and_deltas_with_the_right_colours():
    ov = metrics.Overview(
        metrics.Totals(1200, 30, 1536.0, 123.45, 100.0, 250.0, 1500.0),
        metrics.Totals(1000, 40, 1024.0, 100.0, 100.0, 200.0, 1000.0),
    )
    cards = {c.label: c for c in overview_cards(ov)}
    assert [(c.value, c.delta, c.delta_color) for c in cards.values()] == [
        ("1,200", "+20.0%", "normal"),       # 1200 vs 1000
        ("30", "-25.0%", "inverse"),         # 30 vs 40: fewer failures is good
        ("1.5 KB", "+50.0%", "off"),         # 1536 vs 1024 bytes
        ("123.5 ms", "+23.5%", "inverse"),   # 123.45 vs 100
        ("100.0 ms", "0.0%", "off"),         # no change: neither good nor bad
        ("250.0 ms", "+25.0%", "inverse"),
        ("1.5 s", "+50.0%", "inverse"),
    ]
    assert list(cards) == ["Total requests", "Failed requests", "Average response size", "Average load time",
                           "p50 load time", "p95 load time", "p99 load time"]


def test_overview_cards_without_a_previous_period_show_no_delta():
    ov = metrics.Overview(metrics.Totals(3, 1, 10.0, 5.0, 5.0, 5.0, 5.0), metrics.Totals(0, 0, None, None, None, None, None))
    assert [c.delta for c in overview_cards(ov)] == [None] * 7


def test_widget_cards_name_the_top_customer_with_requests_and_share():
    w = mc.Widgets(mc.Delta(2, 1), mc.Delta(5, 4), {"customer_id": "c1", "display_name": "Alpha Inc", "requests": 1234,
                   "share_pct": 12.345, "requests_prev": 3}, mc.Delta(2.5, 2.0), pl.DataFrame(), pl.DataFrame(), pl.DataFrame())
    cards = widget_cards(w)
    top = cards["top_customer"]
    assert (top.value, top.delta, top.is_name, top.help) == ("Alpha Inc", "1,234 requests · 12.3% of this API's", True, "Customer ID: c1")
    assert (cards["new_customers"].value, cards["new_customers"].delta) == ("2", "+100.0%")
    assert (cards["avg_requests_per_customer"].value, cards["avg_requests_per_customer"].delta) == ("2.5", "+25.0%")


def test_widget_cards_without_an_active_customer_say_so():
    w = mc.Widgets(mc.Delta(0, 0), mc.Delta(0, 0), None, mc.Delta(None, None), pl.DataFrame(), pl.DataFrame(), pl.DataFrame())
    cards = widget_cards(w)
    assert (cards["top_customer"].value, cards["avg_requests_per_customer"].value, cards["active_customers"].delta) == ("–", "–", None)


# ---------------------------------------------------------------- tables

LISTED = pl.DataFrame(
    {"customer_id": ["c1", "c2"], "display_name": ["Alpha Inc", "c2"], "requests": [3, 1], "share_pct": [75.0, 25.0],
     "last_active": [NOW - dt.timedelta(hours=3), NOW - dt.timedelta(days=2, hours=1)], "failed_requests": [1, 0],
     "error_rate_pct": [100 / 3, 0.0], "avg_load_time_ms": [200.0, 50.0], "p95_load_time_ms": [290.04, 50.0],
     "sparkline": [[0, 3], [1, 0]]},
    schema=mc.CUSTOMER_LIST_SCHEMA,
)


def test_customer_table_rounds_and_shows_last_active_relative_and_in_local_time():
    row = customer_table(LISTED, BERLIN, NOW).row(0, named=True)
    assert row == {"Customer": "Alpha Inc", "Customer ID": "c1", "Requests": 3, "Share (%)": 75.0,
                   "Requests over time": [0, 3], "Last active": "3 h ago", "Error rate (%)": 33.3,
                   "p95 load time (ms)": 290.0, "Last active at": dt.datetime(2026, 11, 25, 10, 0)}


def test_customer_table_counts_days_for_older_activity():
    assert customer_table(LISTED, "UTC", NOW).get_column("Last active").to_list() == ["3 h ago", "2 d ago"]


def test_search_matches_names_and_ids_case_insensitively():
    assert search_customers(LISTED, "ALPHA").get_column("customer_id").to_list() == ["c1"]
    assert search_customers(LISTED, " c2 ").get_column("customer_id").to_list() == ["c2"]


def test_search_takes_regex_characters_literally():
    assert search_customers(LISTED, ".*").height == 0


def test_empty_search_keeps_every_customer():
    assert search_customers(LISTED, "").height == 2


def test_top_table_gives_the_change_against_the_previous_period_or_nothing():
    top = pl.DataFrame({"rank": [1, 2], "customer_id": ["c1", "c2"], "display_name": ["Alpha", "c2"], "requests": [30, 5],
                        "share_pct": [60.04, 10.0], "requests_prev": [20, 0]}, schema=mc.TOP_SCHEMA)
    out = top_table(top)
    assert out.select("Rank", "Customer", "Share (%)", "Change (%)").rows() == [(1, "Alpha", 60.0, 50.0), (2, "c2", 10.0, None)]


def test_a_customer_without_a_name_reads_a_dash_not_none():
    top = pl.DataFrame({"rank": [1], "customer_id": ["c1"], "display_name": [None], "requests": [3],
                        "share_pct": [100.0], "requests_prev": [0]}, schema=mc.TOP_SCHEMA)
    assert top_table(top).get_column("Customer").to_list() == ["–"]


def test_quiet_table_shows_before_now_and_the_drop():
    quiet = pl.DataFrame({"customer_id": ["c9"], "display_name": ["Nine"], "requests_prev": [10], "requests": [1],
                          "requests_lost": [9], "change_pct": [-90.0], "last_active": [NOW - dt.timedelta(minutes=5)]},
                         schema=mc.QUIET_SCHEMA)
    assert quiet_table(quiet, "UTC", NOW).row(0) == ("Nine", "c9", 10, 1, 9, -90.0, "5 min ago", dt.datetime(2026, 11, 25, 11, 55))


def test_favorites_table_says_when_a_favorite_was_idle():
    fav = pl.DataFrame({"customer_id": ["c1"], "display_name": ["c1"], "requests": [0], "requests_prev": [4],
                        "last_active": [None]}, schema=mc.FAVORITES_SCHEMA)
    assert favorites_table(fav, NOW).row(0) == ("c1", "c1", 0, -100.0, "not in this window")


def test_attributes_table_lists_metadata_by_name_as_text():
    out = attributes_table({"region": "eu", "Plan": "Pro", "seats": 5, "trial": None})
    assert out.rows() == [("Plan", "Pro"), ("region", "eu"), ("seats", "5"), ("trial", "")]


def test_known_table_shows_the_name_or_else_the_id():
    known = [{"customer_id": "c1", "display_name": None, "last_seen": dt.datetime(2026, 11, 25, 11, 0)},
             {"customer_id": "c2", "display_name": "Two", "last_seen": dt.datetime(2026, 11, 20, 12, 0)}]
    assert known_table(known, BERLIN, NOW).rows() == [
        ("c1", "c1", "1 h ago", dt.datetime(2026, 11, 25, 12, 0)), ("Two", "c2", "5 d ago", dt.datetime(2026, 11, 20, 13, 0))]


def test_chart_labels_add_the_id_only_where_two_customers_share_a_name():
    frame = pl.DataFrame({"customer_id": ["c1", "c2", "c3", "c3"], "display_name": ["Acme", "Acme", "Solo", "Solo"]})
    assert chart_labels(frame).get_column("label").to_list() == ["Acme (c1)", "Acme (c2)", "Solo", "Solo"]


def test_top_chart_rows_round_the_share():
    top = pl.DataFrame({"rank": [1], "customer_id": ["c1"], "display_name": ["A"], "requests": [2], "share_pct": [66.666],
                        "requests_prev": [0]}, schema=mc.TOP_SCHEMA)
    assert top_chart_rows(top).row(0) == ("A", "c1", 2, 66.7)


# ---------------------------------------------------------------- series


def test_chart_series_leaves_averages_of_empty_buckets_empty():
    series = metrics.overview_series(rows_frame({"timestamp": at(1), "load_time_ms": 80.0}), W24, ADMIN)
    out = chart_series(series)
    # 24 hourly buckets; the only request (1 h ago, 11:00) is in the last one.
    assert out.get_column("avg_load_time_ms").to_list() == [None] * 23 + [80.0]
    assert out.get_column("avg_response_size_bytes").null_count() == 23


def test_api_sparklines_count_requests_per_bucket_with_zeros():
    # W7 has 7 daily buckets from 11-18 12:00; 30 h ago is in the 6th, 1 h and 2 h ago in the 7th.
    frame = rows_frame({"timestamp": at(1)}, {"timestamp": at(2)}, {"timestamp": at(30)}, {"timestamp": at(3), "api_id": 2})
    out = api_sparklines(frame, W7, ADMIN)
    assert out.sort("api_id").rows() == [(1, [0, 0, 0, 0, 0, 1, 2]), (2, [0, 0, 0, 0, 0, 0, 1])]


def test_api_sparklines_refuse_a_customer_scope():
    with pytest.raises(ScopeError):
        api_sparklines(rows_frame({"timestamp": at(1)}), W7, Scope.customer("cust_a"))


def test_endpoint_activity_keeps_the_busiest_endpoints_over_every_bucket():
    frame = rows_frame({"timestamp": at(1), "endpoint": "/a"}, {"timestamp": at(2), "endpoint": "/a"},
                       {"timestamp": at(30), "endpoint": "/b", "method": "POST"}, {"timestamp": at(3), "endpoint": "/c"})
    out = endpoint_activity(frame, W7, ADMIN, top_n=2)
    # "GET /a" (2 requests) first; "GET /c" and "POST /b" tie at 1, by name: "GET /c" wins the second place.
    assert out.get_column("endpoint").unique(maintain_order=True).to_list() == ["GET /a", "GET /c"]
    assert out.height == 14
    assert out.filter(pl.col("endpoint") == "GET /a").get_column("requests").to_list() == [0, 0, 0, 0, 0, 0, 2]


def test_endpoint_activity_of_an_empty_window_is_empty():
    assert endpoint_activity(rows_frame({"timestamp": at(500)}), W7, ADMIN).height == 0


def test_endpoint_activity_refuses_a_frame_with_another_customer():
    frame = rows_frame({"timestamp": at(1), "customer_id": "cust_b"})
    with pytest.raises(ScopeError):
        endpoint_activity(frame, W7, Scope.customer("cust_a"))


def test_activity_cells_label_daily_buckets_by_local_day_and_hourly_by_local_hour():
    berlin_days = custom(dt.date(2026, 11, 18), dt.date(2026, 11, 24), BERLIN)  # buckets start at Berlin midnight
    daily = pl.DataFrame({"endpoint": ["GET /a"], "bucket": [dt.datetime(2026, 11, 23, 23, tzinfo=UTC)], "requests": [3]})
    hourly = pl.DataFrame({"endpoint": ["GET /a"], "bucket": [dt.datetime(2026, 11, 24, 23, tzinfo=UTC)], "requests": [3]})
    assert activity_cells(daily, berlin_days, BERLIN).row(0) == ("GET /a", "Nov 24", 3)
    assert activity_cells(hourly, W24, BERLIN).row(0) == ("GET /a", "Nov 25 00:00", 3)


def test_activity_cells_of_a_rolling_week_name_the_hour_its_days_start_at():
    daily = pl.DataFrame({"endpoint": ["GET /a"], "bucket": [dt.datetime(2026, 11, 24, 12, tzinfo=UTC)], "requests": [3]})
    assert activity_cells(daily, W7, BERLIN).row(0) == ("GET /a", "Nov 24 13:00", 3)


def test_activity_cells_of_a_window_spanning_years_name_the_year():
    two_years = window("all", NOW, data_start=dt.datetime(2024, 9, 1, tzinfo=UTC))
    daily = pl.DataFrame({"endpoint": ["GET /a"], "bucket": [dt.datetime(2025, 11, 24, tzinfo=UTC)], "requests": [3]})
    assert activity_cells(daily, two_years, "UTC").row(0) == ("GET /a", "2025-11-24", 3)


# ---------------------------------------------------------------- page models on stored data


def test_home_page_totals_over_every_api(engine, apis):
    page = home_page(engine, ADMIN, W7)
    assert (page.requests, page.active_customers, page.new_customers) == (mc.Delta(9, 0), mc.Delta(3, 0), mc.Delta(3, 0))
    assert page.failed_pct.current == pytest.approx(200 / 9)  # 2 of 9 failed
    assert page.failed_pct.previous is None  # nothing before the window


def test_home_page_lists_every_api_by_name_with_headlines_and_sparkline(engine, apis):
    rows = home_page(engine, ADMIN, W7).apis.select("name", "requests", "failed_pct", "p95_load_time_ms",
                                                    "active_customers", "sparkline").rows()
    # Orders p95 of [100, 100, 100, 100, 100, 300] ms: 100 + 0.75 × 200 = 250; Billing's three loads are all 100.
    # Exact values; the histograms give them within 1 %.
    assert rows == [("Billing API", 3, 0.0, pytest.approx(100.0, rel=0.01), 2, [0, 0, 0, 0, 0, 0, 3]),
                    ("Orders API", 6, pytest.approx(100 / 3), pytest.approx(250.0, rel=0.01), 2, [0, 0, 0, 0, 0, 1, 5])]


def test_home_page_shows_an_idle_api_with_zeros(engine, apis):
    store.create_api(engine, "Idle API")
    cache.refresh(engine)
    idle = home_page(engine, ADMIN, W7).apis.filter(pl.col("name") == "Idle API").row(0, named=True)
    assert (idle["requests"], idle["active_customers"], idle["sparkline"]) == (0, 0, [0] * 7)


def test_home_page_top_customers_span_every_api(engine, apis):
    top = home_page(engine, ADMIN, W7).top_customers
    # cust_a: 3 on Orders + 1 on Billing = 4 of 9; cust_b and cust_c tie at 2, by ID.
    assert top.select("customer_id", "requests", "share_pct").rows() == [
        ("cust_a", 4, pytest.approx(400 / 9)), ("cust_b", 2, pytest.approx(200 / 9)), ("cust_c", 2, pytest.approx(200 / 9))]


def test_home_cards_read_the_workspace_totals(engine, apis):
    cards = home_cards(home_page(engine, ADMIN, W7))
    assert [(c.label, c.value) for c in cards] == [("Requests", "9"), ("Failed requests", "22.2%"),
                                                   ("Active customers", "3"), ("New customers", "3")]


def test_api_cards_of_one_api(engine, apis):
    orders = home_page(engine, ADMIN, W7).apis.filter(pl.col("name") == "Orders API").row(0, named=True)
    cards = api_cards(orders)
    assert [(c.label, c.value) for c in cards] == [("Requests", "6"), ("Failed", "33.3%"), ("p95 load time", cards[2].value),
                                                   ("Active customers", "2")]
    # Orders p95 of [100, 100, 100, 100, 100, 300] ms: exactly 250, shown within the histograms' 1 %.
    assert ms_shown(cards[2].value) == pytest.approx(250.0, rel=0.01)
    assert cards[0].chart == (0, 0, 0, 0, 0, 1, 5)


def test_home_page_refuses_customers(engine, apis):
    with pytest.raises(ScopeError):
        home_page(engine, Scope.customer("cust_a"), W7)


def test_customers_page_lists_the_apis_customers_with_their_share(engine, apis):
    page = customers_page(engine, ADMIN, apis["orders"], W7)
    # Orders has 6 requests: cust_a 3 (50%), cust_b 2 (33.3%), one unattributed.
    assert page.customers.select("customer_id", "display_name", "requests", "share_pct").rows() == [
        ("cust_a", "Alpha Inc", 3, 50.0), ("cust_b", "Beta LLC", 2, pytest.approx(100 / 3))]


def test_customers_page_widgets(engine, apis):
    w = customers_page(engine, ADMIN, apis["orders"], W7, ["cust_c"]).widgets
    assert (w.new_customers, w.active_customers, w.avg_requests_per_customer) == (mc.Delta(2, 0), mc.Delta(2, 0), mc.Delta(2.5, None))
    assert w.top_customer["customer_id"] == "cust_a"
    # First seen on Orders: cust_b 5 h ago, cust_a 30 h ago: the newest first.
    assert w.recent_customers.get_column("customer_id").to_list() == ["cust_b", "cust_a"]
    # cust_c never called Orders: listed as a favorite with no requests.
    assert w.favorite_customers.select("customer_id", "requests").rows() == [("cust_c", 0)]


def test_customers_page_finds_customers_going_quiet(engine, apis):
    # 24H window [11-24 12:00, 11-25 12:00); before it [11-23 12:00, 11-24 12:00). cust_q called twice before, never since.
    store.write_requests(engine, [(apis["orders"], make_request(customer_id="cust_q", timestamp=NOW - dt.timedelta(hours=h)))
                                  for h in (30, 40)])
    cache.refresh(engine)
    quiet = customers_page(engine, ADMIN, apis["orders"], window("24h", NOW), quiet_min_requests=2).going_quiet
    # cust_a: 1 request at 30 h before, 2 now (no drop); cust_q: 2 before, 0 now (-100%).
    assert quiet.select("customer_id", "requests_prev", "requests", "change_pct").rows() == [("cust_q", 2, 0, -100.0)]


def test_customers_page_adoption_grid_has_every_cell_of_the_top_customers(engine, apis):
    grid = customers_page(engine, ADMIN, apis["orders"], W7).adoption
    # Orders: cust_a on /orders/{id} ×2 and /boom; cust_b on /orders/{id} and /missing → 2 customers × 3 endpoints.
    assert grid.height == 6
    assert grid.filter((pl.col("customer_id") == "cust_b") & (pl.col("endpoint") == "/boom")).get_column("requests").to_list() == [0]


def test_profile_page_numbers_across_every_api(engine, apis):
    p = profile_page(engine, ADMIN, "cust_a", W7).profile
    assert (p.display_name, p.current.total_requests, p.current.failed_requests) == ("Alpha Inc", 4, 1)
    assert p.share_pct == pytest.approx(400 / 9)
    assert p.apis_used.select("name", "requests").rows() == [("Orders API", 3), ("Billing API", 1)]
    assert p.endpoints.select("endpoint", "requests").rows() == [("/orders/{id}", 2), ("/boom", 1), ("/invoices", 1)]


def test_profile_page_endpoint_activity_is_the_customers_only(engine, apis):
    activity = profile_page(engine, ADMIN, "cust_c", W7).endpoint_activity
    # cust_c: GET and POST /invoices, 7 h and 8 h ago (11-25).
    assert activity.group_by("endpoint").agg(pl.col("requests").sum()).sort("endpoint").rows() == [
        ("GET /invoices", 1), ("POST /invoices", 1)]


def test_profile_cards(engine, apis):
    cards = profile_cards(profile_page(engine, ADMIN, "cust_a", W7))
    # Load times of cust_a: 100, 300, 100, 100 → mean 150 (exact); p95 = 100 + 0.85 × 200 = 270, shown within 1 %.
    assert [(c.label, c.value) for c in cards] == [("Total requests", "4"), ("Share of all requests", "44.4%"),
                                                   ("Failed requests", "1"), ("Average load time", "150.0 ms"),
                                                   ("p95 load time", cards[4].value)]
    assert ms_shown(cards[4].value) == pytest.approx(270.0, rel=0.01)


def test_profile_page_refuses_customers(engine, apis):
    with pytest.raises(ScopeError):
        profile_page(engine, Scope.customer("cust_a"), "cust_a", W7)


def test_my_dashboard_of_a_customer_holds_only_their_requests(engine, apis):
    mine = my_dashboard(engine, Scope.customer("cust_a"), None, W7)
    cur = mine.overview.current
    # cust_a: 4 requests, 1 failed, all 1000 B; load 100, 300, 100, 100 ms → p50 100, p95 270, p99 294 exactly;
    # the histograms give them within 1 %.
    assert (cur.total_requests, cur.failed_requests, cur.avg_response_size_bytes, cur.avg_load_time_ms) == (4, 1, 1000.0, 150.0)
    assert (cur.p50_load_time_ms, cur.p95_load_time_ms, cur.p99_load_time_ms) == pytest.approx((100.0, 270.0, 294.0), rel=0.01)
    assert mine.endpoints.get_column("requests").sum() == 4


def test_my_dashboard_of_one_api(engine, apis):
    mine = my_dashboard(engine, Scope.customer("cust_a"), apis["billing"], W7)
    assert mine.overview.current.total_requests == 1
    assert mine.series.select("requests", "status_4xx", "status_5xx").sum().row(0) == (1, 0, 0)


def test_my_dashboard_series_counts_4xx_and_5xx_per_bucket(engine, apis):
    series = my_dashboard(engine, Scope.customer("cust_a"), None, W7).series
    # The 500 of 30 h ago falls in the day from 11-23 12:00 (the 6th of 7 daily buckets).
    assert series.get_column("status_5xx").to_list() == [0, 0, 0, 0, 0, 1, 0]
    assert series.get_column("avg_load_time_ms").to_list()[:5] == [None] * 5


def test_data_version_changes_when_requests_arrive(engine, apis):
    before = data_version(engine)
    store.write_requests(engine, [(apis["orders"], make_request(timestamp=NOW - dt.timedelta(minutes=1)))])
    cache.refresh(engine)
    assert data_version(engine) != before


# ---------------------------------------------------------------- numbers a PM reads (issue #10, part 6)


def test_a_profile_opened_from_an_api_shows_the_same_share_as_that_apis_customer_list(engine, apis):
    listed = customers_page(engine, ADMIN, apis["orders"], W7).customers
    share_in_list = listed.filter(pl.col("customer_id") == "cust_a").get_column("share_pct").item()
    page = profile_page(engine, ADMIN, "cust_a", W7, api_id=apis["orders"])
    # cust_a made 3 of the Orders API's 6 requests: 50% in both places (44.4% is their share of every API's 9).
    assert (share_in_list, page.profile.share_pct) == (50.0, 50.0)
    assert [(c.label, c.value) for c in profile_cards(page)][1] == ("Share of this API", "50.0%")


def test_a_profile_opened_without_an_api_labels_its_share_as_of_all_requests(engine, apis):
    page = profile_page(engine, ADMIN, "cust_a", W7)
    assert [(c.label, c.value) for c in profile_cards(page)][1] == ("Share of all requests", "44.4%")


def _months_of_traffic(engine, days: int) -> int:
    """Orders API: cust_old one request a day for `days` days up to now, cust_new twice in the last day."""
    api = store.create_api(engine, "Orders API", api_key="orders-key", sdk_token="orders-token")["api_id"]
    rows = [(api, make_request(customer_id="cust_old", timestamp=NOW - dt.timedelta(days=d, hours=1))) for d in range(days)]
    rows += [(api, make_request(customer_id="cust_new", timestamp=NOW - dt.timedelta(hours=h))) for h in (2, 3)]
    store.write_requests(engine, rows)
    cache.refresh(engine)
    return api


def test_with_45_days_of_data_30d_cards_say_there_is_no_full_previous_period(engine):
    api = _months_of_traffic(engine, 45)  # the period before 30D starts 60 days ago: only half of it was recorded
    w30 = window("30d", NOW)
    home = home_page(engine, ADMIN, w30)
    assert home.covered is False
    assert {(c.label, c.delta, c.delta_color) for c in home_cards(home)} == {
        ("Requests", NO_PREVIOUS, "off"), ("Failed requests", NO_PREVIOUS, "off"),
        ("Active customers", NO_PREVIOUS, "off"), ("New customers", NO_PREVIOUS, "off")}
    customers = customers_page(engine, ADMIN, api, w30)
    assert widget_cards(customers.widgets, customers.covered)["active_customers"].delta == NO_PREVIOUS
    assert top_table(customers.widgets.top_customers, customers.covered).get_column(CHANGE).to_list() == [None, None]


def test_with_60_days_of_data_30d_cards_compare_with_the_30_days_before(engine):
    _months_of_traffic(engine, 61)
    home = home_page(engine, ADMIN, window("30d", NOW))
    # 30 + 2 requests now against 30 before: +6.7%.
    assert (home.covered, home_cards(home)[0].delta) == (True, "+6.7%")


def test_my_dashboard_of_a_customer_whose_traffic_began_inside_the_previous_period_shows_no_delta(engine):
    _months_of_traffic(engine, 45)
    mine = my_dashboard(engine, Scope.customer("cust_old"), None, window("30d", NOW))
    assert [c.delta for c in overview_cards(mine.overview, mine.covered)] == [NO_PREVIOUS] * 7


def test_new_customers_stay_the_same_after_old_requests_are_pruned(engine):
    _months_of_traffic(engine, 45)
    before = home_page(engine, ADMIN, window("30d", NOW)).new_customers.current
    prune.prune(engine, dt.timedelta(days=20), now=NOW)
    cache.refresh(engine)
    after = home_page(engine, ADMIN, window("30d", NOW)).new_customers.current
    # Only cust_new's first request falls in the 30 days; cust_old's was 45 days ago, pruned or not.
    assert (before, after) == (1, 1)


def test_the_window_note_says_when_the_data_does_not_reach_back_over_the_period_before():
    assert comparison_text(W7, covered=False) == (
        "no changes shown: the data does not reach back over the whole 7 days before")
