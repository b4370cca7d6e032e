"""Fixtures for browser tests: `streamlit run app.py` on a seeded temp database, and Debian's Chromium
driven by Playwright (never `playwright install`)."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.auth import users
from core.storage import models
from tests.apptest_helpers import PASSWORD, TEST_COOKIE_KEY, SeededApp, seed_app_db
from tests.factories import NOW

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
START_TIMEOUT_S = 90
# A member used only by the logout test: logging out revokes every cookie of that user.
LEAVER = "leaver@example.com"


@dataclass
class Server:
    url: str
    seeded: SeededApp
    process: subprocess.Popen
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.process.returncode}:\n{server.log.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)  # polling the server's start-up, not waiting on the page
    raise RuntimeError(f"streamlit did not answer within {START_TIMEOUT_S} s:\n{server.log.read_text()}")


def start_server(workdir: Path, env: dict[str, str | None] | None = None) -> Server:
    """A freshly started `streamlit run app.py` on a new seeded SQLite database in workdir; `env` overrides the
    test environment (a None value leaves that variable unset)."""
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{workdir / 'browser.db'}"
    seeded = seed_app_db(db_url)
    engine = models.make_engine(db_url)
    users.create_user(engine, email=LEAVER, name="Lee Leaver", password=PASSWORD, role="member")
    engine.dispose()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": db_url, "CLIENTELE_COOKIE_KEY": TEST_COOKIE_KEY,
           "CLIENTELE_NOW": NOW.isoformat(), "CLIENTELE_BASE_URL": url, **(env or {})}
    env = {name: value for name, value in env.items() if value is not None}
    log = workdir / "streamlit.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             # Others edit the work tree while tests run: serve the code as it was at start.
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(url=url, seeded=seeded, process=process, log=log)
    try:
        _wait_until_healthy(server)
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory, browser) -> Iterator[Server]:
    """One server for the session's login and cookie tests, already visited once.

    The first visit of a fresh server runs app.py inside Streamlit's pages/ mode and switches it to
    st.navigation, which rebuilds the page on the next run: a login form filled in between would be
    replaced by an empty one. Tests start after that switch.
    """
    with visited_server(tmp_path_factory.mktemp("browser-app"), browser) as server:
        yield server


@contextlib.contextmanager
def visited_server(workdir: Path, browser, prepare: Callable[[Server], None] | None = None,
                   env: dict[str, str | None] | None = None) -> Iterator[Server]:
    """start_server (with `env`), then `prepare(server)` (more data, say), then one visit that switches the fresh
    server to st.navigation (see app_server); the server is stopped on the way out, also when a step failed."""
    from playwright.sync_api import expect

    server = start_server(workdir, env)
    try:
        if prepare is not None:
            prepare(server)
        page = browser.new_page()
        page.goto(server.url)
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
        page.close()
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def fresh_server(tmp_path) -> Iterator[Server]:
    """A server no browser has talked to yet (no session has called st.navigation)."""
    server = start_server(tmp_path / "fresh")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        # In CI a missing browser is a failure, never a silent skip.
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: tests/run.sh installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install chromium` (tests/run.sh does it as root)")
    # A first page render compiles and imports a lot; Playwright's 5 s default is too short for that.
    expect.set_options(timeout=30_000)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(browser):
    """A new page at 1366×768, the width the #14 layout checks are made at, in a context of its own."""
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    ctx.set_default_timeout(30_000)
    yield ctx.new_page()
    ctx.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
