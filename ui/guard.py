"""The page guard: the first statement of every file in pages/ (`user = require_role(...)`)."""
from __future__ import annotations

from typing import NoReturn

import streamlit as st

from core.auth import sessions, users
from core.domain.scope import Scope, ScopeError, scope_for
from core.storage import models

# Set only by ui.session.sign_in() (run by app.py) once this run's login is fully verified, and
# cleared at the start of every app.py run. A page run without app.py (Streamlit runs pages/*.py
# directly on a freshly started server) finds no identity here and is refused.
IDENTITY_KEY = "clientele_identity"
REFUSAL = "This page is not available to you. Open the home page and log in with an account that may see it."


def refuse(message: str = REFUSAL) -> NoReturn:
    """Show the refusal and end the run: nothing after it renders."""
    st.error(message)
    st.stop()


def require_role(*roles: str) -> users.CurrentUser:
    """The verified user of this run if their role (as the database says now) is one of `roles`;
    otherwise a refusal and st.stop()."""
    if not roles:
        raise TypeError("require_role() needs the roles that may open the page.")
    identity = st.session_state.get(IDENTITY_KEY)
    user = None
    if isinstance(identity, dict):
        user = sessions.session_user(models.get_engine(), identity.get("started_at"), user_id=identity.get("user_id"))
    if user is None or user.role not in roles:
        refuse()
    return user


def current_scope(user: users.CurrentUser) -> Scope:
    """The Scope every data read of the page takes."""
    try:
        return scope_for(user.role, user.customer_id)
    except ScopeError as exc:
        refuse(str(exc))
