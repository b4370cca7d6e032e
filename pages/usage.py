"""Usage (every role): requests and failed requests per customer × API × endpoint × method in one UTC calendar
month, for billing, with CSV. A Customer sees only their own usage (core.storage.usage filters it in SQL)."""
import streamlit as st

from core.domain.scope import scope_for
from core.present import fmt
from core.present.page_data import api_names, data_version
from core.present.usage import (
    WIDTHS,
    UsageError,
    month_bounds,
    month_choices,
    month_label,
    month_of,
    shown_columns,
    usage_rows,
    usage_table,
    usage_totals,
)
from core.storage import cache, customers, models
from core.storage.store import NotFound
from ui import dashboard, widgets
from ui.guard import current_scope, require_role

user = require_role("admin", "member", "customer")
scope = current_scope(user)
engine = models.get_engine()
dashboard.refuse_other_customer(scope)


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def _usage(db_url: str, role: str, customer_scope: str | None, month: str, api_id: int | None, customer_id: str | None,
           version: str):
    return usage_table(models.engine_for(db_url), scope_for(role, customer_scope), month, api_id, customer_id)


st.title("My usage" if scope.is_customer else "Usage")
left, middle, right = st.columns([2, 2, 3], vertical_alignment="bottom")
with left:
    api = widgets.api_picker(engine, scope, allow_all=True)
months = month_choices(engine, scope, widgets.rounded_now(), api["api_id"])
if "usage_month" not in st.session_state:  # first run: the link's ?month= wins
    st.session_state["usage_month"] = months[0]
    try:
        st.session_state["usage_month"] = month_of(month_bounds(st.query_params.get("month") or months[0])[0])
    except UsageError as exc:
        st.warning(widgets.md_escape(f"{exc} Showing {month_label(months[0])}."))
if st.session_state["usage_month"] not in months:
    months = sorted({*months, st.session_state["usage_month"]}, reverse=True)
with middle:
    month = st.selectbox("Month (UTC)", months, format_func=month_label, key="usage_month")
st.query_params["month"] = month
customer_id = None
if not scope.is_customer:
    if "usage_customer" not in st.session_state:
        st.session_state["usage_customer"] = st.query_params.get("customer") or None
    known = {c["customer_id"]: c["display_name"] for c in customers.known_customers(engine, scope, limit=1000)}
    options = [None] + sorted({*known, *filter(None, [st.session_state["usage_customer"]])})
    with right:
        # No choice (None) reads "All customers" in the box too, not Streamlit's "Choose an option".
        customer_id = st.selectbox("Customer", options, key="usage_customer", placeholder="All customers",
                                   format_func=lambda c: "All customers" if c is None else f"{known.get(c) or c} ({c})")
    if customer_id:
        st.query_params["customer"] = customer_id
    else:
        st.query_params.pop("customer", None)

try:
    table = _usage(engine.url.render_as_string(hide_password=False), scope.role, scope.customer_id, month,
                   api["api_id"], customer_id, data_version(engine))
except NotFound as exc:
    st.error(widgets.md_escape(exc))
    st.stop()
totals = usage_totals(table)
st.caption(f"{month_label(month)}, 00:00 UTC on the 1st to 00:00 UTC on the 1st of the next month · "
           f"{fmt.count(totals['requests'])} requests, {fmt.count(totals['failed_requests'])} failed (status 400 or above)"
           " · exact counts, as on the dashboard")
if table.height == 0:
    st.info("No requests in this month. Pick another month or API.", icon=":material/date_range:")
    st.stop()
shown = usage_rows(table, api_names(engine, scope), cache.customers_frame(engine, scope), show_customer=not scope.is_customer)
st.dataframe(shown, hide_index=True, width="stretch", height=widgets.table_height(shown.height, 20),
             column_order=shown_columns(shown.columns),
             column_config={c: {"width": px, **({"pinned": True} if c == shown.columns[0] else {})}
                            for c, px in WIDTHS.items()})
widgets.csv_download(shown, f"usage-{month}{'' if api['api_id'] is None else '-api-' + str(api['api_id'])}.csv",
                     key="usage_csv")
