"""Requests (Admin, Member): every request of one API or all, filtered, searched, sorted, exported."""
import streamlit as st

from core.storage import models
from ui import request_log as history_view
from ui import widgets
from ui.guard import current_scope, require_role

user = require_role("admin", "member")
scope = current_scope(user)
engine = models.get_engine()

st.title("Requests")
left, right = st.columns([1, 2], vertical_alignment="bottom")
with left:
    api = widgets.api_picker(engine, scope, allow_all=True)
with right:
    window = widgets.time_filter(engine, scope, api["api_id"])
st.caption(widgets.window_caption(window, widgets.viewer_tz()))
history_view.render(engine, scope, api_id=api["api_id"], window=window, key="requests", filename="requests.csv")
