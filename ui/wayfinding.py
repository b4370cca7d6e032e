"""Finding one's way between the workspace pages: breadcrumbs above a page ("Customers › Orders API ›
Pioneer Studios") and the sidebar's quick customer search (by name or ID) on every workspace page."""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.auth.users import CurrentUser
from core.domain.scope import scope_for
from core.storage import customers, models
from core.storage.store import NotFound
from ui.widgets import md_escape

PROFILE_PAGE = "pages/customer_profile.py"
CUSTOMERS_PAGE = "pages/customers.py"
SEARCH_KEY = "sidebar_customer_search"
_WANTED = "sidebar_customer_wanted"


def breadcrumbs(trail: list[tuple[str, str | None, dict | None]]) -> None:
    """One line of links, "›" between them: (label, page path or None for the current page, query params).
    A step whose page is not in this run's navigation shows as text."""
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        for i, (label, path, params) in enumerate(trail):
            if i:
                st.caption("›", width="content")
            if path is None:
                st.caption(md_escape(label), width="content")
                continue
            try:
                st.page_link(path, label=md_escape(label), query_params=params, width="content")
            except StreamlitAPIException:
                st.caption(md_escape(label), width="content")


def profile_breadcrumbs(api: dict | None, name: str) -> None:
    """Customers › <the API the profile was opened from> › <the customer>; without an API, Customers › <customer>."""
    params = {"api": str(api["api_id"])} if api else None
    trail = [("Customers", CUSTOMERS_PAGE, params)] + ([(api["name"], CUSTOMERS_PAGE, params)] if api else [])
    breadcrumbs(trail + [(name, None, None)])


def _searched() -> None:
    # Enter in the box: remember what to open, and empty the box for the next search.
    st.session_state[_WANTED] = st.session_state[SEARCH_KEY].strip()
    st.session_state[SEARCH_KEY] = ""


def customer_search(user: CurrentUser) -> None:
    """The sidebar's "Find a customer" box (Admin, Member). Enter opens the customer's profile when the text
    is a customer ID or matches one customer only, else the profile page's search with that text."""
    st.sidebar.text_input("Find a customer", key=SEARCH_KEY, max_chars=200, placeholder="Name or customer ID",
                          on_change=_searched, help="Press Enter to open the customer's profile.")
    wanted = st.session_state.pop(_WANTED, "")
    if not wanted:
        return
    engine, scope = models.get_engine(), scope_for(user.role, user.customer_id)
    try:
        found = [customers.customer_info(engine, scope, wanted)["customer_id"]]
    except NotFound:
        found = [c["customer_id"] for c in customers.known_customers(engine, scope, wanted, limit=2)]
    if len(found) == 1:
        st.switch_page(PROFILE_PAGE, query_params={"customer": found[0]})
    st.switch_page(PROFILE_PAGE, query_params={"find": wanted})
