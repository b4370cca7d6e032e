"""Helpers for AppTest-driven tests: a seeded database with one user per role, the app's environment,
and logging in through the real login form.

Typical use in a test module:

    from tests.apptest_helpers import login_as  # seeded_app is a fixture of tests/conftest.py

    def test_member_sees_the_customer_list(seeded_app):
        at = login_as(seeded_app, "member")
        at.switch_page("pages/customers.py").run()
        ...
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
from streamlit.testing.v1 import AppTest

from core.auth import users
from core.storage import models
from tests.factories import NOW, seed_small
from ui.guard import IDENTITY_KEY, REFUSAL

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PASSWORD = "correct horse battery staple"
TEST_COOKIE_KEY = "test-cookie-key-" + "x" * 40
# One user per role; the customer is bound to cust_a of tests.factories.seed_small.
ACCOUNTS = {
    "admin": {"email": "admin@example.com", "name": "Ada Admin", "customer_id": None, "group": None},
    "member": {"email": "member@example.com", "name": "Mo Member", "customer_id": None, "group": None},
    "customer": {"email": "customer@example.com", "name": "Cy Customer", "customer_id": "cust_a", "group": "Alpha"},
}
TIMEOUT_S = 60


@dataclass(frozen=True)
class SeededApp:
    """A database with seed_small's traffic and one user per role, and the app's environment pointing at it."""

    db_url: str
    user_ids: dict[str, int]  # role -> user id
    api_ids: dict[str, int]  # seed_small's {"orders": id, "billing": id}

    def email(self, role: str) -> str:
        return ACCOUNTS[role]["email"]


def seed_app_db(db_url: str) -> SeededApp:
    """Initialise the database at db_url with seed_small and ACCOUNTS (all with PASSWORD)."""
    from tests.databases import initialised  # (it imports tests.conftest, which imports this module)

    engine = initialised(db_url)
    try:
        api_ids = seed_small(engine)
        user_ids = {
            role: users.create_user(engine, email=a["email"], name=a["name"], password=PASSWORD, role=role,
                                   customer_id=a["customer_id"], group=a["group"])
            for role, a in ACCOUNTS.items()
        }
    finally:
        engine.dispose()
    return SeededApp(db_url=db_url, user_ids=user_ids, api_ids=api_ids)


def set_app_env(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    """The environment app.py reads: the database, a test cookie key, a fixed "now" for time windows."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("CLIENTELE_COOKIE_KEY", TEST_COOKIE_KEY)
    monkeypatch.setenv("CLIENTELE_NOW", NOW.isoformat())


def fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt at cost 4: seeding and logging in take milliseconds instead of a third of a second each."""
    real = bcrypt.gensalt
    monkeypatch.setattr(bcrypt, "gensalt", lambda rounds=4, prefix=b"2b": real(4, prefix))


@pytest.fixture
def seeded_app(db_url, monkeypatch) -> SeededApp:
    """Fixture: seed_app_db on the `db_url` database (SQLite, and PostgreSQL when configured) + set_app_env."""
    fast_bcrypt(monkeypatch)
    seeded = seed_app_db(db_url)
    set_app_env(monkeypatch, db_url)
    yield seeded
    # get_engine() caches one engine per URL; close its connections before the database goes away.
    models.engine_for(db_url).dispose()


def new_app(script: str = APP) -> AppTest:
    return AppTest.from_file(script, default_timeout=TIMEOUT_S)


def login(at: AppTest, email: str, password: str = PASSWORD) -> AppTest:
    """Run the app, fill in and submit the real login form."""
    at.run()
    fields = {t.label: t for t in at.text_input}
    fields["Email"].input(email)
    fields["Password"].input(password)
    next(b for b in at.button if b.label == "Log in").click()
    return at.run()


def login_as(seeded: SeededApp, role: str) -> AppTest:
    """A fresh app session logged in as the seeded user of `role`; fails loudly if the login did not work."""
    at = login(new_app(), seeded.email(role))
    assert not at.exception, [e.value for e in at.exception]
    assert IDENTITY_KEY in at.session_state, [e.value for e in at.error]
    return at


def showing_login_form(at: AppTest) -> bool:
    return any(b.label == "Log in" for b in at.button)


def refused(at: AppTest) -> bool:
    """The page guard refused this run."""
    return any(e.value == REFUSAL for e in at.error)


def run_page_as(path: str, seeded: SeededApp | None, role: str | None) -> AppTest:
    """Run one page file directly (as Streamlit does on a fresh server), with the identity app.py would
    have verified for `role` in the session, or with no identity when role is None."""
    at = new_app(str(ROOT / path))
    if role is not None:
        at.session_state[IDENTITY_KEY] = {"user_id": seeded.user_ids[role], "started_at": models.utcnow() - dt.timedelta(seconds=1)}
    return at.run()


def leaf_elements(at: AppTest) -> list:
    """Every rendered element (not layout blocks) in the main area and the sidebar."""
    def walk(node):
        children = getattr(node, "children", None)
        if children is None:
            yield node
            return
        for child in children.values():
            yield from walk(child)

    return [*walk(at.main), *walk(at.sidebar)]
