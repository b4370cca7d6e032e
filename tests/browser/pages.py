"""Shared steps of the page browser tests: log in, wait until a page settled, visit, screenshot."""
from __future__ import annotations

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from core.auth import sessions
from tests.apptest_helpers import PASSWORD
from tests.browser.conftest import IDLE
from ui import nav

EXCEPTION = '[data-testid="stException"]'


def login(page, base_url: str, email: str, attempts: int = 3) -> None:
    logged_in = page.locator('[data-testid="stSidebar"]').get_by_text("Logged in as")
    for attempt in range(1, attempts + 1):
        page.goto(base_url)
        page.wait_for_selector(IDLE)
        expect(page.get_by_label("Email")).to_have_count(1)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        try:
            expect(logged_in).to_be_visible(timeout=20_000)
            page.wait_for_selector(IDLE)
            # Pages are then opened by URL (new sessions), which log in with the cookie the browser gets a moment
            # later, from a script drawn in the login's run.
            page.wait_for_function(f"document.cookie.includes('{sessions.COOKIE_NAME}=')", timeout=20_000)
            break
        except (AssertionError, PlaywrightTimeoutError):
            # Seen with three test workers on two cores: the cookie component's first report, late, reran the
            # app over the submitted form; once (load 15), the login's run was replaced before its cookie script
            # ran. A person would log in again (or only notice in a new tab); the test logs in again.
            if attempt == attempts:
                raise


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
    # Elements still on their way show as grey placeholders: wait for the real ones.
    expect(page.locator('[data-testid="stSkeleton"]')).to_have_count(0)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def click_first_row(page, table) -> None:
    """Select the first row of an st.dataframe (a canvas grid): click its selection box."""
    settled(page)
    # A rerun starting just after (a dialog closing reruns the page) briefly shows the table twice: wait for one.
    expect(table).to_have_count(1)
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)


def horizontal_overflow(table) -> int:
    """How many pixels of an st.dataframe's columns lie beyond its visible width (0: no horizontal scroll)."""
    return table.evaluate("df => { const s = df.querySelector('.dvn-scroller'); return s.scrollWidth - s.clientWidth; }")


def assert_fits(table, columns: list[str], widths: dict[str, int]) -> None:
    """An st.dataframe without a horizontal scroll, each of whose headers fits its column (`widths`, px) in the
    grid's own font."""
    expect(table.locator("canvas").first).to_be_visible()
    assert horizontal_overflow(table) == 0
    needed = header_widths(table, columns)
    assert {c: round(needed[c]) for c in columns if needed[c] > widths[c]} == {}


# The grid's cell padding on either side of a header and the room its sort arrow takes (glide-data-grid).
HEADER_PADDING_PX, SORT_ARROW_PX = 8, 18


def header_widths(table, headers: list[str]) -> dict[str, float]:
    """The width each header needs in an st.dataframe (its text in the grid's own header font, both paddings and
    the sort arrow), measured in the browser."""
    return table.evaluate(
        """(df, [headers, pad, arrow]) => {
            const holder = Array.from(df.querySelectorAll('*')).find(
                e => getComputedStyle(e).getPropertyValue('--gdg-header-font-style'));
            const css = getComputedStyle(holder);
            const ctx = document.createElement('canvas').getContext('2d');
            ctx.font = css.getPropertyValue('--gdg-header-font-style') + ' ' + css.getPropertyValue('--gdg-font-family');
            return Object.fromEntries(headers.map(h => [h, ctx.measureText(h).width + 2 * pad + arrow]));
        }""", [headers, HEADER_PADDING_PX, SORT_ARROW_PX])


_READ_GRID = """grid => Array.from(grid.querySelectorAll('thead th')).map(th => {
    const index = th.getAttribute('aria-colindex');
    const cells = Array.from(grid.querySelectorAll(`tbody td[aria-colindex="${index}"]`)).map(td => td.textContent);
    return [Number(index), th.textContent, cells];
})"""


def grid_cells(table) -> dict[str, list[str]]:
    """The text of every cell in the rows an st.dataframe shows, by column header. The grid draws on a canvas;
    its accessible table (glide-data-grid's) holds the columns in view only, so this scrolls across the grid.
    A missing value, which the canvas draws as a grey "None", reads "" there."""
    grid = table.locator('table[role="grid"]')
    expect(grid).to_be_attached()
    total = int(grid.get_attribute("aria-colcount"))
    seen: dict[int, tuple[str, list[str]]] = {}
    while True:
        seen.update({index: (header, cells) for index, header, cells in grid.evaluate(_READ_GRID)})
        missing = [index for index in range(1, total + 1) if index not in seen]
        if not missing:
            return dict(seen[index] for index in sorted(seen))
        table.evaluate("df => { const s = df.querySelector('.dvn-scroller'); s.scrollLeft += s.clientWidth / 2; }")
        expect(grid.locator(f'th[aria-colindex="{missing[0]}"]')).to_be_attached()
