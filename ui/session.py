"""Sign-in for app.py: invite and reset links, the first Admin, demo data, the login form and cookies.

streamlit-authenticator draws the login form and sets the cookie; every decision is ours: passwords
and lockout are checked in the database (core.auth.authenticate), a cookie is verified by
core.auth.verify_cookie before the library may trust it, and the user is re-read on every run.
"""
from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import threading
from typing import NoReturn

import polars as pl
import sqlalchemy as sa
import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from core import auth
from core.domain import config, timewindow
from core.storage import models
from ui import nav
from ui.guard import IDENTITY_KEY

# The library's own session keys (it owns them; we reset them to end a session).
_LIBRARY_KEYS = ("name", "username", "authentication_status", "email", "roles")
_STARTED_AT = "clientele_started_at"  # when this session's login happened (or its cookie was issued)
_PASSWORD_LOGIN = "clientele_password_login"  # (user, time) when our password check passed this run
_COOKIE_LOGIN = "clientele_cookie_login"  # (user, issue time) of a cookie we verified this run
# The account row (id and epoch) this session is logged in as: checked on every run, and put in its cookie.
_SESSION_USER = "clientele_session_user"
_AUTHENTICATOR = "clientele_authenticator"  # this run's Authenticate, for logout and cookie re-issue
_LOGIN_FIELDS = {"Form name": "Log in to Clientele", "Username": "Email", "Password": "Password", "Login": "Log in"}
_POLICY_HELP = f"At least {auth.MIN_PASSWORD_CHARS} characters; a few unrelated words make a good password."

# One demo bootstrap per process, however many sessions arrive on an empty database at once.
_demo_lock = threading.Lock()
_demo_job: dict = {}  # the bootstrap thread of this process and its progress


def sign_in() -> auth.CurrentUser:
    """The verified user of this run, published for the page guard; otherwise renders the right form
    (invite, reset, first Admin or login) and stops the run."""
    st.session_state.pop(IDENTITY_KEY, None)
    try:
        engine = models.get_engine()
        key = config.cookie_key()
        _ping(engine)
    except config.ConfigError as exc:
        st.error(str(exc))
        _stop_as_visitor()
    except _UNREACHABLE:
        # A traceback helps nobody looking at the page; the next run (a reload) connects afresh.
        st.error("The database is unreachable. Clientele will work again as soon as it is back: reload this page "
                 "in a moment, and if it persists ask your administrator to check DATABASE_URL and the database server.")
        _stop_as_visitor()
    authenticator = _authenticator(engine, key)
    if "invite" in st.query_params or "reset" in st.query_params:
        user, started_at = _accept_link(engine, authenticator)
    else:
        if config.settings().is_embedded:
            _ensure_demo_data(engine)
        if auth.needs_first_admin(engine):
            user, started_at = _first_admin(engine, authenticator)
        else:
            user, started_at = _login(engine, authenticator, key)
    st.session_state[IDENTITY_KEY] = {"user_id": user.id, "started_at": started_at}
    st.sidebar.caption(f"Logged in as **{user.name}** · {user.role.capitalize()}")
    return user


_UNREACHABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


def _ping(engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def _panel():
    """A centred column for the forms a visitor sees (login, invitation, setup)."""
    return st.columns([1, 2, 1])[1]


def _stop_as_visitor() -> NoReturn:
    """End a run in which nobody is logged in: navigation without any page, then stop."""
    nav.visitor_navigation()
    st.stop()


def _authenticator(engine, key: str) -> stauth.Authenticate:
    # In dict mode the library stores nothing: the credentials come from the users table every run,
    # and they are already bcrypt hashes, so it never creates one (auto_hash=False).
    authenticator = stauth.Authenticate(
        auth.credentials(engine), auth.COOKIE_NAME, key, auth.COOKIE_EXPIRY_DAYS, auto_hash=False,
        login_sleep_time=0,  # it slept to wait for a cookie component; cookies now come from st.context
    )
    # Passwords are checked against the database (pre-hashed bcrypt, failure counting, lockout),
    # not by the library's in-memory counter.
    authenticator.authentication_controller.authentication_model.check_credentials = functools.partial(
        _check_password, engine)
    # Our cookie carries its own issue time, which logout and password changes are checked against, and the
    # account row's id and epoch, so that it never opens an account created later under the same email.
    authenticator.cookie_controller.cookie_model._token_encode = lambda: auth.cookie_token(st.session_state[_SESSION_USER], key)
    # The library would set the cookie inside the login form's container, which we empty after a
    # login; _issue_cookie sets it outside, and only once we have verified the login.
    authenticator.cookie_controller.set_cookie = lambda: None
    st.session_state[_AUTHENTICATOR] = authenticator
    return authenticator


def _check_password(engine, username: str, password: str) -> bool:
    try:
        user = auth.authenticate(engine, username, password)
    except auth.AuthError:
        return False
    st.session_state[_PASSWORD_LOGIN] = (user, models.utcnow())
    return True


def _login(engine, authenticator: stauth.Authenticate, key: str) -> tuple[auth.CurrentUser, dt.datetime]:
    state = st.session_state
    if state.get("authentication_status"):
        started_at, held = state.get(_STARTED_AT), state.get(_SESSION_USER)
        user = None if held is None else auth.session_user(engine, started_at, user_id=held.id, epoch=held.epoch)
        if user is not None and user.email == state.get("username"):
            return user, started_at
        _end_session()
        st.info("Your session has ended. Please log in again.")
    elif not state.get("logout"):
        token = st.context.cookies.get(auth.COOKIE_NAME)
        if token:
            try:
                user, issued_at = auth.verify_cookie(engine, token, key)
                state[_COOKIE_LOGIN] = (user, issued_at)
            except auth.AuthError:
                # The library skips the cookie once the session has logged out; mark it so.
                state["logout"] = True
    state.pop(_PASSWORD_LOGIN, None)
    box = st.empty()
    with box.container():
        panel = _panel()
        with panel:
            try:
                authenticator.login(location="main", fields=_LOGIN_FIELDS, key="clientele_login")
            except LoginError:
                _end_session()
    verified = _verified_login(engine)
    if verified is not None:
        user, started_at, by_password = verified
        box.empty()
        if by_password:
            _issue_cookie(authenticator)
        return user, started_at
    if state.get("authentication_status") is False:
        panel.error(auth.login_failed_message())
    with panel:
        _show_demo_accounts(engine)
    _stop_as_visitor()


def _verified_login(engine) -> tuple[auth.CurrentUser, dt.datetime, bool] | None:
    """(user, login time, by password) of the login the library just accepted, if we verified how:
    our password check or our cookie check, this run."""
    state = st.session_state
    password_login, cookie_login = state.pop(_PASSWORD_LOGIN, None), state.pop(_COOKIE_LOGIN, None)
    if not state.get("authentication_status"):
        return None
    username = state.get("username")
    by_password = bool(password_login and password_login[0].email == username)
    if by_password:
        verified, started_at = password_login
    elif cookie_login and cookie_login[0].email == username:
        verified, started_at = cookie_login
    else:
        _end_session()
        return None
    user = auth.session_user(engine, started_at, user_id=verified.id, epoch=verified.epoch)
    if user is None:
        _end_session()
        return None
    if not by_password:  # authenticate() already recorded a password login
        auth.record_login(engine, user.id)
    state[_STARTED_AT] = started_at
    state[_SESSION_USER] = user
    return user, started_at, by_password


def _end_session() -> None:
    for name in _LIBRARY_KEYS:
        st.session_state[name] = None
    st.session_state["logout"] = True
    st.session_state.pop(_STARTED_AT, None)
    st.session_state.pop(_SESSION_USER, None)
    st.session_state.pop(IDENTITY_KEY, None)


def _start_session(authenticator: stauth.Authenticate, user: auth.CurrentUser, started_at: dt.datetime) -> None:
    """Log the session in as `user` (after an invite, reset or first-Admin form) and set its cookie."""
    state = st.session_state
    state.update({"name": user.name, "username": user.email, "email": user.email, "roles": [user.role],
                  "authentication_status": True, _STARTED_AT: started_at, _SESSION_USER: user})
    _issue_cookie(authenticator)


def _issue_cookie(authenticator: stauth.Authenticate) -> None:
    """Set this browser's login cookie for the session's user (renders the invisible cookie component)."""
    authenticator.cookie_controller.cookie_model.set_cookie()


def _accept_link(engine, authenticator: stauth.Authenticate) -> tuple[auth.CurrentUser, dt.datetime]:
    purpose = "invite" if "invite" in st.query_params else "reset"
    token = st.query_params.get(purpose)
    try:
        pending = auth.check_link(engine, token, purpose)
    except auth.AuthError as exc:
        st.error(str(exc))
        _stop_as_visitor()
    box = st.empty()
    with box.container():
        panel = _panel()
    with panel:
        if purpose == "invite":
            st.title("Welcome to Clientele")
            st.write(f"You are invited as **{pending.role}**. Choose your name and a password to finish.")
        else:
            st.title("Choose a new password")
        with st.form("accept_link"):
            st.text_input("Email", value=pending.email, disabled=True)
            name = st.text_input("Your name", max_chars=200) if purpose == "invite" else None
            password = st.text_input("Password", type="password", help=_POLICY_HELP, max_chars=auth.MAX_PASSWORD_CHARS)
            repeat = st.text_input("Repeat the password", type="password", max_chars=auth.MAX_PASSWORD_CHARS)
            submitted = st.form_submit_button("Set password and log in", type="primary")
    if not submitted:
        _stop_as_visitor()
    try:
        _same(password, repeat)
        if purpose == "invite":
            user = auth.accept_invite(engine, token, name=name, password=password)
        else:
            user = auth.accept_reset(engine, token, password=password)
    except auth.AuthError as exc:
        panel.error(str(exc))
        _stop_as_visitor()
    box.empty()
    del st.query_params[purpose]
    started_at = models.utcnow()
    _start_session(authenticator, user, started_at)
    return user, started_at


def _first_admin(engine, authenticator: stauth.Authenticate) -> tuple[auth.CurrentUser, dt.datetime]:
    box = st.empty()
    with box.container():
        panel = _panel()
    with panel:
        st.title("Set up Clientele")
        st.write("No account exists yet. Create the first Admin; invite everyone else from the People page.")
        with st.form("first_admin"):
            email = st.text_input("Email", max_chars=320)
            name = st.text_input("Name", max_chars=200)
            password = st.text_input("Password", type="password", help=_POLICY_HELP, max_chars=auth.MAX_PASSWORD_CHARS)
            repeat = st.text_input("Repeat the password", type="password", max_chars=auth.MAX_PASSWORD_CHARS)
            submitted = st.form_submit_button("Create Admin and log in", type="primary")
    if not submitted:
        _stop_as_visitor()
    try:
        _same(password, repeat)
        user = auth.create_first_admin(engine, email=email, name=name, password=password)
    except auth.AuthError as exc:
        panel.error(str(exc))
        _stop_as_visitor()
    box.empty()
    started_at = models.utcnow()
    auth.record_login(engine, user.id, now=started_at)
    _start_session(authenticator, user, started_at)
    return user, started_at


def _same(password: str, repeat: str) -> None:
    if password != repeat:
        raise auth.AuthError("The two passwords differ; type the same password twice.")


def _demo_module():
    # core/demo.py is written separately; without it the app still starts (and offers the first Admin form).
    if importlib.util.find_spec("core.demo") is None:
        return None
    from core import demo

    return demo


def _ensure_demo_data(engine) -> None:
    """Demo mode, empty database: generate the demo traffic and accounts once, with a progress bar.

    The work runs in a background thread: a browser rerun (the cookie component triggers one on the first
    visit) interrupts the script, and would otherwise cut the bootstrap off between traffic and accounts.
    Every run, this one or the next, just waits for the same thread.
    """
    if auth.has_users(engine):
        return
    demo = _demo_module()
    if demo is None:
        st.warning("Demo data is not available in this installation (core/demo.py is missing).")
        return
    with _demo_lock:
        worker = _demo_job.get("thread")
        if worker is None or (not worker.is_alive() and not auth.has_users(engine)):
            _demo_job.update(done=0, total=0, error=None)

            def work() -> None:
                try:
                    # The demo's traffic ends at the dashboards' "now" (CLIENTELE_NOW when set).
                    demo.bootstrap(engine, requests=config.settings().demo_requests, now=timewindow.current_now(),
                                   progress=lambda done, total: _demo_job.update(done=done, total=total))
                except Exception as exc:  # shown to the visitor below; the thread must not die silently
                    _demo_job["error"] = str(exc)

            worker = threading.Thread(target=work, name="clientele-demo-bootstrap", daemon=True)
            _demo_job["thread"] = worker
            worker.start()
    bar = st.progress(0.0, text="Loading demo data (first start only)…")
    while worker.is_alive():
        done, total = _demo_job["done"], _demo_job["total"]
        bar.progress(min(done / total, 1.0) if total else 0.0,
                     text=f"Loading demo data (first start only): {done:,} of {total:,} requests" if total
                     else "Loading demo data (first start only)…")
        worker.join(0.25)
    bar.empty()
    if _demo_job.get("error"):
        st.error(f"Loading the demo data failed: {_demo_job['error']}")


def _show_demo_accounts(engine) -> None:
    if not config.settings().is_embedded:
        return
    demo = _demo_module()
    accounts = demo.demo_accounts(engine) if demo is not None else []
    if not accounts:
        return
    st.subheader("Demo accounts")
    st.caption("This is a demo workspace with generated traffic. Log in as any of these:")
    rows = [{"Email": a.get("email"), "Password": a.get("password"), "Role": a.get("role"),
             "Customer ID": a.get("customer_id"), "Group": a.get("group")} for a in accounts]
    st.dataframe(pl.DataFrame(rows), hide_index=True)


def logout_button(user: auth.CurrentUser) -> None:
    """The log-out button: revokes every cookie and session of the user, deletes this browser's
    cookie, and ends the run."""
    # Key "logout" would collide with the library's own session flag of that name.
    if not st.button("Log out", key="account_logout"):
        return
    auth.revoke_sessions(models.get_engine(), user.id)
    authenticator = st.session_state.get(_AUTHENTICATOR)
    if authenticator is not None and st.session_state.get("authentication_status"):
        # Clears the library's session keys and renders the component that deletes the cookie.
        authenticator.logout(location="unrendered")
    _end_session()
    st.success("You are logged out.")
    # st.stop, not st.rerun: a rerun would drop the component before it deletes the cookie.
    st.stop()


def restart_after_password_change(revoked_at: dt.datetime) -> None:
    """Keep this session (and give this browser a fresh cookie) after the user changed their password;
    every other session and cookie of theirs was revoked at `revoked_at`."""
    state = st.session_state
    state[_STARTED_AT] = revoked_at
    identity = state.get(IDENTITY_KEY)
    if isinstance(identity, dict):
        state[IDENTITY_KEY] = {**identity, "started_at": revoked_at}
    _issue_cookie(state[_AUTHENTICATOR])
