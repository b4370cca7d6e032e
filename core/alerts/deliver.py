"""Sending deliveries: webhooks (a JSON POST) and e-mail (core.auth.mail, CLIENTELE_SMTP_URL), each
attempt claimed first and logged in alert_deliveries; failures are retried with exponential backoff."""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import smtplib
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import sqlalchemy as sa

from core.alerts import evaluate
from core.alerts.rules import is_email
from core.auth.errors import AuthError
from core.auth.mail import send_email
from core.domain import config
from core.domain.errors import ClienteleError
from core.storage import alerts as stored

MAX_ATTEMPTS = 8
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_RETRY = dt.timedelta(hours=1)
TIMEOUT_S = 10


class DeliveryError(ClienteleError):
    """One attempt failed; the message is logged as the delivery's last_error (shown to Admins)."""


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the attempts-th failed attempt: 30 s, 1 min, 2 min, … at most an hour."""
    return min(FIRST_RETRY * (2 ** (attempts - 1)), LONGEST_RETRY)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect is the receiver's answer, not a second address to post to


_opener = urllib.request.build_opener(_NoRedirect)


def _check_public(url: str) -> None:
    """A Customer's webhook must resolve to public addresses only (checked at each attempt: DNS may change)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise DeliveryError(f"cannot resolve {host}: {exc}") from None
    if not addresses or any(not ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses):
        raise DeliveryError(f"refused: {host} resolves to a private address")


def post_webhook(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body, ensure_ascii=False).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "Clientele-Alerts/1"})
    try:
        with _opener.open(request, timeout=TIMEOUT_S) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"could not reach the webhook: {exc}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"the webhook answered HTTP {status}")


def send_mail(to: str, body: dict) -> None:
    smtp_url = config.settings().smtp_url
    if not smtp_url:
        raise DeliveryError("CLIENTELE_SMTP_URL is not set: e-mail alerts cannot be sent")
    subject = f"[Clientele] {body['state'].upper()}: {body['rule']['name']}"
    lines = [body["text"].replace(f"<{body['link']}|Open in Clientele>", "").strip(), "",
             f"Value: {body['value']}  Threshold: {body['comparison']} {body['threshold']:g}",
             f"Window: {body['window_start']} to {body['window_end']}", "", body["link"]]
    try:
        send_email(smtp_url, to=to, subject=subject, body="\n".join(lines))
    except (OSError, smtplib.SMTPException, AuthError) as exc:
        raise DeliveryError(f"the e-mail could not be sent: {exc}") from None


def send(delivery: dict, *, customer_owned: bool = False) -> None:
    """Send one delivery now; DeliveryError says why it did not go."""
    body = json.loads(delivery["payload"])
    target = delivery["destination"]
    if is_email(target):
        send_mail(target, body)
        return
    if customer_owned:
        _check_public(target)
    post_webhook(target, body)


def deliver_due(engine: sa.Engine, now: dt.datetime, *, limit: int = 100) -> DeliveryReport:
    """Attempt every delivery due at `now` once (oldest first); each attempt logged with its error."""
    report = DeliveryReport()
    owners: dict[int, bool] = {}
    for delivery in stored.due(engine, now, limit):
        if not stored.claim(engine, delivery, now):
            continue  # another worker has this attempt
        rule_id = delivery["rule_id"]
        if rule_id not in owners:
            rule = stored.rule(engine, rule_id)
            owners[rule_id] = rule is not None and rule["owner_user_id"] is not None
        attempts = delivery["attempts"] + 1
        try:
            send(delivery, customer_owned=owners[rule_id])
        except DeliveryError as exc:
            retry_at = now + backoff(attempts) if attempts < MAX_ATTEMPTS else None
            stored.finish_attempt(engine, delivery["id"], error=str(exc), now=now, retry_at=retry_at)
            if retry_at is None:
                report.failed += 1
            else:
                report.retrying += 1
            continue
        stored.finish_attempt(engine, delivery["id"], error=None, now=now, retry_at=None)
        report.sent += 1
    return report


@dataclass(frozen=True)
class TestResult:
    destination: str
    error: str | None  # None: sent


def send_test(engine: sa.Engine, rule: dict, now: dt.datetime) -> list[TestResult]:
    """Send the rule's message with its value measured now (state "test") to each destination at once, as the
    worker would (a Customer's webhooks checked for private addresses), once, without retries; each attempt is
    logged in the delivery log."""
    window = evaluate.window_for(rule, now)
    body = evaluate.payload(rule, "test", evaluate.measure(engine, rule, window), window,
                            evaluate.api_names(engine).get(rule["api_id"]))
    results = []
    for target in rule["notify"]:
        delivery_id = stored.enqueue(engine, rule["id"], state="test", destination=target, payload=body, at=now)
        delivery = {"id": delivery_id, "attempts": 0, "destination": target, "payload": json.dumps(body)}
        if not stored.claim(engine, delivery, now):
            continue  # a worker took it in the meantime: it sends it
        try:
            send(delivery, customer_owned=rule["owner_user_id"] is not None)
            error = None
        except DeliveryError as exc:
            error = str(exc)
        stored.finish_attempt(engine, delivery_id, error=error, now=now, retry_at=None)
        results.append(TestResult(target, error))
    return results
