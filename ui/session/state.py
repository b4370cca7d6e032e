"""What a logged-in session keeps in st.session_state, starting and ending one, and the visitor's view."""
from __future__ import annotations

import datetime as dt
from typing import NoReturn

import streamlit as st

from core.auth.users import CurrentUser
from ui import nav
from ui.guard import IDENTITY_KEY
from ui.session.cookie import set_login_cookie

# streamlit-authenticator's session keys: its login form shows only while "authentication_status" is not true.
LIBRARY_KEYS = ("name", "username", "authentication_status", "email", "roles")
# True once this session has logged out, or its cookie was refused: the cookie is not read again.
LOGGED_OUT = "logout"  # the library's key: it skips its own cookie then too
STARTED_AT = "clientele_started_at"  # when this session's login happened (or its cookie was issued)
# The account row (id and epoch) this session is logged in as: checked on every run, and put in its cookie.
SESSION_USER = "clientele_session_user"


def panel():
    """A centred column for the forms a visitor sees (login, invitation, setup)."""
    return st.columns([1, 2, 1])[1]


def stop_as_visitor() -> NoReturn:
    """End a run in which nobody is logged in: navigation without any page, then stop."""
    nav.visitor_navigation()
    st.stop()


def hold_session(user: CurrentUser, started_at: dt.datetime) -> None:
    """Mark this session as logged in as `user` since `started_at` (which its cookie must not predate)."""
    st.session_state.update({"name": user.name, "username": user.email, "email": user.email, "roles": [user.role],
                             "authentication_status": True, STARTED_AT: started_at, SESSION_USER: user})


def start_session(user: CurrentUser, started_at: dt.datetime, key: str) -> None:
    """Log the session in as `user` (after an invite, reset or first-Admin form) and set its cookie."""
    hold_session(user, started_at)
    set_login_cookie(user, key)


def end_session() -> None:
    for name in LIBRARY_KEYS:
        st.session_state[name] = None
    st.session_state[LOGGED_OUT] = True
    st.session_state.pop(STARTED_AT, None)
    st.session_state.pop(SESSION_USER, None)
    st.session_state.pop(IDENTITY_KEY, None)
