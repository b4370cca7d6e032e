"""The login form (streamlit-authenticator draws it) and login by this browser's cookie; every check is core.auth's.

The library's own cookie is switched off: ours carries what makes it revocable (core/auth/sessions.py).
"""
from __future__ import annotations

import datetime as dt
import functools
import secrets

import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from core.auth.errors import AuthError
from core.auth.login import authenticate, credentials, login_failed_message, record_login
from core.auth.sessions import COOKIE_NAME, session_user, verify_cookie
from core.auth.users import CurrentUser
from core.storage import models
from ui.audit import client_source
from ui.session.cookie import set_login_cookie
from ui.session.demo import show_demo_accounts
from ui.session.state import LOGGED_OUT, SESSION_USER, STARTED_AT, end_session, hold_session, panel, stop_as_visitor

_PASSWORD_LOGIN = "clientele_password_login"  # (user, time) when our password check passed this run
_LOGIN_FIELDS = {"Form name": "Log in to Clientele", "Username": "Email", "Password": "Password", "Login": "Log in"}


def login(engine, key: str) -> tuple[CurrentUser, dt.datetime]:
    """(user, login time) of this session: held from an earlier run, from this browser's cookie, or from the
    login form; otherwise renders the form and stops the run."""
    state = st.session_state
    if state.get("authentication_status"):
        started_at, held = state.get(STARTED_AT), state.get(SESSION_USER)
        user = None if held is None else session_user(engine, started_at, user_id=held.id, epoch=held.epoch)
        if user is not None and user.email == state.get("username"):
            return user, started_at
        end_session()
        st.info("Your session has ended. Please log in again.")
    elif not state.get(LOGGED_OUT):
        token = st.context.cookies.get(COOKIE_NAME)
        if token:
            try:
                user, issued_at = verify_cookie(engine, token, key)
            except AuthError:
                state[LOGGED_OUT] = True  # refused once: not read again in this session
            else:
                record_login(engine, user.id, method="cookie", source=client_source())
                hold_session(user, issued_at)
                return user, issued_at
    state.pop(_PASSWORD_LOGIN, None)
    authenticator = _authenticator(engine)
    box = st.empty()
    with box.container():
        form_panel = panel()
        with form_panel:
            try:
                authenticator.login(location="main", fields=_LOGIN_FIELDS, key="clientele_login")
            except LoginError:
                end_session()
    verified = _verified_password_login(engine)
    if verified is not None:
        box.empty()
        set_login_cookie(verified[0], key)
        return verified
    if state.get("authentication_status") is False:
        form_panel.error(login_failed_message())
    with form_panel:
        show_demo_accounts(engine)
    stop_as_visitor()


def _authenticator(engine) -> stauth.Authenticate:
    # In dict mode the library stores nothing: the credentials come from the users table every run,
    # and they are already bcrypt hashes, so it never creates one (auto_hash=False).
    # Its own cookie is off: an expiry of 0 days means it never sets one, and a key nobody knows means it
    # could never trust one (login() reads ours before the library may look).
    authenticator = stauth.Authenticate(
        credentials(engine), COOKIE_NAME, secrets.token_urlsafe(32), 0, auto_hash=False,
        login_sleep_time=0,  # it slept to wait for a cookie component; cookies now come from st.context
    )
    # Passwords are checked against the database (pre-hashed bcrypt, failure counting, lockout),
    # not by the library's in-memory counter; it has no public hook for this.
    authenticator.authentication_controller.authentication_model.check_credentials = functools.partial(
        _check_password, engine)
    return authenticator


def _check_password(engine, username: str, password: str) -> bool:
    try:
        user = authenticate(engine, username, password, source=client_source())
    except AuthError:
        return False
    st.session_state[_PASSWORD_LOGIN] = (user, models.utcnow())
    return True


def _verified_password_login(engine) -> tuple[CurrentUser, dt.datetime] | None:
    """(user, login time) of the login the library just accepted, if our password check passed this run."""
    state = st.session_state
    password_login = state.pop(_PASSWORD_LOGIN, None)
    if not state.get("authentication_status"):
        return None
    if not password_login or password_login[0].email != state.get("username"):
        end_session()
        return None
    verified, started_at = password_login
    user = session_user(engine, started_at, user_id=verified.id, epoch=verified.epoch)
    if user is None:
        end_session()
        return None
    hold_session(user, started_at)  # authenticate() already recorded the login
    return user, started_at
