"""Alerts: the metrics by hand, rules and their scoping, and each change of state delivered exactly once
to a real local HTTP receiver and a real local SMTP server (aiosmtpd), with retries and backoff."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import polars as pl
import pytest
import sqlalchemy as sa

from core.alerts import deliver, evaluate, rules
from core.analytics import alerts as numbers
from core.auth import users
from core.domain.scope import Scope
from core.domain.timewindow import Window
from core.storage import alerts as stored
from core.storage import audit, store
from core.storage.audit import CLI
from tests.factories import make_request
from tests.receivers import Receiver, smtp_server

UTC = dt.timezone.utc
T = dt.datetime(2026, 11, 25, 12, 10, tzinfo=UTC)
WORKSPACE = Scope.workspace()


def at(minutes: float) -> dt.datetime:
    return T + dt.timedelta(minutes=minutes)


def window(start_min: float, end_min: float) -> Window:
    return Window(at(start_min), at(end_min), "1h", "custom")


def raw(*rows: tuple[float, int, str]) -> pl.DataFrame:
    """Raw request rows: (minutes from T, status, customer)."""
    return pl.DataFrame({
        "api_id": [1] * len(rows), "customer_id": [c for _m, _s, c in rows], "timestamp": [at(m) for m, _s, _c in rows],
        "method": ["GET"] * len(rows), "endpoint": ["/x"] * len(rows), "status": [s for _m, s, _c in rows],
        "load_time_ms": [100.0] * len(rows), "response_size": [10] * len(rows)})


# ---------------------------------------------------------------- the numbers, by hand


def test_error_rate_is_the_percent_of_requests_with_status_400_or_more():
    facts = raw((-1, 200, "a"), (-2, 404, "a"), (-3, 500, "b"), (-4, 201, "b"), (-30, 500, "a"))
    assert numbers.error_rate_pct(facts, window(-15, 0)) == 50.0


def test_error_rate_of_a_window_without_requests_is_none_and_never_fires():
    assert numbers.error_rate_pct(raw((-30, 500, "a")), window(-15, 0)) is None
    assert not numbers.breached(None, "above", 0) and not numbers.breached(None, "below", 100)


def test_traffic_drop_compares_with_the_previous_equal_window():
    facts = raw((-20, 200, "a"), (-25, 200, "a"), (-28, 200, "a"), (-29, 200, "a"), (-5, 200, "a"))
    assert numbers.traffic_drop_pct(facts, window(-15, 0)) == 75.0


def test_traffic_drop_is_zero_when_traffic_grew_or_nothing_came_before():
    assert numbers.traffic_drop_pct(raw((-20, 200, "a"), (-5, 200, "a"), (-6, 200, "a")), window(-15, 0)) == 0.0
    assert numbers.traffic_drop_pct(raw((-5, 200, "a")), window(-15, 0)) == 0.0


def test_new_customers_counts_first_requests_to_the_api_in_the_window():
    first = pl.DataFrame({"customer_id": ["a", "b", "c", "d"], "api_id": [1, 1, 1, 2],
                          "first_seen": [at(-5), at(-60), at(-1), at(-2)]})
    assert numbers.new_customers(first, window(-15, 0), 1) == 2.0
    assert numbers.new_customers(first, window(-15, 0), 1, ["a"]) == 1.0


def test_a_segment_is_the_customers_whose_attribute_has_the_value():
    customers = pl.DataFrame({"customer_id": ["a", "b", "c", "d"],
                              "attributes": ['{"Plan": "Pro"}', '{"Plan": "Free"}', '{}', '{"Plan": "Pro", "tier": 2}']})
    assert numbers.segment_customers(customers, "Plan", "Pro") == ["a", "d"]
    assert numbers.segment_customers(customers, "tier", "2") == ["d"]


# ---------------------------------------------------------------- rules


@pytest.fixture
def shop(engine, fresh_cache):
    api = store.create_api(engine, "Shop")
    other = store.create_api(engine, "Other")
    store.write_requests(engine, [
        (api["api_id"], make_request(customer_id="cust_a", customer_attributes={"Plan": "Pro"}, timestamp=at(-120))),
        (api["api_id"], make_request(customer_id="cust_b", timestamp=at(-120))),
        (other["api_id"], make_request(customer_id="cust_b", timestamp=at(-120))),
    ])
    return {"api": api["api_id"], "other": other["api_id"]}


def spec(**overrides) -> rules.RuleSpec:
    values = dict(name="Errors", api="Shop", metric="error_rate", comparison="above", threshold=20, window="15m",
                  notify=["ops@example.com"])
    return rules.RuleSpec(**{**values, **overrides})


@pytest.mark.parametrize("overrides, message", [
    ({"window": "2h"}, "Unknown window '2h'"),
    ({"metric": "latency"}, "Unknown metric 'latency'"),
    ({"notify": ["not-an-address"]}, "neither a webhook URL"),
    ({"notify": ["ftp://example.com/x"]}, "neither a webhook URL"),
    ({"notify": []}, "Say where to send"),
    ({"customer_id": "cust_a", "segment": "Plan=Pro"}, "not both"),
    ({"segment": "Plan"}, "KEY=VALUE"),
    ({"threshold": -1}, "zero or more"),
])
def test_a_rule_asked_for_wrongly_is_refused_with_what_to_fix(engine, shop, overrides, message):
    with pytest.raises(rules.AlertError, match=message):
        rules.add(engine, spec(**overrides), scope=WORKSPACE, actor=CLI)
    assert stored.rules(engine) == []


def test_a_rule_on_an_unknown_api_or_customer_is_refused(engine, shop):
    with pytest.raises(LookupError, match="No API 'Nope'"):
        rules.add(engine, spec(api="Nope"), scope=WORKSPACE, actor=CLI)
    with pytest.raises(LookupError, match="No customer 'ghost'"):
        rules.add(engine, spec(customer_id="ghost"), scope=WORKSPACE, actor=CLI)


def test_adding_muting_and_removing_a_rule_are_audited(engine, shop):
    rule = rules.add(engine, spec(), scope=WORKSPACE, actor=CLI)
    rules.mute(engine, rule["id"], True, scope=WORKSPACE, actor=CLI)
    assert stored.rule(engine, rule["id"])["muted"] is True
    rules.remove(engine, rule["id"], scope=WORKSPACE, actor=CLI)
    assert stored.rule(engine, rule["id"]) is None
    entries = audit.entries(engine, audit.AuditQuery(), limit=10)
    assert [(e["action"], e["target"], e["actor_name"]) for e in reversed(entries)] == [
        ("alert.rule_add", f"alert_rule:{rule['id']}", "cli"), ("alert.rule_mute", f"alert_rule:{rule['id']}", "cli"),
        ("alert.rule_remove", f"alert_rule:{rule['id']}", "cli")]


# ---------------------------------------------------------------- a Customer's rules: their own traffic only


@pytest.fixture
def carol(engine, shop) -> int:
    return users.create_user(engine, email="carol@example.com", name="Carol", password="correct horse battery staple",
                             role="customer", customer_id="cust_a")


def test_a_customers_rule_is_on_their_own_traffic(engine, shop, carol):
    rule = rules.add(engine, spec(), scope=Scope.customer("cust_a"), actor=CLI, owner_user_id=carol)
    assert (rule["customer_id"], rule["owner_user_id"], rule["api_id"]) == ("cust_a", carol, shop["api"])


def test_a_customer_naming_another_customer_reads_like_an_unknown_one(engine, shop, carol):
    scope = Scope.customer("cust_a")
    with pytest.raises(LookupError) as other:
        rules.add(engine, spec(customer_id="cust_b"), scope=scope, actor=CLI, owner_user_id=carol)
    with pytest.raises(LookupError) as unknown:
        rules.add(engine, spec(customer_id="cust_zz"), scope=scope, actor=CLI, owner_user_id=carol)
    assert str(other.value).replace("cust_b", "X") == str(unknown.value).replace("cust_zz", "X")
    assert stored.rules(engine) == []


def test_a_customer_naming_an_api_they_never_called_reads_like_an_unknown_one(engine, shop, carol):
    scope = Scope.customer("cust_a")
    with pytest.raises(LookupError) as unused:
        rules.add(engine, spec(api="Other"), scope=scope, actor=CLI, owner_user_id=carol)
    with pytest.raises(LookupError) as unknown:
        rules.add(engine, spec(api="Nothing"), scope=scope, actor=CLI, owner_user_id=carol)
    assert str(unused.value).replace("Other", "X") == str(unknown.value).replace("Nothing", "X")
    assert "Other" in str(unused.value) and stored.rules(engine) == []


@pytest.mark.parametrize("overrides", [{"segment": "Plan=Pro"}, {"metric": "new_customers"},
                                       {"notify": ["http://127.0.0.1:8080/hook"]}, {"notify": ["http://example.com/hook"]}])
def test_a_customer_cannot_watch_others_or_post_inside_the_network(engine, shop, carol, overrides):
    with pytest.raises(rules.AlertError):
        rules.add(engine, spec(**overrides), scope=Scope.customer("cust_a"), actor=CLI, owner_user_id=carol)


def test_a_customer_sees_and_changes_only_their_own_rules(engine, shop, carol):
    mine = rules.add(engine, spec(), scope=Scope.customer("cust_a"), actor=CLI, owner_user_id=carol)
    workspace = rules.add(engine, spec(customer_id="cust_a"), scope=WORKSPACE, actor=CLI)
    scope = Scope.customer("cust_a")
    assert [r["id"] for r in rules.visible(engine, scope, owner_user_id=carol)] == [mine["id"]]
    with pytest.raises(LookupError, match=f"No alert rule {workspace['id']}"):
        rules.remove(engine, workspace["id"], scope=scope, actor=CLI, owner_user_id=carol)
    assert stored.rule(engine, workspace["id"]) is not None


# ---------------------------------------------------------------- evaluation and delivery


def write(engine, api_id: int, *rows: tuple[float, int]) -> None:
    """Requests of cust_a at (minutes from T, status)."""
    store.write_requests(engine, [(api_id, make_request(customer_id="cust_a", timestamp=at(m), status=s)) for m, s in rows])


def run(engine, minutes: float) -> dict:
    now = at(minutes)
    report = evaluate.evaluate(engine, now)
    sent = deliver.deliver_due(engine, now)
    return {"fired": report.fired, "resolved": report.resolved, "sent": sent.sent, "retrying": sent.retrying}


def test_a_rule_that_keeps_firing_is_sent_once_and_its_resolution_once(engine, shop):
    with Receiver() as hook:
        rule = rules.add(engine, spec(customer_id="cust_a", notify=[hook.url]), scope=WORKSPACE, actor=CLI)
        write(engine, shop["api"], (-5, 500), (-4, 500), (-3, 200))  # 2 of 3 failed: 66.67 %
        assert run(engine, 0)["fired"] == [rule["id"]]
        assert run(engine, 1)["fired"] == [] and run(engine, 2)["fired"] == []
        assert [b["state"] for b in hook.bodies] == ["firing"]
        write(engine, shop["api"], (15, 200), (16, 200))
        assert run(engine, 20)["resolved"] == [rule["id"]]  # window 12:15-12:30: 0 % failed
        assert run(engine, 21)["resolved"] == []
    assert [b["state"] for b in hook.bodies] == ["firing", "resolved"]
    firing = hook.bodies[0]
    assert firing["rule"] == {"id": rule["id"], "name": "Errors"}
    assert (firing["api_id"], firing["customer_id"], firing["metric"], firing["value"], firing["threshold"]) == (
        shop["api"], "cust_a", "error_rate", 66.67, 20.0)
    assert (firing["window_start"], firing["window_end"]) == ("2026-11-25T11:55:00+00:00", "2026-11-25T12:10:00+00:00")
    assert firing["link"] == f"http://localhost:8501/customer?customer=cust_a&api={shop['api']}"
    assert "FIRING" in firing["text"] and "66.67%" in firing["text"] and hook.posts[0]["content_type"] == "application/json"
    assert hook.bodies[1]["value"] == 0.0 and "RESOLVED" in hook.bodies[1]["text"]


def test_the_link_starts_with_the_configured_base_url(engine, shop, monkeypatch):
    monkeypatch.setenv("CLIENTELE_BASE_URL", "https://clientele.example.com/")
    with Receiver() as hook:
        rules.add(engine, spec(metric="requests", threshold=0, notify=[hook.url]), scope=WORKSPACE, actor=CLI)
        write(engine, shop["api"], (-1, 200))
        run(engine, 0)
    assert hook.bodies[0]["link"] == f"https://clientele.example.com/customer-dashboard?api={shop['api']}"
    assert hook.bodies[0]["customer_id"] is None


def test_an_alert_is_emailed_through_the_smtp_server(engine, shop, monkeypatch):
    controller, inbox, url = smtp_server()
    monkeypatch.setenv("CLIENTELE_SMTP_URL", url)
    monkeypatch.setenv("CLIENTELE_SMTP_FROM", "alerts@example.com")
    try:
        rules.add(engine, spec(customer_id="cust_a", notify=["Oncall@Example.com"]), scope=WORKSPACE, actor=CLI)
        write(engine, shop["api"], (-5, 500))
        assert run(engine, 0)["sent"] == 1
    finally:
        controller.stop()
    [message] = inbox.messages
    assert message.rcpt_tos == ["oncall@example.com"] and message.mail_from == "alerts@example.com"
    [parsed] = inbox.parsed()
    assert parsed["Subject"] == "[Clientele] FIRING: Errors"
    assert "error rate (%) is 100%" in parsed.get_content() and "customer?customer=cust_a" in parsed.get_content()


def test_a_failing_webhook_is_retried_with_backoff_until_it_answers(engine, shop):
    with Receiver(statuses=[500, 500, 200]) as hook:
        rule = rules.add(engine, spec(customer_id="cust_a", notify=[hook.url]), scope=WORKSPACE, actor=CLI)
        write(engine, shop["api"], (-5, 500))
        assert run(engine, 0)["retrying"] == 1  # attempt 1: 500, next in 30 s
        [log] = stored.deliveries(engine, rule_ids=[rule["id"]])
        assert (log["attempts"], log["status"], log["last_error"]) == (1, "pending", "the webhook answered HTTP 500")
        assert log["next_attempt_at"] == at(0.5)
        assert run(engine, 0.25)["retrying"] == 0 and len(hook.posts) == 1  # not due yet
        assert run(engine, 0.5)["retrying"] == 1  # attempt 2: 500, next in 60 s
        assert stored.deliveries(engine)[0]["next_attempt_at"] == at(1.5)
        assert run(engine, 1.5)["sent"] == 1  # attempt 3: 200
    [log] = stored.deliveries(engine, rule_ids=[rule["id"]])
    assert (log["attempts"], log["status"], log["sent_at"]) == (3, "sent", at(1.5))
    assert [b["state"] for b in hook.bodies] == ["firing"] * 3


def test_a_delivery_that_never_succeeds_fails_after_the_last_attempt(engine, shop):
    with Receiver(statuses=[503] * deliver.MAX_ATTEMPTS) as hook:
        rule = rules.add(engine, spec(customer_id="cust_a", notify=[hook.url]), scope=WORKSPACE, actor=CLI)
        write(engine, shop["api"], (-5, 500))
        minutes = 0.0
        for attempt in range(1, deliver.MAX_ATTEMPTS + 1):
            run(engine, minutes)
            if attempt == 1:  # no resolution later, when the window has moved past the failure
                rules.mute(engine, rule["id"], True, scope=WORKSPACE, actor=CLI)
            minutes += deliver.backoff(attempt).total_seconds() / 60
    [log] = stored.deliveries(engine)
    assert (log["attempts"], log["status"], log["next_attempt_at"]) == (deliver.MAX_ATTEMPTS, "failed", None)
    assert len(hook.posts) == deliver.MAX_ATTEMPTS


def test_two_runs_that_saw_the_same_state_change_it_once(engine, shop):
    rule = rules.add(engine, spec(customer_id="cust_a"), scope=WORKSPACE, actor=CLI)
    change = dict(seen="ok", new="firing", value=50.0, at=T,
                  deliveries=[{"state": "firing", "destination": "ops@example.com", "payload": {"x": 1}}])
    assert stored.change_state(engine, rule["id"], **change) is True
    assert stored.change_state(engine, rule["id"], **change) is False
    assert len(stored.deliveries(engine)) == 1


def test_a_claimed_attempt_is_not_taken_by_a_second_worker(engine, shop):
    rule = rules.add(engine, spec(customer_id="cust_a"), scope=WORKSPACE, actor=CLI)
    stored.enqueue(engine, rule["id"], state="test", destination="ops@example.com", payload={}, at=T)
    [due] = stored.due(engine, T)
    assert stored.claim(engine, due, T) is True
    assert stored.claim(engine, due, T) is False
    assert stored.due(engine, T) == []


def test_a_muted_rule_is_not_evaluated(engine, shop):
    with Receiver() as hook:
        rule = rules.add(engine, spec(customer_id="cust_a", notify=[hook.url]), scope=WORKSPACE, actor=CLI)
        rules.mute(engine, rule["id"], True, scope=WORKSPACE, actor=CLI)
        write(engine, shop["api"], (-5, 500))
        assert run(engine, 0) == {"fired": [], "resolved": [], "sent": 0, "retrying": 0}
    assert hook.posts == [] and stored.rule(engine, rule["id"])["last_evaluated_at"] is None


def test_a_segment_rule_sums_the_customers_with_the_attribute(engine, shop):
    rule = rules.add(engine, spec(segment="Plan=Pro", metric="requests", comparison="above", threshold=2),
                     scope=WORKSPACE, actor=CLI)
    store.write_requests(engine, [
        (shop["api"], make_request(customer_id="cust_a", timestamp=at(-3))),
        (shop["api"], make_request(customer_id="cust_a", timestamp=at(-2))),
        (shop["api"], make_request(customer_id="cust_b", timestamp=at(-2))),  # Free: not in the segment
        (shop["api"], make_request(customer_id="cust_c", customer_attributes={"Plan": "Pro"}, timestamp=at(-1))),
    ])
    assert run(engine, 0)["fired"] == [rule["id"]]
    assert stored.rule(engine, rule["id"])["last_value"] == 3.0


def test_new_customers_fires_on_first_requests_in_the_window(engine, shop):
    rule = rules.add(engine, spec(metric="new_customers", threshold=1, window="1h"), scope=WORKSPACE, actor=CLI)
    store.write_requests(engine, [(shop["api"], make_request(customer_id=c, timestamp=at(-10))) for c in ("new1", "new2")]
                         + [(shop["api"], make_request(customer_id="cust_a", timestamp=at(-5)))])  # seen before
    assert run(engine, 0)["fired"] == [rule["id"]]
    assert stored.rule(engine, rule["id"])["last_value"] == 2.0


def test_a_customers_own_rule_is_measured_on_their_traffic_only(engine, shop, carol):
    rule = rules.add(engine, spec(metric="requests", threshold=1), scope=Scope.customer("cust_a"), actor=CLI,
                     owner_user_id=carol)
    store.write_requests(engine, [(shop["api"], make_request(customer_id="cust_b", timestamp=at(-m))) for m in (1, 2, 3)]
                         + [(shop["api"], make_request(customer_id="cust_a", timestamp=at(-1)))])
    run(engine, 0)
    assert stored.rule(engine, rule["id"])["last_value"] == 1.0 and stored.rule(engine, rule["id"])["state"] == "ok"


def test_removing_a_users_account_removes_their_rules(engine, shop, carol):
    rule = rules.add(engine, spec(), scope=Scope.customer("cust_a"), actor=CLI, owner_user_id=carol)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": carol})
    assert stored.rule(engine, rule["id"]) is None


def test_the_payload_is_stored_as_sent(engine, shop):
    rules.add(engine, spec(customer_id="cust_a"), scope=WORKSPACE, actor=CLI)
    write(engine, shop["api"], (-5, 500))
    evaluate.evaluate(engine, T)
    [log] = stored.deliveries(engine)
    assert json.loads(log["payload"])["state"] == "firing" and log["destination"] == "ops@example.com"


def test_raising_the_threshold_of_a_firing_rule_resolves_it_at_the_next_run(engine, shop):
    with Receiver() as hook:
        rule = rules.add(engine, spec(customer_id="cust_a", notify=[hook.url]), scope=WORKSPACE, actor=CLI)
        write(engine, shop["api"], (-5, 500), (-4, 500), (-3, 200))  # 66.67 % failed
        assert run(engine, 0)["fired"] == [rule["id"]]
        changed = rules.edit(engine, rule["id"], replace(rules.spec_of(rule), threshold=80), scope=WORKSPACE, actor=CLI)
        assert (changed["id"], changed["threshold"], changed["state"]) == (rule["id"], 80.0, "firing")
        assert run(engine, 1)["resolved"] == [rule["id"]]
    assert [b["state"] for b in hook.bodies] == ["firing", "resolved"]


def test_a_change_that_changes_nothing_is_not_audited(engine, shop):
    rule = rules.add(engine, spec(), scope=WORKSPACE, actor=CLI)
    rules.edit(engine, rule["id"], rules.spec_of(rule), scope=WORKSPACE, actor=CLI)
    assert [e["action"] for e in audit.entries(engine, audit.AuditQuery(), limit=10)] == ["alert.rule_add"]


def test_a_test_send_mails_the_value_measured_now_once_and_logs_it(engine, shop, monkeypatch):
    controller, inbox, url = smtp_server()
    monkeypatch.setenv("CLIENTELE_SMTP_URL", url)
    try:
        rule = rules.add(engine, spec(threshold=90, notify=["ops@example.com"]), scope=WORKSPACE, actor=CLI)
        write(engine, shop["api"], (-5, 500), (-3, 200))  # 50 % failed: below 90, so the rule does not fire
        results = deliver.send_test(engine, rule, T)
        assert run(engine, 1)["sent"] == 0  # the test is not sent again by the worker
    finally:
        controller.stop()
    assert results == [deliver.TestResult("ops@example.com", None)]
    [parsed] = inbox.parsed()
    assert parsed["Subject"] == "[Clientele] TEST: Errors"
    assert "error rate (%) is 50%" in parsed.get_content()
    (logged,) = stored.deliveries(engine)
    assert (logged["state"], logged["status"], logged["attempts"]) == ("test", "sent", 1)
