"""Alert rules as people write them: validation, scoping (a Customer's rules cover their own traffic
only), and the changes (add, remove, mute), each recorded in the audit log in its own transaction."""
from __future__ import annotations

import ipaddress
import math
import re
import urllib.parse
from dataclasses import dataclass, field

import sqlalchemy as sa

from core.domain.errors import ClienteleError
from core.domain.scope import Scope
from core.storage import alerts as stored
from core.storage import audit
from core.storage.audit import Actor
from core.storage.models import Customer
from core.storage.usage import visible_api

MAX_DESTINATIONS = 10
_EMAIL = re.compile(r"^[^@\s<>,;\"']+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
METRIC_LABELS = {"error_rate": "error rate (%)", "requests": "requests", "p95_ms": "p95 load time (ms)",
                 "traffic_drop_pct": "traffic drop vs the previous window (%)", "new_customers": "new customers"}


class AlertError(ClienteleError, ValueError):
    """A rule that cannot be made or changed as asked; the message says what to fix."""


@dataclass(frozen=True)
class RuleSpec:
    """A rule as asked for (the CLI's flags, the page's form), not yet validated."""

    name: str
    api: str | int
    metric: str
    comparison: str  # above | below
    threshold: float
    window: str
    notify: list[str] = field(default_factory=list)
    customer_id: str | None = None
    segment: str | None = None  # KEY=VALUE


def is_email(text: str) -> bool:
    return bool(_EMAIL.match(text)) and len(text) <= 320


def destination(text: str, *, customer: bool = False) -> str:
    """A webhook URL (http(s)://host/…) or an e-mail address, cleaned; AlertError otherwise. A Customer's
    webhooks must be https and not name a private address (the worker posts from inside the network)."""
    value = (text or "").strip()
    if is_email(value):
        return value.lower()
    url = urllib.parse.urlsplit(value)
    if url.scheme.lower() in ("http", "https") and url.hostname and len(value) <= stored.MAX_DESTINATION_CHARS \
            and not any(c.isspace() for c in value):
        if customer and (url.scheme.lower() != "https" or _private_host(url.hostname)):
            raise AlertError(f"{value!r}: webhooks of customer accounts must be public https:// addresses.")
        return value
    raise AlertError(f"{value!r} is neither a webhook URL (http:// or https://) nor an e-mail address.")


def _private_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False  # a name: checked again, resolved, before each delivery (core.alerts.deliver)


def parse_segment(text: str) -> tuple[str, str]:
    key, sep, value = (text or "").partition("=")
    if not sep or not key.strip() or not value.strip():
        raise AlertError(f"A segment is KEY=VALUE on customer attributes, e.g. Plan=Pro; got {text!r}.")
    return key.strip(), value.strip()


def validate(engine: sa.Engine, spec: RuleSpec, scope: Scope) -> dict:
    """The columns of the rule `spec` asks for, as `scope` may have it; AlertError or LookupError (the
    messages of core.storage.usage.visible_api: an API a Customer never called reads as an unknown one)."""
    name = (spec.name or "").strip()
    if not name or len(name) > 200:
        raise AlertError("Give the rule a name (at most 200 characters).")
    if spec.metric not in stored.METRICS:
        raise AlertError(f"Unknown metric {spec.metric!r}; choose one of {', '.join(stored.METRICS)}.")
    if spec.comparison not in stored.COMPARISONS:
        raise AlertError("Say when the rule fires: above or below a threshold.")
    if spec.window not in stored.WINDOWS:
        raise AlertError(f"Unknown window {spec.window!r}; choose one of {', '.join(stored.WINDOWS)}.")
    try:
        threshold = float(spec.threshold)
    except (TypeError, ValueError):
        raise AlertError(f"The threshold {spec.threshold!r} is not a number.") from None
    if not math.isfinite(threshold) or threshold < 0:
        raise AlertError("The threshold must be a number of zero or more.")
    if spec.customer_id and spec.segment:
        raise AlertError("A rule covers one customer or one segment, not both.")
    api = visible_api(engine, scope, spec.api)
    customer_id = (spec.customer_id or "").strip() or None
    segment_key = segment_value = None
    if scope.is_customer:
        if spec.segment:
            raise AlertError("Customer accounts can alert on their own traffic only: leave out the segment.")
        if spec.metric == "new_customers":
            raise AlertError("Customer accounts can alert on their own traffic only: new_customers counts others.")
        if customer_id not in (None, scope.customer_id):
            raise LookupError(f"No customer {customer_id!r} in your account.")
        customer_id = scope.customer_id
    elif customer_id is not None:
        with engine.connect() as conn:
            if conn.scalar(sa.select(Customer.customer_id).where(Customer.customer_id == customer_id)) is None:
                raise LookupError(f"No customer {customer_id!r} has sent a request yet.")
    if spec.segment:
        segment_key, segment_value = parse_segment(spec.segment)
    notify = [destination(d, customer=scope.is_customer) for d in spec.notify if (d or "").strip()]
    if not notify:
        raise AlertError("Say where to send the alert: --notify a webhook URL or an e-mail address.")
    if len(notify) > MAX_DESTINATIONS:
        raise AlertError(f"At most {MAX_DESTINATIONS} destinations per rule.")
    return {"name": name, "api_id": api["api_id"], "customer_id": customer_id, "segment_key": segment_key,
            "segment_value": segment_value, "metric": spec.metric, "comparison": spec.comparison, "threshold": threshold,
            "window": spec.window, "notify": list(dict.fromkeys(notify))}


def add(engine: sa.Engine, spec: RuleSpec, *, scope: Scope, actor: Actor, owner_user_id: int | None = None) -> dict:
    """Create the rule and record it; returns the stored rule. A Customer's rule belongs to their user."""
    values = validate(engine, spec, scope)
    if scope.is_customer and owner_user_id is None:
        raise AlertError("A customer's rule belongs to their user account.")
    with engine.begin() as conn:
        rule_id = stored.add_rule(conn, **values, created_by=actor.name, owner_user_id=owner_user_id)
        audit.record(conn, "alert.rule_add", actor=actor, target=f"alert_rule:{rule_id}",
                     detail={k: values[k] for k in ("name", "api_id", "customer_id", "metric", "comparison", "threshold", "window")})
    return stored.rule(engine, rule_id)


def visible(engine: sa.Engine, scope: Scope, *, owner_user_id: int | None = None) -> list[dict]:
    """The rules this viewer may see and change: every rule for the workspace, a Customer's own otherwise."""
    if scope.is_customer:
        if owner_user_id is None:
            return []
        return stored.rules(engine, owner_user_id=owner_user_id, customer_id=scope.customer_id)
    return stored.rules(engine)


def own(engine: sa.Engine, rule_id: int, scope: Scope, owner_user_id: int | None = None) -> dict:
    """The rule `rule_id` if this viewer may see and change it; LookupError (as for an unknown id) otherwise."""
    try:
        wanted = int(rule_id)
    except (TypeError, ValueError):
        wanted = 0
    rule = stored.rule(engine, wanted) if 0 < wanted < 2**31 else None
    if rule is None or (scope.is_customer and (owner_user_id is None or rule["owner_user_id"] != owner_user_id
                                               or rule["customer_id"] != scope.customer_id)):
        raise LookupError(f"No alert rule {rule_id}.")
    return rule


def remove(engine: sa.Engine, rule_id: int, *, scope: Scope, actor: Actor, owner_user_id: int | None = None) -> None:
    rule = own(engine, rule_id, scope, owner_user_id)
    with engine.begin() as conn:
        stored.remove_rule(conn, rule["id"])
        audit.record(conn, "alert.rule_remove", actor=actor, target=f"alert_rule:{rule['id']}", detail={"name": rule["name"]})


def edit(engine: sa.Engine, rule_id: int, spec: RuleSpec, *, scope: Scope, actor: Actor,
         owner_user_id: int | None = None) -> dict:
    """Change a rule to what `spec` asks for, validated as for a new one, and record it; its state (ok |
    firing) stays, so the next evaluation sends "resolved" if the new threshold no longer fires."""
    rule = own(engine, rule_id, scope, owner_user_id)
    values = validate(engine, spec, scope)
    changed = {k: v for k, v in values.items() if rule[k] != v}
    if changed:
        with engine.begin() as conn:
            stored.update_rule(conn, rule["id"], **changed)
            audit.record(conn, "alert.rule_edit", actor=actor, target=f"alert_rule:{rule['id']}",
                         detail={"name": values["name"], "changed": sorted(changed)})
    return stored.rule(engine, rule["id"])


def spec_of(rule: dict) -> RuleSpec:
    """The form values that would make `rule` again (to edit it)."""
    segment = None if rule["segment_key"] is None else f"{rule['segment_key']}={rule['segment_value']}"
    return RuleSpec(name=rule["name"], api=rule["api_id"], metric=rule["metric"], comparison=rule["comparison"],
                    threshold=rule["threshold"], window=rule["window"], notify=list(rule["notify"]),
                    customer_id=rule["customer_id"], segment=segment)


def visible_deliveries(engine: sa.Engine, scope: Scope, *, owner_user_id: int | None = None, limit: int = 200) -> list[dict]:
    """The delivery log this viewer may read, newest first: every rule's for the workspace, a Customer's own
    rules' otherwise (none without their user id)."""
    if not scope.is_customer:
        return stored.deliveries(engine, limit=limit)
    ids = [r["id"] for r in visible(engine, scope, owner_user_id=owner_user_id)]
    return stored.deliveries(engine, rule_ids=ids, limit=limit) if ids else []


def mute(engine: sa.Engine, rule_id: int, muted: bool, *, scope: Scope, actor: Actor, owner_user_id: int | None = None) -> None:
    rule = own(engine, rule_id, scope, owner_user_id)
    with engine.begin() as conn:
        stored.set_muted(conn, rule["id"], muted)
        audit.record(conn, "alert.rule_mute" if muted else "alert.rule_unmute", actor=actor,
                     target=f"alert_rule:{rule['id']}", detail={"name": rule["name"]})


def describe(rule: dict, api_name: str | None = None) -> str:
    """One line: what the rule watches and when it fires (the API by name when given)."""
    who = f" for customer {rule['customer_id']}" if rule["customer_id"] else (
        f" for customers with {rule['segment_key']}={rule['segment_value']}" if rule["segment_key"] else "")
    return (f"{METRIC_LABELS[rule['metric']]} {rule['comparison']} {rule['threshold']:g} over {rule['window']}"
            f" on {api_name or 'API ' + str(rule['api_id'])}{who}")
