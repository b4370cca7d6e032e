"""The page registry: every file in pages/, who may open it, and where it sits in the navigation.

app.py builds st.navigation from PAGES for the signed-in role. A page the role may not open keeps
its url_path, but only as a hidden stand-in that shows the guard's refusal: its file is never
registered for that role (hidden pages stay reachable by URL, so hiding alone is not enough), and
its URL gets our refusal instead of Streamlit's "Page not found" pop-up.
Add a page by adding a PageSpec here and starting the file with `require_role(*<the same roles>)`.

A url_path must differ from its file's name ("pages/people.py" → "team", not "people"). Streamlit
runs a file of pages/ directly, without app.py, when the URL names the file and no session has
called st.navigation yet (a fresh server; AppTest resets to that state on every run). Distinct
url_paths send every navigation URL through app.py; the file-name URLs meet only the guard.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import streamlit as st

from core.auth.users import CurrentUser
from core.domain import scope
from core.storage import models
from ui import guard, wayfinding, widgets

ROOT = Path(__file__).resolve().parent.parent
ALL_ROLES: tuple[str, ...] = scope.ROLES
WORKSPACE_ROLES: tuple[str, ...] = scope.WORKSPACE_ROLES
ADMIN_ONLY: tuple[str, ...] = ("admin",)
HOME_SUFFIX = "-home"  # the internal url_path of a role's first page (served at "/"; see navigation_for)


@dataclass(frozen=True)
class PageSpec:
    path: str  # relative to the project root, e.g. "pages/people.py"
    title: str
    icon: str
    url_path: str
    roles: tuple[str, ...]
    section: str


# Order matters: a role's first page is its home page, and sections appear in first-use order.
PAGES: list[PageSpec] = [
    PageSpec("pages/home.py", "Home", ":material/home:", "overview", WORKSPACE_ROLES, "Analytics"),
    PageSpec("pages/my_dashboard.py", "My dashboard", ":material/dashboard:", "my-dashboard", ("customer",), "Analytics"),
    PageSpec("pages/customers.py", "Customers", ":material/groups:", "customer-dashboard", WORKSPACE_ROLES, "Analytics"),
    PageSpec("pages/customer_profile.py", "Customer profile", ":material/person:", "customer", WORKSPACE_ROLES,
             "Analytics"),
    PageSpec("pages/request_log.py", "Requests", ":material/list_alt:", "requests", WORKSPACE_ROLES, "Analytics"),
    PageSpec("pages/my_requests.py", "My requests", ":material/list_alt:", "my-request-log", ("customer",), "Analytics"),
    PageSpec("pages/errors.py", "Errors", ":material/error:", "error-groups", ALL_ROLES, "Analytics"),
    PageSpec("pages/usage.py", "Usage", ":material/receipt_long:", "billing-usage", ALL_ROLES, "Analytics"),
    PageSpec("pages/alerts.py", "Alerts", ":material/notifications:", "alert-rules", ALL_ROLES, "Analytics"),
    PageSpec("pages/api_docs.py", "API docs", ":material/menu_book:", "docs", ALL_ROLES, "Analytics"),
    PageSpec("pages/data_sources.py", "Data", ":material/database:", "data", ADMIN_ONLY, "Data"),
    PageSpec("pages/people.py", "People", ":material/group:", "team", ADMIN_ONLY, "Settings"),
    PageSpec("pages/audit_log.py", "Audit log", ":material/policy:", "audit", ADMIN_ONLY, "Settings"),
    PageSpec("pages/account.py", "Account", ":material/account_circle:", "my-account", ALL_ROLES, "Settings"),
]


def specs_for(role: str) -> list[PageSpec]:
    """The pages a role may open, in navigation order."""
    return [spec for spec in PAGES if role in spec.roles]


def spec_for_path(path: str) -> PageSpec | None:
    wanted = Path(path).as_posix()
    return next((spec for spec in PAGES if spec.path == wanted), None)


def navigation_for(user: CurrentUser):
    """st.navigation for the user's role; returns the page to run.

    The menu lists the pages the role may open; every other page's URL is a hidden stand-in that
    shows the refusal (never the page's file)."""
    specs = specs_for(user.role)
    sections: dict[str, list] = {}
    for i, spec in enumerate(specs):
        # The role's first page is served at "/" only; its own URL (/my-dashboard, e.g. in an alert's link)
        # is a hidden page that opens it with the link's query, so the first page takes another internal path.
        page = st.Page(str(ROOT / spec.path), title=spec.title, icon=spec.icon,
                       url_path=spec.url_path if i else f"{spec.url_path}{HOME_SUFFIX}", default=i == 0)
        sections.setdefault(spec.section, []).append(page)
        if i == 0:
            home = page
    # In the first section (it always lists a page), so no empty section header shows in the menu.
    sections[specs[0].section] += [
        st.Page(_refused, title=spec.title, url_path=spec.url_path, visibility="hidden")
        for spec in PAGES if spec not in specs]
    sections[specs[0].section].append(st.Page(partial(_open_home, home), title=specs[0].title,
                                              url_path=specs[0].url_path, visibility="hidden"))
    menu = st.navigation(sections)
    widgets.numbers_up_to_date(models.get_engine())  # with the menu shown, before anything reads the cache
    if user.role in WORKSPACE_ROLES:
        wayfinding.customer_search(user)  # the sidebar's quick customer search, on every workspace page
    return menu


def _open_home(home) -> None:
    """Stands in for the first page's own URL: opens that page (at "/") with the link's query parameters."""
    st.switch_page(home, query_params=st.query_params.to_dict())


def _refused() -> None:
    """Stands in for a page the signed-in role may not open: the guard's refusal."""
    guard.refuse()


def _signed_out() -> None:
    """Stands in for every page while nobody is logged in; never run."""


def visitor_navigation() -> None:
    """Navigation for a visitor (login, invite and setup screens): no menu and no page file.

    Every page URL is registered with a stand-in, so a bookmarked URL shows the login form (no "page
    not found") and opens its page after login; calling st.navigation here also stops Streamlit, from
    the first visit of a fresh server on, from running files of pages/ directly by URL.
    """
    pages = [st.Page(_signed_out, title="Clientele", url_path="welcome", default=True)]
    pages += [st.Page(_signed_out, title="Clientele", url_path=spec.url_path, visibility="hidden") for spec in PAGES]
    st.navigation(pages, position="hidden")
