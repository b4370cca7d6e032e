"""Shared steps of the page browser tests: log in, wait until a page settled, visit, screenshot."""
from __future__ import annotations

from playwright.sync_api import expect

from core.auth import sessions
from tests.apptest_helpers import PASSWORD
from tests.browser.conftest import IDLE
from ui import nav

EXCEPTION = '[data-testid="stException"]'


def login(page, base_url: str, email: str) -> None:
    page.goto(base_url)
    page.wait_for_selector(IDLE)
    expect(page.get_by_label("Email")).to_have_count(1)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator('[data-testid="stSidebar"]').get_by_text("Logged in as")).to_be_visible()
    page.wait_for_selector(IDLE)
    # Pages are then opened by URL (new sessions), which log in with the cookie the browser gets a moment later.
    page.wait_for_function(f"document.cookie.includes('{sessions.COOKIE_NAME}=')")


def settled(page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_selector(IDLE)
    page.wait_for_function("!document.querySelector('[data-stale=\"true\"]')")


def visit(page, url: str) -> None:
    page.goto(url)
    settled(page)
    expect(page.locator(EXCEPTION)).to_have_count(0)


def page_url(base: str, role: str, url_path: str, query: str = "") -> str:
    """A page's address: a role's first page is its default page, served at "/" only."""
    first = nav.specs_for(role)[0].url_path
    return f"{base}/{'' if url_path == first else url_path}{'?' + query if query else ''}"


def screenshot(page, path) -> None:
    """The whole page: Streamlit scrolls inside its main container, so the viewport grows to fit it."""
    size = page.viewport_size
    main = '[data-testid="stMain"]'
    page.evaluate(f"document.querySelector('{main}').scrollTo(0, 0)")
    height = page.evaluate(f"document.querySelector('{main}').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 8000)})
    settled(page)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


