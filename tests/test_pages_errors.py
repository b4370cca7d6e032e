"""Errors page through AppTest: the groups equal core.present.error_groups, each group's link opens exactly its
requests in the request history, the CSV holds the table, and a Customer sees only the groups of their own requests.

seed_small (tests/factories.py) failed twice in the default 7D window: cust_a GET /boom 500 30 h before NOW and
cust_b GET /missing 404 5 h before NOW (no error reported by the SDK); the test below adds errors with messages.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

from core.analytics.error_groups import NO_ERROR
from core.present.error_groups import LINK
from core.storage import models, store
from tests.factories import NOW, make_request
from tests.page_checks import errors, no_exception, open_page, read_csv, rendered_text, table
from ui.dashboard import OTHER_CUSTOMER

PAGE = "pages/errors.py"


def _groups(at) -> list[tuple]:
    shown = table(at)
    keep = [c for c in ("API", "Endpoint", "Status", "Message", "Failed requests", "Customers", "Most affected")
            if c in shown.columns]
    return [tuple(r) for r in shown.select(keep).iter_rows()]


def _open_link(seeded, role: str, link: str):
    """Open a group's link the way the browser would: its url_path's page with its query parameters."""
    path = {"requests": "pages/request_log.py", "my-request-log": "pages/my_requests.py"}[urlsplit(link).path]
    params = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(urlsplit(link).query).items()}
    return open_page(path, seeded, role, **params)


def test_the_workspace_sees_every_failed_endpoint_as_a_group(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    no_exception(at)
    assert _groups(at) == [
        ("Orders API", "/missing", 404, NO_ERROR, 1, 1, "Beta LLC"),
        ("Orders API", "/boom", 500, NO_ERROR, 1, 1, "Alpha Inc"),
    ]


def test_messages_that_differ_only_in_ids_make_one_group(seeded_app):
    engine = models.engine_for(seeded_app.db_url)
    errs = lambda n: [{"type": "KeyError", "message": f"order {n} has no invoice"}]  # noqa: E731
    store.write_requests(engine, [
        (seeded_app.api_ids["billing"], make_request(customer_id=who, status=500, endpoint="/invoices", errors=errs(n),
                                                     timestamp=NOW - dt.timedelta(hours=n)))
        for n, who in ((1, "cust_a"), (2, "cust_c"), (3, "cust_c"))])
    at = open_page(PAGE, seeded_app, "member", window="24h")
    assert _groups(at)[0] == ("Billing API", "/invoices", 500, "order {n} has no invoice", 3, 2, "Carol Co, Alpha Inc")


def test_a_groups_link_opens_exactly_its_requests_in_the_history(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    link = table(at)[LINK][0]
    history = _open_link(seeded_app, "admin", link)
    no_exception(history)
    shown = table(history)
    assert shown.select("Status", "Endpoint").rows() == [(404, "/missing")]


def test_the_csv_holds_the_groups_without_links(seeded_app, downloads):
    at = open_page(PAGE, seeded_app, "admin")
    csv = read_csv(downloads["errors-all-7d.csv"])
    assert csv.columns == [c for c in table(at).columns if c != LINK]
    assert csv.select("Endpoint", "Failed requests").rows() == [("/missing", "1"), ("/boom", "1")]


def test_a_customer_sees_only_the_groups_of_their_own_requests_and_no_customer_columns(seeded_app, downloads):
    at = open_page(PAGE, seeded_app, "customer")
    no_exception(at)
    assert _groups(at) == [("Orders API", "/boom", 500, NO_ERROR, 1)]
    text = rendered_text(at) + downloads["errors-all-7d.csv"].decode("utf-8")
    assert [s for s in ("cust_b", "cust_c", "Beta LLC", "Carol Co", "/missing", "POST") if s in text] == []


def test_a_customers_group_links_to_their_own_request_history(seeded_app):
    at = open_page(PAGE, seeded_app, "customer")
    link = table(at)[LINK][0]
    assert urlsplit(link).path == "my-request-log"
    history = _open_link(seeded_app, "customer", link)
    assert table(history).select("Status", "Endpoint").rows() == [(500, "/boom")]


def test_a_customer_naming_another_customer_in_the_url_is_refused_like_an_unknown_id(seeded_app):
    other = open_page(PAGE, seeded_app, "customer", customer="cust_b")
    unknown = open_page(PAGE, seeded_app, "customer", customer="cust_zz")
    assert errors(other) == errors(unknown) == [OTHER_CUSTOMER]
    assert not other.dataframe


def test_the_workspace_may_narrow_to_one_customer_and_links_go_to_the_profiles_history(seeded_app):
    at = open_page(PAGE, seeded_app, "admin", customer="cust_a")
    assert [g[1] for g in _groups(at)] == ["/boom"]
    link = table(at)[LINK][0]
    assert (urlsplit(link).path, parse_qs(urlsplit(link).query)["customer"]) == ("customer", ["cust_a"])


def test_an_unknown_customer_in_the_url_is_said_to_be_unknown(seeded_app):
    assert errors(open_page(PAGE, seeded_app, "admin", customer="nobody")) == ["No customer with ID 'nobody'."]
