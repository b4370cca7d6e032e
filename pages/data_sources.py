"""Data (Admin): import payload files, manage APIs, tokens and OpenAPI specs, connect SDKs, rejected payloads, SDK clocks."""
import streamlit as st

from core.storage import models
from ui import data_sources as data_sections
from ui import widgets
from ui.guard import require_role

user = require_role("admin")
engine = models.get_engine()
tz = widgets.viewer_tz()

st.title("Data")
imports, apis, connect, rejected, clocks = st.tabs(["Import files", "APIs", "Connect an SDK", "Rejected payloads", "Clocks"])
with imports:
    data_sections.import_section(engine)
with apis:
    data_sections.apis_section(engine, tz)
with connect:
    data_sections.sdk_section(engine)
with rejected:
    data_sections.rejected_section(engine, tz)
with clocks:
    data_sections.clocks_section(engine, tz)
