"""This browser's login cookie: set after a verified login, deleted at logout.

We set it ourselves, with extra_streamlit_components' CookieManager (the component streamlit-authenticator
itself uses), because the library's cookie cannot carry the claims that make ours revocable: see
core/auth/sessions.py, which makes the token and checks it. Reading needs no component: the browser
sends the cookie with its first request, and st.context.cookies has it.
"""
from __future__ import annotations

import contextlib
import datetime as dt

import extra_streamlit_components as stx
import streamlit as st

from core.auth.sessions import COOKIE_EXPIRY_DAYS, COOKIE_NAME, cookie_token
from core.auth.users import CurrentUser
from core.storage import models

# Our own component key: the library renders its CookieManager under its default key ("init").
_MANAGER_KEY = "clientele_cookie_manager"
_MANAGER = "clientele_cookie_manager_of_this_run"


def mount_cookie_manager() -> None:
    """Render the cookie component; sign_in does it on every run, before any form.

    The component reruns the app when it first reports the browser's cookies. Kept on every run, it has
    reported long before a login or logout sets or deletes the cookie; created in that run, its rerun
    could remove the set or delete rendered beside it before the browser ran it.
    """
    st.session_state[_MANAGER] = stx.CookieManager(key=_MANAGER_KEY)


def _manager() -> stx.CookieManager:
    manager = st.session_state.get(_MANAGER)
    return manager if manager is not None else stx.CookieManager(key=_MANAGER_KEY)


def set_login_cookie(user: CurrentUser, key: str) -> None:
    """Give this browser a login cookie for `user`, signed with `key` (renders an invisible component)."""
    now = models.utcnow()
    _manager().set(COOKIE_NAME, cookie_token(user, key, now=now), key="clientele_cookie_set",
                   expires_at=now + dt.timedelta(days=COOKIE_EXPIRY_DAYS))


def delete_login_cookie() -> None:
    """Delete this browser's login cookie (renders an invisible component)."""
    # delete() renders the component that removes the cookie, then forgets the name in the manager's own copy
    # of the browser's cookies, which may not hold it (not reported yet, or never set).
    with contextlib.suppress(KeyError):
        _manager().delete(COOKIE_NAME, key="clientele_cookie_delete")
