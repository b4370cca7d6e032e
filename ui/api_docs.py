"""Rendering of one API's documentation: downloads, authentication, and every operation grouped by tag.
Text from specs and traffic (paths, descriptions, examples) is shown as text, never as Markdown/HTML."""
from __future__ import annotations

import streamlit as st

from core.api_docs import display as docs_display
from core.api_docs import download as docs_download
from ui.widgets import md_escape

METHOD_COLORS = {"GET": "blue", "POST": "green", "PUT": "orange", "PATCH": "violet", "DELETE": "red"}


def downloads(spec: dict, api_name: str) -> None:
    base = "".join(c if c.isalnum() else "-" for c in api_name.lower()).strip("-") or "api"
    row = st.container(horizontal=True)
    row.download_button("OpenAPI (JSON)", docs_download.to_json(spec), file_name=f"{base}-openapi.json",
                       mime="application/json", icon=":material/download:", on_click="ignore", key="docs_json")
    row.download_button("OpenAPI (YAML)", docs_download.to_yaml(spec), file_name=f"{base}-openapi.yaml",
                       mime="application/yaml", icon=":material/download:", on_click="ignore", key="docs_yaml")


def _label(op: dict) -> str:
    color = METHOD_COLORS.get(op["method"], "gray")
    summary = f" — {md_escape(op['summary'])}" if op["summary"] and op["summary"] != f"{op['method']} {op['path']}" else ""
    deprecated = " :gray-badge[deprecated]" if op["deprecated"] else ""
    return f":{color}-badge[{op['method']}] {md_escape(op['path'])}{summary}{deprecated}"


def _example(title: str, value) -> None:
    st.caption(title)
    if isinstance(value, (dict, list)):
        st.json(value, expanded=2)
    else:
        st.code(str(value), language=None, wrap_lines=True)


def operation(op: dict) -> None:
    """One operation in an expander: description, auth, parameters, request body, responses, examples."""
    with st.expander(_label(op)):
        if op["description"]:
            st.text(op["description"])
        st.caption(f"Authentication: {md_escape(docs_display.auth_text(op))}")
        if op["parameters"]:
            st.markdown("**Parameters**")
            st.dataframe(docs_display.parameters_table(op), hide_index=True, width="stretch")
        body = op["request_body"]
        if body:
            st.markdown(f"**Request body** · {md_escape(body['content_type'] or 'any content type')}"
                        + (" · required" if body["required"] else ""))
            if body["schema"]:
                _example("Schema", body["schema"])
        if op["responses"]:
            st.markdown("**Responses**")
            st.dataframe(docs_display.responses_table(op), hide_index=True, width="stretch")
            with_schema = [(code, r) for code, r in sorted(op["responses"].items()) if r["schema"]]
            if with_schema:
                for tab, (_code, response) in zip(st.tabs([f"{code} schema" for code, _ in with_schema]), with_schema):
                    with tab:
                        st.json(response["schema"], expanded=2)
        if op["example_request"] or op["example_response"]:
            st.markdown("**Example**")
            left, right = st.columns(2)
            with left:
                if op["example_request"]:
                    _example("Request", op["example_request"])
            with right:
                if op["example_response"]:
                    _example("Response", op["example_response"])


def render(spec: dict, api_name: str) -> None:
    title, version = docs_display.spec_title(spec)
    st.caption(f"{md_escape(title or api_name)} · version {md_escape(version or 'unknown')} · OpenAPI "
               f"{md_escape(spec.get('openapi', ''))}")
    downloads(spec, api_name)
    schemes = docs_display.schemes_table(spec)
    st.subheader("Authentication")
    if schemes.height:
        st.dataframe(schemes, hide_index=True, width="stretch")
    else:
        st.caption("No authentication is documented for this API.")
    st.subheader("Endpoints")
    endpoints(spec)
    with st.expander("Whole spec (YAML)"):
        st.code(docs_download.to_yaml(spec), language="yaml")


@st.fragment
def endpoints(spec: dict) -> None:
    """The searchable operation list; a search reruns only this part of the page."""
    search = st.text_input("Find an endpoint", key="docs_search", placeholder="Path, method, summary or tag",
                           max_chars=200)
    groups = docs_display.grouped_operations(spec, search)
    if not groups:
        st.info("No endpoint matches this search." if search else "This spec documents no endpoints yet.",
                icon=":material/search_off:")
    for group, ops in groups:
        st.markdown(f"#### {md_escape(group)}")
        for op in ops:
            operation(op)
