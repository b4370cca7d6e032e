"""One evaluation run: every unmuted rule measured over its window ending now, and each change of state
(ok → firing, firing → ok "resolved") stored with one delivery per destination, exactly once."""
from __future__ import annotations

import datetime as dt
import logging
import urllib.parse
from dataclasses import dataclass, field

import polars as pl
import sqlalchemy as sa

from core.alerts.rules import METRIC_LABELS
from core.analytics import alerts as numbers
from core.domain import config
from core.domain.scope import Scope
from core.domain.timewindow import Window
from core.storage import alerts as stored
from core.storage import cache

log = logging.getLogger(__name__)
# A bucket at least as long as the window: the window and its previous period are one bucket each, so
# only the hours their edges cut are read from the raw requests (core.domain.timewindow.cut_hours).
_BUCKETS = {"15m": "1h", "1h": "1h", "24h": "1d", "7d": "7d"}
RATE_METRICS = ("error_rate", "traffic_drop_pct")
# A test delivery ("Send test" on the Alerts page) carries the value measured now, whatever the state.
_HEADLINES = {"firing": "FIRING", "resolved": "RESOLVED", "test": "TEST"}


@dataclass
class RunReport:
    evaluated: int = 0
    fired: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def window_for(rule: dict, now: dt.datetime) -> Window:
    return Window(start=now - stored.WINDOWS[rule["window"]], end=now, bucket=_BUCKETS[rule["window"]], preset="custom")


def scope_for(rule: dict) -> Scope:
    """A Customer's own rule is measured through their scope (asserted like their pages); others see the workspace."""
    return Scope.customer(rule["customer_id"]) if rule["owner_user_id"] is not None else Scope.workspace()


def measure(engine: sa.Engine, rule: dict, window: Window) -> float | None:
    """The rule's metric over the window (and its previous period for traffic_drop_pct)."""
    scope = scope_for(rule)
    members = None
    if rule["segment_key"] is not None:
        members = numbers.segment_customers(cache.customers_frame(engine, scope), rule["segment_key"], rule["segment_value"])
    elif rule["customer_id"] is not None:
        members = [rule["customer_id"]]
    if rule["metric"] == "new_customers":
        return numbers.new_customers(cache.first_seen_frame(engine, scope), window, rule["api_id"], members)
    facts = cache.facts_frame(engine, scope, window, api_id=rule["api_id"], customer_id=rule["customer_id"])
    if rule["segment_key"] is not None:
        facts = numbers.only_customers(facts, members or [])
    return numbers.metric_value(rule["metric"], facts, window)


def link(rule: dict) -> str:
    """Where the alert's reader looks next: the customer's profile, or the API's customers page (a
    Customer's own rule: their dashboard)."""
    base = config.settings().base_url
    if rule["owner_user_id"] is not None:
        path, query = "my-dashboard", {"api": rule["api_id"]}
    elif rule["customer_id"] is not None:
        path, query = "customer", {"customer": rule["customer_id"], "api": rule["api_id"]}
    else:
        path, query = "customer-dashboard", {"api": rule["api_id"]}
    return f"{base}/{path}?{urllib.parse.urlencode(query)}"


def payload(rule: dict, state: str, value: float | None, window: Window, api_name: str | None = None) -> dict:
    """The webhook body of a change of state (`state`: firing | resolved; test for a test delivery): the
    facts, a link, and a Slack-compatible `text`."""
    shown = None if value is None else round(value, 2)
    unit = "%" if rule["metric"] in RATE_METRICS else (" ms" if rule["metric"] == "p95_ms" else "")
    who = (f" for customer {rule['customer_id']}" if rule["customer_id"]
           else f" for {rule['segment_key']}={rule['segment_value']}" if rule["segment_key"] else "")
    api = api_name or f"API {rule['api_id']}"
    url = link(rule)
    now_text = "no data" if shown is None else f"{shown:g}{unit}"
    text = (f"{_HEADLINES[state]}: {rule['name']} — {api}{who}: "
            f"{METRIC_LABELS[rule['metric']]} is {now_text} over the last {rule['window']} "
            f"({rule['comparison']} {rule['threshold']:g}{unit} fires). <{url}|Open in Clientele>")
    return {
        "rule": {"id": rule["id"], "name": rule["name"]}, "state": state, "api_id": rule["api_id"], "api_name": api_name,
        "customer_id": rule["customer_id"],
        "segment": None if rule["segment_key"] is None else f"{rule['segment_key']}={rule['segment_value']}",
        "metric": rule["metric"], "value": shown, "comparison": rule["comparison"], "threshold": rule["threshold"],
        "window": rule["window"], "window_start": window.start.isoformat(), "window_end": window.end.isoformat(),
        "link": url, "text": text,
    }


def api_names(engine: sa.Engine) -> dict[int, str]:
    apis = cache.visible_apis(engine, Scope.workspace())
    return {a["api_id"]: a["name"] for a in apis}


def evaluate(engine: sa.Engine, now: dt.datetime) -> RunReport:
    """Measure every unmuted rule once at `now` and store each change of state with its deliveries."""
    cache.refresh(engine)  # a run must see what was written a moment ago, not the last check's state
    names = api_names(engine)
    report = RunReport()
    for rule in stored.rules(engine, include_muted=False):
        window = window_for(rule, now)
        try:
            value = measure(engine, rule, window)
        except (pl.exceptions.PolarsError, sa.exc.SQLAlchemyError, LookupError, ValueError) as exc:
            log.exception("alert rule %s could not be evaluated", rule["id"])
            report.errors.append(f"rule {rule['id']}: {exc}")
            continue
        report.evaluated += 1
        new = "firing" if numbers.breached(value, rule["comparison"], rule["threshold"]) else "ok"
        if new == rule["state"]:
            stored.note_value(engine, rule["id"], value, now)
            continue
        body = payload(rule, "firing" if new == "firing" else "resolved", value, window, names.get(rule["api_id"]))
        deliveries = [{"state": body["state"], "destination": d, "payload": body} for d in rule["notify"]]
        if stored.change_state(engine, rule["id"], seen=rule["state"], new=new, value=value, at=now, deliveries=deliveries):
            (report.fired if new == "firing" else report.resolved).append(rule["id"])
    return report
