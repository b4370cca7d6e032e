"""API docs (every role): each visible API's endpoints, parameters, schemas, examples and OpenAPI downloads."""
import streamlit as st

from core.api_docs import display as docs_display
from core.api_docs.access import docs_apis
from core.api_docs.cache import spec_for
from core.domain.scope import ScopeError
from core.storage import models
from core.storage.store import NotFound
from ui import api_docs as docs_view
from ui import widgets
from ui.guard import current_scope, refuse, require_role

user = require_role("admin", "member", "customer")
scope = current_scope(user)
engine = models.get_engine()

st.title("API docs")
if not docs_apis(engine, scope):
    widgets.empty_state("no_docs", scope)
    st.stop()
api = widgets.api_picker(engine, scope)
try:
    doc = spec_for(engine, scope, api["api_id"])
except (ScopeError, NotFound) as exc:
    refuse(widgets.md_escape(str(exc)))
if user.role == "admin":
    st.caption(docs_display.source_line(doc, widgets.viewer_tz()))
docs_view.render(doc.spec, api["name"])
