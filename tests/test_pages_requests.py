"""Requests (Admin, Member) and My requests (Customer) pages through AppTest: numbers equal core.storage.request_log,
filters, search, sort and pagination work and live in the URL, CSV equals the table, a range brushed on the
volume chart becomes the time filter (and the URL), and a Customer reaches nothing of other customers (not by
URL parameters, not by request ids)."""
from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
import sqlalchemy as sa

from core.domain import timewindow
from core.domain.scope import Scope
from core.present import charts
from core.present.tables import TABLE_WIDTH_PX
from core.storage import models, store
from core.storage import request_log as history
from core.storage.models import Request
from tests.apptest_helpers import login_as
from tests.factories import NOW, make_request
from tests.page_checks import errors, no_exception, open_page, read_csv, rendered_text, table, unescape, url_values, warnings

ADMIN_PAGE = "pages/request_log.py"
CUSTOMER_PAGE = "pages/my_requests.py"
OTHERS = ("cust_b", "cust_c", "Beta LLC", "Carol Co")


def _engine(seeded):
    return models.engine_for(seeded.db_url)


def _id(seeded, **where) -> int:
    conds = [getattr(Request, k) == v for k, v in where.items()]
    with _engine(seeded).connect() as conn:
        return conn.execute(sa.select(Request.id).where(*conds).order_by(Request.id)).scalars().first()


def _ids(at) -> list[int]:
    return table(at).get_column("Request ID").to_list()


def test_admin_sees_every_request_of_every_api_in_the_default_week(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin")
    no_exception(at)
    assert table(at).height == 9
    assert any("9 requests" in c.value for c in at.caption)


def test_table_rows_are_the_core_history_rows_in_the_same_order(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin")
    window = timewindow.window("7d", NOW)
    expected = history.request_history(_engine(seeded_app), Scope.workspace(), history.HistoryQuery(window=window))
    assert _ids(at) == expected.rows.get_column("id").to_list()


def test_member_sees_the_same_requests(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "member")
    no_exception(at)
    assert table(at).height == 9


def test_table_shows_names_locations_and_formatted_values(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", method="POST")
    row = table(at).row(0, named=True)
    assert row["Customer"] == "Carol Co"
    assert row["Customer ID"] == "cust_c"
    assert row["Location"] == "United States"
    assert row["Size"] == "1,000 B"
    assert row["Time"] == "2026-11-25 04:00:00"
    assert row["API"] == "Billing API"


def test_method_filter_from_the_url(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", method="POST")
    assert _ids(at) == [_id(seeded_app, method="POST")]
    assert at.multiselect(key="requests_method").value == ["POST"]


def test_status_class_filter_widget_filters_and_goes_into_the_url(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin")
    at.multiselect(key="requests_status").select("4xx").run()
    assert table(at).get_column("Status").to_list() == [404]
    assert url_values(at, "status") == ["4xx"]


def test_filters_persist_across_reruns(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin")
    at.multiselect(key="requests_endpoint").select("/invoices").run()
    at.run()
    assert table(at).height == 3
    assert at.multiselect(key="requests_endpoint").value == ["/invoices"]


def test_search_finds_customers_by_display_name(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", q="carol")
    assert table(at).get_column("Customer").to_list() == ["Carol Co", "Carol Co"]


def test_sort_by_load_time_ascending_matches_core(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin")
    at.selectbox(key="requests_sort").select("load_time_ms").run()
    at.selectbox(key="requests_dir").select("asc").run()
    query = history.HistoryQuery(window=timewindow.window("7d", NOW), sort="load_time_ms", direction="asc")
    expected = history.request_history(_engine(seeded_app), Scope.workspace(), query)
    assert _ids(at) == expected.rows.get_column("id").to_list()
    assert table(at).get_column("Load time (ms)").to_list()[-1] == 300.0
    assert url_values(at, "sort") == ["load_time_ms"] and url_values(at, "dir") == ["asc"]


def test_24h_window_leaves_out_the_request_of_yesterday(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", window="24h")
    assert table(at).height == 8


def test_picking_an_api_shows_only_its_requests_without_the_api_column(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", api=str(seeded_app.api_ids["billing"]))
    assert table(at).height == 3
    assert "API" not in table(at).columns


def test_pages_of_a_long_history(seeded_app):
    extra = [(seeded_app.api_ids["orders"], make_request(timestamp=NOW - dt.timedelta(minutes=10 + i))) for i in range(60)]
    store.write_requests(_engine(seeded_app), extra)
    at = open_page(ADMIN_PAGE, seeded_app, "admin", size="25", page="3")
    assert table(at).height == 19
    assert any("Page 3 of 3 · 69 requests" in c.value for c in at.caption)


def test_a_history_longer_than_the_count_cap_shows_its_real_size(seeded_app, monkeypatch):
    # Regression (#14): "Page 1 of 200+ · 10,000+ requests"; the rollups know the real number.
    monkeypatch.setattr(history, "COUNT_CAP", 20)
    monkeypatch.setattr(history, "SMALL_RESULT", 5)
    extra = [(seeded_app.api_ids["orders"], make_request(timestamp=NOW - dt.timedelta(minutes=10 + i))) for i in range(60)]
    store.write_requests(_engine(seeded_app), extra)
    at = open_page(ADMIN_PAGE, seeded_app, "admin", size="25")
    assert any("Page 1 of 3 · 69 requests" in c.value for c in at.caption), [c.value for c in at.caption]
    assert any(b.label == "Prepare CSV of the first 20 filtered requests" for b in at.button)


def test_changing_a_filter_goes_back_to_page_one(seeded_app):
    extra = [(seeded_app.api_ids["orders"], make_request(timestamp=NOW - dt.timedelta(minutes=10 + i))) for i in range(60)]
    store.write_requests(_engine(seeded_app), extra)
    at = open_page(ADMIN_PAGE, seeded_app, "admin", size="25", page="2")
    at.multiselect(key="requests_method").select("GET").run()
    assert at.session_state["requests_page"] == 1
    assert any("Page 1 of 3 · 68 requests" in c.value for c in at.caption)


def test_page_csv_equals_the_table(seeded_app, downloads):
    at = open_page(ADMIN_PAGE, seeded_app, "admin")
    shown = table(at)
    csv = read_csv(downloads["requests-page-1.csv"])
    assert csv.columns == shown.columns
    assert csv.rows() == shown.select(pl.all().cast(pl.String)).rows()


def test_csv_of_every_filtered_request(seeded_app, downloads):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", api=str(seeded_app.api_ids["orders"]))
    next(b for b in at.button if b.label.startswith("Prepare CSV")).click().run()
    csv = read_csv(downloads["requests.csv"])
    assert csv.height == 6
    assert sorted(int(i) for i in csv.get_column("Request ID")) == sorted(_ids(at))


def _walk(node):
    yield node
    for child in (getattr(node, "children", None) or {}).values():
        yield from _walk(child)


def _text(node) -> str:
    """Everything a block (and what it holds) shows, as protobuf text."""
    return "\n".join(str(n.proto) for n in _walk(node) if getattr(n, "proto", None) is not None)


def _dialogs(at) -> list:
    """The dialogs the run opened: st.dialog blocks live beside the page (the event container), not in it."""
    return [n for n in _walk(at._tree) if getattr(n, "type", None) == "dialog"]


def _dialog_text(at) -> str:
    return "\n".join(_text(dialog) for dialog in _dialogs(at))


def _pills(at) -> str:
    """The method and status badges of the open request (the dialog's first Markdown)."""
    return next(m.value for m in at.markdown if "-badge[" in m.value)


def test_request_detail_opens_from_the_url(seeded_app):
    rid = _id(seeded_app, method="POST")
    at = open_page(ADMIN_PAGE, seeded_app, "admin", request=str(rid))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Load time": "100.0 ms", "Response size": "1,000 B", "Threat level": "Low", "Device": "Desktop"}
    assert _pills(at).startswith(":green-badge[POST] :green-badge[201] ")
    assert len(_dialogs(at)) == 1


def test_request_detail_names_the_sdk_that_sent_it(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", request=str(_id(seeded_app, method="POST")))
    assert "Sent by Treblle's Django SDK, payload version 20" in [c.value for c in at.caption]


def test_request_detail_opens_from_the_id_input(seeded_app):
    rid = _id(seeded_app, status=404)
    at = open_page(ADMIN_PAGE, seeded_app, "admin")
    at.text_input(key="requests_request").input(str(rid)).run()
    assert ":orange-badge[404]" in _pills(at)
    assert len(_dialogs(at)) == 1
    assert url_values(at, "request") == [str(rid)]


def test_selecting_a_row_opens_its_details(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin")
    second = _ids(at)[1]
    at.session_state[at.dataframe[0].key] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert at.text_input(key="requests_request").value == str(second)
    assert {m.label: m.value for m in at.metric}["Load time"] == "300.0 ms"
    assert len(_dialogs(at)) == 1


def test_a_search_without_matches_says_how_to_see_more(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", q="no-such-thing")
    assert any("No requests match these filters" in i.value for i in at.info)
    assert not at.dataframe


def test_an_empty_window_says_to_widen_the_time_filter(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", window="custom", **{"from": "2026-01-01", "to": "2026-01-02"})
    assert any("Widen the time filter" in i.value for i in at.info)


# ---------------------------------------------------------------- Customer


def test_customer_sees_only_their_own_requests(seeded_app):
    at = open_page(CUSTOMER_PAGE, seeded_app, "customer")
    no_exception(at)
    with _engine(seeded_app).connect() as conn:
        theirs = conn.execute(sa.select(Request.id).where(Request.customer_id == "cust_a")).scalars().all()
    assert sorted(_ids(at)) == sorted(theirs)
    assert table(at).height == 4
    assert "Customer" not in table(at).columns and "Customer ID" not in table(at).columns
    text = rendered_text(at)
    assert [name for name in OTHERS if name in text] == []


def test_customer_rows_are_core_history_rows_for_their_scope(seeded_app):
    at = open_page(CUSTOMER_PAGE, seeded_app, "customer")
    query = history.HistoryQuery(window=timewindow.window("7d", NOW))
    expected = history.request_history(_engine(seeded_app), Scope.customer("cust_a"), query)
    assert _ids(at) == expected.rows.get_column("id").to_list()


def test_customer_cannot_open_another_customers_request_by_id(seeded_app):
    rid = _id(seeded_app, customer_id="cust_b")
    at = open_page(CUSTOMER_PAGE, seeded_app, "customer", request=str(rid))
    assert errors(at) == [f"No request with id {rid}."]
    assert not at.metric
    text = rendered_text(at)
    assert [name for name in OTHERS if name in text] == []


def test_customer_url_naming_an_api_they_never_used_is_refused(seeded_app):
    engine = _engine(seeded_app)
    secret = store.create_api(engine, "Secret API", api_key="secret-key")
    store.write_requests(engine, [(secret["api_id"], make_request(customer_id="cust_b"))])
    at = open_page(CUSTOMER_PAGE, seeded_app, "customer", api=str(secret["api_id"]))
    assert errors(at) == [f"No API '{secret['api_id']}' among the APIs of your account."]
    assert not at.dataframe
    assert "Secret API" not in rendered_text(at)


def test_customer_searching_for_another_customer_finds_nothing(seeded_app):
    at = open_page(CUSTOMER_PAGE, seeded_app, "customer", q="Beta")
    assert not at.dataframe
    assert any("No requests match these filters" in i.value for i in at.info)


def test_customer_filter_choices_hold_only_their_own_values(seeded_app):
    at = open_page(CUSTOMER_PAGE, seeded_app, "customer")
    assert sorted(at.multiselect(key="my_requests_endpoint").options) == ["/boom", "/invoices", "/orders/{id}"]
    assert sorted(at.multiselect(key="my_requests_status").options) == ["200", "2xx", "500", "5xx"]


def test_customer_filter_for_another_customers_endpoint_in_the_url_is_dropped(seeded_app):
    at = open_page(CUSTOMER_PAGE, seeded_app, "customer", endpoint="/missing")
    assert at.multiselect(key="my_requests_endpoint").value == []
    assert table(at).height == 4


def test_customer_sort_choices_have_no_customer_column(seeded_app):
    at = open_page(CUSTOMER_PAGE, seeded_app, "customer")
    assert "customer" not in at.selectbox(key="my_requests_sort").options


@pytest.mark.parametrize("role", ["admin", "member"])
def test_workspace_roles_cannot_open_my_requests(seeded_app, role):
    at = open_page(CUSTOMER_PAGE, seeded_app, role)
    assert not at.dataframe
    assert len(errors(at)) == 1


def test_the_pager_moves_to_another_page(seeded_app):
    extra = [(seeded_app.api_ids["orders"], make_request(timestamp=NOW - dt.timedelta(minutes=10 + i))) for i in range(60)]
    store.write_requests(_engine(seeded_app), extra)
    at = open_page(ADMIN_PAGE, seeded_app, "admin", size="25")
    pager = at.get("pagination")[0]
    pager.set_value(3).run()
    assert table(at).height == 19
    assert url_values(at, "page") == ["3"]


def test_a_request_id_from_the_url_is_shown_as_text_not_markdown(seeded_app):
    at = open_page(CUSTOMER_PAGE, seeded_app, "customer", request="[x](http://evil.example)")
    assert [e.value for e in at.error] == [r"No request with id \[x\]\(http\://evil\.example\)\."]


# ---------------------------------------------------------------- details in a dialog, columns that fit (#14)


def test_details_open_in_a_dialog_over_the_table_not_below_it(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", request=str(_id(seeded_app, status=500)))
    assert len(_dialogs(at)) == 1
    assert ":red-badge[500]" in _pills(at)
    # Nothing of the request is drawn in the page itself: the page shows only the ID it opened.
    assert "https://api.example.com/boom" in _dialog_text(at)
    assert not at.main.metric and "https://api.example.com/boom" not in _text(at.main)


def test_the_dialog_offers_the_request_as_curl_with_masked_values_masked(seeded_app):
    engine = _engine(seeded_app)
    store.write_requests(engine, [(seeded_app.api_ids["orders"], make_request(
        method="POST", url="https://api.example.com/orders?api_key=****", endpoint="/orders", status=201,
        request_headers={"authorization": "Bearer ****", "x-note": "it's $(id)"}, request_body={"password": "****"},
        timestamp=NOW - dt.timedelta(minutes=5)))])
    rid = _id(seeded_app, endpoint="/orders")
    at = open_page(ADMIN_PAGE, seeded_app, "admin", request=str(rid))
    curl = next(c.value for c in at.code if c.value.startswith("curl "))
    assert curl == ("curl 'https://api.example.com/orders?api_key=****' \\\n  -X POST \\\n"
                    "  -H 'authorization: Bearer ****' \\\n  -H 'x-note: it'\"'\"'s $(id)' \\\n"
                    "  --data-raw '{\"password\":\"****\"}'")


def test_a_customers_dialog_shows_none_of_another_customer(seeded_app):
    at = open_page(CUSTOMER_PAGE, seeded_app, "customer", request=str(_id(seeded_app, customer_id="cust_a", status=500)))
    shown = _dialog_text(at)
    assert "https://api.example.com/boom" in shown  # the walk reaches the dialog's content
    assert [name for name in OTHERS if name in shown] == []


def _shown_columns(at) -> list[str]:
    return list(at.dataframe[0].proto.column_order)


def test_the_history_shows_the_columns_that_fit_1366_px_with_time_pinned(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin")
    assert _shown_columns(at) == ["Time", "Customer", "Method", "Status", "Endpoint", "Load time (ms)", "Size"]
    config = json.loads(at.dataframe[0].proto.columns)
    assert [c for c, cfg in config.items() if cfg.get("pinned")] == ["Time"]
    assert sum(config[c]["width"] for c in _shown_columns(at)) <= TABLE_WIDTH_PX


def test_the_column_chooser_shows_a_hidden_column_and_hides_a_shown_one(seeded_app):
    at = open_page(ADMIN_PAGE, seeded_app, "admin")
    at.checkbox(key="requests_column_API").check().run()
    at.checkbox(key="requests_column_Size").uncheck().run()
    assert _shown_columns(at) == ["Time", "Customer", "Method", "Status", "Endpoint", "Load time (ms)", "API"]
    at.text_input(key="requests_q").input("Alpha").run()  # the choice outlives a new question
    assert "API" in _shown_columns(at) and "Size" not in _shown_columns(at)


def test_a_customers_history_fits_without_the_customer_columns(seeded_app):
    at = open_page(CUSTOMER_PAGE, seeded_app, "customer")
    assert _shown_columns(at) == ["Time", "Method", "Status", "Endpoint", "Load time (ms)", "Size", "API"]


def test_a_link_to_another_request_in_the_same_session_opens_that_one(seeded_app):
    first, second = _id(seeded_app, status=404), _id(seeded_app, status=500)
    at = open_page(ADMIN_PAGE, seeded_app, "admin", request=str(first))
    assert ":orange-badge[404]" in _pills(at)
    at.query_params["request"] = str(second)
    at.run()
    assert ":red-badge[500]" in _pills(at) and len(_dialogs(at)) == 1
    assert at.text_input(key="requests_request").value == str(second)


# ---------------------------------------------------------------- the volume chart's brush sets the time filter (#14)
# seed_small in Tokyo (UTC+9): today's requests at 13:00, 14:00, …, 20:00 (one an hour, 04:00-11:00 UTC), one
# yesterday at 15:00; now is 21:00.


@pytest.fixture
def tokyo(monkeypatch):
    monkeypatch.setenv("CLIENTELE_TIMEZONE", "Asia/Tokyo")  # AppTest has no browser zone: the fallback applies


def _wall_ms(text: str) -> int:
    """A wall-clock time as the chart's brush reports it: epoch ms of that time labelled UTC (charts.local_times)."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def _volume_chart(at):
    return next(c for c in at.get("vega_lite_chart") if "_volume" in c.proto.id)


def _brush(at, start: str, end: str):
    """Drag across the volume chart from `start` to `end` (wall-clock times): the selection the browser sends."""
    states = at._tree.get_widget_states()
    brushed = states.widgets.add()
    brushed.id = _volume_chart(at).proto.id
    brushed.string_value = json.dumps({"selection": {charts.BRUSH: {"bucket": [_wall_ms(start), _wall_ms(end)]}}})
    return at._run(states)


def _url_window(at) -> tuple[list[str], list[str], list[str]]:
    return url_values(at, "window"), url_values(at, "from"), url_values(at, "to")


def _times(at) -> list[str]:
    return table(at).get_column("Time").to_list()


def _filter_text(at) -> list[str]:
    return [unescape(m.value) for m in at.markdown if ":material/timeline:" in m.value]


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_brushing_the_volume_chart_puts_the_range_to_the_minute_into_the_url(seeded_app, tokyo):
    at = _brush(open_page(ADMIN_PAGE, seeded_app, "admin"), "2026-11-25T14:30:20", "2026-11-25T18:29:40")
    no_exception(at)
    # Widened to whole minutes, in the viewer's zone.
    assert _url_window(at) == (["custom"], ["2026-11-25T14:30"], ["2026-11-25T18:30"])


def test_a_brushed_range_narrows_the_window_caption_and_the_history(seeded_app, tokyo):
    at = _brush(open_page(ADMIN_PAGE, seeded_app, "admin"), "2026-11-25T14:30:20", "2026-11-25T18:29:40")
    assert "2026-11-25 14:30 → 2026-11-25 18:30 (Asia/Tokyo)" in [c.value for c in at.caption]
    assert _times(at) == ["2026-11-25 18:00:00", "2026-11-25 17:00:00", "2026-11-25 16:00:00", "2026-11-25 15:00:00"]
    assert any("4 requests" in c.value for c in at.caption)


def test_the_time_filter_shows_the_brushed_range_in_place_of_the_dates_with_a_way_back(seeded_app, tokyo):
    at = _brush(open_page(ADMIN_PAGE, seeded_app, "admin"), "2026-11-25T14:30", "2026-11-25T18:30")
    assert at.segmented_control(key="window").value == "custom"
    assert _filter_text(at) == [":material/timeline: Nov 25 14:30 → Nov 25 18:30 (Asia/Tokyo)"]
    assert not at.date_input
    assert {"Back to 7D", "Whole days"} <= {b.label for b in at.button}


def test_the_narrowed_page_has_a_fresh_chart_so_the_brush_does_not_narrow_again(seeded_app, tokyo):
    at = open_page(ADMIN_PAGE, seeded_app, "admin")
    week_chart = _volume_chart(at).proto.id
    at = _brush(at, "2026-11-25T14:30", "2026-11-25T18:30")
    assert _volume_chart(at).proto.id != week_chart
    at.run()
    assert _url_window(at) == (["custom"], ["2026-11-25T14:30"], ["2026-11-25T18:30"])
    assert len(_times(at)) == 4


def test_brushing_the_narrowed_chart_narrows_further_and_still_goes_back_to_the_week(seeded_app, tokyo):
    at = _brush(open_page(ADMIN_PAGE, seeded_app, "admin"), "2026-11-25T14:30", "2026-11-25T18:30")
    at = _brush(at, "2026-11-25T15:30", "2026-11-25T17:30")
    assert _url_window(at) == (["custom"], ["2026-11-25T15:30"], ["2026-11-25T17:30"])
    assert _times(at) == ["2026-11-25 17:00:00", "2026-11-25 16:00:00"]
    assert "Back to 7D" in {b.label for b in at.button}


def test_back_to_7d_shows_the_week_again_without_the_range_in_the_url(seeded_app, tokyo):
    at = _brush(open_page(ADMIN_PAGE, seeded_app, "admin"), "2026-11-25T14:30", "2026-11-25T18:30")
    _button(at, "Back to 7D").click().run()
    no_exception(at)
    assert (at.segmented_control(key="window").value, _url_window(at)) == ("7d", (["7d"], [], []))
    assert table(at).height == 9


def test_a_range_brushed_from_whole_days_goes_back_to_those_days(seeded_app, tokyo):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", window="custom", **{"from": "2026-11-24", "to": "2026-11-25"})
    at = _brush(at, "2026-11-25T14:30", "2026-11-25T18:30")
    _button(at, "Back to Nov 24 – Nov 25").click().run()
    assert at.date_input(key="window_dates").value == (dt.date(2026, 11, 24), dt.date(2026, 11, 25))
    assert _url_window(at) == (["custom"], ["2026-11-24"], ["2026-11-25"])
    assert table(at).height == 9


def test_picking_a_preset_leaves_the_brushed_range(seeded_app, tokyo):
    at = _brush(open_page(ADMIN_PAGE, seeded_app, "admin"), "2026-11-25T14:30", "2026-11-25T18:30")
    at.segmented_control(key="window").set_value("24h").run()
    assert _url_window(at) == (["24h"], [], [])
    assert table(at).height == 8  # all but yesterday's


def test_whole_days_turns_the_range_into_the_days_it_touches(seeded_app, tokyo):
    at = _brush(open_page(ADMIN_PAGE, seeded_app, "admin"), "2026-11-25T14:30", "2026-11-25T18:30")
    _button(at, "Whole days").click().run()
    no_exception(at)
    assert at.date_input(key="window_dates").value == (dt.date(2026, 11, 25), dt.date(2026, 11, 25))
    assert _url_window(at) == (["custom"], ["2026-11-25"], ["2026-11-25"])
    assert table(at).height == 8  # Nov 25 in Tokyo: all but the request of Nov 24, 15:00


def test_a_brush_shorter_than_a_minute_is_ignored(seeded_app, tokyo):
    at = _brush(open_page(ADMIN_PAGE, seeded_app, "admin"), "2026-11-25T14:30:10", "2026-11-25T14:30:50")
    assert _url_window(at) == (["7d"], [], [])
    assert table(at).height == 9


def test_a_link_with_a_range_to_the_minute_reproduces_the_brushed_view(seeded_app, tokyo):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", window="custom", **{"from": "2026-11-25T14:30", "to": "2026-11-25T18:30"})
    no_exception(at)
    assert _filter_text(at) == [":material/timeline: Nov 25 14:30 → Nov 25 18:30 (Asia/Tokyo)"]
    assert "2026-11-25 14:30 → 2026-11-25 18:30 (Asia/Tokyo)" in [c.value for c in at.caption]
    assert len(_times(at)) == 4
    # Opened from a link, there is no brushed-from window to go back to: the presets and "Whole days" remain.
    assert "Whole days" in {b.label for b in at.button} and not any(b.label.startswith("Back to") for b in at.button)


def test_a_link_with_a_range_ending_before_it_starts_shows_the_last_week_and_says_why(seeded_app, tokyo):
    at = open_page(ADMIN_PAGE, seeded_app, "admin", window="custom", **{"from": "2026-11-25T18:30", "to": "2026-11-25T14:30"})
    no_exception(at)
    assert warnings(at) == ["The end of the range is before its start. Showing the last 7 days instead."]
    assert _url_window(at) == (["custom"], ["2026-11-19"], ["2026-11-25"])


def test_a_customers_brush_on_my_requests_carries_to_my_dashboard(seeded_app, tokyo):
    at = login_as(seeded_app, "customer")
    at.switch_page(CUSTOMER_PAGE).run()
    at = _brush(at, "2026-11-25T14:30", "2026-11-25T19:30")
    assert _times(at) == ["2026-11-25 19:00:00", "2026-11-25 15:00:00"]  # cust_a's in that range
    for name in list(at.query_params):  # as in the browser, moving to another page starts with a bare URL
        del at.query_params[name]
    at.switch_page("pages/my_dashboard.py").run()
    no_exception(at)
    assert _filter_text(at) == [":material/timeline: Nov 25 14:30 → Nov 25 19:30 (Asia/Tokyo)"]
    assert next(m.value for m in at.metric if m.label == "Total requests") == "2"
