"""The forms a visitor fills in before any login: an invitation or password-reset link, and the first Admin."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from core.auth.errors import AuthError
from core.auth.links import accept_invite, accept_reset, check_link
from core.auth.login import record_login
from core.auth.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from core.auth.users import CurrentUser, create_first_admin
from core.storage import models
from ui.audit import client_source
from ui.session.state import panel, start_session, stop_as_visitor

_POLICY_HELP = f"At least {MIN_PASSWORD_CHARS} characters; a few unrelated words make a good password."


def accept_link(engine, key: str) -> tuple[CurrentUser, dt.datetime]:
    """The invite or reset link in the URL: its form, then the new session; stops the run until submitted."""
    purpose = "invite" if "invite" in st.query_params else "reset"
    token = st.query_params.get(purpose)
    try:
        pending = check_link(engine, token, purpose)
    except AuthError as exc:
        st.error(str(exc))
        stop_as_visitor()
    box = st.empty()
    with box.container():
        form_panel = panel()
    with form_panel:
        if purpose == "invite":
            st.title("Welcome to Clientele")
            st.write(f"You are invited as **{pending.role}**. Choose your name and a password to finish.")
        else:
            st.title("Choose a new password")
        with st.form("accept_link"):
            st.text_input("Email", value=pending.email, disabled=True)
            name = st.text_input("Your name", max_chars=200) if purpose == "invite" else None
            password = st.text_input("Password", type="password", help=_POLICY_HELP, max_chars=MAX_PASSWORD_CHARS)
            repeat = st.text_input("Repeat the password", type="password", max_chars=MAX_PASSWORD_CHARS)
            submitted = st.form_submit_button("Set password and log in", type="primary")
    if not submitted:
        stop_as_visitor()
    try:
        _same(password, repeat)
        if purpose == "invite":
            user = accept_invite(engine, token, name=name, password=password, source=client_source())
        else:
            user = accept_reset(engine, token, password=password, source=client_source())
    except AuthError as exc:
        form_panel.error(str(exc))
        stop_as_visitor()
    box.empty()
    del st.query_params[purpose]
    started_at = models.utcnow()
    start_session(user, started_at, key)
    return user, started_at


def first_admin(engine, key: str) -> tuple[CurrentUser, dt.datetime]:
    """The setup form of an empty database: creates the first Admin and logs them in; stops the run until submitted."""
    box = st.empty()
    with box.container():
        form_panel = panel()
    with form_panel:
        st.title("Set up Clientele")
        st.write("No account exists yet. Create the first Admin; invite everyone else from the People page.")
        with st.form("first_admin"):
            email = st.text_input("Email", max_chars=320)
            name = st.text_input("Name", max_chars=200)
            password = st.text_input("Password", type="password", help=_POLICY_HELP, max_chars=MAX_PASSWORD_CHARS)
            repeat = st.text_input("Repeat the password", type="password", max_chars=MAX_PASSWORD_CHARS)
            submitted = st.form_submit_button("Create Admin and log in", type="primary")
    if not submitted:
        stop_as_visitor()
    try:
        _same(password, repeat)
        user = create_first_admin(engine, email=email, name=name, password=password, source=client_source())
    except AuthError as exc:
        form_panel.error(str(exc))
        stop_as_visitor()
    box.empty()
    started_at = models.utcnow()
    record_login(engine, user.id, now=started_at, method="setup", source=client_source())
    start_session(user, started_at, key)
    return user, started_at


def _same(password: str, repeat: str) -> None:
    if password != repeat:
        raise AuthError("The two passwords differ; type the same password twice.")
