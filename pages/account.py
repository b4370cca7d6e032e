"""Account (every role): who you are, change your password, log out."""
import streamlit as st

from core.auth import errors, login, passwords
from core.storage import models
from ui import audit as audit_ui
from ui import session
from ui.guard import require_role

user = require_role("admin", "member", "customer")

st.title("Account")
details = f"**{user.name}** · {user.email} · {user.role.capitalize()}"
if user.customer_id:
    details += f" · customer ID `{user.customer_id}`"
if user.group:
    details += f" · group {user.group}"
st.markdown(details)

st.subheader("Change password")
with st.form("change_password", clear_on_submit=True):
    current = st.text_input("Current password", type="password", max_chars=passwords.MAX_PASSWORD_CHARS)
    new = st.text_input("New password", type="password", max_chars=passwords.MAX_PASSWORD_CHARS,
                        help=f"At least {passwords.MIN_PASSWORD_CHARS} characters; a few unrelated words make a good password.")
    repeat = st.text_input("Repeat the new password", type="password", max_chars=passwords.MAX_PASSWORD_CHARS)
    submitted = st.form_submit_button("Change password")
if submitted:
    if new != repeat:
        st.error("The two new passwords differ; type the same password twice.")
    else:
        try:
            revoked_at = login.change_password(models.get_engine(), user.id, current, new, source=audit_ui.client_source())
        except errors.AuthError as exc:
            st.error(str(exc))
        else:
            session.restart_after_password_change(revoked_at)
            st.success("Password changed. You stay logged in here; other browsers and devices are logged out.")
st.caption("Log out is in the sidebar, under your name: it ends your login in every browser.")
