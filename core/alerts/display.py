"""The Alerts page's tables and choices: the rules a viewer may see with their state, and the delivery log
(core.alerts.rules decides which rules and deliveries those are)."""
from __future__ import annotations

import json

import polars as pl

from core.alerts.evaluate import RATE_METRICS
from core.alerts.rules import METRIC_LABELS, describe
from core.present import fmt
from core.storage import alerts as stored

WINDOW_LABELS = {"15m": "15 minutes", "1h": "1 hour", "24h": "24 hours", "7d": "7 days"}
# A Customer's rules watch their own traffic: new_customers counts other customers, so it is not offered.
CUSTOMER_METRICS = tuple(m for m in stored.METRICS if m != "new_customers")
STATE_LABELS = {"firing": "Firing", "ok": "OK"}
DELIVERY_LABELS = {"sent": "Sent", "failed": "Failed", "pending": "Retrying"}  # pending before any attempt: Queued
CHANGE_LABELS = {"firing": "Firing", "resolved": "Resolved", "test": "Test"}


# On screen: the columns that fit 1366 px (core.present.tables.TABLE_WIDTH_PX), the name pinned; the rest behind
# the "Columns" chooser.
RULE_WIDTHS = {"Name": 190, "State": 75, "Watches": 340, "Last value": 95, "Checked": 140, "ID": 50, "Notifies": 260}
RULE_DEFAULT = ("Name", "State", "Watches", "Last value", "Checked")
DELIVERY_WIDTHS = {"Time": 140, "Rule": 170, "Change": 75, "Value": 70, "To": 200, "Status": 75, "Attempts": 75,
                   "Last error": 240, "Next attempt": 140}
DELIVERY_DEFAULT = ("Time", "Rule", "Change", "To", "Status", "Last error")


def metrics_for(is_customer: bool) -> tuple[str, ...]:
    return CUSTOMER_METRICS if is_customer else stored.METRICS


def value_text(metric: str, value: float | None) -> str:
    """A measured value with its unit: "12.5 %", "340 ms", "1,204"; "–" when there was no data."""
    if value is None:
        return "–"
    if metric in RATE_METRICS:
        return f"{value:,.1f} %"
    if metric == "p95_ms":
        return f"{value:,.0f} ms"
    return f"{value:,.0f}"


def rules_table(rules: list[dict], api_names: dict[int, str], tz: str | None) -> pl.DataFrame:
    """One row per rule: what it watches, its state (muted rules are not evaluated) and its last value."""
    rows = [{
        "Name": r["name"],
        "State": "Muted" if r["muted"] else STATE_LABELS.get(r["state"], r["state"]),
        "Watches": describe(r, api_names.get(r["api_id"])),
        "Last value": value_text(r["metric"], r["last_value"]) if r["last_evaluated_at"] else "not checked yet",
        "Checked": fmt.local_time(r["last_evaluated_at"], tz) if r["last_evaluated_at"] else "–",
        "Notifies": ", ".join(r["notify"]),
        "ID": r["id"],
    } for r in rules]
    schema = {**{c: pl.String for c in ("Name", "State", "Watches", "Last value", "Checked", "Notifies")}, "ID": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


def deliveries_table(deliveries: list[dict], rules: list[dict], tz: str | None) -> pl.DataFrame:
    """The delivery log, newest first: when, which rule and change, to whom, and how sending went."""
    names = {r["id"]: r["name"] for r in rules}

    def measured(d: dict) -> str:
        try:
            body = json.loads(d["payload"])
            return value_text(body["metric"], body["value"])
        except (ValueError, KeyError, TypeError):
            return "–"

    rows = [{
        "Time": fmt.local_time(d["created_at"], tz),
        "Rule": names.get(d["rule_id"], f"rule {d['rule_id']}"),
        "Change": CHANGE_LABELS.get(d["state"], d["state"]),
        "Value": measured(d),
        "To": d["destination"],
        "Status": "Queued" if d["status"] == "pending" and not d["attempts"] else DELIVERY_LABELS.get(d["status"], d["status"]),
        "Attempts": d["attempts"],
        "Last error": d["last_error"] or "",
        "Next attempt": fmt.local_time(d["next_attempt_at"], tz) if d["status"] == "pending" and d["next_attempt_at"] else "–",
    } for d in deliveries]
    schema = {c: pl.String for c in ("Time", "Rule", "Change", "Value", "To", "Status")}
    schema |= {"Attempts": pl.Int64, "Last error": pl.String, "Next attempt": pl.String}
    return pl.DataFrame(rows, schema=schema)


def metric_label(metric: str) -> str:
    return METRIC_LABELS[metric]
