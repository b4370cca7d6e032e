"""People (Admin): users and pending links; invite, change role, password-reset link, remove."""
import streamlit as st

from core.auth.errors import AuthError
from core.auth.links import LinkResult, browsing_base_url, create_invite, create_reset, pending_invites, revoke_invite
from core.auth.users import customer_choices, list_users, remove_user, update_role
from core.domain.scope import ROLES
from core.present.people import invites_table, picked_customer, role_label, users_table
from core.storage import models
from ui import audit as audit_ui
from ui import widgets
from ui.guard import require_role

user = require_role("admin")
engine = models.get_engine()
tz = widgets.viewer_tz()
FLASH = "people_flash"
# The invite form's widgets are made anew (new keys) after each invitation: the browser keeps showing a form
# widget's last value even once its state is gone, so only a new widget starts empty.
INVITE_FORM = "invite_form_number"
UNSEEN_OK = "No requests with this ID yet — invite anyway"
# Links point at the address the Admin is browsing unless CLIENTELE_BASE_URL says otherwise.
browsing = browsing_base_url(st.context.headers or {})


def done(message: str, link: LinkResult | None = None, renew: str | None = None) -> None:
    """Keep the outcome for the next run, then rerun so the tables above show the change; `renew`: the
    session key numbering a form whose widgets start empty again (a form after it did its job)."""
    st.session_state[FLASH] = (message, link)
    if renew:
        st.session_state[renew] = st.session_state.get(renew, 0) + 1
    st.rerun()


def show_flash() -> None:
    message, link = st.session_state.pop(FLASH, (None, None))
    if message:
        st.success(message)
    if link is not None:
        if link.emailed:
            st.success(f"Sent to {link.email}.")
        else:
            if link.email_error:
                st.warning(link.email_error)
            st.info(f"Send this link to {link.email}; it works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC.")
            st.code(link.link, language=None)


def attempt(action, message: str, renew: str | None = None) -> None:
    try:
        result = action()
    except (AuthError, ValueError) as exc:
        st.error(str(exc))
        return
    done(message, result if isinstance(result, LinkResult) else None, renew)


def chosen(**choices) -> bool:
    """Whether every choice of a submitted form was made; else an error names the first one missing."""
    for what, value in choices.items():
        if value is None:
            st.error(f"Pick a {what}.")
            return False
    return True


st.title("People")
show_flash()
users = list_users(engine)
by_email = {u["email"]: u["id"] for u in users}
customers = dict(customer_choices(engine))
customer_label = lambda c: f"{c} — {customers[c]}" if customers.get(c) else c  # noqa: E731
pick_customer = dict(options=list(customers), index=None, format_func=customer_label, placeholder="Pick a known customer",
                     help="Customer role only.")
new_customer = dict(max_chars=255, placeholder="Not in the list yet", help="Customer role only: an ID no request carried yet.")

st.caption(f"Times in {widgets.md_escape(tz)}")
st.dataframe(users_table(users, tz), hide_index=True)
pending = pending_invites(engine)
if pending:
    st.subheader("Pending links")
    st.dataframe(invites_table(pending, tz), hide_index=True)
    with st.form("revoke_invite"):
        invite_id = st.selectbox("Link", [i["id"] for i in pending],
                                 format_func=lambda i: next(f"{p['email']} ({p['purpose']})" for p in pending if p["id"] == i))
        if st.form_submit_button("Revoke link"):
            attempt(lambda: revoke_invite(engine, invite_id, actor=audit_ui.actor(user)), "Link revoked.")

st.subheader("Invite someone")
form_number = st.session_state.get(INVITE_FORM, 0)
with st.form(f"invite_{form_number}"):
    email = st.text_input("Email", max_chars=320, key=f"invite_email_{form_number}")
    # No role preselected: an invitation made in haste must not hand out Admin.
    role = st.selectbox("Role", ROLES, format_func=role_label, key=f"invite_role_{form_number}", index=None,
                        placeholder="Pick a role")
    customer_id = st.selectbox("Customer ID", key=f"invite_customer_{form_number}", **pick_customer)
    new_id = st.text_input("New customer ID", key=f"invite_new_customer_{form_number}", **new_customer)
    group = st.text_input("Group", max_chars=200, key=f"invite_group_{form_number}",
                          help="Optional, customer role only: users of one group share one customer ID.")
    unseen_ok = st.checkbox(UNSEEN_OK, key=f"invite_unseen_{form_number}",
                            help="Customer role only: tick to invite a customer whose ID no request carried yet.")
    if st.form_submit_button("Create invitation", type="primary") and chosen(role=role):
        attempt(lambda: create_invite(engine, email=email, role=role, customer_id=picked_customer(customer_id, new_id), group=group,
                                      invited_by=user.email, unseen_customer_ok=unseen_ok, browsing=browsing,
                                      actor=audit_ui.actor(user)),
                f"Invitation for {email.strip()} created.", renew=INVITE_FORM)

st.subheader("Change a role")
with st.form("change_role"):
    # Nobody and no role preselected: the first user listed was often yourself, and Admin the first role.
    target = st.selectbox("User", list(by_email), key="role_user", index=None, placeholder="Pick a user")
    role = st.selectbox("New role", ROLES, format_func=role_label, key="role_new", index=None, placeholder="Pick the new role")
    customer_id = st.selectbox("Customer ID", key="role_customer", **pick_customer)
    new_id = st.text_input("New customer ID", key="role_new_customer", **new_customer)
    group = st.text_input("Group", max_chars=200, key="role_group", help="Optional, customer role only.")
    if st.form_submit_button("Change role") and chosen(user=target, role=role):
        attempt(lambda: update_role(engine, by_email[target], role, customer_id=picked_customer(customer_id, new_id), group=group,
                                    actor=audit_ui.actor(user)),
                f"{target} is now {role_label(role)}.")

st.subheader("Password reset")
with st.form("reset"):
    target = st.selectbox("User", list(by_email), key="reset_user", index=None, placeholder="Pick a user",
                          help="Creates a one-time link that lets the user choose a new password.")
    if st.form_submit_button("Create reset link") and chosen(user=target):
        attempt(lambda: create_reset(engine, by_email[target], invited_by=user.email, browsing=browsing, actor=audit_ui.actor(user)),
                f"Reset link for {target} created.")

st.subheader("Remove a user")
with st.form("remove"):
    # Nobody preselected: a careless click must not aim at your own (or anyone's) account.
    target = st.selectbox("User", list(by_email), key="remove_user", index=None, placeholder="Pick the user to remove")
    sure = st.checkbox("Yes, remove this account (it loses access at once)")
    if st.form_submit_button("Remove user") and chosen(user=target):
        if sure:
            attempt(lambda: remove_user(engine, by_email[target], acting_user_id=user.id, actor=audit_ui.actor(user)),
                    f"{target} removed.")
        else:
            st.error("Tick the box to confirm the removal.")
