"""What one demo request looks like: each endpoint's pre-drawn variants (URL with IDs and query,
request and response bodies) and the Treblle payload each SDK sends."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from core.demo.catalogue import APIS, DemoApi, Endpoint
from core.demo.population import random_token

# ---------------------------------------------------------------- request variants per endpoint


_ID_PREFIXES = {"charge": "ch_", "refund": "re_", "intent": "pi_", "customer": "cus_"}


def _filled(route: str, rng: random.Random) -> str:
    """A route template with realistic IDs in its placeholders."""
    out = []
    for part in route.split("/"):
        if part.startswith("{"):
            name = part[1:-1]
            if name in _ID_PREFIXES:
                part = _ID_PREFIXES[name] + random_token(rng, 14 if name == "customer" else 24)
            elif name == "sku":
                part = f"SKU-{rng.randrange(10000, 99999)}"
            elif name == "session_id":
                part = "%032x" % rng.getrandbits(128)
            else:
                part = str(rng.randrange(1000, 9_999_999))
        out.append(part)
    return "/".join(out)


_SEARCH_TERMS = ("running shoes", "wireless headphones", "coffee grinder", "usb c cable", "yoga mat", "desk lamp",
                 "winter jacket", "water bottle", "backpack", "phone case", "office chair", "gift card")


def _query(kind: str | None, rng: random.Random) -> tuple[str, dict]:
    if kind is None:
        return "", {}
    if kind == "list":
        q = {"limit": str(rng.choice((10, 20, 50, 100))), "starting_after": str(rng.randrange(10**6))}
        if rng.random() < 0.4:
            q["status"] = rng.choice(("paid", "pending", "refunded", "open"))
    elif kind == "report":
        month = rng.randrange(1, 13)
        q = {"from": f"2025-{month:02d}-01", "to": f"2025-{month:02d}-28", "format": rng.choice(("json", "csv"))}
    elif kind == "products":
        q = {"page": str(rng.randrange(1, 40)), "per_page": "24", "sort": rng.choice(("popular", "price", "newest"))}
    elif kind == "page":
        q = {"page": str(rng.randrange(1, 12))}
    elif kind == "search":
        q = {"q": rng.choice(_SEARCH_TERMS), "page": str(rng.randrange(1, 5))}
    else:  # recommend
        q = {"product_id": str(rng.randrange(1000, 99999)), "limit": "8"}
    return "?" + "&".join(f"{k}={v.replace(' ', '+')}" for k, v in q.items()), q


def _request_body(kind: str | None, rng: random.Random):
    if kind is None:
        return None
    amount = rng.randrange(500, 250_000)
    card = {"card_number": "4242 4242 4242 " + f"{rng.randrange(10000):04d}", "exp_month": rng.randrange(1, 13),
            "exp_year": rng.randrange(2026, 2032), "cvc": f"{rng.randrange(1000):03d}"}
    email = f"{rng.choice(('ana', 'ben', 'chen', 'dara', 'eli', 'femi', 'gus', 'hana', 'ivan', 'jo'))}{rng.randrange(100)}@example.com"
    if kind == "charge":
        return {"amount": amount, "currency": rng.choice(("usd", "eur", "gbp")), "source": card, "description": f"Order #{rng.randrange(10**6)}"}
    if kind == "intent":
        return {"amount": amount, "currency": rng.choice(("usd", "eur")), "payment_method_types": ["card"], "capture_method": "automatic"}
    if kind == "confirm":
        return {"payment_method": {"type": "card", "card": card}, "return_url": "https://shop.example.com/return"}
    if kind == "refund":
        return {"charge": "ch_" + random_token(rng, 24), "amount": amount // 3, "reason": "requested_by_customer"}
    if kind == "payout":
        return {"amount": amount * 10, "currency": "usd", "destination": {"iban": "DE89370400440532013000", "account_holder": "Finance"}}
    if kind == "customer":
        return {"email": email, "name": email.split("@")[0].title(), "phone": f"+1555{rng.randrange(10**6):07d}"}
    if kind == "webhook":
        return {"url": "https://hooks.example.com/payments", "enabled_events": ["charge.succeeded", "charge.refunded"],
                "secret": "whsec_" + random_token(rng, 24)}
    if kind == "order":
        return {"items": [{"sku": f"SKU-{rng.randrange(10000, 99999)}", "qty": rng.randrange(1, 4)} for _ in range(rng.randrange(1, 4))],
                "shipping_address": {"line1": f"{rng.randrange(1, 400)} Main St", "city": "Springfield", "country": "US"},
                "payment": {"card_number": card["card_number"], "cvv": card["cvc"]}}
    if kind == "order_patch":
        return {"status": rng.choice(("packed", "shipped", "on_hold")), "note": "Updated by fulfilment"}
    if kind == "order_item":
        return {"sku": f"SKU-{rng.randrange(10000, 99999)}", "qty": rng.randrange(1, 5)}
    if kind == "label":
        return {"carrier": rng.choice(("ups", "dhl", "fedex")), "service": "ground", "weight_grams": rng.randrange(100, 9000)}
    if kind == "return":
        return {"order_id": rng.randrange(10**6), "reason": rng.choice(("damaged", "wrong_size", "not_needed"))}
    if kind == "product":
        return {"name": rng.choice(_SEARCH_TERMS).title(), "price": round(amount / 100, 2), "currency": "usd", "stock": rng.randrange(500)}
    if kind == "prices":
        return {"prices": [{"product_id": rng.randrange(1000, 99999), "price": round(rng.uniform(2, 300), 2)} for _ in range(5)]}
    if kind == "login":
        return {"email": email, "password": random_token(rng, rng.randrange(10, 18))}
    if kind == "client_credentials":
        return {"grant_type": "client_credentials", "client_id": "cli_" + random_token(rng, 16), "client_secret": random_token(rng, 32)}
    if kind == "refresh":
        return {"refresh_token": random_token(rng, 40)}
    if kind == "profile":
        return {"name": email.split("@")[0].title(), "locale": rng.choice(("en-US", "de-DE", "fr-FR", "es-ES"))}
    if kind == "password_change":
        return {"current_password": random_token(rng, 12), "new_password": random_token(rng, 16)}
    if kind == "mfa":
        return {"code": f"{rng.randrange(10**6):06d}", "method": "totp"}
    if kind == "api_key":
        return {"name": "CI deploy key", "scopes": ["orders:read"]}
    return {}


def _response_body(endpoint: Endpoint, rng: random.Random):
    route = endpoint.route
    if endpoint.method == "DELETE":
        return None
    if "auth/login" in route or "auth/token" in route or "auth/refresh" in route:
        return {"access_token": random_token(rng, 40), "token_type": "Bearer", "expires_in": 3600, "refresh_token": random_token(rng, 40)}
    resource = [s for s in route.split("/") if s and not s.startswith("{")][-1].removesuffix(".json")
    resource = resource[:-3] + "y" if resource.endswith("ies") else resource.removesuffix("s")
    if endpoint.query in ("list", "products", "page", "search", "recommend"):
        return {"object": "list", "data": [{"id": rng.randrange(10**6)}, {"id": rng.randrange(10**6)}], "has_more": rng.random() < 0.5}
    if endpoint.query == "report":
        return {"rows": rng.randrange(100, 5000), "currency": "usd", "url": "https://files.northwind-api.com/r/" + random_token(rng, 12)}
    return {"id": rng.randrange(10**7), "object": resource, "status": rng.choice(("ok", "succeeded", "active"))}


@dataclass
class EndpointPlan:
    api_index: int
    endpoint: Endpoint
    mu: float
    variants: list  # (path with query, query dict, request body, response body)
    success: int


def endpoint_plans(rng: random.Random, variants: int = 128) -> list[list[EndpointPlan]]:
    out = []
    for a, api in enumerate(APIS):
        plans = []
        for ep in api.endpoints:
            rows = []
            for _ in range(variants):
                qs, q = _query(ep.query, rng)
                rows.append(("/" + _filled(ep.route, rng) + qs, q, _request_body(ep.body, rng), _response_body(ep, rng)))
            success = 204 if ep.method == "DELETE" else 201 if ep.method == "POST" and ep.route.split("/")[-1] in (
                "charges", "refunds", "payment_intents", "payouts", "customers", "orders", "items", "returns", "products",
                "api-keys", "webhook_endpoints", "labels") else 200
            plans.append(EndpointPlan(a, ep, math.log(ep.latency_ms), rows, success))
        out.append(plans)
    return out


# ---------------------------------------------------------------- payload builders

_SERVERS = {
    "django": {"ip": "10.20.1.14", "timezone": "UTC", "software": "gunicorn/22.0.0", "signature": "", "protocol": "HTTP/1.1",
               "os": {"name": "Linux", "release": "6.1.0-21-cloud-amd64", "architecture": "x86_64"}},
    "laravel": {"ip": "10.20.2.31", "timezone": "UTC", "software": "nginx/1.24.0", "signature": "", "protocol": "HTTP/1.1",
                "encoding": "gzip", "os": {"name": "Linux", "release": "5.15.0-105-generic", "architecture": "x86_64"}},
    "node": {"timezone": "UTC", "os": {"name": "linux", "release": "6.1.0-21-cloud-amd64", "architecture": "x64"},
             "software": None, "signature": None, "protocol": "HTTP/1.1"},
}
_LANGUAGES = {
    "django": {"name": "python", "version": "3.12.3"},
    "laravel": {"name": "php", "version": "8.3.6", "expose_php": "Off", "display_errors": "Off"},
    "node": {"name": "node", "version": "v20.12.2"},
}
_VERSIONS = {"django": 20, "laravel": "5.0.4", "node": "1.5.2"}


def treblle_payload(api: DemoApi, key: str, token: str, ts: str, ip: str, url: str, ua: str | None, method: str,
             req_headers: dict, body, query: dict, route: str | None, resp_headers: dict, status: int, size: int,
             load_ms: float, resp_body, errors: list) -> dict:
    sdk = api.sdk
    request = {"timestamp": ts, "ip": ip, "url": url, "user_agent": ua, "method": method, "headers": req_headers}
    if sdk == "node":
        if body is not None:
            request["body"] = body
        load_time = int(load_ms * 1000)  # npm treblle 1.x reports microseconds
    else:
        request["body"] = body if body is not None else {}
        request["query"] = query
        request["route_path"] = route
        load_time = round(load_ms, 4)
    return {
        "api_key": token,
        "project_id": key,
        "version": _VERSIONS[sdk],
        "sdk": sdk,
        "data": {
            "server": _SERVERS[sdk],
            "language": _LANGUAGES[sdk],
            "request": request,
            "response": {"headers": resp_headers, "code": status, "size": size, "load_time": load_time, "body": resp_body},
            "errors": errors,
        },
    }
