"""Customer profile page (Admin, Member) through AppTest: the numbers equal the core.present page models, notes and the
favorite switch persist, metadata and endpoints are shown, the request history is the customer's, and
unknown or missing customers get a clear way back."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from core.domain.scope import Scope
from core.domain.timewindow import window
from core.present.profile import profile_cards, profile_page
from core.storage import cache, customers, models, store
from core.storage import request_log as history
from tests.apptest_helpers import login_as, refused
from tests.factories import NOW, make_request
from tests.page_checks import errors, no_exception, open_page, read_csv, table, url_values
from ui.widgets import md_escape

PAGE = "pages/customer_profile.py"
W7 = window("7d", NOW)


def _engine(seeded):
    return models.engine_for(seeded.db_url)


def _profile(seeded, role: str = "admin", customer: str = "cust_a", **params):
    return open_page(PAGE, seeded, role, customer=customer, **params)


def _table_with(at, column: str) -> pl.DataFrame:
    return next(t for t in (table(at, i) for i in range(len(at.dataframe))) if column in t.columns)


@pytest.mark.parametrize("role", ["admin", "member"])
def test_cards_equal_the_core_profile(seeded_app, role):
    at = _profile(seeded_app, role)
    no_exception(at)
    expected = profile_cards(profile_page(_engine(seeded_app), Scope.workspace(), "cust_a", W7))
    assert [(m.label, m.value) for m in at.metric] == [(c.label, c.value) for c in expected]
    assert [(m.label, m.value) for m in at.metric][:2] == [("Total requests", "4"), ("Share of all requests", "44.4%")]


def test_a_profile_linked_from_an_api_shows_and_names_that_apis_share(seeded_app):
    at = _profile(seeded_app, api=str(seeded_app.api_ids["orders"]))
    no_exception(at)
    assert [(m.label, m.value) for m in at.metric][:2] == [("Total requests", "4"), ("Share of this API", "50.0%")]
    assert any("Opened from Orders API" in c.value for c in at.caption)


def test_a_profile_linked_from_an_unknown_api_is_refused(seeded_app):
    at = _profile(seeded_app, api="999")
    assert errors(at) == ["No API '999'; `python -m core apis list` shows the APIs."]
    assert not at.metric


def test_title_is_the_display_name_with_the_id_beside_it(seeded_app):
    at = _profile(seeded_app)
    assert [t.value for t in at.title] == ["Alpha Inc"]
    assert any(c.value.startswith(f"Customer ID {md_escape('cust_a')}") for c in at.caption)


def test_a_customer_without_a_display_name_is_titled_by_id(seeded_app):
    store.write_requests(_engine(seeded_app), [(seeded_app.api_ids["orders"], make_request(customer_id="cust_plain"))])
    cache.refresh(_engine(seeded_app))
    assert [t.value for t in _profile(seeded_app, customer="cust_plain").title] == [md_escape("cust_plain")]


def test_request_graph_covers_the_window(seeded_app):
    at = _profile(seeded_app)
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert any("Requests over time" in s for s in specs)
    assert any("Requests per endpoint over time" in s for s in specs)


def test_metadata_attributes_are_listed(seeded_app):
    at = _profile(seeded_app)
    assert _table_with(at, "Attribute").rows() == [("Plan", "Pro")]


def test_endpoint_breakdown_equals_the_core_breakdown(seeded_app):
    at = _profile(seeded_app)
    shown = _table_with(at, "Endpoint")
    assert shown.select("Method", "Endpoint", "Requests", "Failed", "Error rate (%)").rows() == [
        ("GET", "/orders/{id}", 2, 0, 0.0), ("GET", "/boom", 1, 1, 100.0), ("GET", "/invoices", 1, 0, 0.0)]


def test_apis_used_are_listed_busiest_first(seeded_app):
    at = _profile(seeded_app)
    assert _table_with(at, "API").select("API", "Requests").rows() == [("Orders API", 3), ("Billing API", 1)]


def test_notes_are_saved_with_who_and_when(seeded_app):
    at = _profile(seeded_app)
    at.text_area[0].input("Renewal due in March; prefers email.")
    next(b for b in at.button if b.label == "Save notes").click().run()
    no_exception(at)
    info = customers.customer_info(_engine(seeded_app), Scope.workspace(), "cust_a")
    assert (info["description"], info["description_updated_by"]) == ("Renewal due in March; prefers email.", "admin@example.com")
    assert any(s.value == "Notes saved." for s in at.success)


def test_notes_persist_into_a_new_session(seeded_app):
    customers.set_description(_engine(seeded_app), Scope.workspace(), "cust_a", "Key account", "member@example.com")
    at = _profile(seeded_app)
    assert at.text_area[0].value == "Key account"
    assert any(c.value.startswith(f"Last changed by {md_escape('member@example.com')}") for c in at.caption)


def test_notes_over_the_limit_are_refused_by_the_box(seeded_app):
    at = _profile(seeded_app)
    assert at.text_area[0].proto.max_chars == customers.MAX_DESCRIPTION_CHARS


def test_favorite_switch_saves_for_the_user(seeded_app):
    at = _profile(seeded_app)
    assert at.toggle(key="favorite_cust_a").value is False
    at.toggle(key="favorite_cust_a").set_value(True).run()
    assert customers.favorites(_engine(seeded_app), seeded_app.user_ids["admin"]) == ["cust_a"]


def test_favorite_persists_into_a_new_session_and_can_be_removed(seeded_app):
    customers.set_favorite(_engine(seeded_app), seeded_app.user_ids["admin"], "cust_a", True)
    at = _profile(seeded_app)
    assert at.toggle(key="favorite_cust_a").value is True
    at.toggle(key="favorite_cust_a").set_value(False).run()
    assert customers.favorites(_engine(seeded_app), seeded_app.user_ids["admin"]) == []


def test_favorites_belong_to_one_user(seeded_app):
    customers.set_favorite(_engine(seeded_app), seeded_app.user_ids["member"], "cust_a", True)
    assert _profile(seeded_app, "admin").toggle(key="favorite_cust_a").value is False


def test_request_history_holds_only_this_customers_requests(seeded_app):
    at = _profile(seeded_app)
    shown = _table_with(at, "Request ID")
    query = history.HistoryQuery(window=W7, customer_id="cust_a")
    expected = history.request_history(_engine(seeded_app), Scope.workspace(), query).rows
    assert shown.get_column("Request ID").to_list() == expected.get_column("id").to_list()
    assert shown.height == 4
    assert "Customer" not in shown.columns


def test_request_history_csv_is_the_customers(seeded_app, downloads):
    _profile(seeded_app)
    csv = read_csv(downloads["customer-requests-page-1.csv"])
    assert csv.height == 4


def test_the_24h_window_applies_to_every_number(seeded_app):
    # A request 4 days ago: the workspace's data covers the whole day before the window, so changes show.
    store.write_requests(_engine(seeded_app), [(seeded_app.api_ids["orders"],
                                                make_request(customer_id="cust_b", timestamp=NOW - dt.timedelta(days=4)))])
    cache.refresh(_engine(seeded_app))
    at = _profile(seeded_app, window="24h")
    # cust_a in the last 24 h: 1 h, 2 h (Orders) and 6 h (Billing) ago; the 500 of 30 h ago is in the period before.
    assert [(m.label, m.value, m.proto.delta) for m in at.metric][:3] == [
        ("Total requests", "3", "+200.0%"), ("Share of all requests", "37.5%", "-62.5 pp"), ("Failed requests", "0", "-100.0%")]
    assert _table_with(at, "Request ID").height == 3


def test_unknown_customer_gets_a_clear_message(seeded_app):
    at = _profile(seeded_app, customer="nobody")
    no_exception(at)
    assert errors(at) == ["No customer with ID 'nobody'. It may have been typed wrongly, or the customer "
                          "has not called an API yet."]
    assert not at.metric


def test_unknown_customer_links_back_to_the_customers_page(seeded_app):
    at = login_as(seeded_app, "admin")
    at.query_params["customer"] = "nobody"
    at.switch_page(PAGE).run()
    assert [(link.proto.label, link.proto.page) for link in at.get("page_link")] == [("Back to Customers", "customer-dashboard")]


def test_a_hostile_customer_id_in_the_url_is_shown_as_text(seeded_app):
    at = _profile(seeded_app, customer="[click](http://evil.example)")
    [raw] = [e.value for e in at.error]  # the Markdown source, before rendering
    assert "[click](http" not in raw
    assert errors(at)[0].startswith("No customer with ID '[click](http://evil.example)'.")


def test_without_a_customer_the_page_offers_a_search(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    no_exception(at)
    assert table(at).get_column("Customer ID").to_list() == ["cust_a", "cust_b", "cust_c"]  # most recently active first
    # Its "Last active at" times were in the viewer's zone without saying which.
    assert "Customers, most recently active first · times in UTC" in [c.value for c in at.caption]
    at.text_input(key="profile_find").input("carol").run()
    assert table(at).get_column("Customer").to_list() == ["Carol Co"]
    assert url_values(at, "find") == ["carol"]


def test_a_search_without_a_match_says_so(seeded_app):
    at = open_page(PAGE, seeded_app, "admin", find="zzz")
    assert any("No customer matches" in i.value for i in at.info)


def test_customers_are_refused_even_for_their_own_profile(seeded_app):
    at = _profile(seeded_app, "customer", customer="cust_a")
    assert refused(at)
    assert not at.metric and not at.dataframe


def test_the_profile_lists_the_customers_own_error_groups_with_links_to_their_requests(seeded_app):
    at = _profile(seeded_app, window="7d")
    no_exception(at)
    groups = _table_with(at, "Error type")
    assert groups.select("Endpoint", "Status", "Failed requests").rows() == [("/boom", 500, 1)]  # not cust_b's /missing
    [link] = groups.get_column("Requests").to_list()
    assert link.startswith("customer?") and "customer=cust_a" in link and "status=500" in link
    assert "Customers" not in groups.columns


def test_a_profile_without_failed_requests_in_the_window_says_so(seeded_app):
    at = _profile(seeded_app, window="24h")  # cust_a's one failure was 30 hours ago
    no_exception(at)
    assert "No failed requests in this window." in [c.value for c in at.caption]
    assert not any("Error type" in table(at, i).columns for i in range(len(at.dataframe)))
