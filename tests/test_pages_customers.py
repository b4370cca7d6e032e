"""Customers page (Admin, Member) through AppTest: widgets and the customer list equal the core.present page models,
widget switches persist per user across sessions, favorites show up, search and CSV match the table, and a
selected row opens the profile."""
from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from core.domain.scope import Scope
from core.domain.timewindow import window
from core.present.customers import customers_page, widget_cards
from core.present.tables import LAST_ACTIVE_AT, SHARE, TREND, customer_table
from core.storage import cache, customers, models, store
from tests.apptest_helpers import login_as, refused
from tests.factories import NOW, make_request
from tests.page_checks import no_exception, open_page, read_csv, table, url_values
from ui.widgets import md_escape

PAGE = "pages/customers.py"
W7 = window("7d", NOW)
TZ = "UTC"  # AppTest has no browser time zone


def _engine(seeded):
    return models.engine_for(seeded.db_url)


def _orders(seeded, role: str = "admin", **params):
    return open_page(PAGE, seeded, role, api=str(seeded.api_ids["orders"]), **params)


def _model(seeded, win=W7, favorites=()):
    return customers_page(_engine(seeded), Scope.workspace(), seeded.api_ids["orders"], win, favorites)


def _list_table(at) -> pl.DataFrame:
    """The "All customers" table: the one with a sparkline column."""
    return next(t for t in (table(at, i) for i in range(len(at.dataframe))) if TREND in t.columns)


@pytest.mark.parametrize("role", ["admin", "member"])
def test_number_widgets_equal_the_core_widgets(seeded_app, role):
    at = _orders(seeded_app, role)
    no_exception(at)
    cards = widget_cards(_model(seeded_app).widgets)
    expected = [(c.label, c.value) for key, c in cards.items() if key != "top_customer"]
    assert [(m.label, m.value) for m in at.metric] == expected
    # Orders: cust_a and cust_b are new and active; (3 + 2) / 2 = 2.5 requests each.
    assert expected == [("New Customers", "2"), ("Active Customers", "2"), ("Avg. Requests per Customer", "2.5")]


def test_top_customer_widget_names_the_busiest_customer(seeded_app):
    at = _orders(seeded_app)
    assert "Alpha Inc" in [s.value for s in at.subheader]
    assert md_escape("3 requests · 50.0% of this API's") in [c.value for c in at.caption]


def test_customer_list_equals_the_core_list(seeded_app):
    at = _orders(seeded_app)
    expected = customer_table(_model(seeded_app).customers, TZ, NOW)
    shown = _list_table(at)
    assert shown.drop(TREND, LAST_ACTIVE_AT).rows() == expected.drop(TREND, LAST_ACTIVE_AT).rows()
    # 7 daily buckets from 11-18 12:00: cust_a at 30 h (6th), 1 h and 2 h (7th); cust_b at 3 h and 5 h.
    assert shown.get_column(TREND).to_list() == [[0, 0, 0, 0, 0, 1, 2], [0, 0, 0, 0, 0, 0, 2]]


def test_customer_list_reads_as_people_expect(seeded_app):
    row = _list_table(_orders(seeded_app)).row(0, named=True)
    assert (row["Customer"], row["Customer ID"], row["Requests"], row["Share (%)"], row["Last active"],
            row["Error rate (%)"]) == ("Alpha Inc", "cust_a", 3, 50.0, "1 h ago", 33.3)


def test_the_api_comes_from_the_url(seeded_app):
    at = open_page(PAGE, seeded_app, "admin", api=str(seeded_app.api_ids["billing"]))
    assert _list_table(at).get_column("Customer ID").to_list() == ["cust_c", "cust_a"]


def test_search_narrows_the_list_and_goes_into_the_url(seeded_app):
    at = _orders(seeded_app)
    at.text_input(key="customers_q").input("BETA").run()
    assert _list_table(at).get_column("Customer ID").to_list() == ["cust_b"]
    assert url_values(at, "q") == ["BETA"]


def test_search_from_the_url(seeded_app):
    at = _orders(seeded_app, q="cust_a")
    assert _list_table(at).get_column("Customer").to_list() == ["Alpha Inc"]


def test_search_without_a_match_says_so(seeded_app):
    at = _orders(seeded_app, q="nobody")
    assert any("No requests match" in i.value for i in at.info)


def test_csv_download_equals_the_table(seeded_app, downloads):
    at = _orders(seeded_app)
    shown = _list_table(at).drop(TREND)
    name = f"customers-{seeded_app.api_ids['orders']}-7d.csv"
    csv = read_csv(downloads[name])
    assert csv.columns == shown.columns
    assert csv.get_column("Customer ID").to_list() == shown.get_column("Customer ID").to_list()
    assert csv.get_column("Requests").to_list() == ["3", "2"]
    assert csv.get_column("Share (%)").to_list() == ["50.0", "33.3"]
    assert csv.get_column("Last active at").to_list() == ["2026-11-25T11:00:00", "2026-11-25T09:00:00"]


def test_csv_of_a_search_holds_only_the_matches(seeded_app, downloads):
    _orders(seeded_app, q="beta")
    csv = read_csv(downloads[f"customers-{seeded_app.api_ids['orders']}-7d.csv"])
    assert csv.get_column("Customer ID").to_list() == ["cust_b"]


def test_every_widget_is_shown_at_first(seeded_app):
    at = _orders(seeded_app)
    assert [t.label for t in at.toggle] == [title for _key, title in customers.WIDGETS]
    assert all(t.value for t in at.toggle)
    assert {"**Customers List** · the 10 newest", "**Favorite Customers**", "**Top Customers List**"} <= {m.value for m in at.markdown}


def test_switching_a_widget_off_hides_it_and_is_saved_for_the_user(seeded_app):
    at = _orders(seeded_app)
    at.toggle(key="widget_new_customers").set_value(False).run()
    assert "New Customers" not in [m.label for m in at.metric]
    assert customers.get_widget_prefs(_engine(seeded_app), seeded_app.user_ids["admin"])["new_customers"] is False


def test_widget_switches_persist_across_sessions(seeded_app):
    at = _orders(seeded_app)
    at.toggle(key="widget_top_customers_list").set_value(False).run()
    at.toggle(key="widget_active_customers").set_value(False).run()
    again = _orders(seeded_app)  # a new session of the same user
    assert [m.label for m in again.metric] == ["New Customers", "Avg. Requests per Customer"]
    assert "**Top Customers List**" not in [m.value for m in again.markdown]
    assert again.toggle(key="widget_active_customers").value is False


def test_widget_switches_belong_to_one_user(seeded_app):
    _orders(seeded_app, "admin").toggle(key="widget_new_customers").set_value(False).run()
    assert "New Customers" in [m.label for m in _orders(seeded_app, "member").metric]


def test_with_every_widget_off_the_list_remains(seeded_app):
    customers.set_widget_prefs(_engine(seeded_app), seeded_app.user_ids["admin"], {k: False for k, _ in customers.WIDGETS})
    at = _orders(seeded_app)
    no_exception(at)
    assert (len(at.metric), _list_table(at).height) == (0, 2)


def test_favorites_widget_lists_the_users_favorites(seeded_app):
    customers.set_favorite(_engine(seeded_app), seeded_app.user_ids["admin"], "cust_b", True)
    at = _orders(seeded_app)
    favorites = next(table(at, i) for i in range(len(at.dataframe)) if "Change (%)" in table(at, i).columns
                     and "Last active" in table(at, i).columns)
    assert favorites.select("Customer", "Requests", "Last active").rows() == [("Beta LLC", 2, "3 h ago")]


def test_favorites_widget_explains_how_to_add_one(seeded_app):
    at = _orders(seeded_app)
    assert any("No favorites yet" in c.value for c in at.caption)


def test_recent_customers_widget_lists_the_newest_first(seeded_app):
    at = _orders(seeded_app)
    recent = next(table(at, i) for i in range(len(at.dataframe)) if "First seen" in table(at, i).columns)
    # First seen on Orders: cust_b 5 h ago, cust_a 30 h ago.
    assert recent.select("Customer", "First seen").rows() == [("Beta LLC", "5 h ago"), ("Alpha Inc", "1 d ago")]


def _quiet_customer(seeded, customer_id: str, name: str, requests_before: int) -> None:
    """requests_before requests in the 24 hours before the 24H window, none in it."""
    store.write_requests(_engine(seeded), [(seeded.api_ids["orders"], make_request(
        customer_id=customer_id, display_name=name, timestamp=NOW - dt.timedelta(hours=25 + h * 0.5)))
        for h in range(requests_before)])
    cache.refresh(_engine(seeded))


def _quiet_table(at) -> pl.DataFrame:
    return next(table(at, i) for i in range(len(at.dataframe)) if "Requests before" in table(at, i).columns)


def test_going_quiet_lists_customers_who_stopped_calling(seeded_app):
    _quiet_customer(seeded_app, "cust_q", "Quiet Ltd", 25)
    at = _orders(seeded_app, window="24h")
    assert _quiet_table(at).select("Customer", "Requests before", "Requests now", "Requests lost", "Change (%)").rows() == [
        ("Quiet Ltd", 25, 0, 25, -100.0)]
    assert any("at least 20 requests in the previous period" in c.value for c in at.caption)


def test_short_customer_tables_end_at_their_last_row(seeded_app, monkeypatch):
    # Going quiet drew one customer above five empty rows (a fixed 250 px), the customer list ten below a short list.
    import streamlit as st

    heights, dataframe = {}, st.dataframe

    def spy(data, *args, **kwargs):
        heights[kwargs.get("key")] = kwargs.get("height")
        return dataframe(data, *args, **kwargs)

    monkeypatch.setattr(st, "dataframe", spy)
    _quiet_customer(seeded_app, "cust_q", "Quiet Ltd", 25)
    at = _orders(seeded_app, window="24h", q="cust_a")
    no_exception(at)
    assert _quiet_table(at).height == 1 and _list_table(at).height == 1
    assert heights["quiet"] == heights["customer_list"] == 38 + 35  # the header and one row


def test_going_quiet_leaves_out_customers_with_few_requests_before(seeded_app):
    _quiet_customer(seeded_app, "cust_q", "Quiet Ltd", 2)
    at = _orders(seeded_app, window="24h")
    assert any("Nobody went quiet" in i.value for i in at.info)


def test_the_going_quiet_minimum_comes_from_the_environment(seeded_app, monkeypatch):
    monkeypatch.setenv("CLIENTELE_QUIET_MIN_REQUESTS", "2")
    _quiet_customer(seeded_app, "cust_q", "Quiet Ltd", 2)
    at = _orders(seeded_app, window="24h")
    assert _quiet_table(at).get_column("Customer").to_list() == ["Quiet Ltd"]
    assert any("at least 2 requests in the previous period" in c.value for c in at.caption)


def test_going_quiet_says_when_nobody_did(seeded_app):
    at = _orders(seeded_app)
    assert any("Nobody went quiet" in i.value for i in at.info)


def test_adoption_heatmap_shows_the_top_customers(seeded_app):
    at = _orders(seeded_app)
    specs = [chart.proto.spec for chart in at.get("vega_lite_chart")]  # with the Retention section's two charts
    assert sum("Endpoint adoption of the top customers" in spec for spec in specs) == 1


def test_hostile_display_names_render_as_text(seeded_app):
    name = "**Evil** <img src=x onerror=alert(1)> :red[x]"
    store.write_requests(_engine(seeded_app), [(seeded_app.api_ids["orders"], make_request(
        customer_id="cust_evil", display_name=name, timestamp=NOW - dt.timedelta(minutes=m))) for m in range(1, 6)])
    cache.refresh(_engine(seeded_app))
    at = _orders(seeded_app)
    assert md_escape(name) in [s.value for s in at.subheader]  # the Top Customer widget
    assert name in _list_table(at).get_column("Customer").to_list()
    assert not [m.value for m in at.markdown if "<img" in m.value]


def test_selecting_a_customer_opens_their_profile(seeded_app):
    at = login_as(seeded_app, "admin")
    at.switch_page(PAGE).run()
    at.selectbox(key="api").select(seeded_app.api_ids["orders"]).run()
    at.session_state["customer_list"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    no_exception(at)
    assert [t.value for t in at.title] == ["Beta LLC"]
    assert url_values(at, "customer") == ["cust_b"]


def test_a_profile_opened_from_the_list_shows_the_share_the_list_showed(seeded_app):
    at = login_as(seeded_app, "admin")
    at.switch_page(PAGE).run()
    at.selectbox(key="api").select(seeded_app.api_ids["orders"]).run()
    share_in_list = _list_table(at).filter(pl.col("Customer ID") == "cust_a").get_column(SHARE).item()
    at.session_state["customer_list"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    no_exception(at)
    # cust_a: 3 of the Orders API's 6 requests; their share of every API's 9 requests would be 44.4%.
    assert (url_values(at, "api"), share_in_list) == ([str(seeded_app.api_ids["orders"])], 50.0)
    assert [(m.label, m.value) for m in at.metric][1] == ("Share of this API", "50.0%")


def test_the_link_from_home_opens_that_apis_dashboard(seeded_app):
    at = login_as(seeded_app, "admin")
    at.switch_page(PAGE).run()
    assert at.selectbox(key="api").value == seeded_app.api_ids["billing"]  # the first API by name
    at.switch_page("pages/home.py").run()
    at.query_params["api"] = str(seeded_app.api_ids["orders"])  # what the Home page's link sets
    at.switch_page(PAGE).run()
    assert at.selectbox(key="api").value == seeded_app.api_ids["orders"]


def test_the_window_chosen_on_home_carries_over(seeded_app):
    at = login_as(seeded_app, "admin")
    at.segmented_control(key="window").set_value("24h").run()
    at.switch_page(PAGE).run()
    no_exception(at)
    assert at.segmented_control(key="window").value == "24h"


def test_customers_are_refused(seeded_app):
    at = _orders(seeded_app, "customer")
    assert refused(at)
    assert not at.dataframe


# ---------------------------------------------------------------- volume filter, sort, columns that fit (#14)


def test_sorting_by_error_rate_puts_the_highest_rate_first(seeded_app):
    at = _orders(seeded_app)
    at.selectbox(key="customers_sort").set_value("error_rate").run()
    # cust_b: 1 of 2 failed (50 %), cust_a: 1 of 3 (33.3 %).
    assert _list_table(at).get_column("Customer ID").to_list() == ["cust_b", "cust_a"]
    assert url_values(at, "sort") == ["error_rate"]


def test_a_minimum_volume_leaves_out_customers_with_fewer_requests(seeded_app):
    at = _orders(seeded_app, sort="error_rate")
    at.number_input(key="customers_min").set_value(3).run()
    assert _list_table(at).get_column("Customer ID").to_list() == ["cust_a"]
    assert url_values(at, "min") == ["3"]
    assert any("1 customers with at least 3 requests" in c.value for c in at.caption)


def test_the_minimum_volume_and_sort_come_from_the_url(seeded_app):
    at = _orders(seeded_app, sort="error_rate", min="3")
    assert (at.selectbox(key="customers_sort").value, at.number_input(key="customers_min").value) == ("error_rate", 3)
    assert _list_table(at).get_column("Customer ID").to_list() == ["cust_a"]


def test_a_minimum_above_every_customer_says_how_to_see_more(seeded_app):
    at = _orders(seeded_app, min="100")
    assert any("No requests match these filters" in i.value for i in at.info)


def test_csv_follows_the_volume_filter_and_the_order(seeded_app, downloads):
    _orders(seeded_app, sort="error_rate")
    csv = read_csv(downloads[f"customers-{seeded_app.api_ids['orders']}-7d.csv"])
    assert csv.get_column("Customer ID").to_list() == ["cust_b", "cust_a"]


def test_the_customer_list_shows_the_columns_that_fit_1366_px_with_the_name_pinned(seeded_app):
    at = _orders(seeded_app)
    listed = next(d for d in at.dataframe if d.key == "customer_list")
    assert list(listed.proto.column_order) == ["Customer", "Requests", "Share (%)", "Requests over time", "Last active",
                                              "Error rate (%)", "p95 load time (ms)"]
    config = json.loads(listed.proto.columns)
    assert [c for c, cfg in config.items() if cfg.get("pinned")] == ["Customer"]
    at.checkbox(key="customer_list_column_Customer ID").check().run()
    listed = next(d for d in at.dataframe if d.key == "customer_list")
    assert "Customer ID" in listed.proto.column_order


def test_the_retention_section_draws_the_weekly_cohorts_and_new_vs_returning(seeded_app):
    # #13.6: new_vs_returning was computed but shown nowhere; the cohorts did not exist.
    at = _orders(seeded_app)
    no_exception(at)
    assert "Retention" in [s.value for s in at.subheader]
    specs = [chart.proto.spec for chart in at.get("vega_lite_chart")]
    assert any("Active share of each weekly cohort" in s for s in specs)
    assert any("New vs returning customers per week" in s for s in specs)


def test_by_attribute_groups_the_apis_requests_by_the_customers_plan(seeded_app):
    at = _orders(seeded_app, window="7d")
    no_exception(at)
    assert [s.value for s in at.selectbox if s.label == "Group customers by"] == ["Plan"]
    plans = next(t for t in (table(at, i) for i in range(len(at.dataframe))) if "Plan" in t.columns)
    # cust_a (Plan Pro) made 3 Orders API requests this week, one of them failed; cust_b has no Plan.
    assert plans.select("Plan", "Requests", "Customers", "Error rate (%)").rows() == [("Pro", 3, 1, 33.3)]
    assert any('"Requests by Plan"' in c.proto.spec for c in at.get("vega_lite_chart"))


def test_by_attribute_follows_the_picked_api_and_window(seeded_app):
    at = open_page(PAGE, seeded_app, "admin", api=str(seeded_app.api_ids["billing"]), window="24h")
    no_exception(at)
    # On the Billing API in the last 24 hours: cust_a (Pro) once; cust_c has no Plan.
    plans = next(t for t in (table(at, i) for i in range(len(at.dataframe))) if "Plan" in t.columns)
    assert plans.select("Plan", "Requests", "Customers").rows() == [("Pro", 1, 1)]


def test_the_segment_filter_lists_only_the_customers_with_that_attribute_value(seeded_app):
    at = _orders(seeded_app, window="7d")
    [segment] = [s for s in at.selectbox if s.label == "Segment"]
    assert segment.options == ["Every customer", "Plan = Pro"]
    assert set(_list_table(at).get_column("Customer ID").to_list()) >= {"cust_a", "cust_b"}
    segment.select("Plan = Pro").run()
    no_exception(at)
    assert _list_table(at).get_column("Customer ID").to_list() == ["cust_a"]
    assert any(c.value.startswith("1 customers with Plan") for c in at.caption)  # "=" is escaped for Markdown


def test_a_segment_narrows_every_widget_to_its_customers(seeded_app):
    engine = _engine(seeded_app)
    everyone = customers_page(engine, Scope.workspace(), seeded_app.api_ids["orders"], W7)
    pro = customers_page(engine, Scope.workspace(), seeded_app.api_ids["orders"], W7, segment="Plan = Pro")
    assert (everyone.widgets.active_customers.current, pro.widgets.active_customers.current) == (2, 1)
    assert pro.customers.get_column("customer_id").cast(pl.String).to_list() == ["cust_a"]
    assert pro.customers.get_column("requests").to_list() == [3]
