"""Customer profile (Admin, Member): one customer across every API — numbers with deltas, request graph,
notes, favorite, metadata, endpoints, APIs used, and their request history. The customer is ?customer=<ID>."""
import streamlit as st

from core.present import charts, fmt
from core.present.error_groups import coverage_text, customer_error_groups, groups_table, window_params
from core.present.profile import profile_cards
from core.present.series import activity_cells
from core.present.tables import apis_used_table, attributes_table, endpoint_table
from core.storage import customers, models
from core.storage.store import NotFound
from ui import dashboard, nav, wayfinding, widgets
from ui import request_log as history_view
from ui.guard import current_scope, require_role

PROFILE_ERROR_GROUPS = 5  # the rest are on the Errors page, filtered to the customer

user = require_role("admin", "member")
scope = current_scope(user)
engine = models.get_engine()
tz = widgets.viewer_tz()
now = widgets.rounded_now()

customer_id = dashboard.profile_customer(engine, scope, tz, now)
try:
    info = customers.customer_info(engine, scope, customer_id)
except NotFound as exc:
    st.title("Customer profile")
    st.error(f"{widgets.md_escape(exc)} It may have been typed wrongly, or the customer has not called an API yet.")
    dashboard.page_link(dashboard.CUSTOMERS_PAGE, "Back to Customers", icon=":material/arrow_back:")
    st.stop()

api = dashboard.profile_api(engine, scope)
wayfinding.profile_breadcrumbs(api, info["name"])
head, favorite = st.columns([5, 1], vertical_alignment="bottom")
head.title(widgets.md_escape(info["name"]))
head.caption(f"Customer ID {widgets.md_escape(info['customer_id'])} · first seen {fmt.local_time(info['first_seen'], tz)}"
             f" · last seen {fmt.ago(info['last_seen'], now)} ({fmt.local_time(info['last_seen'], tz)}, {widgets.md_escape(tz)})")
with favorite:
    dashboard.favorite_toggle(engine, user.id, customer_id)
dashboard.page_link("pages/alerts.py", "Alert me when…", icon=":material/notifications_active:",
                    query_params={"customer": customer_id, **({"api": str(api["api_id"])} if api else {})})
window = widgets.time_filter(engine, scope)
page = dashboard.profile_model(engine, scope, customer_id, window, api["api_id"] if api else None)
dashboard.window_note(window, tz, covered=page.covered)
profile = page.profile
dashboard.cards(profile_cards(page), per_row=5)
if api:
    name = widgets.md_escape(api["name"])
    st.caption(f"Opened from {name}: “Share of this API” is this customer's share of {name} requests, as on its Customers "
               "list; every other number covers every API.")

left, right = st.columns([2, 1])
with left:
    st.altair_chart(charts.time_series(profile.series, "requests", title="Requests over time", unit="requests", tz=tz,
                                       kind="area", label="Requests", partial=page.partial_buckets), width="stretch")
    st.markdown("**APIs used in this window**")
    if profile.apis_used.height:
        dashboard.table(apis_used_table(profile.apis_used, tz, now))
    else:
        st.caption("No request in this window; widen the time filter.")
with right, st.container(border=True):
    dashboard.notes_form(engine, scope, user.email, info, tz)
    st.markdown("**Metadata**")
    if info["attributes"]:
        dashboard.table(attributes_table(info["attributes"]))
    else:
        st.caption("This customer's requests carried no metadata (treblle-metadata keys such as Plan).")

st.subheader("Endpoints")
if profile.endpoints.height:
    dashboard.table(endpoint_table(profile.endpoints))
    st.altair_chart(charts.heatmap(activity_cells(page.endpoint_activity, window, tz), x="time", y="endpoint",
                                   value="requests", title=f"Requests per endpoint over time ({tz})", x_title="Time",
                                   y_title="Endpoint"), width="stretch")
else:
    widgets.empty_state("window", scope)

st.subheader("Errors")
errors = customer_error_groups(engine, scope, customer_id, window)
if errors.groups.height == 0:
    st.caption("No failed requests in this window.")
else:
    dashboard.error_groups_table(
        groups_table(errors.groups.head(PROFILE_ERROR_GROUPS), window, tz, show_customers=False,
                     history_base=nav.spec_for_path("pages/customer_profile.py").url_path, extra={"customer": customer_id}),
        key="profile_errors",
        caption=widgets.md_escape(coverage_text(errors)) + f" · the {min(errors.groups.height, PROFILE_ERROR_GROUPS)} biggest")
    dashboard.page_link("pages/errors.py", "All of this customer's error groups", icon=":material/error:",
                        query_params={"customer": customer_id, "api": "all", **window_params(window, tz)})

st.subheader("Request history")
history_view.render(engine, scope, api_id=None, window=window, customer_id=customer_id, key="profile",
                    filename="customer-requests.csv")
