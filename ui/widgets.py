"""Streamlit building blocks every page shares: time filter, API picker, CSV download, request details,
empty states, Markdown escaping and the viewer's time zone.

Typical page:
    user = require_role("admin", "member")
    scope = current_scope(user)
    engine = models.get_engine()
    api = widgets.api_picker(engine, scope)                     # {"api_id", "name"}; ?api=<id> in the URL
    window = widgets.time_filter(engine, scope, api["api_id"])  # core.domain.timewindow.Window; ?window=7d
    tz = widgets.viewer_tz()
    ...
    widgets.csv_download(table, "customers.csv")
Values in the URL (st.query_params) are read on a page's first run and written back on every run,
so a link reproduces the view. Pages must not read st.session_state inside st.cache_data functions.
"""
from __future__ import annotations

import datetime as dt
import re

import polars as pl
import sqlalchemy as sa
import streamlit as st

from core.domain import config, timewindow
from core.domain.scope import Scope
from core.ingest import enrich
from core.present import export, fmt
from core.present import request_log as ht
from core.storage import cache
from core.storage import request_log as history
from core.storage.store import NotFound
from ui import audit as audit_ui
from ui.guard import refuse

# Remembered per session, so moving between pages keeps the chosen window and API.
_WINDOW_PREF = "clientele_window_pref"
_DATES_PREF = "clientele_dates_pref"
_RANGE_PREF = "clientele_range_pref"  # (from, to) to the minute while a brushed range is the time filter
_BACK_PREF = "clientele_range_back"  # what the first brush narrowed: a preset, or whole days (first, last)
_API_PREF = "clientele_api_pref"
ALL_APIS = "all"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")


def md_escape(text) -> str:
    """`text` (a customer name, URL, header…) safe to embed in st.markdown: every Markdown, HTML,
    LaTeX ($) and Streamlit directive (:red[…], :material/…:) character is backslash-escaped and line
    breaks become spaces, so the text renders literally."""
    if text is None:
        return ""
    return _MD_SPECIAL.sub(r"\\\1", str(text).replace("\r", " ").replace("\n", " "))


def viewer_tz() -> str:
    """The viewer's IANA time zone (from the browser), or the CLIENTELE_TIMEZONE setting, or UTC."""
    return fmt.zone_name(st.context.timezone or config.settings().timezone)


def rounded_now() -> dt.datetime:
    """core.domain.timewindow.current_now() rounded up to the next whole minute: windows (and cache keys) stay
    stable for a minute and still include everything received so far."""
    now = timewindow.current_now()
    floor = now.replace(second=0, microsecond=0)
    return floor if floor == now else floor + dt.timedelta(minutes=1)


# ---------------------------------------------------------------- time filter


def time_filter(engine: sa.Engine, scope: Scope, api_id: int | None = None, *, key: str = "window",
                default: str = "7d") -> timewindow.Window:
    """The window picker (24H, 7D, 14D, 30D, All Time, Custom), synced with ?window=<preset>. Custom is whole
    days (a date range; ?from=YYYY-MM-DD&to=YYYY-MM-DD, both included) or a range to the minute brushed on a
    chart (narrow_time_filter; ?from=YYYY-MM-DDTHH:MM&to=…, wall-clock in the viewer's zone, `to` excluded).
    All Time starts at the first request this scope may see on `api_id` (or on every API)."""
    state, params = st.session_state, st.query_params
    options = list(timewindow.PRESET_LABELS)
    # A link (or another page, or a brush) that changed ?window=, or a custom window's ?from=&to=, since this
    # picker last wrote them wins over the state.
    linked = (key not in state or params.get("window") != state.get(f"{key}_url")
              or (params.get("window") == "custom" and _url_range() != state.get(f"{key}_url_range")))
    if linked:
        wanted = (params.get("window") or state.get(_WINDOW_PREF) or default).lower()
        if wanted not in options:
            st.warning(md_escape(f"Unknown time window {params.get('window')!r} in the link; "
                                 f"showing {timewindow.PRESET_LABELS[default]}."))
            wanted = default
        state[key] = wanted
    else:
        # Widget ids differ from page to page: hand the choice made on the last page to this page's widget.
        state[key] = state[key]
    # wrap: on a phone the six presets take two rows rather than hiding "Custom" past the edge.
    preset = st.segmented_control("Time window", options, format_func=timewindow.PRESET_LABELS.get, key=key,
                                  required=True, label_visibility="collapsed", wrap=True)
    now = rounded_now()
    state[_WINDOW_PREF] = preset
    if preset == "custom":
        window = _custom_window(key, now, viewer_tz(), linked)
    else:
        start, newest = cache.data_span(engine, scope, api_id) if preset == "all" else (None, None)
        window = timewindow.window(preset, now, data_start=start, data_end=newest)
        params.pop("from", None)
        params.pop("to", None)
        state.pop(_RANGE_PREF, None)
        state.pop(_BACK_PREF, None)
    params["window"] = state[f"{key}_url"] = window.preset
    state[f"{key}_url_range"] = _url_range()
    return window


def narrow_time_filter(narrowed: timewindow.Window, tz: str) -> None:
    """Make `narrowed` (a range brushed on a chart: core.present.series.brushed_range) the time filter of this
    page and of the pages opened next, and put it in the URL; the caller then reruns the app (st.rerun). The
    first brush remembers the window it narrowed, for the time filter's "Back to …" button."""
    state, params = st.session_state, st.query_params
    if not state.get(_RANGE_PREF):
        before = state.get(_WINDOW_PREF)
        state[_BACK_PREF] = tuple(state[_DATES_PREF]) if before == "custom" and state.get(_DATES_PREF) else before
    texts = timewindow.range_text(narrowed, tz)
    state[_WINDOW_PREF], state[_RANGE_PREF] = "custom", texts
    params["window"] = "custom"
    params["from"], params["to"] = texts


def range_label(window: timewindow.Window, tz: str, now: dt.datetime) -> str:
    """A range to the minute as the time filter shows it: "Nov 20 13:05 → Nov 21 09:40 (Asia/Tokyo)", with
    the years when the range is not all in the viewer's current year."""
    zone = fmt.zone(tz)
    start, end = window.start.astimezone(zone), window.end.astimezone(zone)
    pattern = "%b %d %H:%M" if start.year == end.year == now.astimezone(zone).year else "%b %d %Y %H:%M"
    return f"{start:{pattern}} → {end:{pattern}} ({fmt.zone_name(tz)})"


def _url_range() -> tuple[str | None, str | None]:
    return st.query_params.get("from"), st.query_params.get("to")


def _custom_window(key: str, now: dt.datetime, tz: str, linked: bool) -> timewindow.Window:
    """Whole days in the viewer's zone (tz), today being the viewer's today; or, while one is set (by a brush
    or a link), a range to the minute."""
    state, params = st.session_state, st.query_params
    dates_key = f"{key}_dates"
    today = now.astimezone(fmt.zone(tz)).date()
    last_week = (today - dt.timedelta(days=6), today)
    if linked and (params.get("from") or params.get("to")):
        try:
            linked_window = timewindow.parse_range(params.get("from"), params.get("to"), tz)
        except timewindow.WindowError as exc:
            st.warning(md_escape(f"{exc} Showing the last 7 days instead."))
            linked_window = timewindow.custom(*last_week, tz)
        texts = timewindow.range_text(linked_window, tz)
        if "T" in texts[0]:
            if state.get(_RANGE_PREF) != texts:  # not the brush of this session: nothing to go back to
                state.pop(_BACK_PREF, None)
            state[_RANGE_PREF] = texts
        else:
            state.pop(_RANGE_PREF, None)
            state[dates_key] = timewindow.whole_days(linked_window, tz)
    if state.get(_RANGE_PREF):
        try:
            return _range_window(key, state[_RANGE_PREF], now, tz)
        except timewindow.WindowError:  # read in another zone than it was written in: whole days instead
            state.pop(_RANGE_PREF, None)
    if dates_key not in state:
        state[dates_key] = state.get(_DATES_PREF) or last_week
    picked = st.date_input(f"Dates (whole days in {tz}, both included)", key=dates_key, max_value=today, format="YYYY-MM-DD")
    # While the second date is being picked the input holds one date: show that single day meanwhile.
    start, end = (picked[0], picked[-1]) if isinstance(picked, (tuple, list)) and picked else (today, today)
    try:
        window = timewindow.custom(start, end, tz)
    except timewindow.WindowError as exc:
        st.warning(md_escape(f"{exc} Showing the last 7 days instead."))
        start, end = last_week
        window = timewindow.custom(start, end, tz)
    state[_DATES_PREF] = (start, end)
    params["from"], params["to"] = start.isoformat(), end.isoformat()
    return window


def _range_window(key: str, texts: tuple[str, str], now: dt.datetime, tz: str) -> timewindow.Window:
    """A range to the minute, shown as text in place of the date picker, with the ways back to the window it
    narrowed ("Back to 7D") and to the whole days it touches ("Whole days")."""
    state, params = st.session_state, st.query_params
    window = timewindow.parse_range(*texts, tz)
    back = state.get(_BACK_PREF)
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.markdown(f":material/timeline: {md_escape(range_label(window, tz, now))}", width="content")
        if back:
            label = timewindow.PRESET_LABELS.get(back) if isinstance(back, str) else f"{back[0]:%b %d} – {back[1]:%b %d}"
            st.button(f"Back to {label}", key=f"{key}_back", icon=":material/undo:", type="tertiary", on_click=_leave_range,
                      args=(key, back), help="The time window this range was brushed from.")
        st.button("Whole days", key=f"{key}_whole_days", icon=":material/calendar_month:", type="tertiary",
                  on_click=_leave_range, args=(key, timewindow.whole_days(window, tz)),
                  help="The days this range touches, in the date picker.")
    params["from"], params["to"] = texts
    return window


def _leave_range(key: str, to) -> None:
    """Callback: the time filter leaves its range to the minute for a preset ("7d") or whole days (first, last)."""
    state = st.session_state
    state.pop(_RANGE_PREF, None)
    state.pop(_BACK_PREF, None)
    if isinstance(to, str):
        state[key] = to
    else:
        state[key] = "custom"
        state[f"{key}_dates"] = state[_DATES_PREF] = tuple(to)


def window_caption(window: timewindow.Window, tz: str) -> str:
    """The exact span a window covers: "2026-11-18 13:00 → 2026-11-25 13:00 (Europe/Berlin)"."""
    return f"{fmt.local_time(window.start, tz)} → {fmt.local_time(window.end, tz)} ({tz})"


# ---------------------------------------------------------------- API picker


def api_picker(engine: sa.Engine, scope: Scope, *, allow_all: bool = False, key: str = "api",
               label: str = "API") -> dict:
    """The API select box, offering only the APIs this scope may see, synced with ?api=<id> (or
    ?api=all when allow_all). Returns {"api_id", "name"}; api_id is None for "All APIs".

    An API in the URL the viewer may not see is refused (st.error + st.stop); with no API at all the
    page shows how to get started and stops.
    """
    apis = cache.visible_apis(engine, scope)
    if not apis:
        empty_state("no_apis", scope)
        st.stop()
    names = {a["api_id"]: a["name"] for a in apis}
    duplicated = {n for n in names.values() if list(names.values()).count(n) > 1}
    options = ([ALL_APIS] if allow_all else []) + list(names)
    state, params = st.session_state, st.query_params
    wanted = params.get("api")
    if wanted == ALL_APIS and not allow_all:
        wanted = None  # "All APIs" chosen on a page that has it; this page shows one API
    if wanted not in (None, "") and not (allow_all and wanted == ALL_APIS):
        try:
            wanted = cache.resolve_api(engine, scope, wanted)["api_id"]
        except LookupError as exc:
            refuse(md_escape(str(exc)))
    # A link (or another page) that changed ?api= since this picker last wrote it wins over the state.
    if key not in state or state[key] not in options or params.get("api") != state.get(f"{key}_url"):
        remembered = state.get(_API_PREF)
        state[key] = next(v for v in (wanted, remembered, options[0]) if v in options)
    else:
        # Widget ids differ from page to page: hand the choice made on the last page to this page's widget.
        state[key] = state[key]

    def label_of(value) -> str:
        if value == ALL_APIS:
            return "All APIs"
        return f"{names[value]} (#{value})" if names[value] in duplicated else names[value]

    choice = st.selectbox(label, options, format_func=label_of, key=key)
    state[_API_PREF] = choice
    params["api"] = state[f"{key}_url"] = str(choice)
    if choice == ALL_APIS:
        return {"api_id": None, "name": "All APIs"}
    return {"api_id": choice, "name": names[choice]}


# ---------------------------------------------------------------- downloads


def csv_download(frame: pl.DataFrame, filename: str, label: str = "Download CSV", *, key: str | None = None,
                 help: str | None = None) -> None:
    """A download button for `frame` as CSV (core.present.export.to_csv: Excel-safe). The frame must already be
    scoped and shaped like the table it mirrors."""
    st.download_button(label, export.to_csv(frame), file_name=filename, mime="text/csv", key=key or f"csv_{filename}",
                       icon=":material/download:", on_click=audit_ui.csv_downloaded, args=(filename, frame.height), help=help)


# ---------------------------------------------------------------- empty states


def empty_state(kind: str, scope: Scope | None = None) -> None:
    """An st.info that says what to do next. Kinds: "no_data" (nothing recorded yet), "no_apis",
    "window" (nothing in this time window), "filters" (nothing matches the filters or search),
    "no_docs" (no API documentation to show)."""
    customer = scope is not None and scope.is_customer
    if kind in ("no_data", "no_apis"):
        if customer:
            st.info("No API has recorded a request from your account yet. Your APIs, requests and charts appear "
                    "here a few seconds after your first call to an API that reports to this dashboard.",
                    icon=":material/hourglass_empty:")
            return
        url = config.settings().collector_url
        st.info(
            "**No requests recorded yet.** To send real traffic:\n"
            "1. Start the collector: `python -m core collector` (it listens on "
            f"`{url}`).\n"
            "2. Create an API on the **Data** page (or `python -m core apis add \"My API\"`) to get its API key "
            "and SDK token.\n"
            "3. Point your Treblle SDK at the collector with those two values (the **Data** page shows the "
            "settings for Django, Express and Laravel).\n\n"
            "Or import payload files on the **Data** page, or load demo traffic with `python -m core demo`.",
            icon=":material/rocket_launch:",
        )
        return
    messages = {
        "window": ("No requests in this time window. Widen the time filter (for example **All Time**) "
                   "or pick another API.", ":material/date_range:"),
        "filters": ("No requests match these filters. Remove a filter or clear the search to see more.",
                    ":material/filter_alt_off:"),
        "no_docs": ("No documentation yet: an API gets documented once it has recorded requests"
                    + ("." if customer else " or an uploaded OpenAPI spec (on the **Data** page)."),
                    ":material/menu_book:"),
    }
    if kind not in messages:
        raise ValueError(f"Unknown empty state {kind!r}.")
    text, icon = messages[kind]
    st.info(text, icon=icon)


# ---------------------------------------------------------------- column chooser

_COLUMNS_PREF = "clientele_columns_pref"


def _remember_column(table: str, column: str, widget_key: str) -> None:
    st.session_state.setdefault(_COLUMNS_PREF, {}).setdefault(table, {})[column] = bool(st.session_state[widget_key])


def column_chooser(table: str, columns: list[str], default: list[str]) -> list[str]:
    """A "Columns" popover with a switch for every column but the first (pinned: always shown); the
    choice is kept per table for the session. Returns the columns to show, in the table's order."""
    prefs = st.session_state.get(_COLUMNS_PREF, {}).get(table, {})
    shown = columns[:1]
    with st.popover("Columns", icon=":material/view_column:", help="Show or hide columns of this table."):
        for column in columns[1:]:
            key = f"{table}_column_{column}"
            if st.checkbox(md_escape(column), value=prefs.get(column, column in default), key=key,
                           on_change=_remember_column, args=(table, column, key)):
                shown.append(column)
    return shown


# st.dataframe's header and row heights (px).
HEADER_PX, ROW_PX = 38, 35


def table_height(rows: int, at_most: int) -> int:
    """The height (px) of an st.dataframe that shows its `rows` rows, scrolling past `at_most`: a short table ends
    at its last row instead of drawing empty ones below it."""
    return min(max(rows, 1), at_most) * ROW_PX + HEADER_PX


def column_widths(columns: list[str], widths: dict[str, int]) -> dict:
    """st.dataframe column_config giving each column its width (px), the first one pinned at the left."""
    return {c: {"width": widths[c], **({"pinned": True} if c == columns[0] else {})} for c in columns if c in widths}


def table_header(caption: str, table: str, columns: list[str], default: list[str]) -> list[str]:
    """A table's caption (Markdown) with its "Columns" chooser at the right; returns the columns to show."""
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption(caption, width="stretch")
        return column_chooser(table, columns, default)


# ---------------------------------------------------------------- request details

_THREAT_TEXT = {rule["id"]: f'{rule["level"]}: {rule["description"]}' for rule in enrich.describe_rules()}


def _general_table(general: dict, tz: str) -> pl.DataFrame:
    """Field/Value rows (all text) of a request's general facts."""
    customer = general.get("customer_name") or general.get("customer_id")
    if general.get("customer_name") and general.get("customer_id"):
        customer = f'{general["customer_name"]} ({general["customer_id"]})'
    rows = [
        ("Request ID", str(general["id"])),
        ("Time", f'{fmt.local_time(general["timestamp"], tz)} ({tz})'),
        ("Received", f'{fmt.local_time(general.get("received_at"), tz)} ({tz})'),
        ("API", general.get("api_name")),
        ("Method", general.get("method")),
        ("URL", general.get("url")),
        ("Endpoint", general.get("endpoint")),
        ("Status", str(general.get("status"))),
        ("Load time", fmt.ms(general.get("load_time_ms"))),
        ("Response size", fmt.size(general.get("response_size"))),
        ("Customer", customer or "not attributed"),
        ("IP", general.get("ip")),
        ("Location", general.get("country_name")),
        ("Device", ht.device_label(general.get("device"))),
        ("AI agent", general.get("ai_agent") or "none"),
        ("User agent", general.get("user_agent")),
        ("Threat level", general.get("threat_level")),
    ]
    return pl.DataFrame({"Field": [r[0] for r in rows], "Value": [r[1] or fmt.MISSING for r in rows]},
                        schema={"Field": pl.String, "Value": pl.String})


def _payload(label: str, value, empty: str) -> None:
    st.markdown(f"**{label}**")
    if value in (None, "", {}, []):
        st.caption(empty)
    elif isinstance(value, (dict, list)):
        st.json(value, expanded=2)
    else:
        st.code(str(value), language=None, wrap_lines=True)


def request_pills(method, status) -> str:
    """A request's method and status as coloured badges (Markdown): ":blue-badge[GET] :green-badge[200]"."""
    return (f":{ht.method_color(method)}-badge[{md_escape(method or fmt.MISSING)}] "
            f":{ht.status_color(status)}-badge[{md_escape(status if status is not None else fmt.MISSING)}]")


def request_dialog(engine: sa.Engine, scope: Scope, request_id, *, on_dismiss) -> None:
    """Opens request_detail_view in a large dialog over the page, where the reader looks; on_dismiss runs
    when the reader closes it."""
    st.dialog("Request details", width="large", on_dismiss=on_dismiss)(request_detail_view)(engine, scope, request_id)


def request_detail_view(engine: sa.Engine, scope: Scope, request_id) -> None:
    """Everything stored about one request, within the scope: headline metrics, general facts,
    request and response headers, query and bodies (masked values as stored), errors and threat
    reasons. An id outside the scope reads exactly like a missing one."""
    try:
        detail = history.request_detail(engine, scope, request_id)
    except NotFound as exc:
        st.error(md_escape(str(exc)))
        return
    tz = viewer_tz()
    general = detail["general"]
    st.markdown(f"{request_pills(general['method'], general['status'])} **{md_escape(general.get('endpoint'))}**")
    st.caption(f"Request {md_escape(general['id'])} · {fmt.local_time(general['timestamp'], tz)} ({md_escape(tz)})"
               f" · {md_escape(general.get('api_name'))}")
    cols = st.columns(4)
    cols[0].metric("Load time", fmt.ms(general["load_time_ms"]))
    cols[1].metric("Response size", fmt.size(general["response_size"]))
    cols[2].metric("Threat level", general.get("threat_level") or fmt.MISSING)
    cols[3].metric("Device", ht.device_label(general.get("device")))
    with st.expander("Copy as cURL", icon=":material/terminal:"):
        st.caption("Masked values stay masked: put your own credentials in before running it.")
        st.code(ht.curl_command(detail), language="bash", wrap_lines=True)
    tabs = st.tabs(["General", "Request", "Response", f"Errors ({len(detail['errors'])})",
                    f"Threats ({len(detail['threat_reasons'])})"] + (["Server"] if "server" in detail else []))
    with tabs[0]:
        facts = _general_table(general, tz)
        st.dataframe(facts, hide_index=True, width="stretch", height=table_height(facts.height, facts.height))
        sent_by = ht.sdk_caption(detail["sdk"].get("name"), detail["sdk"].get("version"))
        if sent_by:
            st.caption(md_escape(sent_by))
        if detail["metadata_error"]:
            st.warning(f"The treblle-metadata header could not be read: {md_escape(detail['metadata_error'])}")
    with tabs[1]:
        _payload("Headers", detail["request_headers"], "No request headers were sent.")
        _payload("Query", detail["query"], "No query parameters.")
        _payload("Body", detail["request_body"], "No request body.")
    with tabs[2]:
        _payload("Headers", detail["response_headers"], "No response headers were recorded.")
        _payload("Body", detail["response_body"], "No response body.")
    with tabs[3]:
        _payload("Errors", detail["errors"], "No errors were reported for this request.")
    with tabs[4]:
        if detail["threat_reasons"]:
            st.dataframe(pl.DataFrame({"Rule": detail["threat_reasons"],
                                       "Why": [_THREAT_TEXT.get(r, r) for r in detail["threat_reasons"]]}),
                         hide_index=True, width="stretch")
        else:
            st.caption("No threat rule matched this request.")
    if "server" in detail:
        with tabs[5]:
            _payload("Server", detail["server"], "The SDK sent no server facts.")


CATCHING_UP = {
    "load": "Reading this database's rollups into memory: the first page after the server starts waits for it "
            "(seconds at millions of requests)…",
    "reload": "Past hours changed (an import, a prune, a rollup rebuild or the demo's loader): reading the rollups "
              "again…",
}


def numbers_up_to_date(engine: sa.Engine) -> None:
    """Before the page reads anything: when its first read would wait for the cache to load or reload
    (cache.reload_due), wait here instead, under a spinner that says why. Another session's reload already
    under way is not waited for (cache.refreshed): its page shows the numbers from before it meanwhile."""
    due = cache.reload_due(engine)
    if due is not None:
        with st.spinner(CATCHING_UP[due], show_time=True):
            cache.refreshed(engine)

