"""Errors (every role): failed requests grouped by API × endpoint × status × error type and normalised message,
with counts, first/last seen, a trend and the customers affected; each group links to its requests. A Customer
sees only the groups of their own requests (core.storage.error_groups filters them in SQL)."""
import streamlit as st

from core.domain.scope import scope_for
from core.domain.timewindow import Window
from core.present.error_groups import coverage_text, csv_rows, error_groups_page, groups_table
from core.present.page_data import data_version
from core.storage import models
from core.storage.store import NotFound
from ui import dashboard, nav, widgets
from ui.guard import current_scope, require_role

user = require_role("admin", "member", "customer")
scope = current_scope(user)
engine = models.get_engine()
tz = widgets.viewer_tz()
dashboard.refuse_other_customer(scope)


# Up to 20,000 failed requests are read and grouped (1–3 s at 10 million requests): say so while it runs.
@st.cache_data(ttl=600, max_entries=64, show_spinner="Grouping the failed requests of this window…")
def _groups(db_url: str, role: str, customer_scope: str | None, start, end, bucket: str, preset: str,
            api_id: int | None, customer_id: str | None, version: str):
    return error_groups_page(models.engine_for(db_url), scope_for(role, customer_scope), Window(start, end, bucket, preset),
                             api_id, customer_id)


st.title("My errors" if scope.is_customer else "Errors")
left, right = st.columns([1, 2], vertical_alignment="bottom")
with left:
    api = widgets.api_picker(engine, scope, allow_all=True)
with right:
    window = widgets.time_filter(engine, scope, api["api_id"])
st.caption(widgets.window_caption(window, tz))
# Admins and Members may narrow to one customer with ?customer=<ID> (a profile links here that way).
customer_id = None if scope.is_customer else (st.query_params.get("customer") or None)
try:
    page = _groups(engine.url.render_as_string(hide_password=False), scope.role, scope.customer_id, window.start,
                   window.end, window.bucket, window.preset, api["api_id"], customer_id, data_version(engine))
except NotFound as exc:
    st.error(widgets.md_escape(exc))
    st.stop()
if customer_id:
    st.caption(f"Only the errors of customer {widgets.md_escape(customer_id)}.")
    dashboard.page_link("pages/errors.py", "Show every customer's errors", icon=":material/group:",
                        query_params={"api": str(api["api_id"] or "all"), "window": window.preset})
if page.groups.height == 0:
    st.info("No failed requests in this time window. Widen the time filter or pick another API.",
            icon=":material/check_circle:")
    st.stop()

if scope.is_customer:
    history, extra = nav.spec_for_path("pages/my_requests.py").url_path, None
elif customer_id:
    history, extra = nav.spec_for_path("pages/customer_profile.py").url_path, {"customer": customer_id}
else:
    history, extra = nav.spec_for_path("pages/request_log.py").url_path, None
table = groups_table(page.groups, window, tz, history_base=history, show_customers=not scope.is_customer, extra=extra)
dashboard.error_groups_table(table, key="error_groups", caption=widgets.md_escape(coverage_text(page))
                             + " · open a group's requests with “Open requests”")
widgets.csv_download(csv_rows(table), f"errors-{api['api_id'] or 'all'}-{window.preset}.csv", key="errors_csv")
