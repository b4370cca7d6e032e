"""My requests (Customer): the customer's own request history on their APIs, with details and export."""
import streamlit as st

from core.storage import models
from ui import request_log as history_view
from ui import widgets
from ui.guard import current_scope, require_role

user = require_role("customer")
scope = current_scope(user)
engine = models.get_engine()

st.title("My requests")
left, right = st.columns([1, 2], vertical_alignment="bottom")
with left:
    api = widgets.api_picker(engine, scope, allow_all=True)
with right:
    window = widgets.time_filter(engine, scope, api["api_id"])
st.caption(widgets.window_caption(window, widgets.viewer_tz()))
history_view.render(engine, scope, api_id=api["api_id"], window=window, show_customer=False, key="my_requests",
                    filename="my-requests.csv")
