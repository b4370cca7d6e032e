"""The one request-history component (Requests, My requests, customer profiles): filters, search, sort,
pagination, CSV export and the detail view of a request, all synced with the URL.

Usage:
    history_view.render(engine, scope, api_id=api["api_id"], window=window)                    # workspace
    history_view.render(engine, scope, api_id=..., window=..., show_customer=False)            # Customer
    history_view.render(engine, scope, api_id=..., window=..., customer_id="c1", key="profile") # a profile
URL parameters: q, method, status, endpoint, threat, device, agent, country, sort, dir, page, size, request.
"""
from __future__ import annotations

import datetime as dt
import functools
import zlib
from dataclasses import replace

import polars as pl
import sqlalchemy as sa
import streamlit as st

from core.analytics import metrics
from core.domain.scope import Scope, scope_for
from core.domain.timewindow import Window, bucket_for
from core.present import charts, fmt, series
from core.present import request_log as ht
from core.storage import filter_options, models
from core.storage import request_log as history
from ui import widgets

PAGE_SIZES = (25, 50, 100, 200)
ROWS_SHOWN = 20  # the table scrolls beyond this many rows
SORT_LABELS = {
    "timestamp": "Time", "method": "Method", "status": "Status", "endpoint": "Endpoint",
    "load_time_ms": "Load time", "response_size": "Size", "threat_level": "Threat level", "device": "Device",
    "ai_agent": "AI agent", "country": "Location", "customer": "Customer",
}
DIRECTION_LABELS = {"desc": "Descending", "asc": "Ascending"}
# (URL parameter, HistoryQuery field, widget label, key of core.storage.filter_options.filter_options)
FILTERS = (
    ("method", "methods", "Method", "methods"),
    ("status", "statuses", "Status", "statuses"),
    ("endpoint", "endpoints", "Endpoint", "endpoints"),
    ("threat", "threat_levels", "Threat level", "threat_levels"),
    ("device", "devices", "Device", "devices"),
    ("agent", "ai_agents", "AI agent", "ai_agents"),
    ("country", "countries", "Location", "countries"),
)
URL_PARAMS = ("q", "sort", "dir", "page", "size", "request") + tuple(f[0] for f in FILTERS)


@st.cache_data(ttl=60, show_spinner=False, max_entries=256)
def _filter_options(db_url: str, role: str, customer_id: str | None, api_id: int | None,
                    start: dt.datetime, end: dt.datetime) -> dict:
    """Choices of every filter widget, cached per viewer scope, API and window (scalars only)."""
    engine = models.engine_for(db_url)
    window = Window(start, end, bucket_for(end - start), "custom")
    options = filter_options.filter_options(engine, scope_for(role, customer_id), api_id, window)
    options["statuses"] = ht.status_choices(options)
    options["countries"] = ht.countries_to_url(options["countries"])
    return options


def _url_list(name: str) -> list[str]:
    return [v for v in st.query_params.get_all(name) if v != ""]


def _init(state_key: str, value) -> None:
    """Seed a widget's state from the URL on the page's first run (later runs keep the user's choice)."""
    if state_key not in st.session_state:
        st.session_state[state_key] = value


def _filters(key: str, options: dict) -> dict[str, list]:
    """The filter multiselects (inside an expander); returns {HistoryQuery field: chosen values}."""
    chosen: dict[str, list] = {}
    for param, _field, _label, opt in FILTERS:
        allowed = set(options[opt])
        _init(f"{key}_{param}", [v for v in _url_list(param) if v in allowed])
        # Choices a narrower window no longer offers are dropped rather than breaking the widget.
        st.session_state[f"{key}_{param}"] = [v for v in st.session_state[f"{key}_{param}"] if v in allowed]
    active = sum(bool(st.session_state[f"{key}_{f[0]}"]) for f in FILTERS)
    with st.expander(f"Filters ({active} active)" if active else "Filters", expanded=bool(active), icon=":material/filter_list:"):
        cols = st.columns(4)
        for i, (param, field, label, opt) in enumerate(FILTERS):
            format_func = {"country": ht.country_label, "device": ht.device_label}.get(param, str)
            chosen[field] = cols[i % 4].multiselect(label, options[opt], key=f"{key}_{param}", format_func=format_func,
                                                    placeholder="All")
    return chosen


def _controls(key: str, sorts: list[str], customer: bool) -> tuple[str, str, str, int]:
    _init(f"{key}_q", st.query_params.get("q", ""))
    _init(f"{key}_sort", st.query_params.get("sort") if st.query_params.get("sort") in sorts else "timestamp")
    _init(f"{key}_dir", st.query_params.get("dir") if st.query_params.get("dir") in DIRECTION_LABELS else "desc")
    size = st.query_params.get("size")
    _init(f"{key}_size", int(size) if size and size.isdigit() and int(size) in PAGE_SIZES else 50)
    c1, c2, c3, c4 = st.columns([4, 2, 2, 1])
    search = c1.text_input("Search", key=f"{key}_q", max_chars=history.MAX_SEARCH_CHARS,
                           placeholder="Path or endpoint" if customer else "Path, endpoint, customer name or ID",
                           help="Case-insensitive; matches anywhere in the text.")
    sort = c2.selectbox("Sort by", sorts, format_func=SORT_LABELS.get, key=f"{key}_sort")
    direction = c3.selectbox("Order", list(DIRECTION_LABELS), format_func=DIRECTION_LABELS.get, key=f"{key}_dir")
    page_size = c4.selectbox("Rows", PAGE_SIZES, key=f"{key}_size")
    return search, sort, direction, page_size


def render(engine: sa.Engine, scope: Scope, *, api_id: int | None, window, customer_id: str | None = None,
           show_customer: bool = True, key: str = "history", filename: str = "requests.csv") -> None:
    """The request history of `api_id` (None: every API the scope sees) in `window`, within the scope
    (and for one customer when customer_id is given). Filters, paging and details rerun only this part."""
    _history(engine, scope, api_id, window, customer_id, show_customer, key, filename)


@st.fragment
def _history(engine: sa.Engine, scope: Scope, api_id: int | None, window, customer_id: str | None,
             show_customer: bool, key: str, filename: str) -> None:
    show_customer = show_customer and not scope.is_customer and customer_id is None
    tz = widgets.viewer_tz()
    _volume(engine, scope, api_id, window, customer_id, tz, key)
    options = _filter_options(engine.url.render_as_string(hide_password=False), scope.role, scope.customer_id,
                              api_id, window.start, window.end)
    sorts = [s for s in history.SORT_COLUMNS if show_customer or s != "customer"]
    search, sort, direction, page_size = _controls(key, sorts, scope.is_customer)
    chosen = _filters(key, options)
    status_classes, statuses = ht.split_statuses(chosen.pop("statuses"))
    chosen["countries"] = ht.countries_from_url(chosen["countries"])
    try:
        query = history.HistoryQuery(api_id=api_id, window=window, customer_id=customer_id, search=search, sort=sort,
                                     direction=direction, page_size=page_size, status_classes=status_classes,
                                     statuses=statuses, **chosen)
    except history.HistoryError as exc:
        st.error(widgets.md_escape(str(exc)))
        return

    # A new question starts again at page 1; the URL's page counts only on the first run.
    page_key, signature_key = f"{key}_page", f"{key}_signature"
    signature = repr(replace(query, page=1))
    # One pager widget per question: a new question gets a new pager, starting where page_key says.
    pager_key = f"{key}_pager_{zlib.crc32(signature.encode())}"
    if page_key not in st.session_state:
        raw = st.query_params.get("page", "1")
        st.session_state[page_key] = int(raw) if raw.isdigit() and int(raw) >= 1 else 1
    elif st.session_state.get(signature_key) != signature:
        st.session_state[page_key] = 1
    elif st.session_state.get(pager_key):
        st.session_state[page_key] = st.session_state[pager_key]
    st.session_state[signature_key] = signature
    result = history.request_history(engine, scope, replace(query, page=st.session_state[page_key]))
    if st.session_state[page_key] > result.pages:
        st.session_state[page_key] = result.pages
        result = history.request_history(engine, scope, replace(query, page=result.pages))

    _write_url(key, query, st.session_state[page_key])
    if result.total == 0:
        filtered = bool(search) or any(chosen.values()) or status_classes or statuses
        widgets.empty_state("filters" if filtered else "window", scope)
    else:
        table = ht.display_rows(result.rows, tz, show_customer=show_customer, show_api=api_id is None)
        columns = widgets.table_header(f"{ht.page_label(result)} · times in {widgets.md_escape(tz)} · select a row to "
                                       "see its details", key, table.columns, ht.default_columns(table.columns))
        event = st.dataframe(
            table, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
            height=widgets.table_height(table.height, ROWS_SHOWN), column_order=columns, column_config=column_config(table),
            key=f"{key}_table_{zlib.crc32(signature.encode())}_{st.session_state[page_key]}"
                f"_{st.session_state.get(f'{key}_closed', 0)}",
        )
        _apply_selection(key, table, event)
        if result.pages > 1:
            st.pagination(result.pages, default=st.session_state[page_key], key=pager_key, max_visible_pages=7)
        _downloads(engine, scope, query, table, tz, show_customer, key, filename, result)
    _detail(engine, scope, key)


def _volume(engine: sa.Engine, scope: Scope, api_id: int | None, window, customer_id: str | None, tz: str, key: str) -> None:
    """The volume-and-errors chart above the history. A range brushed on it becomes the page's time filter (and
    the URL's ?from=&to=, to the minute): the whole page reruns on it, its chart a new one without a brush."""
    volume = series.volume_series(engine, scope, window, api_id=api_id, customer_id=customer_id)
    if volume.select(pl.sum_horizontal("ok", "status_4xx", "status_5xx").sum()).item() == 0:
        return
    # One chart per window: the narrowed page gets a fresh chart, so the brush that narrowed it cannot fire again.
    chart_key = f"{key}_volume_{zlib.crc32(f'{window.start.isoformat()} {window.end.isoformat()}'.encode())}"
    event = st.altair_chart(charts.volume_chart(volume, tz=tz, partial=metrics.partial_buckets(window)), width="stretch",
                            on_select="rerun", selection_mode=charts.BRUSH, key=chart_key)
    narrowed = series.brushed_range((event.selection or {}).get(charts.BRUSH) if event else None, window, tz)
    if narrowed is None:
        st.caption("Drag across the chart to narrow the time filter, and everything on this page, to that time range.")
        return
    widgets.narrow_time_filter(narrowed, tz)
    st.rerun()


def _apply_selection(key: str, table, event) -> None:
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    applied_key = f"{key}_applied_selection"
    selected = int(table.get_column(ht.REQUEST_ID)[rows[0]]) if rows and rows[0] < table.height else None
    # A selection opens its request once; typing another ID afterwards must not be overridden by it.
    if selected is not None and st.session_state.get(applied_key) != selected:
        st.session_state[f"{key}_request"] = str(selected)
    st.session_state[applied_key] = selected


def _downloads(engine, scope, query, table, tz, show_customer, key, filename, result) -> None:
    row = st.container(horizontal=True)
    with row:
        widgets.csv_download(table, filename.replace(".csv", f"-page-{result.page}.csv"), "Download this page (CSV)",
                             key=f"{key}_csv_page")
    limit = min(result.total, history.COUNT_CAP)
    with row:
        if st.button(f"Prepare CSV of the first {fmt.count(limit)} filtered requests"
                     if result.total_capped or result.total > history.COUNT_CAP
                     else f"Prepare CSV of all {fmt.count(limit)} filtered requests",
                     key=f"{key}_csv_prepare", icon=":material/table_view:",
                     help=f"Every request matching the filters, up to {fmt.count(history.COUNT_CAP)}."):
            everything = ht.display_rows(ht.export_rows(engine, scope, replace(query, page=1)), tz,
                                         show_customer=show_customer, show_api=query.api_id is None)
            widgets.csv_download(everything, filename, f"Download {fmt.count(everything.height)} requests (CSV)",
                                 key=f"{key}_csv_all")


def column_config(table) -> dict:
    """Formats and widths (core.present.request_log.WIDTHS) of a history table; its first column stays put."""
    formats = {ht.STATUS: st.column_config.NumberColumn(format="%d"), ht.LOAD: st.column_config.NumberColumn(format="%.1f"),
               ht.REQUEST_ID: st.column_config.NumberColumn(format="%d")}
    config = {}
    for i, column in enumerate(table.columns):
        cfg = formats.get(column, st.column_config.TextColumn())
        config[column] = {**cfg, "width": ht.WIDTHS.get(column, 120), **({"pinned": True} if i == 0 else {})}
    return config


def _closed(key: str) -> None:
    """The reader closed a request's dialog: no request open, and a fresh table (a click on the same row opens it again)."""
    st.session_state[f"{key}_request"] = ""
    st.session_state[f"{key}_closed"] = st.session_state.get(f"{key}_closed", 0) + 1


def _detail(engine, scope, key: str) -> None:
    """The request ID box (from a selected row, a link's ?request= or typed); a new ID opens its details in a dialog."""
    rid_key, shown_key, url_key = f"{key}_request", f"{key}_dialog_for", f"{key}_request_url"
    # A link that changed ?request= since this page last wrote it wins over the box (as for the time filter).
    wanted = st.query_params.get("request", "")
    if rid_key not in st.session_state or wanted != st.session_state.get(url_key, wanted):
        st.session_state[rid_key] = wanted
    rid = st.text_input("Open a request by ID", key=rid_key, max_chars=20, placeholder="Request ID",
                        help="Select a row above, or type the ID of a request.", width=260).strip()
    st.session_state[url_key] = rid
    if not rid:
        st.query_params.pop("request", None)
        st.session_state.pop(shown_key, None)
        return
    st.query_params["request"] = rid
    # The dialog opens once per request: another rerun of the page (a filter, the pager) does not reopen it.
    if st.session_state.get(shown_key) != rid:
        st.session_state[shown_key] = rid
        widgets.request_dialog(engine, scope, rid, on_dismiss=functools.partial(_closed, key))


def _write_url(key: str, query: history.HistoryQuery, page: int) -> None:
    params = st.query_params
    values = {param: st.session_state[f"{key}_{param}"] for param, *_ in FILTERS}
    values.update(q=query.search, sort=query.sort if query.sort != "timestamp" else "",
                  dir=query.direction if query.direction != "desc" else "", page=str(page) if page > 1 else "",
                  size=str(query.page_size) if query.page_size != 50 else "")
    for name, value in values.items():
        if value in ("", [], None):
            params.pop(name, None)
        else:
            params[name] = value
