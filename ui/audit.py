"""The audit log's Streamlit side: who acts in this session and from where (core.storage.audit records it).

Pages and ui/ pass `actor()` (or `client_source()`) down to core; buttons whose action happens in the
browser (CSV downloads) or in another module's form (customer notes) use the on_click hooks below.
A callback runs at the start of the next run, before app.py, so it reads the identity of the run
that drew the button (the guard's IDENTITY_KEY), which is still in the session state then.
"""
from __future__ import annotations

import streamlit as st

from core.auth import users
from core.storage import audit, models
from ui.guard import IDENTITY_KEY


def client_source() -> str:
    """This browser's address as the audit log records it (X-Forwarded-For, else the connection's)."""
    return audit.client_source(st.context.headers or {}, st.context.ip_address)


def actor(user: users.CurrentUser | None = None) -> audit.Actor:
    """`user` (default: the user this session is logged in as) acting from this browser; anonymous
    when nobody is logged in."""
    if user is None:
        identity = st.session_state.get(IDENTITY_KEY)
        user_id = identity.get("user_id") if isinstance(identity, dict) else None
        user = users.get_user(models.get_engine(), user_id) if isinstance(user_id, int) else None
    if user is None:
        return audit.Actor.anonymous(client_source())
    return audit.Actor.user(user.id, user.email, client_source())


def record(action: str, *, target: str | None = None, detail: dict | None = None) -> None:
    """An audit entry for something this session's user just did."""
    audit.record(models.get_engine(), action, actor=actor(), target=target, detail=detail)


def csv_downloaded(filename: str, rows: int) -> None:
    """on_click of every CSV download button (ui.widgets.csv_download): an export in the audit log."""
    record("data.export", target=f"file:{filename}", detail={"rows": rows})


def notes_saved(customer_id: str) -> None:
    """on_click of the customer notes form's Save button (ui.dashboard.notes_form)."""
    record("note.save", target=f"customer:{customer_id}")
