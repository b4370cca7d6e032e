"""Error groups (`core.storage.error_groups`, `core.analytics.error_groups`, `core.present.error_groups`): failed
requests grouped by API × endpoint × status × error type × normalised message, scoped, on SQLite and PostgreSQL.

The `failures` fixture, by hand (NOW = 2026-11-25 12:00 UTC; the 24H window has 24 hourly buckets, hour k
before NOW falls in bucket 24 - k):
  Orders   cust_a  GET  /orders/{id}  500  1 h   DatabaseError "deadlock on row 123"
  Orders   cust_a  GET  /orders/{id}  500  2 h   DatabaseError "deadlock on row 456"
  Orders   cust_b  POST /orders/{id}  500  2 h   DatabaseError "deadlock on row 789"
  Orders   nobody  GET  /orders/{id}  500  5 h   DatabaseError "deadlock on row 1"
  Orders   cust_b  GET  /orders/{id}  404  3 h   NotFound "Order 'A-17' not found"
  Orders   cust_b  GET  /orders/{id}  404  4 h   NotFound "Order 'B-99' not found"
  Billing  cust_c  PUT  /invoices     422  7 h   ValidationError "invoice <uuid 1> is locked"
  Billing  cust_c  PUT  /invoices     422  8 h   ValidationError "invoice <uuid 2> is locked"
  Orders   cust_a  GET  /boom         503  6 h   (no error reported)
  not failed or outside the window: cust_a 200 with an error at 1 h; cust_a 500 at 30 h
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from core.analytics.error_groups import NO_ERROR, normalise_message
from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import custom, parse_range, window
from core.present.error_groups import (
    CUSTOMERS,
    LINK,
    MOST_AFFECTED,
    coverage_text,
    customer_error_groups,
    error_groups_page,
    groups_table,
    history_link,
)
from core.storage import store
from core.storage.error_groups import failed_requests
from core.storage.store import NotFound
from tests.factories import NOW, make_request

WORKSPACE = Scope.workspace()
DAY = window("24h", NOW)
UUID_1, UUID_2 = "3f2a9c1b-1234-4abc-8def-0123456789ab", "0b7d5e2c-9f00-4c1a-b2d3-ffeeddccbbaa"


def h(hours: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours)


def err(kind: str, message: str) -> list[dict]:
    return [{"source": "onError", "type": kind, "message": message, "file": "/srv/app.py", "line": 12}]


@pytest.fixture
def failures(engine) -> dict:
    o = store.create_api(engine, "Orders API", api_key="orders-key", sdk_token="orders-token")["api_id"]
    b = store.create_api(engine, "Billing API", api_key="billing-key", sdk_token="billing-token")["api_id"]
    names = {"cust_a": "Alpha Inc", "cust_b": "Beta LLC", "cust_c": "Carol Co"}
    rows = [
        (o, "cust_a", "GET", "/orders/{id}", 500, 1, err("DatabaseError", "deadlock on row 123")),
        (o, "cust_a", "GET", "/orders/{id}", 500, 2, err("DatabaseError", "deadlock on row 456")),
        (o, "cust_b", "POST", "/orders/{id}", 500, 2, err("DatabaseError", "deadlock on row 789")),
        (o, None, "GET", "/orders/{id}", 500, 5, err("DatabaseError", "deadlock on row 1")),
        (o, "cust_b", "GET", "/orders/{id}", 404, 3, err("NotFound", "Order 'A-17' not found")),
        (o, "cust_b", "GET", "/orders/{id}", 404, 4, err("NotFound", "Order 'B-99' not found")),
        (b, "cust_c", "PUT", "/invoices", 422, 7, err("ValidationError", f"invoice {UUID_1} is locked")),
        (b, "cust_c", "PUT", "/invoices", 422, 8, err("ValidationError", f"invoice {UUID_2} is locked")),
        (o, "cust_a", "GET", "/boom", 503, 6, []),
        (o, "cust_a", "GET", "/orders/{id}", 200, 1, err("Warning", "slow")),
        (o, "cust_a", "GET", "/orders/{id}", 500, 30, err("DatabaseError", "deadlock on row 9")),
    ]
    store.write_requests(engine, [
        (api, make_request(customer_id=who, display_name=names.get(who), method=method, endpoint=endpoint, status=status,
                           timestamp=h(hours), errors=errors))
        for api, who, method, endpoint, status, hours, errors in rows])
    return {"orders": o, "billing": b}


def summary(groups) -> list[tuple]:
    return [tuple(r) for r in groups.select("api_name", "endpoint", "status", "error_type", "message", "requests",
                                            "customers").iter_rows()]


# ---------------------------------------------------------------- grouping


def test_failed_requests_are_grouped_by_api_endpoint_status_type_and_normalised_message(engine, failures):
    page = error_groups_page(engine, WORKSPACE, DAY)
    assert summary(page.groups) == [
        ("Orders API", "/orders/{id}", 500, "DatabaseError", "deadlock on row {n}", 4, 2),
        ("Orders API", "/orders/{id}", 404, "NotFound", "Order {value} not found", 2, 1),
        ("Billing API", "/invoices", 422, "ValidationError", "invoice {uuid} is locked", 2, 1),
        ("Orders API", "/boom", 503, None, NO_ERROR, 1, 1),
    ]
    assert (page.failed_requests, page.truncated) == (9, False)


def test_a_group_knows_when_it_was_first_and_last_seen_and_by_which_methods(engine, failures):
    deadlocks = error_groups_page(engine, WORKSPACE, DAY).groups.row(0, named=True)
    assert (deadlocks["first_seen"], deadlocks["last_seen"], deadlocks["methods"]) == (h(5), h(1), ["GET", "POST"])


def test_a_groups_trend_counts_its_requests_per_bucket_of_the_window(engine, failures):
    trend = error_groups_page(engine, WORKSPACE, DAY).groups.row(0, named=True)["trend"]
    expected = [0] * 24
    expected[19], expected[22], expected[23] = 1, 2, 1  # 5 h, 2 h (twice) and 1 h before NOW
    assert trend == expected


def test_customers_affected_count_only_attributed_requests_and_list_the_most_affected_first(engine, failures):
    deadlocks = error_groups_page(engine, WORKSPACE, DAY).groups.row(0, named=True)
    assert (deadlocks["customers"], deadlocks["top_customers"]) == (2, ["Alpha Inc", "Beta LLC"])


def test_only_the_requested_top_few_customers_are_named(engine, failures):
    from core.analytics.error_groups import error_groups
    rows = failed_requests(engine, WORKSPACE, DAY, min_status=400).rows
    assert error_groups(rows, DAY, WORKSPACE, top_customers=1).row(0, named=True)["top_customers"] == ["Alpha Inc"]


def test_requests_below_400_and_outside_the_window_are_left_out(engine, failures):
    groups = error_groups_page(engine, WORKSPACE, DAY).groups
    assert "Warning" not in groups["error_type"].to_list()
    week = error_groups_page(engine, WORKSPACE, window("7d", NOW)).groups
    assert week.row(0, named=True)["requests"] == 5  # the deadlock 30 h ago joins in a week


def test_one_api_narrows_the_groups(engine, failures):
    groups = error_groups_page(engine, WORKSPACE, DAY, api_id=failures["billing"]).groups
    assert summary(groups) == [("Billing API", "/invoices", 422, "ValidationError", "invoice {uuid} is locked", 2, 1)]


# ---------------------------------------------------------------- reading a bounded number of rows


def test_the_read_stops_at_the_limit_with_the_newest_rows_and_says_so(engine, failures):
    got = failed_requests(engine, WORKSPACE, DAY, min_status=400, limit=3)
    assert got.truncated
    assert got.rows["timestamp"].to_list() == [h(1), h(2), h(2)]


def test_the_limit_merges_the_newest_rows_across_apis(engine, failures):
    got = failed_requests(engine, WORKSPACE, DAY, min_status=400, limit=8)
    assert (got.truncated, got.rows["timestamp"].to_list()) == (True, [h(1), h(2), h(2), h(3), h(4), h(5), h(6), h(7)])


def test_the_read_reports_no_truncation_when_everything_fit(engine, failures):
    assert failed_requests(engine, WORKSPACE, DAY, min_status=400, limit=9).truncated is False


def test_each_apis_newest_failed_requests_are_read_through_the_failed_requests_index(engine, failures):
    # Through ix_requests_api_ts the read stepped over every request of the window to find the failed ones: about
    # 0.8 s for a 30-day window of a million requests (0.4 s through this index).
    statements = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if "status >=" in statement:
            statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        assert failed_requests(engine, WORKSPACE, DAY, min_status=400).rows.height == 9
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
    [(statement, parameters)] = statements
    assert "status >= 400" in statement  # a literal: a planner uses the partial index only for a condition it can see
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
        assert "ix_requests_api_failed_ts" in plan


def test_coverage_text_says_when_the_groups_cover_only_the_newest_requests(engine, failures):
    assert coverage_text(error_groups_page(engine, WORKSPACE, DAY)) == "4 groups from 9 failed requests (status 400 or above)"
    capped = coverage_text(error_groups_page(engine, WORKSPACE, DAY, limit=3))  # the three deadlocks of 1 h and 2 h
    assert capped.startswith("1 group from 3 failed requests") and "cover the newest 3" in capped


# ---------------------------------------------------------------- scope


def test_a_customer_sees_only_the_groups_of_their_own_requests(engine, failures):
    groups = error_groups_page(engine, Scope.customer("cust_b"), DAY).groups
    assert summary(groups) == [
        ("Orders API", "/orders/{id}", 404, "NotFound", "Order {value} not found", 2, 1),
        ("Orders API", "/orders/{id}", 500, "DatabaseError", "deadlock on row {n}", 1, 1),
    ]
    assert groups["top_customers"].to_list() == [["Beta LLC"], ["Beta LLC"]]


def test_the_storage_read_gives_a_customer_none_of_another_customers_rows(engine, failures):
    got = failed_requests(engine, Scope.customer("cust_a"), DAY, min_status=400, customer_id="cust_b")
    assert got.rows.height == 0


def test_a_customer_naming_another_customer_is_refused_like_an_unknown_id(engine, failures):
    with pytest.raises(NotFound) as other:
        error_groups_page(engine, Scope.customer("cust_a"), DAY, customer_id="cust_b")
    with pytest.raises(NotFound) as unknown:
        error_groups_page(engine, Scope.customer("cust_a"), DAY, customer_id="cust_zz")
    assert str(other.value) == str(unknown.value).replace("cust_zz", "cust_b")


def test_a_customer_profile_shows_the_groups_that_customer_hit(engine, failures):
    groups = customer_error_groups(engine, WORKSPACE, "cust_a", DAY).groups
    assert summary(groups) == [
        ("Orders API", "/orders/{id}", 500, "DatabaseError", "deadlock on row {n}", 2, 1),
        ("Orders API", "/boom", 503, None, NO_ERROR, 1, 1),
    ]


def test_customer_profile_groups_refuse_a_customer_scope(engine, failures):
    with pytest.raises(ScopeError):
        customer_error_groups(engine, Scope.customer("cust_a"), "cust_a", DAY)


# ---------------------------------------------------------------- display and links


def test_the_customer_view_of_the_table_has_no_customer_columns(engine, failures):
    page = error_groups_page(engine, Scope.customer("cust_b"), DAY)
    table = groups_table(page.groups, DAY, "UTC", history_base="my-request-log", show_customers=False)
    assert CUSTOMERS not in table.columns and MOST_AFFECTED not in table.columns


def test_a_group_links_to_the_request_history_filtered_to_its_api_window_status_and_endpoint(engine, failures):
    page = error_groups_page(engine, WORKSPACE, DAY)
    link = groups_table(page.groups, DAY, "UTC", history_base="requests")[LINK][1]
    path, query = urlsplit(link).path, parse_qs(urlsplit(link).query)
    assert (path, query) == ("requests", {"api": [str(failures["orders"])], "window": ["24h"], "status": ["404"],
                                          "endpoint": ["/orders/{id}"]})


def test_a_custom_window_link_carries_its_dates_in_the_viewers_zone():
    tokyo = custom(dt.date(2026, 11, 20), dt.date(2026, 11, 22), "Asia/Tokyo")
    link = history_link("customer", tokyo, "Asia/Tokyo", api_id=None, status=500, endpoint="/a b", extra={"customer": "c&1"})
    assert parse_qs(urlsplit(link).query) == {"customer": ["c&1"], "api": ["all"], "window": ["custom"],
                                              "from": ["2026-11-20"], "to": ["2026-11-22"], "status": ["500"],
                                              "endpoint": ["/a b"]}


def test_a_brushed_range_link_carries_its_times_to_the_minute_in_the_viewers_zone():
    brushed = parse_range("2026-11-20T13:05", "2026-11-21T09:40", "Asia/Tokyo")
    link = history_link("requests", brushed, "Asia/Tokyo", api_id=None, status=500, endpoint="/a")
    assert {k: v for k, v in parse_qs(urlsplit(link).query).items() if k in ("window", "from", "to")} == {
        "window": ["custom"], "from": ["2026-11-20T13:05"], "to": ["2026-11-21T09:40"]}


# ---------------------------------------------------------------- normalising messages


@pytest.mark.parametrize("message, normalised", [
    ("deadlock on row 123", "deadlock on row {n}"),
    ("User 'bob' can't log in", "User {value} can't log in"),
    ('Key "a b" already exists', "Key {value} already exists"),
    (f"invoice {UUID_1.upper()} gone", "invoice {uuid} gone"),
    ("segfault at 0x7ffdeadbeef", "segfault at {hex}"),
    ("object 507f1f77bcf86cd799439011 missing", "object {hex} missing"),
    ("timeout after 250ms (limit 1500ms)", "timeout after {n}ms (limit {n}ms)"),
    ("user usr_8f3k2x and order_12345 failed", "user {id} and {id} failed"),
    ("OAuth2 over HTTP/2 in utf8", "OAuth2 over HTTP/{n} in utf8"),
    ("  many\n\tspaces  ", "many spaces"),
    ("", ""),
])
def test_messages_are_normalised_so_that_occurrences_group(message, normalised):
    assert normalise_message(message) == normalised


def test_a_long_message_is_cut_to_300_characters():
    assert len(normalise_message("x" * 1000)) == 300


def test_a_missing_message_stays_missing():
    assert normalise_message(None) is None


# ---------------------------------------------------------------- what the response body says


# (status, response body, SDK errors) of failed requests, and the groups they make.
BODIES = [
    (404, {"error": {"code": "not_found", "message": "No order 'A-17'."}}, []),
    (404, {"error": {"code": "not_found", "message": "No order 'B-99'."}}, []),
    (429, {"message": "Too many requests; retry in 30 s."}, []),
    (422, {"type": "about:blank", "title": "Invalid", "detail": "Field 'qty' must be positive."}, []),
    (500, {"error": {"message": "Something went wrong."}}, [{"type": "DatabaseError", "message": "deadlock on row 7"}]),  # the SDK's wins
    (502, "<html>Bad gateway</html>", []),  # not a JSON object: no message
]
BODY_GROUPS = [
    ("Orders API", "/orders/{id}", 404, None, "No order {value}.", 2, 1),
    ("Orders API", "/orders/{id}", 422, None, "Field {value} must be positive.", 1, 1),
    ("Orders API", "/orders/{id}", 429, None, "Too many requests; retry in {n} s.", 1, 1),
    ("Orders API", "/orders/{id}", 500, "DatabaseError", "deadlock on row {n}", 1, 1),
    ("Orders API", "/orders/{id}", 502, None, NO_ERROR, 1, 1),
]


def _body_requests() -> list:
    return [make_request(status=status, response_body=body, errors=errors, timestamp=h(i + 1))
            for i, (status, body, errors) in enumerate(BODIES)]


def test_without_a_reported_error_the_response_bodys_message_names_the_group(engine):
    # The demo's 4xx responses carry {"error": {"message": …}} and no SDK error: every group read "(no error
    # reported)", so the Errors page could not tell a missing order from a rate limit. (make_request skips ingest:
    # these rows are read as those stored before migration 0010, from their bodies.)
    api = store.create_api(engine, "Orders API", api_key="orders-key", sdk_token="orders-token")["api_id"]
    store.write_requests(engine, [(api, r) for r in _body_requests()])
    groups = error_groups_page(engine, WORKSPACE, DAY).groups
    assert sorted(summary(groups), key=lambda g: g[2]) == BODY_GROUPS


def test_ingest_reads_the_bodys_message_once_and_groups_use_it_without_unpacking(engine):
    # Every view unpacked each failed request's body again (half of a 30-day read of a million requests); ingest now
    # keeps the message in request_details.problem. With every body unreadable, only that column can name the groups.
    from core.ingest import enrich
    from core.storage.models import RequestDetail

    api = store.create_api(engine, "Orders API", api_key="orders-key", sdk_token="orders-token")["api_id"]
    requests = [enrich.enrich(r) for r in _body_requests()]
    assert [r.problem for r in requests] == [
        "No order 'A-17'.", "No order 'B-99'.", "Too many requests; retry in 30 s.", "Field 'qty' must be positive.", None, ""]
    assert enrich.enrich(make_request(status=200, response_body={"message": "ok"})).problem is None
    store.write_requests(engine, [(api, r) for r in requests])
    with engine.begin() as conn:
        conn.execute(sa.update(RequestDetail).values(packed=b"not zstd at all"))
    groups = error_groups_page(engine, WORKSPACE, DAY).groups
    assert sorted(summary(groups), key=lambda g: g[2]) == BODY_GROUPS


def test_details_that_cannot_be_read_leave_the_group_without_a_message_and_the_page_up(engine):
    from core.storage.models import RequestDetail

    api = store.create_api(engine, "Orders API", api_key="orders-key", sdk_token="orders-token")["api_id"]
    store.write_requests(engine, [(api, make_request(status=404, response_body={"message": "gone"}, timestamp=h(1))),
                                  (api, make_request(status=404, response_body={"message": "gone"}, timestamp=h(2)))])
    with engine.begin() as conn:
        first = conn.scalar(sa.select(sa.func.min(RequestDetail.request_id)))
        conn.execute(sa.update(RequestDetail).where(RequestDetail.request_id == first).values(packed=b"not zstd at all"))
    rows = failed_requests(engine, WORKSPACE, DAY, min_status=400).rows
    assert sorted(rows.get_column("error_message").to_list(), key=str) == [None, "gone"]
