"""The Alerts page's widgets: the rule form (new or edit), the actions on a selected rule (mute, send a test,
remove) and the tables. Every change goes through core.alerts.rules with the viewer's scope and user, so a
Customer can only ever make, see or change a rule on their own traffic."""
from __future__ import annotations

import polars as pl
import sqlalchemy as sa
import streamlit as st

from core.alerts import deliver, rules
from core.alerts import display as shown
from core.auth.users import CurrentUser
from core.domain.scope import Scope
from core.domain.timewindow import current_now
from core.present import segments
from core.storage import alerts as stored
from core.storage import cache, customers
from ui import audit, widgets

WATCH_API, WATCH_CUSTOMER, WATCH_SEGMENT = "The whole API", "One customer", "A segment of customers"
FLASH = "alerts_flash"


def owner_of(user: CurrentUser, scope: Scope) -> int | None:
    """A Customer's rules belong to their user account; the workspace's to nobody in particular."""
    return user.id if scope.is_customer else None


def flash() -> None:
    """The outcome of the last action (kept across the rerun that follows it)."""
    kind, message = st.session_state.pop(FLASH, (None, None))
    if kind == "success":
        st.success(message, icon=":material/check_circle:")
    elif kind == "error":
        st.error(message)


def _done(kind: str, message: str) -> None:
    st.session_state[FLASH] = (kind, message)
    st.rerun()


def rules_table(rules_shown: list[dict], api_names: dict[int, str], tz: str) -> dict | None:
    """The rules as a table (its caption and "Columns" chooser above it); the rule whose row is selected, if any."""
    table = shown.rules_table(rules_shown, api_names, tz)
    columns = widgets.table_header(f"Times in {widgets.md_escape(tz)} · select a rule to mute, test, change or remove it",
                                   "alert_rules", table.columns, list(shown.RULE_DEFAULT))
    event = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                         height=widgets.table_height(table.height, 12), key="alert_rules_table", column_order=columns,
                         column_config=widgets.column_widths(table.columns, shown.RULE_WIDTHS))
    picked = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    if not picked or picked[0] >= table.height:
        return None
    rule_id = table.get_column("ID")[picked[0]]
    return next((r for r in rules_shown if r["id"] == rule_id), None)


def rule_actions(engine: sa.Engine, scope: Scope, user: CurrentUser, rule: dict) -> None:
    """Buttons for the selected rule: mute/unmute, send a test now, remove (asked twice)."""
    owner = owner_of(user, scope)
    st.markdown(f"**{widgets.md_escape(rule['name'])}** · {widgets.md_escape(rules.describe(rule))}")
    mute, test, remove, _ = st.columns([1, 1, 1, 3])
    if mute.button("Unmute" if rule["muted"] else "Mute", key=f"alert_mute_{rule['id']}", icon=":material/notifications_off:"):
        try:
            rules.mute(engine, rule["id"], not rule["muted"], scope=scope, actor=audit.actor(user), owner_user_id=owner)
        except LookupError as exc:
            _done("error", widgets.md_escape(exc))
        _done("success", f"{'Unmuted' if rule['muted'] else 'Muted'} “{widgets.md_escape(rule['name'])}”.")
    if test.button("Send test", key=f"alert_test_{rule['id']}", icon=":material/send:",
                   help="Sends the rule's message with its value measured now to every destination, once."):
        rule = rules.own(engine, rule["id"], scope, owner)
        with st.spinner("Sending…"):
            results = deliver.send_test(engine, rule, current_now())
        failed = [f"{r.destination}: {r.error}" for r in results if r.error]
        if failed:
            _done("error", widgets.md_escape("The test did not reach every destination. " + " · ".join(failed)))
        _done("success", f"Test sent to {len(results)} destination{'s' if len(results) != 1 else ''}.")
    if remove.toggle("Remove…", key=f"alert_remove_ask_{rule['id']}"):
        if st.button(f"Remove “{rule['name']}” and its delivery log", key=f"alert_remove_{rule['id']}", type="primary"):
            try:
                rules.remove(engine, rule["id"], scope=scope, actor=audit.actor(user), owner_user_id=owner)
            except LookupError as exc:
                _done("error", widgets.md_escape(exc))
            _done("success", f"Removed “{widgets.md_escape(rule['name'])}”.")


def _segment_values(engine: sa.Engine, scope: Scope) -> list[str]:
    """"Key=value" choices from the customers' metadata (treblle-metadata)."""
    return [c.replace(" = ", "=", 1) for c in segments.segment_choices(engine, scope)[1:]]


def rule_form(engine: sa.Engine, scope: Scope, user: CurrentUser, *, rule: dict | None = None,
              api_id: int | None = None, customer_id: str | None = None, segment: str | None = None) -> None:
    """The form for a new rule (prefilled with `api_id` and `customer_id` or `segment` ("Key = value"), e.g.
    from a profile's "Alert me when…" link) or for changing `rule`. A Customer's rule always watches their own traffic on an API they used."""
    spec = rules.spec_of(rule) if rule else None
    key = f"alert_form_{rule['id'] if rule else 'new'}"
    apis = cache.visible_apis(engine, scope)
    if not apis:
        st.info("Alerts watch an API's traffic: there is no API with requests yet.", icon=":material/info:")
        return
    api_ids = [a["api_id"] for a in apis]
    names = {a["api_id"]: a["name"] for a in apis}
    wanted_api = spec.api if spec else api_id
    metrics = shown.metrics_for(scope.is_customer)
    with st.form(key, clear_on_submit=rule is None, border=True):
        name = st.text_input("Name", value=spec.name if spec else "", max_chars=200,
                             placeholder="e.g. Acme's error rate")
        left, right = st.columns(2)
        api = left.selectbox("API", api_ids, format_func=names.get,
                             index=api_ids.index(wanted_api) if wanted_api in api_ids else 0)
        watch, who, picked_segment = WATCH_API, None, None
        if scope.is_customer:
            right.text_input("Traffic", value="Your own requests", disabled=True)
        else:
            current_segment = spec.segment if spec else (segment or "").replace(" = ", "=", 1) or None
            start = (WATCH_CUSTOMER if (spec and spec.customer_id) or customer_id else
                     WATCH_SEGMENT if current_segment else WATCH_API)
            options = [WATCH_API, WATCH_CUSTOMER, WATCH_SEGMENT]
            watch = right.radio("Watch", options, index=options.index(start), horizontal=True)
            known = [c["customer_id"] for c in customers.known_customers(engine, scope, limit=1000)]
            current = (spec.customer_id if spec else None) or customer_id
            who_options = known if current is None or current in known else [current, *known]
            who = left.selectbox("Customer (for “One customer”)", who_options,
                                 index=who_options.index(current) if current in who_options else None,
                                 placeholder="Pick a customer")
            values = _segment_values(engine, scope)
            picked_segment = right.selectbox("Segment (for “A segment”)", values,
                                             index=values.index(current_segment) if current_segment in values else None,
                                             placeholder="Pick Key=value" if values else "No customer attributes yet")
        metric = left.selectbox("Metric", metrics, format_func=shown.metric_label,
                                index=metrics.index(spec.metric) if spec and spec.metric in metrics else 0)
        comparison = right.radio("Fires when the value is", stored.COMPARISONS, horizontal=True,
                                 index=stored.COMPARISONS.index(spec.comparison) if spec else 0)
        threshold = left.number_input("Threshold (percent for rates, ms for p95)", min_value=0.0,
                                      value=float(spec.threshold) if spec else 5.0, step=1.0)
        windows = list(stored.WINDOWS)
        window = right.selectbox("Over the last", windows, format_func=shown.WINDOW_LABELS.get,
                                 index=windows.index(spec.window) if spec else 1)
        notify = st.text_area("Notify (webhook URLs or e-mail addresses, one per line)",
                              value="\n".join(spec.notify) if spec else "",
                              help="A webhook is sent a JSON body with a Slack-compatible `text`; e-mail goes through "
                                   "CLIENTELE_SMTP_URL." + (" Webhooks must be public https:// addresses."
                                                           if scope.is_customer else ""))
        submitted = st.form_submit_button("Save changes" if rule else "Create rule", type="primary")
    if not submitted:
        return
    asked = rules.RuleSpec(name=name, api=api, metric=metric, comparison=comparison, threshold=threshold, window=window,
                           notify=notify.splitlines(), customer_id=who if watch == WATCH_CUSTOMER else None,
                           segment=picked_segment if watch == WATCH_SEGMENT else None)
    if watch == WATCH_CUSTOMER and not who:
        st.error("Pick the customer to watch, or watch the whole API.")
        return
    if watch == WATCH_SEGMENT and not picked_segment:
        st.error("Pick the segment to watch (a Key=value of your customers' attributes), or watch the whole API.")
        return
    owner = owner_of(user, scope)
    try:
        if rule:
            saved = rules.edit(engine, rule["id"], asked, scope=scope, actor=audit.actor(user), owner_user_id=owner)
        else:
            saved = rules.add(engine, asked, scope=scope, actor=audit.actor(user), owner_user_id=owner)
    except (rules.AlertError, LookupError) as exc:
        st.error(widgets.md_escape(exc))
        return
    _done("success", f"{'Saved' if rule else 'Created'} “{widgets.md_escape(saved['name'])}”: "
                     f"{widgets.md_escape(rules.describe(saved, names.get(saved['api_id'])))}.")


def deliveries_table(table: pl.DataFrame, caption: str) -> None:
    columns = widgets.table_header(caption, "alert_deliveries", table.columns, list(shown.DELIVERY_DEFAULT))
    st.dataframe(table, hide_index=True, width="stretch", height=widgets.table_height(table.height, 15), column_order=columns,
                 column_config=widgets.column_widths(table.columns, shown.DELIVERY_WIDTHS))
