"""Who may open which page, through the real login form (AppTest): role × page × shown/refused over every
file in pages/, direct page runs without app.py, and identity re-read from the database on every run."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.source_util import page_icon_and_name

from core.auth import links, sessions, users
from core.auth.login import authenticate, login_failed_message
from core.domain import config
from core.domain.scope import ROLES
from core.storage import models
from core.storage.models import Request
from tests.apptest_helpers import PASSWORD, ROOT, leaf_elements, login, login_as, new_app, refused, run_page_as, showing_login_form
from tests.page_checks import form_widgets
from ui import nav
from ui.guard import IDENTITY_KEY, REFUSAL

PAGE_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))


def _allowed(path: str, role: str) -> bool:
    spec = nav.spec_for_path(path)
    return spec is not None and role in spec.roles


MATRIX = [pytest.param(path, role, _allowed(path, role), id=f"{role}-{path}") for path in PAGE_FILES for role in ROLES]


def test_every_file_in_pages_is_in_the_navigation_registry():
    assert [p for p in PAGE_FILES if nav.spec_for_path(p) is None] == []


def test_every_registered_page_exists_in_pages():
    assert [s.path for s in nav.PAGES if s.path not in PAGE_FILES] == []


def test_url_paths_are_unique():
    urls = [s.url_path for s in nav.PAGES]
    assert len(urls) == len(set(urls))


def test_url_paths_differ_from_page_file_names():
    # Otherwise Streamlit (and AppTest, on every rerun) runs the file without app.py: see ui/nav.py.
    assert [s.path for s in nav.PAGES if s.url_path == page_icon_and_name(Path(s.path))[1]] == []


def test_registry_gives_admins_the_people_page_and_nobody_else():
    assert [role for role in ROLES if "pages/people.py" in [s.path for s in nav.specs_for(role)]] == ["admin"]


@pytest.mark.parametrize("path, role, allowed", MATRIX)
def test_page_through_the_app_after_login(seeded_app, path, role, allowed):
    at = login_as(seeded_app, role)
    if not allowed:
        # Its file is not registered for the role at all: its URL is a hidden stand-in (tests/test_first_impression.py).
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(path)
        return
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not refused(at)


@pytest.mark.parametrize("path, role, allowed", MATRIX)
def test_page_guard_with_the_identity_app_py_verified(seeded_app, path, role, allowed):
    at = run_page_as(path, seeded_app, role)
    assert not at.exception, [e.value for e in at.exception]
    assert refused(at) == (not allowed)
    if not allowed:
        assert [e.value for e in leaf_elements(at)] == [REFUSAL]


@pytest.mark.parametrize("path", PAGE_FILES)
def test_page_run_directly_without_login_shows_only_the_refusal(seeded_app, path):
    at = run_page_as(path, None, None)
    assert [e.value for e in leaf_elements(at)] == [REFUSAL]


@pytest.mark.parametrize("path", PAGE_FILES)
def test_page_run_directly_with_a_forged_session_identity_of_a_deleted_user_is_refused(seeded_app, path):
    engine = models.get_engine()
    users.remove_user(engine, seeded_app.user_ids["member"])
    at = run_page_as(path, seeded_app, "member")
    assert [e.value for e in leaf_elements(at)] == [REFUSAL]


def test_login_form_is_all_a_visitor_sees(seeded_app):
    at = new_app().run()
    assert showing_login_form(at)
    assert IDENTITY_KEY not in at.session_state
    assert [t.value for t in at.title] == []


def test_wrong_password_shows_the_generic_message_and_no_page(seeded_app):
    at = login(new_app(), seeded_app.email("admin"), "not the password at all")
    assert [e.value for e in at.error] == [login_failed_message()]
    assert showing_login_form(at)
    assert IDENTITY_KEY not in at.session_state


def test_unknown_email_gets_the_same_message_as_a_wrong_password(seeded_app):
    at = login(new_app(), "nobody@example.com", PASSWORD)
    assert [e.value for e in at.error] == [login_failed_message()]


def test_sixth_attempt_with_the_right_password_after_five_failures_is_refused(seeded_app):
    at = new_app()
    for _ in range(5):
        login(at, seeded_app.email("member"), "not the password at all")
    login(at, seeded_app.email("member"), PASSWORD)
    assert [e.value for e in at.error] == [login_failed_message()]
    assert IDENTITY_KEY not in at.session_state


def test_each_role_lands_on_its_first_registered_page(seeded_app):
    for role in ROLES:
        at = login_as(seeded_app, role)
        assert at.session_state[IDENTITY_KEY]["user_id"] == seeded_app.user_ids[role]
        assert [t.value for t in at.title][:1] == [nav.specs_for(role)[0].title]


def test_login_form_disappears_once_logged_in(seeded_app):
    at = login_as(seeded_app, "member")
    assert not showing_login_form(at)


def test_deleted_user_loses_access_on_the_next_run(seeded_app):
    at = login_as(seeded_app, "member")
    users.remove_user(models.get_engine(), seeded_app.user_ids["member"])
    at.run()
    assert showing_login_form(at)
    assert IDENTITY_KEY not in at.session_state


def test_session_of_a_removed_user_does_not_continue_as_a_new_account_with_their_email(seeded_app):
    engine = models.get_engine()
    at = login_as(seeded_app, "member")
    users.remove_user(engine, seeded_app.user_ids["member"])
    users.create_user(engine, email=seeded_app.email("member"), name="Someone Else", password=PASSWORD, role="admin")
    at.run()
    assert showing_login_form(at)
    assert IDENTITY_KEY not in at.session_state


def test_demoted_admin_loses_the_people_page_on_the_next_run(seeded_app):
    engine = models.get_engine()
    users.create_user(engine, email="second@example.com", name="Second", password=PASSWORD, role="admin")
    at = login_as(seeded_app, "admin")
    at.switch_page("pages/people.py").run()
    assert [t.value for t in at.title] == ["People"]
    users.update_role(engine, seeded_app.user_ids["admin"], "member")
    at.run()
    assert "People" not in [t.value for t in at.title]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/people.py")


def test_member_promoted_to_admin_gets_the_people_page_on_the_next_run(seeded_app):
    at = login_as(seeded_app, "member")
    users.update_role(models.get_engine(), seeded_app.user_ids["member"], "admin")
    at.run()
    at.switch_page("pages/people.py").run()
    assert [t.value for t in at.title] == ["People"]


def test_logout_ends_the_session_and_revokes_earlier_logins(seeded_app):
    at = login_as(seeded_app, "member")
    started_at = at.session_state[IDENTITY_KEY]["started_at"]
    at.switch_page("pages/account.py").run()
    next(b for b in at.button if b.label == "Log out").click()
    at.run()
    assert [s.value for s in at.success] == ["You are logged out."]
    assert sessions.session_user(models.get_engine(), started_at, user_id=seeded_app.user_ids["member"]) is None
    at.run()
    assert showing_login_form(at)


def _change_password(at, current: str, new: str, repeat: str | None = None):
    fields = {t.label: t for t in at.text_input}
    fields["Current password"].input(current)
    fields["New password"].input(new)
    fields["Repeat the new password"].input(new if repeat is None else repeat)
    next(b for b in at.button if b.label == "Change password").click()
    return at.run()


def test_password_change_keeps_this_session_and_ends_older_ones(seeded_app):
    other = login_as(seeded_app, "member")
    at = login_as(seeded_app, "member")
    at.switch_page("pages/account.py").run()
    _change_password(at, PASSWORD, "a brand new passphrase")
    assert [s.value for s in at.success][0].startswith("Password changed.")
    at.run()
    assert [t.value for t in at.title] == ["Account"]
    other.run()
    assert showing_login_form(other)


def test_password_change_with_the_wrong_current_password_is_refused(seeded_app):
    at = login_as(seeded_app, "member")
    at.switch_page("pages/account.py").run()
    _change_password(at, "not my password at all", "a brand new passphrase")
    assert [e.value for e in at.error] == ["The current password is not correct."]


def test_wrong_current_passwords_on_the_account_page_lock_the_account_like_failed_logins(seeded_app):
    at = login_as(seeded_app, "member")
    at.switch_page("pages/account.py").run()
    for _ in range(5):
        _change_password(at, "not my password at all", "a brand new passphrase")
    assert [e.value for e in at.error] == ["The current password is not correct."]
    _change_password(at, PASSWORD, "a brand new passphrase")
    assert [e.value for e in at.error][0].startswith("Too many wrong passwords: your account is locked")
    again = login(new_app(), seeded_app.email("member"), PASSWORD)
    assert [e.value for e in again.error] == [login_failed_message()]
    assert IDENTITY_KEY not in again.session_state


def test_password_change_with_differing_repeats_is_refused(seeded_app):
    at = login_as(seeded_app, "member")
    at.switch_page("pages/account.py").run()
    _change_password(at, PASSWORD, "a brand new passphrase", repeat="another passphrase")
    assert [e.value for e in at.error] == ["The two new passwords differ; type the same password twice."]


def _token(link: str, purpose: str) -> str:
    return link.split(f"/?{purpose}=", 1)[1]


def _submit_link_form(at, password: str, name: str | None = None):
    fields = {t.label: t for t in at.text_input}
    if name is not None:
        fields["Your name"].input(name)
    fields["Password"].input(password)
    fields["Repeat the password"].input(password)
    next(b for b in at.button if b.label == "Set password and log in").click()
    return at.run()


def test_invite_link_sets_a_password_and_logs_in(seeded_app):
    engine = models.get_engine()
    link = links.create_invite(engine, email="carol@example.com", role="customer", customer_id="cust_c").link
    at = new_app()
    at.query_params["invite"] = _token(link, "invite")
    at.run()
    assert [t.value for t in at.title] == ["Welcome to Clientele"]
    _submit_link_form(at, "a brand new passphrase", name="Carol")
    user = users.get_user_by_email(engine, "carol@example.com")
    assert (user.name, user.role, user.customer_id) == ("Carol", "customer", "cust_c")
    assert at.session_state[IDENTITY_KEY]["user_id"] == user.id
    assert "invite" not in at.query_params


def test_used_invite_link_shows_why_it_does_not_work(seeded_app):
    engine = models.get_engine()
    token = _token(links.create_invite(engine, email="carol@example.com", role="member").link, "invite")
    links.accept_invite(engine, token, name="Carol", password=PASSWORD)
    at = new_app()
    at.query_params["invite"] = token
    at.run()
    assert [e.value for e in at.error] == ["This invitation has already been used. Log in, or ask an Admin for a new one."]
    assert IDENTITY_KEY not in at.session_state


def test_reset_link_sets_a_new_password_and_logs_in(seeded_app):
    engine = models.get_engine()
    link = links.create_reset(engine, seeded_app.user_ids["customer"]).link
    at = new_app()
    at.query_params["reset"] = _token(link, "reset")
    at.run()
    _submit_link_form(at, "a brand new passphrase")
    assert at.session_state[IDENTITY_KEY]["user_id"] == seeded_app.user_ids["customer"]
    assert authenticate(engine, seeded_app.email("customer"), "a brand new passphrase").role == "customer"


def test_first_admin_form_on_an_empty_production_database(tmp_path, monkeypatch):
    from tests.apptest_helpers import fast_bcrypt, set_app_env

    fast_bcrypt(monkeypatch)
    db_url = f"sqlite:///{tmp_path / 'empty.db'}"
    set_app_env(monkeypatch, db_url)
    at = new_app().run()
    assert [t.value for t in at.title] == ["Set up Clientele"]
    fields = {t.label: t for t in at.text_input}
    fields["Email"].input("Root@Example.com")
    fields["Name"].input("Root")
    fields["Password"].input(PASSWORD)
    fields["Repeat the password"].input(PASSWORD)
    next(b for b in at.button if b.label == "Create Admin and log in").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[IDENTITY_KEY]["user_id"] == users.get_user_by_email(models.get_engine(), "root@example.com").id
    assert [t.value for t in at.title][:1] == [nav.specs_for("admin")[0].title]
    assert users.get_user_by_email(models.get_engine(), "root@example.com").role == "admin"
    models.engine_for(db_url).dispose()


# ---------------------------------------------------------------- the People page


def _people(seeded):
    at = login_as(seeded, "admin")
    return at.switch_page("pages/people.py").run()


def test_people_page_lists_every_user(seeded_app):
    at = _people(seeded_app)
    assert sorted(at.dataframe[0].value["Email"]) == ["admin@example.com", "customer@example.com", "member@example.com"]


def test_people_page_invites_a_known_customer_and_shows_the_link(seeded_app):
    at = _people(seeded_app)
    form = form_widgets(at, "invite")
    form["Email"].input("dora@example.com")
    form["Role"].select("customer")
    form["Customer ID"].select("cust_b")
    form["Create invitation"].click()
    at.run()
    assert not [e.value for e in at.error]
    [code] = at.code
    assert "/?invite=" in code.value
    pending = links.pending_invites(models.get_engine())
    assert [(p["email"], p["role"], p["customer_id"]) for p in pending] == [("dora@example.com", "customer", "cust_b")]


def test_people_page_shows_why_an_invite_is_refused(seeded_app):
    at = _people(seeded_app)
    form = form_widgets(at, "invite")
    form["Email"].input("member@example.com")
    form["Role"].select("member")
    form["Create invitation"].click()
    at.run()
    assert [e.value for e in at.error] == ["member@example.com already has an account."]


def test_people_page_changes_a_role(seeded_app):
    at = _people(seeded_app)
    form = form_widgets(at, "change_role")
    form["User"].select("member@example.com")
    form["New role"].select("customer")
    form["Customer ID"].select("cust_c")
    form["Change role"].click()
    at.run()
    user = users.get_user(models.get_engine(), seeded_app.user_ids["member"])
    assert (user.role, user.customer_id) == ("customer", "cust_c")


def test_people_page_creates_a_reset_link(seeded_app):
    at = _people(seeded_app)
    form = form_widgets(at, "reset")
    form["User"].select("customer@example.com")
    form["Create reset link"].click()
    at.run()
    [code] = at.code
    assert "/?reset=" in code.value


def test_people_page_removes_a_user_only_when_confirmed(seeded_app):
    at = _people(seeded_app)
    form = form_widgets(at, "remove")
    form["User"].select("member@example.com")
    form["Remove user"].click()
    at.run()
    assert [e.value for e in at.error] == ["Tick the box to confirm the removal."]
    form = form_widgets(at, "remove")
    form["User"].select("member@example.com")
    next(w for label, w in form.items() if label.startswith("Yes, remove")).check()
    form["Remove user"].click()
    at.run()
    assert users.get_user(models.get_engine(), seeded_app.user_ids["member"]) is None


def test_people_page_revokes_a_pending_invite(seeded_app):
    links.create_invite(models.get_engine(), email="eve@example.com", role="member")
    at = _people(seeded_app)
    form_widgets(at, "revoke_invite")["Revoke link"].click()
    at.run()
    assert links.pending_invites(models.get_engine()) == []


def test_admin_cannot_remove_their_own_account_from_the_people_page(seeded_app):
    at = _people(seeded_app)
    form = form_widgets(at, "remove")
    form["User"].select("admin@example.com")
    next(w for label, w in form.items() if label.startswith("Yes, remove")).check()
    form["Remove user"].click()
    at.run()
    assert [e.value for e in at.error] == ["You cannot remove your own account."]


def test_session_started_before_a_revocation_is_refused_by_the_guard(seeded_app):
    at = login_as(seeded_app, "admin")
    sessions.revoke_sessions(models.get_engine(), seeded_app.user_ids["admin"], now=models.utcnow() + dt.timedelta(seconds=1))
    at.run()
    assert showing_login_form(at)


# ---------------------------------------------------------------- demo mode


@pytest.fixture
def embedded_demo(tmp_path, monkeypatch):
    """Demo mode (the embedded default database) on a temp file instead of data/clientele.db."""
    from tests.apptest_helpers import fast_bcrypt

    fast_bcrypt(monkeypatch)
    db_url = f"sqlite:///{tmp_path / 'embedded.db'}"
    monkeypatch.setattr(config, "DEFAULT_DATABASE_URL", db_url)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CLIENTELE_COOKIE_KEY", "test-cookie-key-" + "x" * 40)
    monkeypatch.setenv("CLIENTELE_DEMO_REQUESTS", "400")
    monkeypatch.setenv("CLIENTELE_NOW", "2026-11-25T12:00:00+00:00")
    yield db_url
    from core.demo import accounts as demo

    for process in demo.BACKGROUND:  # the first start's older days, written by a background process
        process.wait(timeout=120)
    demo.BACKGROUND.clear()
    models.engine_for(db_url).dispose()


def test_demo_mode_loads_demo_data_once_and_lists_the_demo_accounts(embedded_demo):
    from core.demo import accounts as demo

    at = new_app().run()
    assert not at.exception, [e.value for e in at.exception]
    assert config.settings().is_embedded
    engine = models.get_engine()
    accounts = demo.demo_accounts(engine)
    assert len(accounts) == len(demo.DEMO_ACCOUNTS)
    [table] = at.dataframe
    assert sorted(table.value["Email"]) == sorted(a["email"] for a in demo.DEMO_ACCOUNTS)
    assert list(table.value.columns) == ["Email", "Password", "Role", "Sees"]
    assert sorted(set(table.value["Role"])) == ["Admin", "Customer", "Member"]
    # The last days came first; a background process writes the older ones, then the demo is complete.
    [background] = demo.BACKGROUND
    assert background.wait(timeout=120) == 0
    assert demo.loading(engine) is None
    with engine.connect() as conn:
        requests = conn.scalar(sa.select(sa.func.count()).select_from(Request))
    assert requests == 400  # CLIENTELE_DEMO_REQUESTS
    new_app().run()
    assert demo.BACKGROUND == [background]
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Request)) == requests


def test_demo_admin_logs_in_with_the_listed_password(embedded_demo):
    from core.demo import accounts as demo

    admin = next(a for a in demo.DEMO_ACCOUNTS if a["role"] == "admin")
    new_app().run()
    at = login(new_app(), admin["email"], admin["password"])
    assert IDENTITY_KEY in at.session_state
    assert users.get_user(models.get_engine(), at.session_state[IDENTITY_KEY]["user_id"]).role == "admin"


def test_production_login_screen_lists_no_demo_accounts(seeded_app):
    at = new_app().run()
    assert list(at.dataframe) == []


def test_the_librarys_public_cookie_key_is_refused_with_a_message(seeded_app, monkeypatch):
    monkeypatch.setenv("CLIENTELE_COOKIE_KEY", "some_signature_key")
    at = new_app().run()
    [error] = at.error
    assert "public default" in error.value
    assert not showing_login_form(at)
