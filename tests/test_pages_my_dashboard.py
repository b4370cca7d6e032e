"""My dashboard (Customer) through AppTest: the numbers equal the core.present page models for the customer's scope, the
API picker offers only their APIs, links naming another customer or API are refused, recent requests open
their details, and nothing of another customer appears anywhere (text, tables, charts' data, the URL)."""
from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
import pytest

from core.auth import users
from core.domain.scope import Scope
from core.domain.timewindow import window
from core.present.cards import NO_PREVIOUS, overview_cards
from core.present.my_dashboard import my_dashboard
from core.storage import cache, models, store
from core.storage import request_log as history
from tests.apptest_helpers import login_as, refused
from tests.factories import NOW, make_request
from tests.page_checks import errors, no_exception, open_page, rendered_text, table
from tests.test_metrics_pages import ms_shown
from ui import dashboard

PAGE = "pages/my_dashboard.py"
ME = Scope.customer("cust_a")
W7 = window("7d", NOW)
# Everything of other customers seed_small holds, plus the API only cust_b uses (added by `secret_api`).
OTHERS = ("cust_b", "cust_c", "Beta LLC", "Carol Co", "Secret API", "/secret")


def _engine(seeded):
    return models.engine_for(seeded.db_url)


@pytest.fixture
def secret_api(seeded_app) -> int:
    """An API only cust_b has called (cust_a must never learn of it)."""
    engine = _engine(seeded_app)
    api_id = store.create_api(engine, "Secret API")["api_id"]
    store.write_requests(engine, [(api_id, make_request(customer_id="cust_b", endpoint="/secret", url="https://x.example/secret",
                                                        timestamp=NOW - dt.timedelta(minutes=30)))])
    cache.refresh(engine)
    return api_id


def _chart_data(at) -> list[str]:
    """Every value of every chart's datasets (Arrow IPC inside the protobuf), as text."""
    values = []
    for chart in at.get("vega_lite_chart"):
        for ds in chart.proto.datasets:
            frame = pa.ipc.open_stream(io.BytesIO(ds.data.data)).read_all()
            values += [str(v) for column in frame.to_pydict().values() for v in column]
        values.append(chart.proto.spec)
    return values


def everything_shown(at) -> str:
    """Every element and block the run rendered, every table cell, every chart's data, and the URL."""
    cells = [str(v) for i in range(len(at.dataframe)) for row in table(at, i).rows() for v in row]
    return "\n".join([rendered_text(at), *cells, *_chart_data(at)])


def _metrics(at) -> list[tuple[str, str, str]]:
    return [(m.label, m.value, m.proto.delta) for m in at.metric]


def test_cards_equal_the_core_overview_of_the_customer(seeded_app):
    at = open_page(PAGE, seeded_app, "customer")
    no_exception(at)
    mine = my_dashboard(_engine(seeded_app), ME, None, W7)
    cards = overview_cards(mine.overview, mine.covered)
    assert _metrics(at) == [(c.label, c.value, c.delta or "") for c in cards]
    # cust_a: 4 requests (1 failed, the 500), 1000 B each, load 100/300/100/100 ms: mean 150 (exact); p50 100,
    # p95 270, p99 294 exactly, shown within the histograms' 1 %.
    values = [m[1] for m in _metrics(at)]
    assert values[:4] == ["4", "1", "1,000 B", "150.0 ms"]
    assert [ms_shown(v) for v in values[4:]] == pytest.approx([100.0, 270.0, 294.0], rel=0.01)


def test_cards_of_one_api(seeded_app):
    at = open_page(PAGE, seeded_app, "customer", api=str(seeded_app.api_ids["billing"]))
    mine = my_dashboard(_engine(seeded_app), ME, seeded_app.api_ids["billing"], W7)
    cards = overview_cards(mine.overview, mine.covered)
    assert _metrics(at) == [(c.label, c.value, c.delta or "") for c in cards]
    assert _metrics(at)[0][1] == "1"


def test_24h_window_compares_with_the_day_before(seeded_app):
    _first_request_days_ago(seeded_app, 4)  # cust_a's traffic now covers the whole day before
    at = open_page(PAGE, seeded_app, "customer", window="24h")
    # 3 requests now; the 500 of 30 h ago is the one request of the day before.
    assert _metrics(at)[:2] == [("Total requests", "3", "+200.0%"), ("Failed requests", "0", "-100.0%")]


def test_24h_window_of_a_customer_who_began_30_hours_ago_shows_no_change(seeded_app):
    at = open_page(PAGE, seeded_app, "customer", window="24h")
    # cust_a's first request was 30 h ago: the day before the window was only partly theirs to compare with.
    assert _metrics(at)[:2] == [("Total requests", "3", NO_PREVIOUS), ("Failed requests", "0", NO_PREVIOUS)]
    assert any("does not reach back over the whole 24 hours before" in c.value for c in at.caption)


def _first_request_days_ago(seeded, days: int) -> None:
    engine = _engine(seeded)
    store.write_requests(engine, [(seeded.api_ids["orders"], make_request(customer_id="cust_a",
                                                                           timestamp=NOW - dt.timedelta(days=days)))])
    cache.refresh(engine)


def test_four_charts_with_titles(seeded_app):
    at = open_page(PAGE, seeded_app, "customer")
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert len(specs) == 4
    for title in ('"Requests"', '"Load time"', '"Average response size"', '"Failed requests"'):
        assert any(f'"title": {title}' in s or f'"title":{title}' in s for s in specs), title


def test_the_load_time_chart_draws_the_average_and_p50_p95_p99(seeded_app):
    at = open_page(PAGE, seeded_app, "customer")
    [chart] = [c for c in at.get("vega_lite_chart") if '"Load time"' in c.proto.spec]
    series = set()
    for ds in chart.proto.datasets:
        frame = pa.ipc.open_stream(io.BytesIO(ds.data.data)).read_all().to_pydict()
        series |= set(frame.get("series", []))
    assert series == {"Average", "p50", "p95", "p99"}


def test_endpoints_table_is_the_customers_breakdown(seeded_app):
    at = open_page(PAGE, seeded_app, "customer")
    endpoints = next(table(at, i) for i in range(len(at.dataframe)) if "Error rate (%)" in table(at, i).columns)
    assert endpoints.select("Endpoint", "Requests", "Failed").rows() == [("/orders/{id}", 2, 0), ("/boom", 1, 1), ("/invoices", 1, 0)]


def test_the_customers_own_error_groups_are_listed_and_link_to_my_requests(seeded_app):
    at = open_page(PAGE, seeded_app, "customer")
    no_exception(at)
    groups = next(table(at, i) for i in range(len(at.dataframe)) if "Failed requests" in table(at, i).columns)
    # cust_a's only failure in seed_small: GET /boom answered 500 (cust_b's 404 on /missing is not theirs).
    assert groups.select("Endpoint", "Status", "Failed requests").rows() == [("/boom", 500, 1)]
    assert "Customers affected" not in groups.columns
    (link,) = groups.get_column("Requests").to_list()
    assert link.startswith("my-request-log?") and "status=500" in link
    assert any(c.value.startswith("1 group from 1 failed request") for c in at.caption)


def test_a_window_without_failures_says_none_of_your_requests_failed(seeded_app):
    at = open_page(PAGE, seeded_app, "customer", api=str(seeded_app.api_ids["billing"]))
    assert "None of your requests failed in this window." in [c.value for c in at.caption]


def test_recent_activity_lists_the_latest_requests(seeded_app):
    at = open_page(PAGE, seeded_app, "customer")
    recent = next(table(at, i) for i in range(len(at.dataframe)) if "Request ID" in table(at, i).columns)
    query = history.HistoryQuery(window=W7, page_size=10)
    expected = history.request_history(_engine(seeded_app), ME, query).rows.get_column("id").to_list()
    assert recent.get_column("Request ID").to_list() == expected
    assert len(expected) == 4


def test_selecting_a_recent_request_shows_its_details(seeded_app):
    at = open_page(PAGE, seeded_app, "customer")
    at.session_state["recent_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    no_exception(at)
    labels = [(m.label, m.value) for m in at.metric]
    # The request of 1 h ago: its status is a badge beside the endpoint, its load time a metric.
    assert any("-badge[200]" in md.value and "orders" in md.value for md in at.markdown) and ("Load time", "100.0 ms") in labels


def test_api_picker_offers_only_the_customers_apis(seeded_app, secret_api):
    at = open_page(PAGE, seeded_app, "customer")
    assert at.selectbox(key="api").options == ["All APIs", "Billing API", "Orders API"]


def test_a_link_to_an_api_the_customer_never_used_is_refused(seeded_app, secret_api):
    at = open_page(PAGE, seeded_app, "customer", api=str(secret_api))
    no_exception(at)
    assert errors(at) and not at.metric
    assert not any(o in everything_shown(at).replace(f"api={secret_api}", "") for o in ("Secret API", "/secret", "cust_b"))


def test_a_link_naming_another_customer_is_refused_on_every_run(seeded_app):
    at = open_page(PAGE, seeded_app, "customer", customer="cust_b")
    assert errors(at) == [dashboard.OTHER_CUSTOMER]
    at.run()  # e.g. the cookie component's report reruns the page in a browser
    assert errors(at) == [dashboard.OTHER_CUSTOMER]
    assert not at.metric
    # Only the address the customer typed holds the ID; nothing the page rendered does.
    assert "cust_b" not in everything_shown(at).replace(repr(dict(at.query_params)), "")


def test_the_refusal_links_to_the_customers_own_dashboard(seeded_app):
    at = login_as(seeded_app, "customer")
    at.query_params["customer"] = "cust_b"
    at.run()
    assert errors(at) == [dashboard.OTHER_CUSTOMER]
    assert [link.proto.label for link in at.get("page_link")] == ["Open your own dashboard"]


def test_a_link_naming_the_customer_themself_is_fine(seeded_app):
    at = open_page(PAGE, seeded_app, "customer", customer="cust_a")
    no_exception(at)
    assert _metrics(at)[0][1] == "4"


@pytest.mark.parametrize("params", [
    {}, {"window": "24h"}, {"window": "30d"}, {"window": "all"}, {"api": "all"}, {"api": "orders"}, {"api": "billing"},
    {"window": "custom", "from": "2026-11-01", "to": "2026-11-25"},
], ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_no_other_customer_appears_anywhere(seeded_app, secret_api, params):
    params = {k: str(seeded_app.api_ids[v]) if k == "api" and v in seeded_app.api_ids else v for k, v in params.items()}
    at = open_page(PAGE, seeded_app, "customer", **params)
    no_exception(at)
    shown = everything_shown(at)
    assert "Alpha Inc" in shown  # the walk does see the page's own content
    assert [o for o in OTHERS if o in shown] == []


def test_no_other_customer_appears_in_a_request_detail(seeded_app, secret_api):
    at = open_page(PAGE, seeded_app, "customer")
    at.session_state["recent_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert [o for o in OTHERS if o in everything_shown(at)] == []


def test_a_window_without_requests_says_what_to_do(seeded_app):
    at = open_page(PAGE, seeded_app, "customer", window="custom", **{"from": "2020-01-01", "to": "2020-01-02"})
    no_exception(at)
    assert _metrics(at)[0][1] == "0"
    assert any("No requests in this time window" in i.value for i in at.info)
    assert not at.get("vega_lite_chart")


def test_a_customer_without_any_request_is_told_what_happens_next(seeded_app):
    engine = _engine(seeded_app)
    user_id = users.create_user(engine, email="new@example.com", name="New", password="correct horse battery staple",
                               role="customer", customer_id="cust_new")
    seeded_app.user_ids["newcomer"] = user_id
    at = open_page(PAGE, seeded_app, "newcomer")
    no_exception(at)
    assert any("No API has recorded a request from your account yet" in i.value for i in at.info)


def test_my_dashboard_is_the_first_page_of_customers(seeded_app):
    at = login_as(seeded_app, "customer")
    assert [t.value for t in at.title] == ["My dashboard"]


@pytest.mark.parametrize("role", ["admin", "member"])
def test_workspace_roles_are_refused(seeded_app, role):
    assert refused(open_page(PAGE, seeded_app, role))
