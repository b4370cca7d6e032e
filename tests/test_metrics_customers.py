"""core.analytics.customers on one hand-made data set (expected numbers worked out in the comments)."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from core.analytics import customers as mc
from core.analytics.metrics import in_window
from core.domain.facts import as_facts
from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import window
from tests.test_metrics import NOW, W7, at, rows_frame

ADMIN = Scope.workspace()
UTC = dt.timezone.utc

# W7 = [11-18 12:00, 11-25 12:00); previous period [11-11 12:00, 11-18 12:00). Hours before NOW:
#   API 1, in W7:   cust_a at 1h (200, 100 ms), 2h (500, 300 ms, /pay), 30h (200, 200 ms)
#                   cust_b at 5h (404, 50 ms); cust_e at 10h; one unattributed request at 3h
#   API 1, before:  cust_b at 200h; cust_c at 180h and 190h; cust_d at 300h
#   API 2:          cust_d at 4h (in W7); cust_e at 400h (before both periods)
ROWS = rows_frame(
    {"timestamp": at(1), "customer_id": "cust_a", "load_time_ms": 100.0},
    {"timestamp": at(2), "customer_id": "cust_a", "status": 500, "load_time_ms": 300.0, "endpoint": "/pay"},
    {"timestamp": at(30), "customer_id": "cust_a", "load_time_ms": 200.0},
    {"timestamp": at(5), "customer_id": "cust_b", "status": 404, "load_time_ms": 50.0},
    {"timestamp": at(10), "customer_id": "cust_e"},
    {"timestamp": at(3), "customer_id": None},
    {"timestamp": at(200), "customer_id": "cust_b"},
    {"timestamp": at(180), "customer_id": "cust_c"},
    {"timestamp": at(190), "customer_id": "cust_c"},
    {"timestamp": at(300), "customer_id": "cust_d"},
    {"timestamp": at(4), "customer_id": "cust_d", "api_id": 2},
    {"timestamp": at(400), "customer_id": "cust_e", "api_id": 2},
)
API1 = ROWS.filter(pl.col("api_id") == 1)
FIRST = mc.first_seen(ROWS)
NAMES = pl.DataFrame({"customer_id": ["cust_a"], "display_name": ["Alpha Inc"]})
APIS = pl.DataFrame({"api_id": [1, 2, 3], "name": ["Orders", "Billing", "Idle"]})


def test_first_seen_is_per_customer_and_api():
    d = FIRST.filter(pl.col("customer_id") == "cust_d").sort("api_id")
    assert d.get_column("first_seen").to_list() == [at(300), at(4)]


def test_customer_list_counts_requests_and_share_of_the_apis_requests():
    out = mc.customer_list(API1, W7, ADMIN, names=NAMES)
    assert out.select("customer_id", "requests", "share_pct").rows() == [
        ("cust_a", 3, 50.0), ("cust_b", 1, pytest.approx(100 / 6)), ("cust_e", 1, pytest.approx(100 / 6))]


def test_customer_list_shows_the_display_name_or_else_the_id():
    out = mc.customer_list(API1, W7, ADMIN, names=NAMES)
    assert out.get_column("display_name").to_list() == ["Alpha Inc", "cust_b", "cust_e"]


def test_customer_list_gives_failures_error_rate_and_load_times():
    a = mc.customer_list(API1, W7, ADMIN).row(0, named=True)
    # cust_a's loads 100, 300, 200: mean 200 (exact); p95 = 200 + 0.9 × 100 = 290, from the histograms within 1 %.
    assert (a["failed_requests"], a["error_rate_pct"], a["avg_load_time_ms"], a["p95_load_time_ms"], a["last_active"]) == (
        1, pytest.approx(100 / 3), 200.0, pytest.approx(290.0, rel=0.01), at(1))


def test_customer_list_never_lists_unattributed_requests_but_counts_them_in_the_total():
    out = mc.customer_list(API1, W7, ADMIN)
    assert (out.get_column("customer_id").null_count(), out.get_column("requests").sum()) == (0, 5)


def test_customer_list_sparkline_has_one_count_per_daily_bucket():
    a = mc.customer_list(API1, W7, ADMIN).row(0, named=True)
    # 7 daily buckets from 11-18 12:00: 30h ago is in the one from 11-23 12:00, 1h and 2h ago in the last.
    assert a["sparkline"] == [0, 0, 0, 0, 0, 1, 2]


def test_customer_list_of_an_empty_window_is_empty():
    assert mc.customer_list(API1.filter(pl.col("timestamp") < W7.previous().start), W7, ADMIN).height == 0


def test_a_single_request_customer_has_p95_within_one_percent_of_its_load_time():
    b = mc.customer_list(API1, W7, ADMIN).filter(pl.col("customer_id") == "cust_b").row(0, named=True)
    assert (b["requests"], b["p95_load_time_ms"], b["error_rate_pct"]) == (1, pytest.approx(50.0, rel=0.01), 100.0)


def test_active_customers_now_and_before():
    assert mc.active_customers(API1, W7, ADMIN).to_dict() == {"current": 3, "previous": 3, "change_pct": 0.0}


def test_new_customers_on_an_api_use_the_first_request_to_that_api():
    # API 1: cust_a (30h) and cust_e (10h) are new; before: cust_b, cust_c, cust_d.
    d = mc.new_customers(FIRST, W7, ADMIN, api_id=1)
    assert (d.current, d.previous) == (2, 3)


def test_new_customers_on_the_workspace_use_the_first_request_to_any_api():
    # cust_e called API 2 at 400h, so it is not new to the workspace.
    d = mc.new_customers(FIRST, W7, ADMIN)
    assert (d.current, d.previous) == (1, 3)


def test_average_requests_per_customer_leaves_unattributed_requests_out():
    d = mc.avg_requests_per_customer(API1, W7, ADMIN)
    assert (d.current, d.previous) == (pytest.approx(5 / 3), pytest.approx(4 / 3))


def test_top_customer_has_its_share_and_previous_requests():
    assert mc.top_customer(API1, W7, ADMIN, names=NAMES) == {
        "customer_id": "cust_a", "display_name": "Alpha Inc", "requests": 3, "share_pct": 50.0, "requests_prev": 0}


def test_top_customer_of_an_idle_window_is_none():
    assert mc.top_customer(API1.filter(pl.col("timestamp") < W7.previous().start), W7, ADMIN) is None


def test_top_customers_ranks_ties_by_id():
    out = mc.top_customers(API1, W7, ADMIN, n=2)
    assert out.select("rank", "customer_id", "requests_prev").rows() == [(1, "cust_a", 0), (2, "cust_b", 1)]


@pytest.mark.parametrize("frame", ["API1", "ROWS"])
def test_active_and_top_customers_counted_once_equal_each_counted_alone(frame):
    rows = {"API1": API1, "ROWS": ROWS}[frame]
    active, top = mc.active_and_top_customers(rows, W7, ADMIN, names=NAMES, n=3)
    assert active == mc.active_customers(rows, W7, ADMIN)
    assert top.equals(mc.top_customers(rows, W7, ADMIN, names=NAMES, n=3))


def test_workspace_top_customers_aggregate_across_apis():
    out = mc.top_customers(ROWS, W7, ADMIN)
    d = out.filter(pl.col("customer_id") == "cust_d").row(0, named=True)
    assert (d["requests"], d["share_pct"]) == (1, pytest.approx(100 / 7))


def test_recent_customers_are_the_newest_first_seen_on_the_api():
    out = mc.recent_customers(FIRST, W7, ADMIN, api_id=1, names=NAMES)
    assert out.select("display_name", "first_seen").rows() == [("cust_e", at(10)), ("Alpha Inc", at(30))]


def test_favorite_customers_include_idle_favorites():
    out = mc.favorite_customers(API1, W7, ADMIN, ["cust_b", "cust_zzz"])
    assert out.select("customer_id", "requests", "requests_prev", "last_active").rows() == [
        ("cust_b", 1, 1, at(5)), ("cust_zzz", 0, 0, None)]


def test_widgets_bundle_every_widget():
    w = mc.widgets(API1, FIRST, W7, ADMIN, api_id=1, names=NAMES, favorite_ids=["cust_a"])
    assert (w.new_customers.current, w.active_customers.current, w.top_customer["customer_id"],
            w.recent_customers.height, w.favorite_customers.height, w.top_customers.height) == (2, 3, "cust_a", 2, 1, 3)


def test_api_headlines_include_idle_apis_with_zero_requests():
    out = mc.api_headlines(ROWS, W7, ADMIN, APIS)
    idle = out.filter(pl.col("name") == "Idle").row(0, named=True)
    assert (idle["requests"], idle["active_customers"], idle["failed_pct"]) == (0, 0, None)


def test_api_headlines_give_requests_failures_p95_and_customers_with_previous_values():
    row = mc.api_headlines(ROWS, W7, ADMIN, APIS).filter(pl.col("api_id") == 1).row(0, named=True)
    # Loads in W7: 100, 300, 200, 50, 100 (cust_e), 100 (unattributed) → p95 = 200 + 0.75 × 100 = 275 exactly,
    # from the histograms within 1 %.
    assert (row["requests"], row["failed_pct"], row["p95_load_time_ms"], row["active_customers"],
            row["requests_prev"], row["active_customers_prev"]) == (6, pytest.approx(100 / 3), pytest.approx(275.0, rel=0.01), 3, 4, 3)


def test_customer_profile_gives_share_of_all_requests_and_totals():
    p = mc.customer_profile(ROWS, W7, ADMIN, "cust_a", all_requests=mc.Delta(7, 4), names=NAMES, apis=APIS)
    assert (p.display_name, p.current.total_requests, p.current.failed_requests, p.share_pct, p.share_pct_prev) == (
        "Alpha Inc", 3, 1, pytest.approx(300 / 7), 0.0)


def test_customer_profile_lists_apis_used_and_endpoints():
    p = mc.customer_profile(ROWS, W7, ADMIN, "cust_d", all_requests=mc.Delta(7, 4), apis=APIS)
    assert (p.apis_used.select("name", "requests").rows(), p.endpoints.get_column("endpoint").to_list(), p.previous.total_requests) == (
        [("Billing", 1)], ["/orders"], 1)


def test_customer_profile_series_has_every_bucket():
    p = mc.customer_profile(ROWS, W7, ADMIN, "cust_a", all_requests=mc.Delta(7, 4))
    assert p.series.get_column("requests").to_list() == [0, 0, 0, 0, 0, 1, 2]


def test_going_quiet_lists_customers_silent_or_down_80_percent():
    out = mc.going_quiet(API1, W7, ADMIN, min_prev_requests=1)
    assert out.select("customer_id", "requests_prev", "requests", "change_pct", "last_active").rows() == [
        ("cust_c", 2, 0, -100.0, at(180)), ("cust_d", 1, 0, -100.0, at(300))]


def test_going_quiet_keeps_a_customer_down_exactly_80_percent():
    frame = rows_frame(*[{"timestamp": at(24 * 8 + i), "customer_id": "cust_x"} for i in range(5)], {"timestamp": at(1), "customer_id": "cust_x"})
    assert mc.going_quiet(frame, W7, ADMIN, min_prev_requests=5).get_column("change_pct").to_list() == [-80.0]


def _quiet_rows(before: dict[str, int], now: dict[str, int]) -> pl.DataFrame:
    """Each customer's requests: before[c] in the period before W7 (one an hour from 8 days ago), now[c] in W7."""
    rows = [{"timestamp": at(24 * 8 + i), "customer_id": c} for c, n in before.items() for i in range(n)]
    rows += [{"timestamp": at(1 + i), "customer_id": c} for c, n in now.items() for i in range(n)]
    return rows_frame(*rows)


def test_going_quiet_ignores_customers_below_20_requests_before_by_default():
    # On the demo's 24H view 17 of 19 customers flagged had made a single request before.
    frame = _quiet_rows({"one_call": 1, "nineteen": 19, "twenty": 20}, {})
    assert mc.going_quiet(frame, W7, ADMIN).get_column("customer_id").to_list() == ["twenty"]


def test_going_quiet_lists_most_requests_lost_first():
    # big: 100 → 15 (-85 %, 85 lost); small: 30 → 0 (-100 %, 30 lost); mid: 60 → 10 (50 lost).
    frame = _quiet_rows({"big": 100, "small": 30, "mid": 60}, {"big": 15, "mid": 10})
    out = mc.going_quiet(frame, W7, ADMIN)
    assert out.select("customer_id", "requests_lost").rows() == [("big", 85), ("mid", 50), ("small", 30)]


@pytest.mark.parametrize("frame_of", [lambda: API1, lambda: _quiet_rows({"big": 100, "small": 30, "mid": 60}, {"big": 15, "mid": 10}),
                                      lambda: _quiet_rows({"old": 25}, {}).vstack(rows_frame({"timestamp": at(24 * 30), "customer_id": "old"}))],
                         ids=["api1", "three", "older-than-the-previous-period"])
@pytest.mark.parametrize("order", ["as-given", "time-sorted"])
def test_going_quiet_given_the_pages_customer_list_lists_the_same(frame_of, order):
    # The Customers page passes its customer list (now's requests and last activity) instead of a second pass.
    frame = frame_of() if order == "as-given" else as_facts(frame_of()).sort("timestamp")
    alone = mc.going_quiet(frame, W7, ADMIN, min_prev_requests=1)
    assert alone.height
    assert mc.going_quiet(frame, W7, ADMIN, min_prev_requests=1, customers=mc.customer_list(frame, W7, ADMIN)).equals(alone)
    # …and the previous period's counts it shares with the widgets.
    assert mc.going_quiet(frame, W7, ADMIN, min_prev_requests=1, customers=mc.customer_list(frame, W7, ADMIN),
                          before=mc.previous_counts(frame, W7)).equals(alone)


@pytest.mark.parametrize("with_list", [False, True])
def test_going_quiet_counts_before_only_the_previous_period_of_a_window_not_on_the_hour(with_list):
    # 24H at 12:37: the window starts at 13:00 yesterday and its previous period ends at 12:37 yesterday, so a
    # request at 12:45 yesterday is in neither (it is still the customer's last activity).
    win = window("24h", NOW + dt.timedelta(minutes=37))
    gap = dt.datetime(2026, 11, 24, 12, 45, tzinfo=UTC)
    frame = rows_frame({"timestamp": at(26), "customer_id": "gap"}, {"timestamp": gap, "customer_id": "gap"})
    listed = mc.customer_list(frame, win, ADMIN) if with_list else None
    out = mc.going_quiet(frame, win, ADMIN, min_prev_requests=1, customers=listed)
    assert out.select("customer_id", "requests_prev", "requests", "last_active").rows() == [("gap", 1, 0, gap)]


def test_new_vs_returning_per_daily_bucket():
    out = mc.new_vs_returning(API1, FIRST, W7, ADMIN, api_id=1)
    # Day from 11-23 12:00: cust_a's first request (new). Day from 11-24 12:00: cust_e new; cust_a and cust_b returning.
    assert out.tail(2).rows() == [(dt.datetime(2026, 11, 23, 12, tzinfo=UTC), 1, 0), (dt.datetime(2026, 11, 24, 12, tzinfo=UTC), 1, 2)]


@pytest.mark.parametrize("with_list", [False, True])
def test_adoption_matrix_has_every_cell_of_top_customers_and_endpoints(with_list):
    listed = mc.customer_list(API1, W7, ADMIN, names=NAMES) if with_list else None
    out = mc.adoption_matrix(API1, W7, ADMIN, top_customers_n=2, top_endpoints_n=2, names=NAMES, customers=listed)
    assert out.select("customer_id", "endpoint", "requests").rows() == [
        ("cust_a", "/orders", 2), ("cust_a", "/pay", 1), ("cust_b", "/orders", 1), ("cust_b", "/pay", 0)]


def test_adoption_matrix_reusing_the_customer_list_picks_the_same_customers_also_among_equals():
    # Five customers with one request each: the top three are the first three IDs either way.
    one = in_window(as_facts(API1), W7).head(1)
    frame = pl.concat([one.with_columns(pl.lit(c).cast(one.schema["customer_id"]).alias("customer_id"))
                       for c in ["c5", "c2", "c4", "c1", "c3"]])
    alone = mc.adoption_matrix(frame, W7, ADMIN, top_customers_n=3)
    reused = mc.adoption_matrix(frame, W7, ADMIN, top_customers_n=3, customers=mc.customer_list(frame, W7, ADMIN))
    assert reused.equals(alone) and alone.get_column("customer_id").unique(maintain_order=True).to_list() == ["c1", "c2", "c3"]


@pytest.mark.parametrize("call", [
    lambda s: mc.customer_list(API1, W7, s),
    lambda s: mc.active_customers(API1, W7, s),
    lambda s: mc.new_customers(FIRST, W7, s),
    lambda s: mc.avg_requests_per_customer(API1, W7, s),
    lambda s: mc.top_customers(API1, W7, s),
    lambda s: mc.top_customer(API1, W7, s),
    lambda s: mc.recent_customers(FIRST, W7, s),
    lambda s: mc.favorite_customers(API1, W7, s, ["cust_a"]),
    lambda s: mc.widgets(API1, FIRST, W7, s),
    lambda s: mc.api_headlines(ROWS, W7, s, APIS),
    lambda s: mc.customer_profile(ROWS, W7, s, "cust_a", all_requests=mc.Delta(7, 4)),
    lambda s: mc.request_counts(ROWS, W7, s),
    lambda s: mc.going_quiet(API1, W7, s),
    lambda s: mc.new_vs_returning(API1, FIRST, W7, s),
    lambda s: mc.adoption_matrix(API1, W7, s),
])
def test_workspace_numbers_refuse_a_customer_scope(call):
    mine = Scope.customer("cust_a")
    with pytest.raises(ScopeError, match="not available to customer accounts"):
        call(mine)


def test_delta_change_is_none_without_a_previous_value():
    assert (mc.Delta(5, 0).change_pct, mc.Delta(6, 4).change_pct) == (None, 50.0)



def test_widgets_reusing_the_customer_list_give_the_same_numbers():
    listed = mc.customer_list(API1, W7, ADMIN, names=NAMES)
    reused = mc.widgets(API1, FIRST, W7, ADMIN, api_id=1, names=NAMES, favorite_ids=["cust_b"], customers=listed)
    fresh = mc.widgets(API1, FIRST, W7, ADMIN, api_id=1, names=NAMES, favorite_ids=["cust_b"])
    assert (reused.active_customers, reused.avg_requests_per_customer, reused.top_customer, reused.favorite_customers.rows()) == (
        fresh.active_customers, fresh.avg_requests_per_customer, fresh.top_customer, fresh.favorite_customers.rows())


def test_a_profile_share_of_one_api_equals_that_apis_customer_list_share():
    listed = mc.customer_list(API1, W7, ADMIN).filter(pl.col("customer_id") == "cust_a").get_column("share_pct").item()
    p = mc.customer_profile(ROWS, W7, ADMIN, "cust_a", all_requests=mc.request_counts(API1, W7, ADMIN), share_api_id=1)
    # cust_a: 3 of API 1's 6 requests in W7 (cust_a 3, cust_b, cust_e, one unattributed).
    assert (listed, p.share_pct, p.share_api_id) == (50.0, 50.0, 1)


def test_share_pct_of_nothing_is_none():
    assert (mc.share_pct(3, 0), mc.share_pct(3, 12)) == (None, 25.0)
