"""Alerts page through AppTest: creating, changing, muting, testing and removing rules from the form and the
table, the delivery log, and a Customer's rules watching their own traffic only.

seed_small (tests/factories.py): Orders API (cust_a, cust_b), Billing API (cust_a, cust_c); the "customer"
user is bound to cust_a.
"""
from __future__ import annotations

import pytest

from core.alerts import rules
from core.domain.scope import Scope
from core.storage import alerts as stored
from core.storage import audit, models
from core.storage.audit import CLI
from tests.apptest_helpers import login_as
from tests.page_checks import errors, no_exception, open_page, rendered_text, successes, table
from tests.receivers import Receiver

PAGE = "pages/alerts.py"


def _add(seeded_app, name: str, *, api: str = "orders", customer_id: str | None = None, notify: str = "ops@example.com",
         owner: int | None = None, scope: Scope | None = None) -> dict:
    spec = rules.RuleSpec(name=name, api=seeded_app.api_ids[api], metric="error_rate", comparison="above", threshold=5,
                          window="1h", notify=[notify], customer_id=customer_id)
    return rules.add(models.get_engine(), spec, scope=scope or Scope.workspace(), actor=CLI, owner_user_id=owner)


def _select(at, row: int = 0):
    at.session_state["alert_rules_table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return at.run()


def _form(at, index: int = -1) -> dict:
    """The widgets of a rule form by label (the new-rule form is the last one on the page)."""
    form = [n for n in _blocks(at.main) if n.type == "form"][index]
    return {n.label: n for n in _walk(form) if getattr(n, "label", None) is not None}


def _blocks(node):
    for child in (getattr(node, "children", None) or {}).values():
        yield child
        yield from _blocks(child)


def _walk(node):
    yield node
    for child in (getattr(node, "children", None) or {}).values():
        yield from _walk(child)


def _submit(at, label: str):
    next(b for b in at.button if b.label == label).click()
    return at.run()


def test_a_workspace_without_rules_is_told_how_to_make_one(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    no_exception(at)
    assert any(i.value.startswith("No alert rules yet.") for i in at.info)
    assert not at.dataframe


def test_an_admin_creates_a_rule_for_one_customer_from_the_form_and_it_is_audited(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    form = _form(at)
    form["Name"].input("Alpha errors")
    form["API"].select(seeded_app.api_ids["orders"])
    form["Watch"].set_value("One customer")
    form["Customer (for “One customer”)"].select("cust_a")
    form["Threshold (percent for rates, ms for p95)"].set_value(10.0)
    form["Notify (webhook URLs or e-mail addresses, one per line)"].input("ops@example.com\nhttps://hooks.example.com/x")
    at = _submit(at, "Create rule")
    no_exception(at)
    (rule,) = stored.rules(models.get_engine())
    assert (rule["name"], rule["api_id"], rule["customer_id"], rule["metric"], rule["threshold"], rule["window"],
            rule["notify"]) == ("Alpha errors", seeded_app.api_ids["orders"], "cust_a", "error_rate", 10.0, "1h",
                                ["ops@example.com", "https://hooks.example.com/x"])
    assert rule["owner_user_id"] is None
    assert successes(at) == ["Created “Alpha errors”: error rate (%) above 10 over 1h on Orders API for customer cust_a."]
    assert table(at).select("Name", "State").rows() == [("Alpha errors", "OK")]
    entries = audit.entries(models.get_engine(), audit.AuditQuery(action="alert.rule_add"))
    assert [(e["actor_name"], e["target"]) for e in entries] == [("admin@example.com", f"alert_rule:{rule['id']}")]


def test_a_rule_asked_for_wrongly_is_refused_with_what_to_fix_and_nothing_is_stored(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    form = _form(at)
    form["Name"].input("No destination")
    at = _submit(at, "Create rule")
    assert errors(at) == ["Say where to send the alert: --notify a webhook URL or an e-mail address."]
    assert stored.rules(models.get_engine()) == []


def test_the_customer_link_of_a_profile_prefills_the_form(seeded_app):
    at = open_page(PAGE, seeded_app, "member", api=str(seeded_app.api_ids["billing"]), customer="cust_c")
    no_exception(at)
    form = _form(at)
    assert form["API"].value == seeded_app.api_ids["billing"]
    assert form["Watch"].value == "One customer"
    assert form["Customer (for “One customer”)"].value == "cust_c"


def test_selecting_a_rule_mutes_and_unmutes_it(seeded_app):
    rule = _add(seeded_app, "Orders errors")
    at = _select(open_page(PAGE, seeded_app, "member"))
    at = _submit(at, "Mute")
    assert stored.rule(models.get_engine(), rule["id"])["muted"] is True
    assert successes(at) == ["Muted “Orders errors”."]
    assert table(at).get_column("State").to_list() == ["Muted"]
    at = _submit(_select(at), "Unmute")
    assert stored.rule(models.get_engine(), rule["id"])["muted"] is False


def test_changing_a_rule_keeps_its_id_and_state_and_is_audited(seeded_app):
    rule = _add(seeded_app, "Orders errors")
    at = _select(open_page(PAGE, seeded_app, "admin"))
    form = _form(at, 0)  # the selected rule's form comes before the new-rule form
    assert form["Name"].value == "Orders errors"
    form["Threshold (percent for rates, ms for p95)"].set_value(25.0)
    form["Over the last"].select("24h")
    at = _submit(at, "Save changes")
    no_exception(at)
    changed = stored.rule(models.get_engine(), rule["id"])
    assert (changed["threshold"], changed["window"], changed["state"]) == (25.0, "24h", "ok")
    (entry,) = audit.entries(models.get_engine(), audit.AuditQuery(action="alert.rule_edit"))
    assert entry["detail"]["changed"] == ["threshold", "window"]


def test_send_test_posts_the_rule_now_to_a_real_webhook_and_logs_it(seeded_app):
    with Receiver() as receiver:
        _add(seeded_app, "Orders errors", notify=receiver.url)
        at = _submit(_select(open_page(PAGE, seeded_app, "admin")), "Send test")
        no_exception(at)
        assert successes(at) == ["Test sent to 1 destination."]
        (body,) = receiver.bodies
    assert (body["state"], body["rule"]["name"], body["metric"], body["api_id"]) == (
        "test", "Orders errors", "error_rate", seeded_app.api_ids["orders"])
    assert body["text"].startswith("TEST: Orders errors — Orders API: error rate (%) is ")
    log = table(at, -1)
    assert log.select("Rule", "Change", "To", "Status", "Attempts").rows() == [
        ("Orders errors", "Test", receiver.url, "Sent", 1)]


def test_a_test_that_cannot_be_delivered_says_why_and_the_log_keeps_the_error(seeded_app):
    with Receiver(statuses=[500]) as receiver:
        _add(seeded_app, "Orders errors", notify=receiver.url)
        at = _submit(_select(open_page(PAGE, seeded_app, "admin")), "Send test")
    assert errors(at) == [f"The test did not reach every destination. {receiver.url}: the webhook answered HTTP 500"]
    assert table(at, -1).select("Status", "Last error").rows() == [("Failed", "the webhook answered HTTP 500")]


def test_removing_a_rule_asks_first(seeded_app):
    _add(seeded_app, "Orders errors")
    at = _select(open_page(PAGE, seeded_app, "admin"))
    next(t for t in at.toggle if t.label == "Remove…").set_value(True)
    at = _submit(at.run(), "Remove “Orders errors” and its delivery log")
    assert stored.rules(models.get_engine()) == []
    assert successes(at) == ["Removed “Orders errors”."]


def test_members_do_not_see_the_delivery_log_admins_do(seeded_app):
    _add(seeded_app, "Orders errors")
    assert "Delivery log" not in [h.value for h in open_page(PAGE, seeded_app, "member").subheader]
    assert "Delivery log" in [h.value for h in open_page(PAGE, seeded_app, "admin").subheader]


def test_a_customer_sees_only_their_own_rules_and_deliveries(seeded_app):
    mine = _add(seeded_app, "My own errors", customer_id="cust_a", notify="https://hooks.example.com/mine",
                owner=seeded_app.user_ids["customer"], scope=Scope.customer("cust_a"))
    _add(seeded_app, "Workspace rule on cust_a", customer_id="cust_a", notify="workspace-ops@example.com")
    theirs = _add(seeded_app, "Beta watch", customer_id="cust_b", notify="beta-ops@example.com")
    engine = models.get_engine()
    for rule in (mine, theirs):
        stored.enqueue(engine, rule["id"], state="firing", destination=rule["notify"][0], payload={"metric": "error_rate",
                       "value": 50.0}, at=models.utcnow())
    at = open_page(PAGE, seeded_app, "customer")
    no_exception(at)
    assert table(at).get_column("Name").to_list() == ["My own errors"]
    assert table(at, -1).select("Rule", "To").rows() == [("My own errors", "https://hooks.example.com/mine")]
    text = rendered_text(at)
    assert [s for s in ("Workspace rule", "workspace-ops@", "Beta watch", "beta-ops@", "cust_b") if s in text] == []


def test_a_customers_new_rule_watches_their_own_traffic_and_belongs_to_them(seeded_app):
    at = open_page(PAGE, seeded_app, "customer")
    form = _form(at)
    assert "Watch" not in form and "new_customers" not in form["Metric"].options
    form["Name"].input("Mine")
    form["Notify (webhook URLs or e-mail addresses, one per line)"].input("me@alpha.example")
    at = _submit(at, "Create rule")
    no_exception(at)
    (rule,) = stored.rules(models.get_engine())
    assert (rule["customer_id"], rule["owner_user_id"]) == ("cust_a", seeded_app.user_ids["customer"])


def test_a_customers_webhook_inside_the_network_is_refused(seeded_app):
    at = open_page(PAGE, seeded_app, "customer")
    form = _form(at)
    form["Name"].input("Mine")
    form["Notify (webhook URLs or e-mail addresses, one per line)"].input("http://127.0.0.1:9/hook")
    at = _submit(at, "Create rule")
    assert errors(at) == ["'http://127.0.0.1:9/hook': webhooks of customer accounts must be public https:// addresses."]
    assert stored.rules(models.get_engine()) == []


@pytest.mark.parametrize("customer", ["cust_b", "nobody"])
def test_a_customer_link_naming_another_customer_is_refused(seeded_app, customer):
    at = open_page(PAGE, seeded_app, "customer", customer=customer)
    assert errors(at) and not at.get("form")


def test_the_customers_pages_link_prefills_its_segment_and_a_segment_rule_is_made(seeded_app):
    at = open_page(PAGE, seeded_app, "admin", api=str(seeded_app.api_ids["orders"]), segment="Plan = Pro")
    form = _form(at)
    assert (form["Watch"].value, form["Segment (for “A segment”)"].value) == ("A segment of customers", "Plan=Pro")
    form["Name"].input("Pro errors")
    form["Notify (webhook URLs or e-mail addresses, one per line)"].input("ops@example.com")
    at = _submit(at, "Create rule")
    no_exception(at)
    (rule,) = stored.rules(models.get_engine())
    assert (rule["segment_key"], rule["segment_value"], rule["customer_id"]) == ("Plan", "Pro", None)


@pytest.mark.parametrize(("page", "params"), [
    ("pages/customer_profile.py", {"customer": "cust_b"}),
    ("pages/customers.py", {"api": "orders"}),
])
def test_profiles_and_the_customers_page_offer_alert_me_when(seeded_app, page, params):
    params = {k: str(seeded_app.api_ids[v]) if k == "api" else v for k, v in params.items()}
    at = login_as(seeded_app, "member")
    at.query_params.update(params)
    at.switch_page(page).run()
    no_exception(at)
    links = [link.proto for link in at.get("page_link") if link.proto.label == "Alert me when…"]
    assert [link.page for link in links] == ["alert-rules"]
    assert all(f"{k}={v}" in links[0].query_string for k, v in params.items()), links[0]
