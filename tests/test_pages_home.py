"""Home page (Admin, Member) through AppTest: the numbers equal the core.present page models for the same inputs, every
API has its card and a link to its Customers page, and a top customer's row opens their profile."""
from __future__ import annotations

import datetime as dt

import pytest

from core.auth import users
from core.domain.scope import Scope
from core.domain.timewindow import window
from core.present.cards import NO_PREVIOUS
from core.present.home import api_cards, home_cards, home_page
from core.present.tables import top_table
from core.storage import cache, models, store
from tests.apptest_helpers import PASSWORD, SeededApp, fast_bcrypt, login_as, refused, set_app_env
from tests.factories import NOW, make_request
from tests.page_checks import no_exception, open_page, table, url_values
from ui.widgets import md_escape

PAGE = "pages/home.py"
W7 = window("7d", NOW)


def _engine(seeded):
    return models.engine_for(seeded.db_url)


def _metrics(at) -> list[tuple[str, str, str]]:
    return [(m.label, m.value, m.proto.delta) for m in at.metric]


def _expected_cards(seeded, win=W7) -> list[tuple[str, str, str]]:
    page = home_page(_engine(seeded), Scope.workspace(), win)
    cards = home_cards(page) + [c for api in page.apis.iter_rows(named=True) for c in api_cards(api)]
    return [(c.label, c.value, c.delta or "") for c in cards]


@pytest.mark.parametrize("role", ["admin", "member"])
def test_every_card_equals_the_core_numbers(seeded_app, role):
    at = open_page(PAGE, seeded_app, role)
    no_exception(at)
    assert _metrics(at) == _expected_cards(seeded_app)


def test_workspace_cards_read_the_seeded_traffic(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    # The first request was 30 h ago: there is no full week before this one to compare with.
    assert _metrics(at)[:4] == [("Requests", "9", NO_PREVIOUS), ("Failed requests", "22.2%", NO_PREVIOUS),
                                ("Active customers", "3", NO_PREVIOUS), ("New customers", "3", NO_PREVIOUS)]


def test_each_api_has_a_card_under_its_name(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    assert [m.value for m in at.markdown if m.value.startswith("####")] == ["#### Billing API", "#### Orders API"]


def test_the_24h_window_changes_every_number(seeded_app):
    # An unattributed request 4 days ago: the data then covers the whole day before the window.
    store.write_requests(_engine(seeded_app), [(seeded_app.api_ids["orders"],
                                                make_request(customer_id=None, timestamp=NOW - dt.timedelta(days=4)))])
    cache.refresh(_engine(seeded_app))
    at = open_page(PAGE, seeded_app, "admin", window="24h")
    # The 500 of 30 h ago moves to the period before: 8 requests (1 failed) against 1 (failed).
    assert _metrics(at)[:2] == [("Requests", "8", "+700.0%"), ("Failed requests", "12.5%", "-87.5 pp")]
    assert _metrics(at) == _expected_cards(seeded_app, window("24h", NOW))


def test_picking_a_window_updates_the_page_and_the_url(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    at.segmented_control(key="window").set_value("24h").run()
    assert (_metrics(at)[0][1], url_values(at, "window")) == ("8", ["24h"])


def test_top_customers_table_equals_the_core_ranking(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    expected = top_table(home_page(_engine(seeded_app), Scope.workspace(), W7).top_customers)
    shown = table(at)
    assert shown.select("Rank", "Customer", "Customer ID", "Requests").rows() == expected.select(
        "Rank", "Customer", "Customer ID", "Requests").rows()
    assert shown.get_column("Share (%)").to_list() == [44.4, 22.2, 22.2]


def test_top_customers_chart_draws_the_same_customers(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    [chart] = at.get("vega_lite_chart")
    assert "Requests by top customer" in chart.proto.spec


def test_a_window_without_requests_says_what_to_do(seeded_app):
    at = open_page(PAGE, seeded_app, "admin", window="custom", **{"from": "2020-01-01", "to": "2020-01-02"})
    no_exception(at)
    assert _metrics(at)[0][:2] == ("Requests", "0")
    assert any("No requests in this time window" in i.value for i in at.info)


def test_an_idle_api_still_gets_its_card(seeded_app):
    store.create_api(_engine(seeded_app), "Idle API")
    at = open_page(PAGE, seeded_app, "admin")
    assert "#### Idle API" in [m.value for m in at.markdown]


def test_api_names_are_shown_as_text_not_markdown(seeded_app):
    name = "**Bold** [x](http://evil.example)"
    store.create_api(_engine(seeded_app), name)
    at = open_page(PAGE, seeded_app, "admin")
    assert f"#### {md_escape(name)}" in [m.value for m in at.markdown]


def test_each_api_card_links_to_its_customers_page(seeded_app):
    at = login_as(seeded_app, "admin")
    links = [(link.proto.label, link.proto.page, link.proto.query_string) for link in at.get("page_link")]
    api = seeded_app.api_ids
    assert links == [("Customers of Billing API", "customer-dashboard", f"api={api['billing']}"),
                     ("Customers of Orders API", "customer-dashboard", f"api={api['orders']}")]


def test_home_is_the_first_page_of_admins_and_members(seeded_app):
    for role in ("admin", "member"):
        at = login_as(seeded_app, role)
        assert [t.value for t in at.title] == ["Home"]


def test_selecting_a_top_customer_opens_their_profile(seeded_app):
    at = login_as(seeded_app, "admin")
    # Row 1 of the ranking is cust_b (2 requests, before cust_c by ID).
    at.session_state["home_top"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    no_exception(at)
    assert [t.value for t in at.title] == ["Beta LLC"]
    assert url_values(at, "customer") == ["cust_b"]


@pytest.fixture
def empty_app(tmp_path, monkeypatch) -> SeededApp:
    """A workspace with an admin and no API yet."""
    fast_bcrypt(monkeypatch)
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = models.make_engine(url)
    models.init_db(engine)
    admin = users.create_user(engine, email="admin@example.com", name="Ada", password=PASSWORD, role="admin")
    engine.dispose()
    set_app_env(monkeypatch, url)
    yield SeededApp(db_url=url, user_ids={"admin": admin}, api_ids={})
    models.engine_for(url).dispose()


def test_a_workspace_without_apis_explains_how_to_get_data_in(empty_app):
    at = open_page(PAGE, empty_app, "admin")
    no_exception(at)
    [info] = [i.value for i in at.info]
    assert "python -m core collector" in info and "python -m core demo" in info
    assert not at.metric


def test_customers_are_refused(seeded_app):
    at = open_page(PAGE, seeded_app, "customer")
    assert refused(at)
    assert not at.metric


def test_new_traffic_shows_without_a_restart(seeded_app):
    open_page(PAGE, seeded_app, "admin")
    store.write_requests(_engine(seeded_app), [(seeded_app.api_ids["orders"],
                                                make_request(customer_id="cust_new", timestamp=NOW - dt.timedelta(minutes=5)))])
    cache.refresh(_engine(seeded_app))
    at = open_page(PAGE, seeded_app, "admin")
    assert _metrics(at)[0][:2] == ("Requests", "10")


def test_a_custom_range_is_whole_days_in_the_viewers_zone(seeded_app, monkeypatch):
    monkeypatch.setenv("CLIENTELE_TIMEZONE", "Asia/Tokyo")  # AppTest has no browser zone: the fallback applies
    at = open_page(PAGE, seeded_app, "admin", window="custom", **{"from": "2026-11-24", "to": "2026-11-25"})
    no_exception(at)
    # Two Tokyo days: from Nov 24 00:00 to Nov 26 00:00 Tokyo time (UTC days would read 09:00 → 09:00).
    assert any(c.value.startswith("2026-11-24 00:00 → 2026-11-26 00:00 (Asia/Tokyo)") for c in at.caption)
    # Every seeded request (1 h to 30 h before 2026-11-25 21:00 Tokyo) falls in those two Tokyo days.
    assert _metrics(at)[0][:2] == ("Requests", "9")


def test_a_segment_narrows_homes_numbers_to_its_customers(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    [segment] = [s for s in at.selectbox if s.label == "Segment"]
    segment.select("Plan = Pro").run()
    no_exception(at)
    # Only cust_a carries Plan = Pro: 4 requests this week (3 on Orders, 1 on Billing), one of them failed.
    assert _metrics(at)[:4] == [("Requests", "4", NO_PREVIOUS), ("Failed requests", "25.0%", NO_PREVIOUS),
                                ("Active customers", "1", NO_PREVIOUS), ("New customers", "1", NO_PREVIOUS)]
    page = home_page(_engine(seeded_app), Scope.workspace(), W7, segment="Plan = Pro")
    assert page.top_customers.get_column("customer_id").cast(str).to_list() == ["cust_a"]
