"""Home (Admin, Member): workspace totals, every API with its headline numbers, top customers across all APIs."""
import streamlit as st

from core.present import charts
from core.present.home import home_cards
from core.present.tables import CHANGE, CUSTOMER, REQUESTS, SHARE, top_chart_rows, top_table
from core.storage import models
from ui import dashboard, widgets
from ui.guard import current_scope, require_role

user = require_role("admin", "member")
scope = current_scope(user)
engine = models.get_engine()
tz = widgets.viewer_tz()

st.title("Home")
window = widgets.time_filter(engine, scope)
segment = dashboard.segment_picker(engine, scope, "home_segment")
page = dashboard.home_model(engine, scope, window, segment)
dashboard.window_note(window, tz, segment, covered=page.covered)
if page.apis.height == 0:
    widgets.empty_state("no_apis", scope)
    st.stop()
dashboard.cards(home_cards(page))

st.subheader("APIs")
dashboard.api_grid(page.apis)

st.subheader("Top customers across all APIs")
if page.top_customers.height == 0:
    widgets.empty_state("window", scope)
    st.stop()
left, right = st.columns([3, 2])
with left:
    st.caption("Select a customer to open their profile.")
    # Ranked in order; a Rank column too would not fit beside the chart at 1366 px.
    dashboard.customer_table(top_table(page.top_customers, page.covered), key="home_top",
                             columns=[CUSTOMER, REQUESTS, SHARE, CHANGE])
with right:
    st.altair_chart(charts.bar_chart(top_chart_rows(page.top_customers), "label", "requests",
                                     title="Requests by top customer", unit="requests", category_title="Customer",
                                     tooltip={SHARE: "Share (%)", "customer_id": "Customer ID"}), width="stretch")
