"""The demo traffic itself: the world fixed before any request (customers, endpoint plans, hour buckets,
incidents), then each hour bucket's Treblle payloads from its own seeded random stream."""
from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from dataclasses import dataclass

from core.demo.catalogue import APIS, INCIDENTS, SCANNER_PROBES, UA_AI, UA_BROWSERS, UA_SCANNERS, UA_SEARCH, UA_SERVER
from core.demo.payloads import EndpointPlan, endpoint_plans, treblle_payload
from core.demo.population import (
    COUNTRY_CODES,
    COUNTRY_WEIGHTS,
    Customer,
    cumulative,
    customer_count,
    customers_in_window,
    random_ip,
    random_token,
    weighted_choice,
)

# Shares of all requests that carry no customer ID.
SHARE_AI_AGENTS = 0.020
SHARE_SEARCH_BOTS = 0.010
SHARE_SCANNERS = 0.0015
SHARE_ANONYMOUS = 0.065

SHARE_4XX = 0.045
SHARE_5XX_BACKGROUND = 0.002

_HOURLY = (0.45, 0.40, 0.35, 0.33, 0.35, 0.45, 0.60, 0.80, 1.00, 1.10, 1.15, 1.20,
           1.25, 1.35, 1.45, 1.50, 1.45, 1.35, 1.20, 1.00, 0.85, 0.70, 0.60, 0.50)
_WEEKDAY = (1.00, 1.05, 1.05, 1.03, 0.95, 0.55, 0.50)  # Monday first
_SECONDS = tuple(f"{s:02d}" for s in range(60))
_ERROR_CODES_READ = ((401, 2), (403, 1.5), (404, 6), (429, 1.5), (400, 1))
_ERROR_CODES_WRITE = ((400, 3), (401, 1.5), (403, 1), (404, 1.5), (409, 1.5), (422, 5), (429, 1))
_ERROR_TEXT = {
    400: ("bad_request", "The request body is not valid."), 401: ("unauthenticated", "Missing or invalid credentials."),
    403: ("forbidden", "This key may not perform this action."), 404: ("not_found", "No such resource."),
    409: ("conflict", "The resource was modified by another request."), 422: ("validation_failed", "One or more fields are invalid."),
    429: ("rate_limited", "Too many requests; retry later."), 500: ("server_error", "Something went wrong on our side."),
    502: ("bad_gateway", "Upstream payment processor unavailable."), 503: ("unavailable", "Service temporarily unavailable."),
    504: ("gateway_timeout", "Upstream carrier did not answer in time."),
}
_EXCEPTIONS = {
    "django": ("ConnectionError", "connection to upstream refused", "/srv/app/orders/services.py"),
    "laravel": ("GuzzleHttp\\Exception\\ConnectException", "cURL error 28: Operation timed out", "/var/www/app/Services/Gateway.php"),
    "node": ("Error", "ECONNRESET", "/srv/catalog/src/routes/products.js"),
}


def _bucket_counts(total: int, weights: list[float]) -> list[int]:
    """Split total over buckets proportionally to weights, exactly (largest remainder)."""
    wsum = sum(weights)
    if total <= 0 or wsum <= 0:
        return [0] * len(weights)
    raw = [total * w / wsum for w in weights]
    counts = [int(r) for r in raw]
    rest = total - sum(counts)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[:rest]:
        counts[i] += 1
    return counts


@dataclass
class World:
    """Everything the traffic depends on, fixed before any request is made; each hour bucket then has
    its own random stream, so buckets can be generated in any order or process with identical results."""

    seed: int
    start: dt.datetime
    window: float
    customers: list[Customer]
    customer_cum: list[float]
    plans: list[list[EndpointPlan]]
    endpoint_cum: list[list[float]]
    public_plans: list[EndpointPlan]
    public_cum: list[float]
    login_plan: EndpointPlan
    ai_cum: list[float]
    buckets: list[tuple[dt.datetime, int]]  # (start, length in seconds)
    counts: list[int]  # requests per bucket besides the forced ones
    forced: dict[int, list[int]]  # bucket → customers whose guaranteed request falls in it
    incidents: list[tuple]
    api_keys: list[str]
    sdk_tokens: list[str]
    api_ids: dict[str, int]


BUCKET_SECONDS = 3600


def make_world(seed: int, requests: int, days: int, now: dt.datetime, apis: dict[str, tuple[int, str, str]]) -> World:
    rng = random.Random(f"{seed}:world")
    window = days * 86400.0
    start = now - dt.timedelta(days=days)
    customers = customers_in_window(seed, customer_count(requests), window, random.Random(f"{seed}:spans"))
    plans = endpoint_plans(random.Random(f"{seed}:variants"))
    public_plans = [p for api_plans in plans for p in api_plans if p.endpoint.public]

    n_buckets = math.ceil(window / BUCKET_SECONDS)
    day_noise = [rng.uniform(0.92, 1.08) for _ in range(days + 1)]
    buckets, weights = [], []
    for b in range(n_buckets):
        b_start = start + dt.timedelta(seconds=b * BUCKET_SECONDS)
        length = min(BUCKET_SECONDS, int(window - b * BUCKET_SECONDS))
        day_index = b * BUCKET_SECONDS // 86400
        weight = _HOURLY[b_start.hour] * _WEEKDAY[b_start.weekday()] * (1 + 0.006 * day_index) * day_noise[day_index]
        buckets.append((b_start, length))
        weights.append(weight * length / BUCKET_SECONDS)

    forced: dict[int, list[int]] = {}
    for k, c in enumerate(customers):
        lo, hi = c.start, min(c.end, window) - 1
        t = rng.uniform(lo, max(lo, hi))
        forced.setdefault(min(int(t // BUCKET_SECONDS), n_buckets - 1), []).append(k)

    incidents = []
    slugs = [a.slug for a in APIS]
    for slug, days_ago, hour, share, slow, codes in INCIDENTS:
        i_start = (now - dt.timedelta(days=min(days_ago, days / 2))).replace(hour=hour, minute=0, second=0, microsecond=0)
        if i_start + dt.timedelta(hours=1) > now:
            i_start -= dt.timedelta(days=1)
        offset = (i_start - start).total_seconds()
        if offset >= 0:
            incidents.append((slugs.index(slug), offset, offset + 3600, share, slow, codes))

    return World(
        seed=seed, start=start, window=window, customers=customers,
        customer_cum=cumulative(c.weight for c in customers), plans=plans,
        endpoint_cum=[cumulative(p.endpoint.weight for p in api_plans) for api_plans in plans],
        public_plans=public_plans, public_cum=cumulative(p.endpoint.weight for p in public_plans),
        login_plan=next(p for p in public_plans if p.endpoint.route.endswith("auth/login")),
        ai_cum=cumulative(w for _ua, w in UA_AI), buckets=buckets,
        counts=_bucket_counts(requests - len(customers), weights), forced=forced, incidents=incidents,
        api_keys=[apis[a.slug][1] for a in APIS], sdk_tokens=[apis[a.slug][2] for a in APIS],
        api_ids={key: api_id for api_id, key, _token in apis.values()},
    )


_AI_UAS = tuple(ua for ua, _w in UA_AI)
_BOT_PREFIXES = ("2.26", "19.122", "38.10", "8.128")
_SEARCH_PREFIXES = ("2.26", "38.10", "53.56")
_SCANNER_COUNTRIES = ("NL", "DE", "US", "SG", "TR", "BR", "IN")
_ANON_COUNTRIES = ("US", "GB", "DE", "IN", "BR", "FR")
_CODES_READ = ([c for c, _ in _ERROR_CODES_READ], [w for _, w in _ERROR_CODES_READ])
_CODES_WRITE = ([c for c, _ in _ERROR_CODES_WRITE], [w for _, w in _ERROR_CODES_WRITE])


def bucket_payloads(world: World, b: int) -> list[dict]:
    """The Treblle payloads of one hour bucket, in time order."""
    b_start, length = world.buckets[b]
    forced_here = world.forced.get(b, [])
    n = world.counts[b] + len(forced_here)
    if n == 0:
        return []
    rng = random.Random(f"{world.seed}:bucket:{b}")
    random_ = rng.random
    lognorm = rng.lognormvariate
    choice = rng.choice
    randrange = rng.randrange
    customers, customer_cum = world.customers, world.customer_cum
    total_weight = customer_cum[-1]
    plans, endpoint_cum = world.plans, world.endpoint_cum
    public_plans, public_cum = world.public_plans, world.public_cum
    p_ai = SHARE_AI_AGENTS
    p_search = p_ai + SHARE_SEARCH_BOTS
    p_scan = p_search + SHARE_SCANNERS
    p_anon = p_scan + SHARE_ANONYMOUS

    # int(random() * n) instead of randrange/choice on the hot path: a third of the cost.
    offsets = sorted(int(random_() * length) for _ in range(n))
    # Only the minutes that have a request: strftime for all sixty was half the cost of a quiet bucket.
    prefixes = {m: (b_start + dt.timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:") for m in {sec // 60 for sec in offsets}}
    forced_slots = dict(zip(sorted(rng.sample(range(n), len(forced_here))), forced_here)) if forced_here else {}
    b_offset = b * BUCKET_SECONDS
    out = []
    for i, sec in enumerate(offsets):
        ts = prefixes[sec // 60] + _SECONDS[sec % 60]
        t = b_offset + sec
        customer = None
        r = random_()
        if i in forced_slots:
            customer = customers[forced_slots[i]]
            kind = "customer"
        elif r >= p_anon:
            kind = "anonymous"
            for _try in range(6):
                c = customers[bisect.bisect_left(customer_cum, random_() * total_weight)]
                if c.start <= t < c.end:
                    customer, kind = c, "customer"
                    break
        elif r < p_ai:
            kind = "ai"
        elif r < p_search:
            kind = "search"
        elif r < p_scan:
            kind = "scanner"
        else:
            kind = "anonymous"

        headers: dict = {}
        resp_headers = {"content-type": "application/json"}
        status = None
        probe = None
        scheme = "https"
        if customer is not None:
            a = customer.apis[bisect.bisect_left(customer.api_cum, random_() * customer.api_cum[-1])]
            plan = plans[a][bisect.bisect_left(endpoint_cum[a], random_() * endpoint_cum[a][-1])]
            ua = customer.user_agents[int(random_() * len(customer.user_agents))]
            ip = customer.ips[int(random_() * len(customer.ips))]
            scheme = customer.scheme
            headers["authorization"] = customer.authorization
            mode = customer.id_mode
            if mode == "meta_req":
                headers["treblle-metadata"] = customer.metadata
            elif mode == "user_id_req":
                headers["treblle-user-id"] = customer.customer_id
            elif mode == "user_id_resp":
                resp_headers["treblle-user-id"] = customer.customer_id
            else:
                resp_headers["treblle-metadata"] = customer.metadata
        elif kind == "ai":
            plan = public_plans[bisect.bisect_left(public_cum, random_() * public_cum[-1])]
            ua = _AI_UAS[bisect.bisect_left(world.ai_cum, random_() * world.ai_cum[-1])]
            ip = f"{choice(_BOT_PREFIXES)}.{randrange(256)}.{randrange(1, 255)}"
        elif kind == "search":
            plan = public_plans[bisect.bisect_left(public_cum, random_() * public_cum[-1])]
            ua = choice(UA_SEARCH)
            ip = f"{choice(_SEARCH_PREFIXES)}.{randrange(256)}.{randrange(1, 255)}"
        elif kind == "scanner":
            plan = choice(plans[randrange(len(plans))])
            ua = choice(UA_SCANNERS)
            ip = random_ip(rng, choice(_SCANNER_COUNTRIES))
            probe = choice(SCANNER_PROBES)
            status = probe[1]
        else:
            pick = random_()
            if pick < 0.06:
                # Scripted login attempts without a client key: unauthenticated writes.
                plan = world.login_plan
                ua = choice(UA_SERVER)
            else:
                plan = public_plans[bisect.bisect_left(public_cum, random_() * public_cum[-1])]
                ua = choice(UA_BROWSERS) if pick < 0.85 else choice(UA_SERVER)
                if plan.endpoint.method != "GET":
                    headers["x-api-key"] = "pk_live_" + random_token(rng, 16)
            country = weighted_choice(rng, COUNTRY_CODES, COUNTRY_WEIGHTS) if random_() < 0.3 else choice(_ANON_COUNTRIES)
            ip = random_ip(rng, country)

        ep = plan.endpoint
        api = APIS[plan.api_index]
        path, query, body, resp_body = plan.variants[int(random_() * len(plan.variants))]
        route = ep.route
        if probe is not None:
            target, _status, route_known = probe
            if target.startswith("?"):
                path, query = path.split("?")[0] + target, {}
            else:
                path = target
            if not route_known:
                route = None  # the framework found no route: 404 before routing
        headers["host"] = api.host
        headers["user-agent"] = ua
        headers["accept"] = "application/json"
        if body is not None:
            headers["content-type"] = "application/json"

        factor = 1.0
        errors = []
        if status is None:
            status = plan.success
            for inc_api, lo, hi, share, slow, codes in world.incidents:
                if inc_api == plan.api_index and lo <= t < hi:
                    factor = slow
                    if random_() < share:
                        status = choice(codes)
                    break
            if status < 500:
                e = random_()
                if e < SHARE_5XX_BACKGROUND:
                    status = 500
                elif e < SHARE_5XX_BACKGROUND + SHARE_4XX:
                    codes, weights = _CODES_WRITE if body is not None else _CODES_READ
                    status = rng.choices(codes, weights)[0]
                elif kind == "anonymous" and "authorization" not in headers and "x-api-key" not in headers and ep.method != "GET" and e > 0.6:
                    status = 401
        if status >= 500:
            code, message = _ERROR_TEXT[status]
            resp_body = {"error": {"code": code, "message": message}}
            etype, emsg, efile = _EXCEPTIONS[api.sdk]
            errors = [{"source": "onException", "type": etype, "message": emsg, "file": efile, "line": 100 + status % 97}]
            load_ms = lognorm(plan.mu, ep.sigma) * factor + (25000 * random_() if status == 504 else 0.0)
            size = 120 + randrange(80)
        elif status >= 400:
            code, message = _ERROR_TEXT[status]
            resp_body = {"error": {"code": code, "message": message}}
            if status == 429:
                resp_headers["retry-after"] = str(randrange(1, 60))
            load_ms = lognorm(plan.mu, ep.sigma) * 0.3 * factor
            size = 90 + randrange(60)
        else:
            load_ms = lognorm(plan.mu, ep.sigma) * factor
            size = 0 if status == 204 else int(ep.size_bytes * lognorm(0.0, 0.35))
        out.append(treblle_payload(
            api, world.api_keys[plan.api_index], world.sdk_tokens[plan.api_index], ts, ip,
            f"{scheme}://{api.host}{path}", ua, ep.method, headers, body, query, route, resp_headers, status, size,
            load_ms, resp_body, errors,
        ))
    return out
