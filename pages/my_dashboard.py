"""My dashboard (Customer): the customer's own traffic on their APIs — numbers with deltas, charts over
time, their endpoints, their biggest error groups and their latest requests with details."""
import streamlit as st

from core.present import charts
from core.present.cards import overview_cards
from core.present.error_groups import coverage_text, error_groups_page, groups_table, window_params
from core.present.tables import endpoint_table
from core.storage import customers, models
from core.storage.store import NotFound
from ui import dashboard, nav, widgets
from ui.guard import current_scope, require_role

OWN_ERROR_GROUPS = 5  # the rest are on My errors

user = require_role("customer")
scope = current_scope(user)
engine = models.get_engine()
tz = widgets.viewer_tz()

dashboard.refuse_other_customer(scope)
st.title("My dashboard")
try:
    st.caption(f"Your traffic as {widgets.md_escape(customers.customer_info(engine, scope, scope.customer_id)['name'])}")
except NotFound:
    widgets.empty_state("no_data", scope)
    st.stop()
left, right = st.columns([1, 2], vertical_alignment="bottom")
with left:
    api = widgets.api_picker(engine, scope, allow_all=True)
with right:
    window = widgets.time_filter(engine, scope, api["api_id"])
mine = dashboard.my_model(engine, scope, api["api_id"], window)
dashboard.window_note(window, tz, covered=mine.covered)
dashboard.cards(overview_cards(mine.overview, mine.covered))
if mine.overview.current.total_requests == 0:
    widgets.empty_state("window", scope)
    st.stop()

series, partial = mine.series, mine.partial_buckets
c1, c2 = st.columns(2)
c1.altair_chart(charts.time_series(series, "requests", title="Requests", unit="requests", tz=tz, kind="area",
                                   height=300, partial=partial), width="stretch")
c2.altair_chart(charts.time_series(series, charts.LOAD_TIME_LINES, title="Load time", unit="ms", tz=tz,
                                   height=300, partial=partial), width="stretch")
c3, c4 = st.columns(2)
c3.altair_chart(charts.time_series(series, "avg_response_size_bytes", title="Average response size", unit="bytes", tz=tz,
                                   height=300, partial=partial), width="stretch")
c4.altair_chart(charts.time_series(series, {"status_4xx": "4xx", "status_5xx": "5xx"}, title="Failed requests",
                                   unit="requests", tz=tz, kind="area", label="Requests",
                                   height=300, partial=partial), width="stretch")

st.subheader("Your endpoints")
dashboard.table(endpoint_table(mine.endpoints))

st.subheader("Your errors")
errors = error_groups_page(engine, scope, window, api["api_id"], None)
if errors.groups.height == 0:
    st.caption("None of your requests failed in this window.")
else:
    dashboard.error_groups_table(
        groups_table(errors.groups.head(OWN_ERROR_GROUPS), window, tz, show_customers=False,
                     history_base=nav.spec_for_path("pages/my_requests.py").url_path),
        key="my_errors",
        caption=widgets.md_escape(coverage_text(errors)) + f" · the {min(errors.groups.height, OWN_ERROR_GROUPS)} biggest")
    dashboard.page_link("pages/errors.py", "All your error groups", icon=":material/error:",
                        query_params={"api": str(api["api_id"] or "all"), **window_params(window, tz)})

st.subheader("Recent activity")
dashboard.recent_activity(engine, scope, api["api_id"], window, tz)
