"""This browser's login cookie: set after a verified login, deleted at logout.

We set it ourselves because streamlit-authenticator's cookie cannot carry the claims that make ours
revocable (core/auth/sessions.py makes the token and checks it). A line of JavaScript in the page
(`st.html`, not a component) writes or deletes it: a component reports back to the server and reruns the
app, and that rerun raced with the login form's submit (a click right after the page loaded was lost).
Reading needs no script: the browser sends the cookie with its first request, and st.context.cookies has it.
"""
from __future__ import annotations

import datetime as dt
import json

import streamlit as st

from core.auth.sessions import COOKIE_EXPIRY_DAYS, COOKIE_NAME, cookie_token
from core.auth.users import CurrentUser
from core.storage import models


def _write_cookie(value: str, max_age_s: int) -> None:
    """Set (or, with max_age_s 0, delete) the login cookie for the whole app; Secure when served over https."""
    attributes = f"; Path=/; Max-Age={max_age_s}; SameSite=Strict"
    cookie = json.dumps(f"{COOKIE_NAME}={value}{attributes}")  # a JS string literal; tokens are base64url and dots
    st.html(f"<script>document.cookie = {cookie} + (location.protocol === 'https:' ? '; Secure' : '');</script>",
            unsafe_allow_javascript=True)


def set_login_cookie(user: CurrentUser, key: str) -> None:
    """Give this browser a login cookie for `user`, signed with `key`."""
    token = cookie_token(user, key, now=models.utcnow())
    _write_cookie(token, int(dt.timedelta(days=COOKIE_EXPIRY_DAYS).total_seconds()))


def delete_login_cookie() -> None:
    """Delete this browser's login cookie."""
    _write_cookie("", 0)
