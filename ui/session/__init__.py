"""Sign-in for app.py: invite and reset links, the first Admin, demo data, the login form and cookies.

streamlit-authenticator draws the login form; every decision is ours: passwords and lockout are checked
in the database (core.auth.login), this browser's cookie is ours, made and verified by core.auth.sessions,
and the user is re-read on every run.

- state.py   the session's keys in st.session_state; starting and ending a session
- cookie.py  setting and deleting this browser's login cookie
- login.py   the login form and login by cookie
- links.py   the invitation, password-reset and first-Admin forms
- demo.py    demo mode's one-time data bootstrap and its list of demo accounts
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import streamlit as st

from core.auth.sessions import revoke_sessions
from core.auth.users import CurrentUser, needs_first_admin
from core.domain import config
from core.storage import models
from ui.audit import client_source
from ui.guard import IDENTITY_KEY
from ui.session.cookie import delete_login_cookie, set_login_cookie
from ui.session.demo import ensure_demo_data, show_demo_loading
from ui.session.links import accept_link, first_admin
from ui.session.login import login
from ui.session.state import SESSION_USER, STARTED_AT, end_session, panel, stop_as_visitor

_UNREACHABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
# Logging out revokes every session and cookie of the user (core.auth.sessions.revoke_sessions).
LOGOUT_HELP = "Ends this session and signs you out everywhere (every browser and device)"


def sign_in() -> CurrentUser:
    """The verified user of this run, published for the page guard; otherwise renders the right form
    (invite, reset, first Admin or login) and stops the run."""
    st.session_state.pop(IDENTITY_KEY, None)
    try:
        engine = models.get_engine()
        key = config.cookie_key()
        _ping(engine)
    except config.ConfigError as exc:
        st.error(str(exc))
        stop_as_visitor()
    except _UNREACHABLE:
        # A traceback helps nobody looking at the page; the next run (a reload) connects afresh.
        st.error("The database is unreachable. Clientele will work again as soon as it is back: reload this page "
                 "in a moment, and if it persists ask your administrator to check DATABASE_URL and the database server.")
        stop_as_visitor()
    _log_out_if_asked(engine)
    if "invite" in st.query_params or "reset" in st.query_params:
        user, started_at = accept_link(engine, key)
    else:
        if config.settings().is_embedded:
            ensure_demo_data(engine)
        if needs_first_admin(engine):
            user, started_at = first_admin(engine, key)
        else:
            user, started_at = login(engine, key)
    st.session_state[IDENTITY_KEY] = {"user_id": user.id, "started_at": started_at}
    user_menu(user)
    if config.settings().is_embedded:
        show_demo_loading(engine)
    return user


def user_menu(user: CurrentUser) -> None:
    """The sidebar's user menu on every page: who is logged in, and the log-out button."""
    st.sidebar.caption(f"Logged in as **{user.name}** · {user.role.capitalize()}")
    logout_button(user, key="sidebar_logout", where=st.sidebar)


def _ping(engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def logout_button(user: CurrentUser, *, key: str = "sidebar_logout", where=st.sidebar) -> None:
    """The log-out button. Its click is handled at the start of the next run (_log_out_if_asked), before anything
    is drawn, so that run already is a visitor's: the login form, no menu and no "Logged in as".
    `where` holds the button (st or st.sidebar)."""
    # Key "logout" would collide with the library's own session flag of that name.
    where.button("Log out", key=key, help=LOGOUT_HELP, icon=":material/logout:", on_click=_ask_to_log_out, args=(user.id,))


_LOG_OUT = "clientele_log_out"  # the id of the user whose Log out was clicked, until the next run handles it


def _ask_to_log_out(user_id: int) -> None:
    st.session_state[_LOG_OUT] = user_id


def _log_out_if_asked(engine) -> None:
    """After a click on Log out: revoke every cookie and session of the user, delete this browser's cookie (a
    script drawn in this run, which then shows the login form) and end this session."""
    user_id = st.session_state.pop(_LOG_OUT, None)
    if user_id is None:
        return
    revoke_sessions(engine, user_id, source=client_source())
    delete_login_cookie()
    end_session()
    panel().success("You are logged out.")


def restart_after_password_change(revoked_at: dt.datetime) -> None:
    """Keep this session (and give this browser a fresh cookie) after the user changed their password;
    every other session and cookie of theirs was revoked at `revoked_at`."""
    state = st.session_state
    state[STARTED_AT] = revoked_at
    identity = state.get(IDENTITY_KEY)
    if isinstance(identity, dict):
        state[IDENTITY_KEY] = {**identity, "started_at": revoked_at}
    set_login_cookie(state[SESSION_USER], config.cookie_key())
