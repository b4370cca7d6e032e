"""Streamlit glue of the dashboard pages (Home, Customers, Customer profile, My dashboard): page models
cached by scalar keys, metric cards, customer tables whose rows open a profile, and page links.

Cached functions take only scalars (database URL, role, customer ID, API, window bounds, the data
version, favorite IDs) and never read session state: one viewer's numbers can never be served to another.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import sqlalchemy as sa
import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.analytics import customers as mc
from core.domain.scope import Scope, scope_for
from core.domain.timewindow import Window
from core.present import fmt
from core.present import request_log as ht
from core.present.cards import Card, comparison_text
from core.present.customers import CustomersPage, customers_page
from core.present.home import HomePage, api_cards, home_page
from core.present.my_dashboard import MyDashboard, my_dashboard
from core.present.page_data import data_version
from core.present.profile import ProfilePage, profile_page
from core.present.retention import RetentionPage, retention_page
from core.present.tables import (
    CHANGE,
    CUSTOMER,
    CUSTOMER_ID,
    CUSTOMER_PRIORITY,
    CUSTOMER_SORTS,
    CUSTOMER_WIDTHS,
    ERROR_RATE,
    FIRST_SEEN,
    LAST_ACTIVE,
    LAST_ACTIVE_AT,
    P95,
    RANK,
    REQUESTS,
    REQUESTS_BEFORE,
    REQUESTS_LOST,
    REQUESTS_NOW,
    SHARE,
    TREND,
    favorites_table,
    fitting_columns,
    known_table,
    recent_table,
    top_table,
)
from core.storage import cache, customers, models
from core.storage import request_log as history
from core.storage.store import NotFound
from ui import audit as audit_ui
from ui import request_log, widgets
from ui.guard import refuse
from ui.widgets import md_escape

PROFILE_PAGE = "pages/customer_profile.py"
CUSTOMERS_PAGE = "pages/customers.py"
_TTL_S = 600
MAX_MIN_REQUESTS = 1_000_000_000
_ENTRIES = 64


# ---------------------------------------------------------------- cached page models


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _window(start: dt.datetime, end: dt.datetime, bucket: str, preset: str) -> Window:
    return Window(start, end, bucket, preset)


@st.cache_data(ttl=_TTL_S, max_entries=_ENTRIES, show_spinner=False)
def _home(db_url: str, role: str, start, end, bucket: str, preset: str, version: str, segment: str | None) -> HomePage:
    return home_page(models.engine_for(db_url), scope_for(role, None), _window(start, end, bucket, preset), segment=segment)


@st.cache_data(ttl=_TTL_S, max_entries=_ENTRIES, show_spinner=False)
def _customers(db_url: str, role: str, api_id: int, start, end, bucket: str, preset: str, version: str,
               favorite_ids: tuple[str, ...], segment: str | None) -> CustomersPage:
    return customers_page(models.engine_for(db_url), scope_for(role, None), api_id,
                          _window(start, end, bucket, preset), favorite_ids, segment=segment)


@st.cache_data(ttl=_TTL_S, max_entries=_ENTRIES, show_spinner=False)
def _profile(db_url: str, role: str, customer_id: str, start, end, bucket: str, preset: str,
             version: str, api_id: int | None) -> ProfilePage:
    return profile_page(models.engine_for(db_url), scope_for(role, None), customer_id, _window(start, end, bucket, preset),
                        api_id)


@st.cache_data(ttl=_TTL_S, max_entries=_ENTRIES, show_spinner=False)
def _mine(db_url: str, role: str, customer_id: str | None, api_id: int | None, start, end, bucket: str, preset: str,
          version: str) -> MyDashboard:
    return my_dashboard(models.engine_for(db_url), scope_for(role, customer_id), api_id, _window(start, end, bucket, preset))


def _w(window: Window) -> tuple:
    return window.start, window.end, window.bucket, window.preset


@st.cache_data(ttl=_TTL_S, max_entries=_ENTRIES, show_spinner=False)
def _retention(db_url: str, role: str, api_id: int, now, version: str) -> RetentionPage:
    return retention_page(models.engine_for(db_url), scope_for(role, None), api_id, now)


def retention_model(engine: sa.Engine, scope: Scope, api_id: int, now) -> RetentionPage:
    return _retention(_url(engine), scope.role, api_id, now, data_version(engine))


def home_model(engine: sa.Engine, scope: Scope, window: Window, segment: str | None = None) -> HomePage:
    return _home(_url(engine), scope.role, *_w(window), data_version(engine), segment)


def customers_model(engine: sa.Engine, scope: Scope, api_id: int, window: Window, favorite_ids: list[str],
                    segment: str | None = None) -> CustomersPage:
    return _customers(_url(engine), scope.role, api_id, *_w(window), data_version(engine), tuple(sorted(favorite_ids)),
                      segment)


def profile_model(engine: sa.Engine, scope: Scope, customer_id: str, window: Window, api_id: int | None = None) -> ProfilePage:
    return _profile(_url(engine), scope.role, customer_id, *_w(window), data_version(engine), api_id)


def my_model(engine: sa.Engine, scope: Scope, api_id: int | None, window: Window) -> MyDashboard:
    return _mine(_url(engine), scope.role, scope.customer_id, api_id, *_w(window), data_version(engine))


# ---------------------------------------------------------------- cards and links


def window_note(window: Window, tz: str, prefix: str | None = None, *, covered: bool = True) -> None:
    """The window's exact span, and what the deltas compare with (covered: whether the data reaches back
    over the whole period before)."""
    lead = f"{md_escape(prefix)} · " if prefix else ""
    st.caption(f"{lead}{widgets.window_caption(window, tz)} · {comparison_text(window, covered)}")


def card(c: Card, *, border: bool = True) -> None:
    """One metric card; a card whose value is a name (e.g. the top customer) shows it whole, as text."""
    # Help texts render as Markdown and may carry a customer ID.
    help_text = md_escape(c.help) if c.help else None
    if c.is_name:
        with st.container(border=border):
            st.caption(md_escape(c.label), help=help_text)
            st.subheader(md_escape(c.value), anchor=False)
            if c.delta:
                st.caption(md_escape(c.delta))
        return
    st.metric(c.label, c.value, c.delta, delta_color=c.delta_color, help=help_text, border=border,
              delta_arrow="off" if c.arrowless else "auto", chart_data=list(c.chart) if c.chart else None, chart_type="area")


def cards(items: list[Card], per_row: int = 4, *, border: bool = True) -> None:
    """Metric cards in rows of per_row columns."""
    for first in range(0, len(items), per_row):
        for column, c in zip(st.columns(per_row), items[first:first + per_row]):
            with column:
                card(c, border=border)


def api_grid(apis: pl.DataFrame, per_row: int = 2) -> None:
    """One bordered card per API (HomePage.apis rows): its name, headline numbers with deltas and
    sparkline, and a link to its Customers page."""
    rows = apis.to_dicts()
    for first in range(0, len(rows), per_row):
        for column, api in zip(st.columns(per_row), rows[first:first + per_row]):
            with column.container(border=True):
                st.markdown(f"#### {md_escape(api['name'])}")
                cards(api_cards(api), per_row=2, border=False)
                page_link(CUSTOMERS_PAGE, f"Customers of {md_escape(api['name'])}", icon=":material/groups:",
                          query_params={"api": str(api["api_id"])})


def page_link(path: str, label: str, *, icon: str | None = None, query_params: dict | None = None) -> None:
    """A link to another page of the app, or nothing when that page is not in this run's navigation
    (the viewer's role may not open it, or the page file runs on its own)."""
    try:
        st.page_link(path, label=label, icon=icon, query_params=query_params)
    except StreamlitAPIException:
        return


def open_profile(customer_id: str, api_id: int | None = None) -> None:
    """The customer's profile; opened from an API's view (api_id), its share is that API's share."""
    params = {"customer": customer_id} if api_id is None else {"customer": customer_id, "api": str(api_id)}
    st.switch_page(PROFILE_PAGE, query_params=params)


def profile_api(engine: sa.Engine, scope: Scope) -> dict | None:
    """The API a profile was opened from (?api=<id>), or None for every API; an API the viewer may
    not see is refused."""
    wanted = st.query_params.get("api")
    if wanted in (None, "", widgets.ALL_APIS):
        return None
    try:
        return cache.resolve_api(engine, scope, wanted)
    except LookupError as exc:
        refuse(md_escape(str(exc)))


# ---------------------------------------------------------------- tables

_COLUMNS = {
    CUSTOMER: st.column_config.TextColumn(),
    FIRST_SEEN: st.column_config.TextColumn(),
    CUSTOMER_ID: st.column_config.TextColumn(),
    REQUESTS: st.column_config.NumberColumn(format="localized"),
    REQUESTS_BEFORE: st.column_config.NumberColumn(format="localized"),
    REQUESTS_NOW: st.column_config.NumberColumn(format="localized"),
    REQUESTS_LOST: st.column_config.NumberColumn(format="localized"),
    "Failed": st.column_config.NumberColumn(format="localized"),
    SHARE: st.column_config.NumberColumn(format="%.1f%%", help=(
        "Share of the requests in the window: of this API's on its Customers page, of every API's on Home.")),
    CHANGE: st.column_config.NumberColumn(format="%+.1f%%", help="Change against the period just before."),
    LAST_ACTIVE: st.column_config.TextColumn(),
    ERROR_RATE: st.column_config.NumberColumn(format="%.1f%%", help="Requests answered with status 400 or above."),
    P95: st.column_config.NumberColumn(format="%.1f", help="95 of 100 requests were faster."),
    "Average load time (ms)": st.column_config.NumberColumn(format="%.1f"),
    LAST_ACTIVE_AT: st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    "First seen at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    TREND: st.column_config.AreaChartColumn(y_min=0, help="Requests per time bucket of the window."),
    RANK: st.column_config.NumberColumn(format="%d"),
}


def _config(frame: pl.DataFrame, compact: bool, pinned: str | None = None) -> dict:
    """The shared column formats and widths (core.present.tables.CUSTOMER_WIDTHS) for the frame's columns;
    compact tables (narrow widgets) size columns to fit. `pinned` stays at the left while the rest scrolls."""
    config = {}
    for column, cfg in _COLUMNS.items():
        if column in frame.columns:
            width = (140 if column == CUSTOMER else 70) if compact else CUSTOMER_WIDTHS.get(column)
            config[column] = {**cfg, **({"width": width} if width else {}), **({"pinned": True} if column == pinned else {})}
    return config


def table(frame: pl.DataFrame, *, key: str | None = None, height="auto", columns: list[str] | None = None,
          compact: bool = False) -> None:
    """A read-only table with the shared number formats."""
    st.dataframe(frame, hide_index=True, width="stretch", height=height, key=key, column_order=columns,
                 column_config=_config(frame, compact))


def segment_picker(engine: sa.Engine, scope: Scope, key: str) -> str | None:
    """The Segment filter of Home and Customers: a "Key = value" of the customers' metadata, or None for every
    customer (core.present.segments)."""
    from core.present import segments

    column, _rest = st.columns([2, 6])
    choice = column.selectbox("Segment", segments.segment_choices(engine, scope), key=key,
                              help="Only the customers whose metadata (treblle-metadata, e.g. Plan) has this value: "
                                   "every number, list and chart below counts their requests only.")
    return None if choice == segments.EVERYONE else choice


def error_groups_table(table: pl.DataFrame, *, key: str, caption: str, rows_shown: int = 15) -> None:
    """core.present.error_groups.groups_table as shown on the Errors page, a profile and My dashboard: the
    columns that fit 1366 px (the endpoint pinned), a "Columns" chooser beside the caption (Markdown) for the rest."""
    from core.present.error_groups import LINK, TREND, WIDTHS, default_columns, display_columns

    columns = display_columns(table)
    config = widgets.column_widths(columns, WIDTHS)
    config[TREND] = st.column_config.BarChartColumn(y_min=0, width=WIDTHS[TREND],
                                                    help="Failed requests per time bucket of the window.")
    config[LINK] = st.column_config.LinkColumn(display_text="Open requests", width=WIDTHS[LINK],
                                               help="This group's requests in the history.")
    with st.container(key=key):  # .st-key-<key> locates the table in the browser tests
        shown = widgets.table_header(caption, key, columns, default_columns(columns))
        st.dataframe(table, hide_index=True, width="stretch", height=widgets.table_height(table.height, rows_shown),
                     column_order=shown, column_config=config)


def customer_table(frame: pl.DataFrame, *, key: str, height="auto", columns: list[str] | None = None,
                   compact: bool = False, api_id: int | None = None, caption: str | None = None) -> None:
    """A table of customers (with a "Customer ID" column); selecting a row opens that customer's profile
    (for api_id's view when the table shows one API). With a caption (Markdown), the table shows the columns
    that fit 1366 px, its first one pinned, and a "Columns" chooser for the rest beside the caption."""
    pinned = None
    if caption is not None:
        pinned = frame.columns[0]
        columns = widgets.table_header(caption, key, frame.columns,
                                       fitting_columns(frame.columns, CUSTOMER_WIDTHS, CUSTOMER_PRIORITY))
    event = st.dataframe(frame, hide_index=True, width="stretch", height=height, key=key, column_order=columns,
                         column_config=_config(frame, compact, pinned), on_select="rerun", selection_mode="single-row")
    rows = event.selection.rows
    if rows and rows[0] < frame.height:
        open_profile(frame.get_column(CUSTOMER_ID)[rows[0]], api_id)


def search_box(key: str, placeholder: str, param: str = "q") -> str:
    """A search box synced with ?q= (read on the page's first run, written back on every run; a link that
    changed ?q= since, e.g. the sidebar's customer search, wins over the box)."""
    wanted = st.query_params.get(param, "")
    if key not in st.session_state or wanted != st.session_state.get(f"{key}_url", wanted):
        st.session_state[key] = wanted
    text = st.text_input("Search", key=key, max_chars=200, placeholder=placeholder, label_visibility="collapsed")
    st.session_state[f"{key}_url"] = text
    if text:
        st.query_params[param] = text
    else:
        st.query_params.pop(param, None)
    return text


def customer_sort(key: str, param: str = "sort") -> str:
    """The "Sort by" box of a customer list (a core.present.tables.CUSTOMER_SORTS key), synced with ?sort=."""
    if key not in st.session_state:
        wanted = st.query_params.get(param)
        st.session_state[key] = wanted if wanted in CUSTOMER_SORTS else "requests"
    sort = st.selectbox("Sort by", list(CUSTOMER_SORTS), key=key, format_func=lambda k: CUSTOMER_SORTS[k][0],
                        help="Ties go to the customer with more requests.")
    if sort == "requests":
        st.query_params.pop(param, None)
    else:
        st.query_params[param] = sort
    return sort


def min_requests_box(key: str, param: str = "min") -> int:
    """The minimum number of requests a listed customer made in the window, synced with ?min=."""
    if key not in st.session_state:
        wanted = st.query_params.get(param, "")
        st.session_state[key] = int(wanted) if wanted.isdigit() and 0 < int(wanted) <= MAX_MIN_REQUESTS else 1
    least = st.number_input("Min. requests", min_value=1, max_value=MAX_MIN_REQUESTS, step=1, key=key,
                            help="Leave out customers with fewer requests in the window: an error rate of one "
                                 "request says little.")
    if least > 1:
        st.query_params[param] = str(least)
    else:
        st.query_params.pop(param, None)
    return int(least)


# ---------------------------------------------------------------- Customer Dashboard widgets

_LISTS = (
    ("recent_customers", "**Customers List** · the 10 newest", "No customer called this API for the first time in this window."),
    ("favorite_customers", "**Favorite Customers**", "No favorites yet: open a customer's profile and switch on Favorite."),
    ("top_customers_list", "**Top Customers List**", "Nobody called this API in this window."),
)


def list_widgets(w: mc.Widgets, shown: dict[str, bool], tz: str, now: dt.datetime, *, api_id: int,
                 covered: bool = True) -> None:
    """The list widgets the user switched on, side by side; a row opens that customer's profile on api_id."""
    lists = [item for item in _LISTS if shown[item[0]]]
    if not lists:
        return
    frames = {
        "recent_customers": (recent_table(w.recent_customers, tz, now), [CUSTOMER, "First seen"]),
        "favorite_customers": (favorites_table(w.favorite_customers, now, covered), [CUSTOMER, REQUESTS]),
        "top_customers_list": (top_table(w.top_customers, covered), [CUSTOMER, REQUESTS]),
    }
    for column, (key, title, empty) in zip(st.columns(len(lists)), lists):
        frame, columns = frames[key]
        with column.container(border=True):
            st.markdown(title)
            if frame.height:
                customer_table(frame, key=f"w_{key}", columns=columns, compact=True, api_id=api_id)
            else:
                st.caption(empty)


# ---------------------------------------------------------------- dashboard preferences


def _save_widget(engine: sa.Engine, user_id: int, key: str) -> None:
    customers.set_widget_prefs(engine, user_id, {key: bool(st.session_state[f"widget_{key}"])})


def widget_switches(engine: sa.Engine, user_id: int) -> dict[str, bool]:
    """The "Customize dashboard" toggles (saved for the user on every change); {widget key: shown}."""
    prefs = customers.get_widget_prefs(engine, user_id)
    shown = {}
    with st.popover("Customize dashboard", icon=":material/tune:"):
        st.caption("Choose the widgets you see; your choice is saved for your account.")
        for key, title in customers.WIDGETS:
            shown[key] = st.toggle(title, value=prefs[key], key=f"widget_{key}", on_change=_save_widget,
                                   args=(engine, user_id, key))
    return shown


# ---------------------------------------------------------------- customer profile

_NOTES_FLASH = "profile_notes_saved"
FIND_LIMIT = 50  # customers the profile's search lists


def profile_customer(engine: sa.Engine, scope: Scope, tz: str, now: dt.datetime) -> str:
    """The customer ID of ?customer=; without one, a search over known customers (a selected row opens
    that profile) and the run stops."""
    wanted = st.query_params.get("customer")
    if wanted and wanted.strip():
        return wanted  # as given: customer IDs match exactly, spaces included
    st.title("Customer profile")
    st.caption("Open a customer from the Home or Customers page, or find one here by name or ID and select its row.")
    search = search_box("profile_find", "Name or customer ID", param="find")
    found = customers.known_customers(engine, scope, search, limit=FIND_LIMIT)
    if not found:
        st.info("No customer matches this search." if search else "No customer has called an API yet.",
                icon=":material/person_search:")
        st.stop()
    st.caption(f"{'Matching customers' if search else 'Customers'}, most recently active first"
               f"{f' (the {len(found)} most recent)' if len(found) == FIND_LIMIT else ''} · times in {md_escape(tz)}")
    customer_table(known_table(found, tz, now), key="profile_find_table")
    st.stop()


def _save_favorite(engine: sa.Engine, user_id: int, customer_id: str, key: str) -> None:
    customers.set_favorite(engine, user_id, customer_id, bool(st.session_state[key]))


def favorite_toggle(engine: sa.Engine, user_id: int, customer_id: str) -> None:
    """The Favorite switch of a profile, saved for the user on every change."""
    key = f"favorite_{customer_id}"
    st.toggle("Favorite", value=customer_id in customers.favorites(engine, user_id), key=key, on_change=_save_favorite,
              args=(engine, user_id, customer_id, key), help="Favorites appear in the Favorite Customers widget.")


def notes_form(engine: sa.Engine, scope: Scope, email: str, info: dict, tz: str) -> None:
    """The editable description of a customer, saved with who changed it and when."""
    customer_id = info["customer_id"]
    with st.form(f"notes_{customer_id}", border=False):
        text = st.text_area("Notes", value=info["description"] or "", max_chars=customers.MAX_DESCRIPTION_CHARS,
                            height=140, placeholder="What the team should know about this customer")
        saved = st.form_submit_button("Save notes", icon=":material/save:", on_click=audit_ui.notes_saved, args=(customer_id,))
    if saved:
        try:
            customers.set_description(engine, scope, customer_id, text, email)
        except (ValueError, NotFound) as exc:
            st.error(md_escape(str(exc)))
            return
        st.session_state[_NOTES_FLASH] = customer_id
        st.rerun()
    if st.session_state.pop(_NOTES_FLASH, None) == customer_id:
        st.success("Notes saved.", icon=":material/check:")
    if info["description_updated_by"]:
        st.caption(f"Last changed by {md_escape(info['description_updated_by'])} on "
                   f"{fmt.local_time(info['description_updated_at'], tz)} ({md_escape(tz)})")


# ---------------------------------------------------------------- a customer's own dashboard

OTHER_CUSTOMER = "This dashboard shows your own account only; the link asked for another customer."


def refuse_other_customer(scope: Scope) -> None:
    """A Customer whose link names another customer (?customer=) is refused, on every run while the link
    says so (the message is the same for any ID, so it tells nothing about who exists)."""
    wanted = st.query_params.get("customer")
    if wanted is not None and scope.is_customer and wanted != scope.customer_id:
        st.error(OTHER_CUSTOMER)
        page_link("pages/my_dashboard.py", "Open your own dashboard", icon=":material/dashboard:")
        st.stop()


def _recent_closed() -> None:
    # A fresh table once the reader closed the dialog: no row stays selected, the same row opens again.
    st.session_state["recent_closed"] = st.session_state.get("recent_closed", 0) + 1


@st.fragment
def recent_activity(engine: sa.Engine, scope: Scope, api_id: int | None, window: Window, tz: str, limit: int = 10) -> None:
    """The latest requests of the window (newest first); selecting one opens its details in a dialog."""
    page = history.request_history(engine, scope, history.HistoryQuery(api_id=api_id, window=window, page_size=limit))
    if page.total == 0:
        widgets.empty_state("window", scope)
        return
    rows = ht.display_rows(page.rows, tz, show_customer=not scope.is_customer, show_api=api_id is None)
    columns = widgets.table_header(f"The latest {fmt.count(rows.height)} requests · times in {md_escape(tz)} · select one "
                                   "to see its details", "recent", rows.columns, ht.default_columns(rows.columns))
    closed = st.session_state.get("recent_closed", 0)
    event = st.dataframe(rows, hide_index=True, width="stretch", key=f"recent_table_{closed}" if closed else "recent_table",
                         on_select="rerun", selection_mode="single-row", column_order=columns,
                         column_config=request_log.column_config(rows))
    chosen = event.selection.rows
    if chosen and chosen[0] < rows.height:
        widgets.request_dialog(engine, scope, int(rows.get_column(ht.REQUEST_ID)[chosen[0]]), on_dismiss=_recent_closed)
