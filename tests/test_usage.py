"""Usage for billing (`core.storage.usage`, `core.present.usage`, `python -m core usage`): exact requests and
failed requests per customer × API × endpoint × method in a UTC calendar month, scoped, on SQLite and PostgreSQL.

The `billing` fixture, by hand (O = Orders API, B = Billing API; "failed" = status 400 or above):
  cust_a  O GET  /orders/{id}  200  2026-10-31 23:59:59 UTC        October (the last second before November)
  cust_a  O GET  /orders/{id}  200  2026-11-01 00:00:00 UTC        November (its first instant)
  cust_a  O GET  /orders/{id}  500  2026-11-15 12:00 UTC           November, failed
  cust_a  O GET  /orders/{id}  404  2026-11-30 23:59:59 UTC        November (its last second), failed
  cust_a  O POST /orders       201  2026-11-02 UTC                 November
  cust_a  O GET  /orders/{id}  200  2026-12-01 00:00:00 UTC        December
  cust_b  O GET  /orders/{id}  399  2026-11-03 UTC                 November, not failed
  cust_b  O GET  /orders/{id}  400  2026-11-03 UTC                 November, failed
  cust_b  O GET  /orders/{id}  200  2026-12-01 00:30 +01:00        = 2026-11-30 23:30 UTC: November
  cust_b  B GET  /invoices     200  2026-11-04 UTC                 November
  nobody  O GET  /orders/{id}  503  2026-11-05 UTC                 November, failed
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json

import polars as pl
import pytest
import sqlalchemy as sa

from core.analytics import metrics
from core.cli import main as cli
from core.domain.scope import Scope
from core.domain.timewindow import Window
from core.present.export import to_csv
from core.present.page_data import scoped_rows
from core.present.usage import UsageError, month_bounds, usage_json, usage_rows, usage_table
from core.storage import cache, models, store
from core.storage.store import NotFound
from core.storage.usage import usage_counts, visible_api
from tests.factories import make_request

UTC = dt.timezone.utc
WORKSPACE = Scope.workspace()
COLUMNS = ["customer_id", "api_id", "endpoint", "method", "requests", "failed_requests"]


def at(*parts, tz=UTC) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=tz)


@pytest.fixture
def billing(engine) -> dict:
    o = store.create_api(engine, "Orders API", api_key="orders-key", sdk_token="orders-token")["api_id"]
    b = store.create_api(engine, "Billing API", api_key="billing-key", sdk_token="billing-token")["api_id"]
    rows = [
        (o, "cust_a", "GET", "/orders/{id}", 200, at(2026, 10, 31, 23, 59, 59)),
        (o, "cust_a", "GET", "/orders/{id}", 200, at(2026, 11, 1, 0, 0, 0)),
        (o, "cust_a", "GET", "/orders/{id}", 500, at(2026, 11, 15, 12)),
        (o, "cust_a", "GET", "/orders/{id}", 404, at(2026, 11, 30, 23, 59, 59)),
        (o, "cust_a", "POST", "/orders", 201, at(2026, 11, 2)),
        (o, "cust_a", "GET", "/orders/{id}", 200, at(2026, 12, 1, 0, 0, 0)),
        (o, "cust_b", "GET", "/orders/{id}", 399, at(2026, 11, 3)),
        (o, "cust_b", "GET", "/orders/{id}", 400, at(2026, 11, 3)),
        (o, "cust_b", "GET", "/orders/{id}", 200, at(2026, 12, 1, 0, 30, tz=dt.timezone(dt.timedelta(hours=1)))),
        (b, "cust_b", "GET", "/invoices", 200, at(2026, 11, 4)),
        (o, None, "GET", "/orders/{id}", 503, at(2026, 11, 5)),
    ]
    store.write_requests(engine, [
        (api, make_request(customer_id=who, method=method, endpoint=endpoint, status=status, timestamp=ts,
                           display_name={"cust_a": "Alpha Inc", "cust_b": "Beta LLC"}.get(who)))
        for api, who, method, endpoint, status, ts in rows])
    return {"orders": o, "billing": b}


def as_tuples(frame) -> list[tuple]:
    return [tuple(r) for r in frame.select(COLUMNS).iter_rows()]


def november(billing) -> list[tuple]:
    o, b = billing["orders"], billing["billing"]
    return [
        ("cust_a", o, "/orders", "POST", 1, 0),
        ("cust_a", o, "/orders/{id}", "GET", 3, 2),
        ("cust_b", o, "/orders/{id}", "GET", 3, 1),
        ("cust_b", b, "/invoices", "GET", 1, 0),
        (None, o, "/orders/{id}", "GET", 1, 1),
    ]


# ---------------------------------------------------------------- the numbers


def test_a_month_has_one_row_per_customer_api_endpoint_and_method_with_hand_counted_numbers(engine, billing):
    assert as_tuples(usage_table(engine, WORKSPACE, "2026-11")) == november(billing)


def test_the_last_second_of_a_month_counts_in_it_and_the_first_second_of_the_next_does_not(engine, billing):
    o = billing["orders"]
    assert as_tuples(usage_table(engine, WORKSPACE, "2026-10")) == [("cust_a", o, "/orders/{id}", "GET", 1, 0)]
    assert as_tuples(usage_table(engine, WORKSPACE, "2026-12")) == [("cust_a", o, "/orders/{id}", "GET", 1, 0)]


def test_a_request_sent_with_another_zone_counts_in_its_utc_month(engine, billing):
    # cust_b's 2026-12-01 00:30 +01:00 is 2026-11-30 23:30 UTC: November has 3 of their Orders calls, December none.
    o = billing["orders"]
    assert ("cust_b", o, "/orders/{id}", "GET", 3, 1) in as_tuples(usage_table(engine, WORKSPACE, "2026-11"))
    assert [r for r in as_tuples(usage_table(engine, WORKSPACE, "2026-12")) if r[0] == "cust_b"] == []


def test_status_400_is_failed_and_399_is_not(engine, billing):
    o = billing["orders"]
    table = usage_table(engine, WORKSPACE, "2026-11", api_id=o, customer_id="cust_b")
    assert as_tuples(table) == [("cust_b", o, "/orders/{id}", "GET", 3, 1)]


def test_a_month_without_requests_is_an_empty_table_with_the_usage_columns(engine, billing):
    table = usage_table(engine, WORKSPACE, "2027-01")
    assert (table.height, table.columns) == (0, COLUMNS)


def test_one_api_and_one_customer_narrow_the_rows(engine, billing):
    o, b = billing["orders"], billing["billing"]
    assert as_tuples(usage_table(engine, WORKSPACE, "2026-11", api_id=b)) == [("cust_b", b, "/invoices", "GET", 1, 0)]
    assert as_tuples(usage_table(engine, WORKSPACE, "2026-11", customer_id="cust_a")) == [
        ("cust_a", o, "/orders", "POST", 1, 0), ("cust_a", o, "/orders/{id}", "GET", 3, 2)]


def test_the_numbers_equal_the_dashboards_for_the_same_month(engine, billing, fresh_cache):
    # The dashboard's overview (core.analytics.metrics over the page data) for a window that is the month.
    start, end = month_bounds("2026-11")
    month = Window(start, end, "1d", "custom")
    table = usage_table(engine, WORKSPACE, "2026-11")
    for api_id in billing.values():
        for who in ("cust_a", "cust_b", None):
            scope = WORKSPACE if who is None else Scope.customer(who)
            rows = scoped_rows(engine, scope, month, api_id=api_id)
            shown = metrics.overview(rows, month, scope).current
            mine = table.filter(table["api_id"] == api_id)
            if who is not None:
                mine = mine.filter(mine["customer_id"] == who)
            assert (int(mine["requests"].sum()), int(mine["failed_requests"].sum())) == (
                shown.total_requests, shown.failed_requests), (api_id, who)


# ---------------------------------------------------------------- months


@pytest.mark.parametrize("month, start, end", [
    ("2026-11", at(2026, 11, 1), at(2026, 12, 1)),
    ("2026-12", at(2026, 12, 1), at(2027, 1, 1)),
    ("2028-02", at(2028, 2, 1), at(2028, 3, 1)),
])
def test_a_month_is_its_utc_calendar_month(month, start, end):
    assert month_bounds(month) == (start, end)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-11", "November", "", "2026-11-01"])
def test_a_month_that_is_not_yyyy_mm_is_refused_with_how_to_write_it(text):
    with pytest.raises(UsageError, match="write it as YYYY-MM"):
        month_bounds(text)


# ---------------------------------------------------------------- scope


def test_a_customer_scope_gets_only_its_own_rows(engine, billing):
    o, b = billing["orders"], billing["billing"]
    assert as_tuples(usage_table(engine, Scope.customer("cust_b"), "2026-11")) == [
        ("cust_b", o, "/orders/{id}", "GET", 3, 1), ("cust_b", b, "/invoices", "GET", 1, 0)]



@pytest.mark.parametrize("month", ["2026-10", "2026-11", "2026-12"])
@pytest.mark.parametrize("ask", [{}, {"api": "orders"}, {"customer_id": "cust_b"}, {"as": "cust_a"}])
def test_usage_summed_from_the_cache_equals_usage_read_from_sql(engine, billing, month, ask):
    scope = Scope.customer(ask["as"]) if "as" in ask else WORKSPACE
    api_id = billing[ask["api"]] if "api" in ask else None
    start, end = month_bounds(month)

    def usage() -> pl.DataFrame:
        return usage_counts(engine, scope, start, end, failed_status=400, api_id=api_id, customer_id=ask.get("customer_id"))

    cache.invalidate(engine)
    from_sql = usage()
    cache.refresh(engine)
    try:
        assert usage().equals(from_sql)
    finally:
        cache.invalidate(engine)


def test_a_settled_month_of_usage_is_summed_from_the_cache_not_read_again_in_sql(engine, billing):
    # Seen at 10 million requests: a month of every API's usage read 2.4 million rollup rows in SQL (4 s) on each view,
    # while the process held them in memory.
    start, end = month_bounds("2026-11")
    cache.refresh(engine)
    statements = []

    def record(_conn, _cursor, sql, *_rest):
        statements.append(sql)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        usage = usage_counts(engine, WORKSPACE, start, end, failed_status=400)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
        cache.invalidate(engine)
    assert usage.get_column("requests").sum() == 9
    assert not [sql for sql in statements if "rollup_hours" in sql]

def test_the_storage_filter_itself_keeps_a_customer_to_their_rows_even_when_asked_for_another(engine, billing):
    start, end = month_bounds("2026-11")
    theirs = usage_counts(engine, Scope.customer("cust_a"), start, end, failed_status=400, customer_id="cust_b")
    assert theirs.height == 0


def test_a_customer_naming_another_customer_is_refused_like_an_unknown_id(engine, billing):
    with pytest.raises(NotFound) as other:
        usage_table(engine, Scope.customer("cust_a"), "2026-11", customer_id="cust_b")
    with pytest.raises(NotFound) as unknown:
        usage_table(engine, Scope.customer("cust_a"), "2026-11", customer_id="cust_zz")
    assert str(other.value) == str(unknown.value).replace("cust_zz", "cust_b") == "No customer with ID 'cust_b'."


def test_a_workspace_asking_for_an_unknown_customer_is_told_so(engine, billing):
    with pytest.raises(NotFound, match="No customer with ID 'nobody'"):
        usage_table(engine, WORKSPACE, "2026-11", customer_id="nobody")


def test_a_customer_may_name_only_apis_they_called_and_others_read_like_unknown_ones(engine, billing):
    own = visible_api(engine, Scope.customer("cust_a"), "Orders API")
    assert own == {"api_id": billing["orders"], "name": "Orders API"}
    with pytest.raises(LookupError) as never_called:
        visible_api(engine, Scope.customer("cust_a"), str(billing["billing"]))
    with pytest.raises(LookupError) as missing:
        visible_api(engine, Scope.customer("cust_a"), "999999")
    assert str(never_called.value) == str(missing.value).replace("999999", str(billing["billing"]))


# ---------------------------------------------------------------- display and CSV


def test_the_display_rows_name_customers_and_apis_and_a_customer_sees_no_customer_columns(engine, billing, fresh_cache):
    table = usage_table(engine, WORKSPACE, "2026-11")
    apis = cache.visible_apis(engine, WORKSPACE)
    shown = usage_rows(table, pl.DataFrame(apis), cache.customers_frame(engine, WORKSPACE))
    assert shown.select("Customer", "API", "Endpoint", "Method", "Requests", "Failed requests").rows() == [
        ("Alpha Inc", "Orders API", "/orders", "POST", 1, 0),
        ("Alpha Inc", "Orders API", "/orders/{id}", "GET", 3, 2),
        ("Beta LLC", "Orders API", "/orders/{id}", "GET", 3, 1),
        ("Beta LLC", "Billing API", "/invoices", "GET", 1, 0),
        ("(no customer)", "Orders API", "/orders/{id}", "GET", 1, 1),
    ]
    own = usage_rows(usage_table(engine, Scope.customer("cust_a"), "2026-11"), pl.DataFrame(apis),
                     cache.customers_frame(engine, Scope.customer("cust_a")), show_customer=False)
    assert own.columns == ["API", "API ID", "Endpoint", "Method", "Requests", "Failed requests"]


def test_usage_json_holds_the_month_its_utc_bounds_and_the_rows(engine, billing):
    data = usage_json("2026-11", usage_table(engine, WORKSPACE, "2026-11"))
    assert (data["month"], data["start"], data["end"]) == ("2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert [tuple(r[c] for c in COLUMNS) for r in data["rows"]] == november(billing)


# ---------------------------------------------------------------- the command line


@pytest.fixture
def behind_env(engine, billing, db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_url)
    yield billing
    models.engine_for(db_url).dispose()
    models.engine_for.cache_clear()


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli(["usage", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_prints_the_month_and_its_rows(behind_env, capsys):
    code, out, _ = run(capsys, "--month", "2026-11", "--json")
    data = json.loads(out)
    assert (code, data["month"]) == (0, "2026-11")
    assert [tuple(r[c] for c in COLUMNS) for r in data["rows"]] == november(behind_env)


def test_cli_csv_prints_the_same_rows_as_csv(behind_env, capsys):
    code, out, _ = run(capsys, "--month", "2026-11", "--csv", "--api", "Billing API")
    rows = list(csv.reader(io.StringIO(out.removeprefix("\ufeff"))))
    assert (code, rows) == (0, [COLUMNS, ["cust_b", str(behind_env["billing"]), "/invoices", "GET", "1", "0"]])


def test_cli_csv_is_the_export_writers_bytes(behind_env, capsys, engine):
    _, out, _ = run(capsys, "--month", "2026-10", "--csv")
    assert out.encode() == to_csv(usage_table(engine, WORKSPACE, "2026-10"))


def test_cli_as_a_customer_prints_only_their_rows(behind_env, capsys):
    code, out, _ = run(capsys, "--month", "2026-11", "--json", "--as-customer", "cust_b")
    assert code == 0
    assert {r["customer_id"] for r in json.loads(out)["rows"]} == {"cust_b"}
    assert "cust_a" not in out


def test_cli_as_a_customer_naming_another_customer_is_refused_like_an_unknown_id(behind_env, capsys):
    other = run(capsys, "--month", "2026-11", "--json", "--as-customer", "cust_a", "--customer", "cust_b")
    unknown = run(capsys, "--month", "2026-11", "--json", "--as-customer", "cust_a", "--customer", "cust_zz")
    assert (other[0], other[1]) == (2, "")
    assert other[2] == unknown[2].replace("cust_zz", "cust_b") == "error: No customer with ID 'cust_b'.\n"


def test_cli_as_a_customer_naming_an_api_they_never_called_is_refused_like_an_unknown_api(behind_env, capsys):
    never = run(capsys, "--month", "2026-11", "--json", "--as-customer", "cust_a", "--api", "Billing API")
    unknown = run(capsys, "--month", "2026-11", "--json", "--as-customer", "cust_a", "--api", "No Such API")
    assert (never[0], never[1]) == (2, "")
    assert never[2] == unknown[2].replace("No Such API", "Billing API")


def test_cli_refuses_a_bad_month(behind_env, capsys):
    code, out, err = run(capsys, "--month", "2026-13", "--json")
    assert (code, out) == (2, "")
    assert "write it as YYYY-MM" in err


def test_cli_needs_json_or_csv(behind_env, capsys):
    with pytest.raises(SystemExit):
        cli(["usage", "--month", "2026-11"])
