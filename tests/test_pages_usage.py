"""Usage page through AppTest: the month's table equals core.present.usage, the month and customer filters live in
the URL, the CSV equals the table, and a Customer sees and downloads only their own usage.

seed_small (tests/factories.py), all in November 2026 (NOW = 2026-11-25 12:00 UTC):
  Orders API   cust_a GET /orders/{id} ×2, GET /boom 500; cust_b GET /orders/{id}, GET /missing 404; nobody ×1
  Billing API  cust_a GET /invoices; cust_c GET /invoices, POST /invoices 201
"""
from __future__ import annotations

import pytest

from tests.page_checks import errors, no_exception, open_page, read_csv, rendered_text, table, url_values, warnings
from ui.dashboard import OTHER_CUSTOMER

PAGE = "pages/usage.py"


def _rows(at) -> list[tuple]:
    shown = table(at)
    keep = [c for c in ("Customer ID", "API", "Endpoint", "Method", "Requests", "Failed requests") if c in shown.columns]
    return [tuple(r) for r in shown.select(keep).iter_rows()]


@pytest.mark.parametrize("role", ["admin", "member"])
def test_the_workspace_sees_every_customer_of_the_current_month_with_hand_counted_numbers(seeded_app, role):
    at = open_page(PAGE, seeded_app, role)
    no_exception(at)
    assert _rows(at) == [
        ("cust_a", "Orders API", "/boom", "GET", 1, 1),
        ("cust_a", "Orders API", "/orders/{id}", "GET", 2, 0),
        ("cust_a", "Billing API", "/invoices", "GET", 1, 0),
        ("cust_b", "Orders API", "/missing", "GET", 1, 1),
        ("cust_b", "Orders API", "/orders/{id}", "GET", 1, 0),
        ("cust_c", "Billing API", "/invoices", "GET", 1, 0),
        ("cust_c", "Billing API", "/invoices", "POST", 1, 0),
        ("–", "Orders API", "/orders/{id}", "GET", 1, 0),
    ]
    assert url_values(at, "month") == ["2026-11"]
    assert any("9 requests, 2 failed" in c.value for c in at.caption)


def test_a_month_without_requests_says_so(seeded_app):
    at = open_page(PAGE, seeded_app, "admin", month="2026-10")
    no_exception(at)
    assert not at.dataframe
    assert [i.value for i in at.info] == ["No requests in this month. Pick another month or API."]


def test_a_month_that_is_not_one_is_replaced_by_the_newest_with_a_warning(seeded_app):
    at = open_page(PAGE, seeded_app, "admin", month="2026-13")
    assert warnings(at) == ["'2026-13' is not a month; write it as YYYY-MM, e.g. 2026-11. Showing November 2026."]
    assert url_values(at, "month") == ["2026-11"]


def test_the_customer_filter_comes_from_the_url_and_narrows_the_rows(seeded_app):
    at = open_page(PAGE, seeded_app, "admin", customer="cust_c")
    assert _rows(at) == [("cust_c", "Billing API", "/invoices", "GET", 1, 0), ("cust_c", "Billing API", "/invoices", "POST", 1, 0)]


def test_an_unknown_customer_in_the_url_is_said_to_be_unknown(seeded_app):
    at = open_page(PAGE, seeded_app, "admin", customer="nobody")
    assert errors(at) == ["No customer with ID 'nobody'."]


def test_the_api_filter_narrows_the_rows(seeded_app):
    at = open_page(PAGE, seeded_app, "admin", api=str(seeded_app.api_ids["billing"]))
    assert [r[0] for r in _rows(at)] == ["cust_a", "cust_c", "cust_c"]


def test_the_csv_holds_the_table(seeded_app, downloads):
    at = open_page(PAGE, seeded_app, "admin")
    csv = read_csv(downloads["usage-2026-11.csv"])
    assert csv.columns == table(at).columns
    assert csv.select("Customer ID", "Requests", "Failed requests").rows() == [
        (r[0], str(r[4]), str(r[5])) for r in _rows(at)]


def test_a_customer_sees_and_downloads_only_their_own_usage(seeded_app, downloads):
    at = open_page(PAGE, seeded_app, "customer")
    no_exception(at)
    assert _rows(at) == [("Orders API", "/boom", "GET", 1, 1), ("Orders API", "/orders/{id}", "GET", 2, 0),
                         ("Billing API", "/invoices", "GET", 1, 0)]
    assert "Customer" not in table(at).columns
    text = rendered_text(at) + downloads["usage-2026-11.csv"].decode("utf-8")
    assert [s for s in ("cust_b", "cust_c", "Beta LLC", "Carol Co", "/missing", "POST") if s in text] == []


def test_a_customer_naming_another_customer_in_the_url_is_refused_like_an_unknown_id(seeded_app):
    other = open_page(PAGE, seeded_app, "customer", customer="cust_b")
    unknown = open_page(PAGE, seeded_app, "customer", customer="cust_zz")
    assert errors(other) == errors(unknown) == [OTHER_CUSTOMER]
    assert not other.dataframe
