"""Alerts (every role): rules that watch an API's traffic — one customer's, a segment's or all of it — and tell
webhooks and e-mail addresses when a metric crosses a threshold; create, edit, mute, test and remove them; the
delivery log. A Customer's rules watch their own traffic only and only they see them (core.alerts.rules)."""
import streamlit as st

from core.alerts import display as shown
from core.alerts import rules as alert_rules
from core.storage import cache, models
from ui import alerts, dashboard, widgets
from ui.guard import current_scope, require_role

user = require_role("admin", "member", "customer")
scope = current_scope(user)
engine = models.get_engine()
tz = widgets.viewer_tz()
dashboard.refuse_other_customer(scope)
owner = alerts.owner_of(user, scope)

st.title("My alerts" if scope.is_customer else "Alerts")
st.caption(("Be told when your own traffic on an API misbehaves. " if scope.is_customer else "")
           + "Rules are checked every minute by the worker (`python -m core worker`); each change — firing, then "
             "resolved — is sent once to every destination.")
alerts.flash()
api_names = {a["api_id"]: a["name"] for a in cache.visible_apis(engine, scope)}
rules = alert_rules.visible(engine, scope, owner_user_id=owner)
selected = None
if rules:
    st.subheader("Rules")
    selected = alerts.rules_table(rules, api_names, tz)
else:
    st.info("No alert rules yet. Create one below" + ("." if scope.is_customer else
            ", or from a customer's profile (“Alert me when…”)."), icon=":material/notifications:")
if selected is not None:
    alerts.rule_actions(engine, scope, user, selected)
    with st.expander("Change this rule"):
        alerts.rule_form(engine, scope, user, rule=selected)

st.subheader("New rule")
# A profile's or the Customers page's "Alert me when…" link names its API and customer or segment.
wanted_api = st.query_params.get("api")
alerts.rule_form(engine, scope, user, api_id=int(wanted_api) if (wanted_api or "").isdigit() else None,
                 customer_id=None if scope.is_customer else st.query_params.get("customer"),
                 segment=None if scope.is_customer else st.query_params.get("segment"))

if user.role == "admin" or scope.is_customer:
    st.subheader("Delivery log")
    log = shown.deliveries_table(alert_rules.visible_deliveries(engine, scope, owner_user_id=owner), rules, tz)
    if log.height == 0:
        st.caption("Nothing sent yet.")
    else:
        alerts.deliveries_table(log, f"The newest {log.height} deliveries · times in {widgets.md_escape(tz)} · a failed "
                                     "attempt is retried after 30 s, 1 min, 2 min, … (8 attempts)")
