"""Customers (Admin, Member): the Customer Dashboard of one API — widgets chosen per user, the searchable
customer list (select a row for the profile), customers going quiet and endpoint adoption."""
import streamlit as st

from core.analytics import metrics
from core.present import charts, fmt, segments
from core.present.customers import quiet_text, widget_cards
from core.present.retention import cohort_cells, retention_text
from core.present.tables import TREND, chart_labels, customer_table, quiet_table, rank_customers, search_customers
from core.storage import customers, models
from ui import dashboard, widgets
from ui.guard import current_scope, require_role

user = require_role("admin", "member")
scope = current_scope(user)
engine = models.get_engine()
tz = widgets.viewer_tz()
now = widgets.rounded_now()

st.title("Customers")
left, middle, right = st.columns([2, 4, 2], vertical_alignment="bottom")
with left:
    api = widgets.api_picker(engine, scope)
with middle:
    window = widgets.time_filter(engine, scope, api["api_id"])
with right:
    shown = dashboard.widget_switches(engine, user.id)
segment = dashboard.segment_picker(engine, scope, "customers_segment")
page = dashboard.customers_model(engine, scope, api["api_id"], window, customers.favorites(engine, user.id), segment)
dashboard.window_note(window, tz, api["name"] + (f" · {segment}" if segment else ""), covered=page.covered)
dashboard.page_link("pages/alerts.py", "Alert me when…", icon=":material/notifications_active:",
                    query_params={"api": str(api["api_id"]), **({"segment": segment} if segment else {})})

numbers = widget_cards(page.widgets, page.covered)
dashboard.cards([numbers[key] for key in numbers if shown[key]])
dashboard.list_widgets(page.widgets, shown, tz, now, api_id=api["api_id"], covered=page.covered)


@st.fragment
def customer_list() -> None:
    st.subheader("All customers")
    find, order, least = st.columns([4, 2, 1], vertical_alignment="bottom")
    with find:
        search = dashboard.search_box("customers_q", "Name or customer ID")
    with order:
        sort = dashboard.customer_sort("customers_sort")
    with least:
        min_requests = dashboard.min_requests_box("customers_min")
    ranked = rank_customers(search_customers(page.customers, search), sort=sort, min_requests=min_requests)
    listed = customer_table(ranked, tz, now)
    if listed.height == 0:
        widgets.empty_state("filters" if search or min_requests > 1 or segment else "window", scope)
        return
    at_least = f" with at least {fmt.count(min_requests)} requests" if min_requests > 1 else ""
    at_least += f" with {widgets.md_escape(segment)}" if segment else ""
    of = f"the {widgets.md_escape(segment)} segment's" if segment else widgets.md_escape(api["name"])
    caption = (f"{fmt.count(listed.height)} customers{at_least} · share of {of} requests · "
               f"select a row to open the profile · times in {widgets.md_escape(tz)}")
    dashboard.customer_table(listed, key="customer_list", height=widgets.table_height(listed.height, 11), api_id=api["api_id"], caption=caption)
    widgets.csv_download(listed.drop(TREND), f"customers-{api['api_id']}-{window.preset}.csv", key="customers_csv")


customer_list()

st.subheader("Going quiet")
st.caption(quiet_text(page))
if page.going_quiet.height:
    dashboard.customer_table(quiet_table(page.going_quiet, tz, now), key="quiet",
                             height=widgets.table_height(page.going_quiet.height, 6), api_id=api["api_id"],
                             caption="Select a row to open the profile.")
elif window.preset == "all":
    st.info("All Time has no earlier period to compare with: pick a shorter window.", icon=":material/date_range:")
else:
    st.info("Nobody went quiet: every customer busy enough in the previous period is still calling.",
            icon=":material/check_circle:")

if page.adoption.height:
    st.altair_chart(charts.heatmap(chart_labels(page.adoption), x="endpoint", y="label", value="requests",
                                   title="Endpoint adoption of the top customers", x_title="Endpoint",
                                   y_title="Customer"), width="stretch")


@st.fragment
def retention() -> None:
    st.subheader("Retention")
    model = dashboard.retention_model(engine, scope, api["api_id"], now)
    st.caption(retention_text(widgets.md_escape(api["name"]), model.window))
    if model.cohorts.height == 0:
        st.info("No customer made a first request in these weeks.", icon=":material/group_add:")
        return
    # Full width, one under the other: side by side at 1366 px the heatmap's columns and the bars were too narrow to read.
    st.altair_chart(charts.heatmap(cohort_cells(model.cohorts), x="week", y="cohort", value="retention_pct", unit="%",
                                   title="Active share of each weekly cohort", x_title="Weeks since the first request",
                                   y_title="Cohort", label="Active share"), width="stretch")
    st.altair_chart(charts.time_series(model.new_vs_returning, {"new_customers": "New", "returning_customers": "Returning"},
                                       title="New vs returning customers per week", unit="customers", tz=tz, kind="bar",
                                       label="Customers", partial=metrics.partial_buckets(model.window)),
                    width="stretch")


retention()


@st.fragment
def by_attribute() -> None:
    st.subheader("By attribute")
    keys = segments.attribute_keys(engine, scope)
    if not keys:
        st.info("No customer's requests carried metadata yet (treblle-metadata keys such as Plan): nothing to group by.",
                icon=":material/sell:")
        return
    key = st.selectbox("Group customers by", keys, index=keys.index(segments.default_key(keys)), key="segment_key")
    model = segments.segments_model(engine, scope, api["api_id"], window, key)
    if model.table.height == 0:
        st.caption(f"No request in this window came from a customer with a {widgets.md_escape(key)}.")
        return
    st.caption(f"Requests of {widgets.md_escape(api['name'])} by the customers' {widgets.md_escape(key)}; customers "
               "without it are left out.")
    dashboard.table(segments.display_table(model))
    st.altair_chart(charts.time_series(model.series, {name: name for name in model.names},
                                       title=f"Requests by {key}", unit="requests", tz=tz, label="Requests",
                                       partial=metrics.partial_buckets(window)), width="stretch")


by_attribute()
