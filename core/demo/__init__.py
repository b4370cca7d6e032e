"""Deterministic, realistic demo traffic: Treblle-format payloads pushed through the real ingest path
(normalise → enrich → store), plus the demo accounts the app offers in demo mode."""
from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import math
import multiprocessing
import os
import random
import string
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from core.ingest.pipeline import prepare
from core.storage import models, store
from core.storage.models import Api, Request, Setting

DEMO_SEED = 7
DEMO_DAYS = 45
MAX_CUSTOMERS = 3000
REQUESTS_PER_CUSTOMER = 60  # below MAX_CUSTOMERS * this, fewer customers so each one has traffic
BATCH_SIZE = 10_000
ZIPF_EXPONENT = 1.07

# Shares of all requests that carry no customer ID.
SHARE_AI_AGENTS = 0.020
SHARE_SEARCH_BOTS = 0.010
SHARE_SCANNERS = 0.0015
SHARE_ANONYMOUS = 0.065

SHARE_4XX = 0.045
SHARE_5XX_BACKGROUND = 0.002


class DemoError(Exception):
    """The demo cannot run as asked; the message says why and what to do."""


# ---------------------------------------------------------------- APIs and endpoints


@dataclass(frozen=True)
class Endpoint:
    method: str
    route: str  # the SDK's route_path; "{name}" placeholders are filled with IDs in the URL
    weight: float
    latency_ms: float  # median
    size_bytes: int  # median response size
    body: str | None = None  # request body kind (see _request_body)
    query: str | None = None  # query kind (see _query)
    public: bool = False  # crawlers and anonymous visitors call it
    sigma: float = 0.55  # spread of the lognormal load time


@dataclass(frozen=True)
class DemoApi:
    name: str
    slug: str
    host: str
    sdk: str  # django | node | laravel
    endpoints: tuple[Endpoint, ...]
    customer_weight: float  # how many customers use it as their main API


E = Endpoint
APIS: tuple[DemoApi, ...] = (
    DemoApi("Payments API", "payments", "payments.northwind-api.com", "laravel", (
        E("POST", "api/v1/charges", 10, 420, 980, "charge"),
        E("GET", "api/v1/charges/{charge}", 12, 45, 1150),
        E("GET", "api/v1/charges", 8, 120, 5400, query="list"),
        E("POST", "api/v1/charges/{charge}/capture", 4, 380, 1100),
        E("POST", "api/v1/refunds", 2, 350, 640, "refund"),
        E("GET", "api/v1/refunds/{refund}", 1.5, 40, 610),
        E("POST", "api/v1/payment_intents", 8, 300, 1400, "intent"),
        E("GET", "api/v1/payment_intents/{intent}", 6, 35, 1380),
        E("POST", "api/v1/payment_intents/{intent}/confirm", 5, 650, 1500, "confirm", sigma=0.7),
        E("GET", "api/v1/balance", 3, 60, 420),
        E("GET", "api/v1/payouts", 1.2, 150, 3900, query="list"),
        E("POST", "api/v1/payouts", 0.5, 500, 700, "payout"),
        E("GET", "api/v1/disputes", 0.6, 90, 2600, query="list"),
        E("POST", "api/v1/customers", 2, 110, 820, "customer"),
        E("GET", "api/v1/customers/{customer}", 4, 30, 800),
        E("GET", "api/v1/reports/settlements", 0.4, 2400, 48000, query="report", sigma=0.45),
        E("POST", "api/v1/webhook_endpoints", 0.2, 80, 380, "webhook"),
    ), 1.0),
    DemoApi("Orders API", "orders", "orders.northwind-api.com", "django", (
        E("GET", "api/v1/orders", 12, 140, 6200, query="list"),
        E("POST", "api/v1/orders", 8, 260, 1900, "order"),
        E("GET", "api/v1/orders/{order_id}", 14, 38, 1850),
        E("PATCH", "api/v1/orders/{order_id}", 3, 95, 1870, "order_patch"),
        E("DELETE", "api/v1/orders/{order_id}", 0.8, 70, 0),
        E("POST", "api/v1/orders/{order_id}/cancel", 1.2, 180, 1880),
        E("GET", "api/v1/orders/{order_id}/items", 5, 55, 2300),
        E("POST", "api/v1/orders/{order_id}/items", 3, 120, 900, "order_item"),
        E("GET", "api/v1/orders/{order_id}/shipments", 3, 85, 1300),
        E("POST", "api/v1/shipments/{shipment_id}/labels", 1, 1300, 2100, "label", sigma=0.5),
        E("GET", "api/v1/shipments/{shipment_id}/tracking", 4, 620, 1600, sigma=0.8),
        E("GET", "api/v1/returns", 0.8, 110, 2700, query="list"),
        E("POST", "api/v1/returns", 0.6, 240, 1100, "return"),
        E("GET", "api/v1/reports/sales", 0.5, 3200, 64000, query="report", sigma=0.4),
        E("GET", "api/v1/inventory/{sku}", 6, 25, 350),
    ), 1.3),
    DemoApi("Catalog API", "catalog", "catalog.northwind-api.com", "node", (
        E("GET", "v1/products", 15, 180, 14000, query="products", public=True),
        E("GET", "v1/products/{id}", 20, 28, 2600, public=True),
        E("GET", "v1/products/{id}/variants", 5, 45, 3100, public=True),
        E("GET", "v1/products/{id}/reviews", 3, 90, 5200, query="page", public=True),
        E("POST", "v1/products", 1, 140, 2500, "product"),
        E("PUT", "v1/products/{id}", 1.2, 120, 2550, "product"),
        E("DELETE", "v1/products/{id}", 0.3, 60, 0),
        E("GET", "v1/categories", 6, 20, 1800, public=True),
        E("GET", "v1/categories/{id}/products", 5, 150, 12000, query="page", public=True),
        E("GET", "v1/search", 10, 480, 9000, query="search", public=True, sigma=0.65),
        E("GET", "v1/prices/{id}", 7, 18, 240),
        E("POST", "v1/prices/bulk", 0.8, 1800, 36000, "prices", sigma=0.5),
        E("GET", "v1/inventory/{id}", 4, 22, 300),
        E("GET", "v1/recommendations", 3, 900, 7000, query="recommend", public=True, sigma=0.6),
    ), 1.2),
    DemoApi("Auth API", "auth", "auth.northwind-api.com", "django", (
        E("POST", "api/v1/auth/login", 10, 240, 620, "login", public=True, sigma=0.3),
        E("POST", "api/v1/auth/token", 14, 60, 580, "client_credentials"),
        E("POST", "api/v1/auth/refresh", 8, 35, 560, "refresh"),
        E("POST", "api/v1/auth/logout", 2, 20, 40),
        E("GET", "api/v1/users/me", 12, 25, 700),
        E("PATCH", "api/v1/users/me", 1, 60, 720, "profile"),
        E("POST", "api/v1/users/me/password", 0.4, 280, 60, "password_change", sigma=0.3),
        E("POST", "api/v1/auth/mfa/verify", 2, 45, 90, "mfa"),
        E("GET", "api/v1/sessions", 1.2, 40, 1500),
        E("DELETE", "api/v1/sessions/{session_id}", 0.4, 30, 0),
        E("GET", "api/v1/api-keys", 1, 30, 900),
        E("POST", "api/v1/api-keys", 0.3, 50, 420, "api_key"),
        E("GET", ".well-known/jwks.json", 3, 8, 1100, public=True, sigma=0.3),
    ), 0.8),
)
del E

# Hour-long incidents: (api slug, days before now, starting hour UTC, 5xx share, latency factor, codes).
INCIDENTS = (
    ("payments", 3, 14, 0.45, 4.0, (502, 503, 500)),
    ("orders", 11, 9, 0.35, 6.0, (504, 500)),
)


def api_credentials(slug: str) -> tuple[str, str]:
    """(api_key, sdk_token) of a demo API: fixed, so re-runs and other machines address the same API."""
    digest = hashlib.sha256(f"clientele-demo:{slug}".encode()).hexdigest()
    return f"demo_{slug}_{digest[:12]}", f"demo-sdk-{digest[12:44]}"


# ---------------------------------------------------------------- world: countries, user agents

# country → (weight, /16 prefixes that the offline database maps wholly to it, region label)
COUNTRIES: dict[str, tuple[float, tuple[str, ...], str]] = {
    "US": (30, ("2.26", "19.122", "38.10"), "us-east"),
    "CA": (4, ("9.168", "70.52", "99.237"), "ca-central"),
    "GB": (8, ("1.186", "25.179", "51.43"), "eu-west"),
    "DE": (8, ("2.28", "53.56", "77.6"), "eu-central"),
    "FR": (5, ("2.3", "78.202", "83.192"), "eu-west"),
    "NL": (3, ("2.16", "81.59", "87.233"), "eu-west"),
    "IE": (1.5, ("31.88", "57.77", "57.145"), "eu-west"),
    "ES": (3, ("2.136", "77.27", "81.32"), "eu-south"),
    "IT": (3, ("2.32", "37.181", "80.183"), "eu-south"),
    "SE": (2, ("2.0", "78.75", "83.227"), "eu-north"),
    "PL": (2, ("5.173", "46.171", "80.50"), "eu-central"),
    "CH": (1.5, ("31.164", "57.187", "85.0"), "eu-central"),
    "AT": (1, ("46.74", "78.104", "83.215"), "eu-central"),
    "BE": (1, ("37.62", "57.242", "81.246"), "eu-west"),
    "DK": (1, ("2.104", "62.107", "80.166"), "eu-north"),
    "NO": (1, ("2.148", "81.166", "88.91"), "eu-north"),
    "FI": (0.8, ("37.33", "85.76", "91.153"), "eu-north"),
    "PT": (0.8, ("2.80", "82.154", "85.245"), "eu-south"),
    "CZ": (0.7, ("5.59", "80.188", "88.101"), "eu-central"),
    "MX": (2, ("131.178", "177.224", "187.162"), "sa-east"),
    "BR": (4, ("139.82", "177.129", "179.127"), "sa-east"),
    "AR": (1, ("24.232", "181.10", "181.88"), "sa-east"),
    "CL": (0.6, ("146.83", "164.96", "181.72"), "sa-east"),
    "CO": (0.8, ("152.200", "181.55", "181.149"), "sa-east"),
    "JP": (4, ("1.5", "106.130", "122.219"), "ap-northeast"),
    "KR": (2, ("1.11", "42.22", "106.254"), "ap-northeast"),
    "IN": (5, ("1.6", "49.137", "106.78"), "ap-south"),
    "SG": (2, ("8.128", "8.180", "43.20"), "ap-southeast"),
    "AU": (3, ("1.40", "58.6", "101.186"), "ap-southeast"),
    "NZ": (0.6, ("27.252", "114.23", "121.74"), "ap-southeast"),
    "ID": (1, ("9.154", "36.92", "39.217"), "ap-southeast"),
    "PH": (0.6, ("1.37", "49.149", "112.201"), "ap-southeast"),
    "VN": (0.6, ("1.52", "14.187", "14.250"), "ap-southeast"),
    "TH": (0.5, ("1.20", "49.231", "110.49"), "ap-southeast"),
    "HK": (0.8, ("1.36", "61.15", "112.119"), "ap-east"),
    "TW": (0.8, ("1.34", "49.159", "101.12"), "ap-east"),
    "MY": (0.5, ("1.9", "49.125", "113.210"), "ap-southeast"),
    "ZA": (1, ("41.0", "41.120", "105.1"), "af-south"),
    "NG": (0.6, ("41.58", "102.90", "102.94"), "af-south"),
    "KE": (0.4, ("41.80", "102.166", "105.58"), "af-south"),
    "EG": (0.4, ("41.32", "45.106", "105.34"), "me-central"),
    "AE": (0.8, ("2.48", "9.137", "31.219"), "me-central"),
    "IL": (0.8, ("2.52", "62.90", "80.178"), "me-central"),
    "TR": (0.8, ("5.24", "78.161", "78.191"), "eu-south"),
}
_SUFFIX = {
    "US": ("Inc.", "LLC", "Co."), "CA": ("Inc.", "Ltd."), "GB": ("Ltd", "plc"), "IE": ("Ltd",), "DE": ("GmbH", "AG"),
    "AT": ("GmbH",), "CH": ("AG", "GmbH"), "FR": ("SAS", "SA"), "NL": ("B.V.",), "BE": ("BV", "SA"), "ES": ("S.L.",),
    "IT": ("S.r.l.", "S.p.A."), "SE": ("AB",), "DK": ("ApS",), "NO": ("AS",), "FI": ("Oy",), "PL": ("sp. z o.o.",),
    "PT": ("Lda",), "CZ": ("s.r.o.",), "BR": ("Ltda.",), "MX": ("S.A. de C.V.",), "JP": ("K.K.",), "AU": ("Pty Ltd",),
    "NZ": ("Ltd",), "IN": ("Pvt Ltd",), "SG": ("Pte. Ltd.",),
}
_NAME_FIRST = (
    "Acme", "Alpine", "Amber", "Apex", "Arctic", "Atlas", "Aurora", "Beacon", "Birch", "Blue", "Bold", "Bright",
    "Canyon", "Cedar", "Clear", "Cobalt", "Copper", "Coral", "Crimson", "Delta", "Echo", "Ember", "Evergreen",
    "Falcon", "Fern", "Golden", "Granite", "Harbor", "Hazel", "Horizon", "Indigo", "Iron", "Jade", "Juniper",
    "Kestrel", "Lakeside", "Lumen", "Maple", "Meadow", "Metro", "Nimbus", "North", "Nova", "Oak", "Onyx", "Orbit",
    "Pacific", "Pine", "Pioneer", "Polar", "Prairie", "Prime", "Quantum", "Quartz", "Raven", "Red", "Ridge",
    "River", "Sage", "Sequoia", "Sierra", "Silver", "Sky", "Solar", "Spruce", "Starling", "Stone", "Summit", "Sun",
    "Swift", "Tidal", "Timber", "True", "Urban", "Vertex", "Vista", "Wild", "Willow", "Zen", "Zephyr",
)
_NAME_SECOND = (
    "Analytics", "Apparel", "Bank", "Bikes", "Books", "Brands", "Capital", "Cargo", "Clinics", "Cloud", "Coffee",
    "Commerce", "Dental", "Designs", "Digital", "Energy", "Fashion", "Fitness", "Foods", "Freight", "Furniture",
    "Games", "Health", "Home", "Insurance", "Kitchens", "Labs", "Learning", "Logistics", "Markets", "Media",
    "Medical", "Mobility", "Motors", "Music", "Networks", "Outdoors", "Partners", "Pay", "Pets", "Pharmacy",
    "Realty", "Retail", "Robotics", "Security", "Shoes", "Software", "Sports", "Studios", "Supply", "Systems",
    "Telecom", "Tickets", "Tools", "Travel", "Ventures", "Wellness", "Wines", "Works", "Yoga",
)
_NAME_SPACE = len(_NAME_FIRST) * len(_NAME_SECOND)  # 4800 distinct names ≥ MAX_CUSTOMERS

UA_DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
)
UA_MOBILE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Shopper/5.2.1 CFNetwork/1494.0.7 Darwin/23.4.0",
    "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 7 Build/AP1A.240405.002)",
)
UA_TABLET = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.1.1 like Chrome/124.0.6367.179 Safari/537.36",
)
UA_SERVER = (
    "python-requests/2.31.0", "python-requests/2.32.3", "axios/1.6.8", "axios/1.7.2",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "Go-http-client/1.1", "Go-http-client/2.0",
    "okhttp/4.12.0", "curl/8.5.0", "PostmanRuntime/7.37.3", "Java/17.0.10", "Apache-HttpClient/4.5.14 (Java/17.0.10)",
    "GuzzleHttp/7", "Ruby", "RestSharp/110.2.0.0", "aiohttp/3.9.5",
)
UA_BROWSERS = UA_DESKTOP + UA_MOBILE + UA_TABLET
UA_AI = (
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", 5),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot", 4),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36; compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot", 2),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", 4),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Claude-User/1.0; +Claude-User@anthropic.com)", 1.5),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)", 3),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; +https://perplexity.ai/perplexity-user)", 1),
    ("Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)", 2.5),
    ("CCBot/2.0 (https://commoncrawl.org/faq/)", 1.5),
    ("meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)", 2),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot) Chrome/119.0.6045.214 Safari/537.36", 1.5),
    ("DuckAssistBot/1.2; (+http://duckduckgo.com/duckassistbot.html)", 0.5),
    ("Mozilla/5.0 (compatible; MistralAI-User/1.0; +https://docs.mistral.ai/robots)", 0.5),
    ("cohere-ai", 0.3),
)
UA_SEARCH = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
)
UA_SCANNERS = (
    "sqlmap/1.8.4#stable (https://sqlmap.org)",
    "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:002714)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36 (nuclei)",
    "Mozilla/5.0 zgrab/0.x",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
)
# (path and query, status, route known to the framework)
SCANNER_PROBES = (
    ("/.env", 404, False), ("/.git/config", 404, False), ("/wp-login.php", 404, False), ("/wp-admin/", 404, False),
    ("/phpmyadmin/index.php", 404, False), ("/server-status", 404, False), ("/actuator/env", 404, False),
    ("/.aws/credentials", 404, False), ("/xmlrpc.php", 404, False),
    ("?id=1%27%20OR%20%271%27%3D%271", 400, True), ("?q=1%20UNION%20SELECT%20username,password%20FROM%20users--", 400, True),
    ("?sort=name%20AND%20SLEEP(5)", 400, True), ("?file=..%2F..%2F..%2Fetc%2Fpasswd", 400, True),
    ("?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E", 400, True), ("?host=127.0.0.1;cat%20/etc/passwd", 400, True),
    ("?id=1%27%20OR%20%271%27%3D%271", 200, True),
)

_HOURLY = (0.45, 0.40, 0.35, 0.33, 0.35, 0.45, 0.60, 0.80, 1.00, 1.10, 1.15, 1.20,
           1.25, 1.35, 1.45, 1.50, 1.45, 1.35, 1.20, 1.00, 0.85, 0.70, 0.60, 0.50)
_WEEKDAY = (1.00, 1.05, 1.05, 1.03, 0.95, 0.55, 0.50)  # Monday first
_SECONDS = tuple(f"{s:02d}" for s in range(60))
_ALNUM = string.ascii_letters + string.digits
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


# ---------------------------------------------------------------- customers


@dataclass
class Customer:
    rank: int
    customer_id: str
    name: str
    plan: str
    country: str
    region: str | None
    weight: float
    apis: tuple[int, ...]
    api_cum: tuple[float, ...]
    id_mode: str  # meta_req | user_id_req | user_id_resp | meta_resp
    user_agents: tuple[str, ...]
    ips: tuple[str, ...]
    authorization: str
    metadata: str
    scheme: str = "https"
    start: float = 0.0  # seconds after the window start
    end: float = math.inf


def _token(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(_ALNUM, k=n))


def _weighted(rng: random.Random, items, weights):
    return rng.choices(items, weights=weights, k=1)[0]


def _ip(rng: random.Random, country: str) -> str:
    prefix = rng.choice(COUNTRIES[country][1])
    return f"{prefix}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


_COUNTRY_CODES = tuple(COUNTRIES)
_COUNTRY_WEIGHTS = tuple(v[0] for v in COUNTRIES.values())


def customer_profile(seed: int, rank: int) -> Customer:
    """The demo customer of a given popularity rank (0 = busiest): independent of how many there are."""
    rng = random.Random(f"{seed}:customer:{rank}")
    customer_id = "cus_" + _token(rng, 14)
    mixed = (rank * 2971 + seed * 131) % _NAME_SPACE  # 2971 is coprime with 4800: distinct names per rank
    country = _weighted(rng, _COUNTRY_CODES, _COUNTRY_WEIGHTS)
    suffix = rng.choice(_SUFFIX.get(country, ("Ltd",)))
    name = f"{_NAME_FIRST[mixed % len(_NAME_FIRST)]} {_NAME_SECOND[mixed // len(_NAME_FIRST)]} {suffix}"
    tier = rank / 30 + rng.random() * 1.5  # busier customers buy bigger plans, with exceptions
    plan = "Enterprise" if tier < 0.9 else "Pro" if tier < 4 else "Starter" if tier < 25 else "Free"
    region = COUNTRIES[country][2] if rng.random() < 0.45 else None

    main_api = _weighted(rng, range(len(APIS)), [a.customer_weight for a in APIS])
    n_apis = _weighted(rng, (1, 2, 3), (0.45, 0.38, 0.17))
    others = [i for i in range(len(APIS)) if i != main_api]
    rng.shuffle(others)
    apis = (main_api, *others[: n_apis - 1])
    api_cum = _cumulative([1.0] + [rng.uniform(0.15, 0.6) for _ in apis[1:]])

    id_mode = _weighted(rng, ("meta_req", "user_id_req", "user_id_resp", "meta_resp"), (0.74, 0.13, 0.07, 0.06))
    if rank < 3:
        id_mode = "meta_req"  # the demo logins' customers show their company names
    kind = _weighted(rng, ("server", "web", "mobile", "mixed"), (0.58, 0.2, 0.12, 0.1))
    if kind == "server":
        uas = rng.sample(UA_SERVER, rng.randint(1, 2))
        ips = [_ip(rng, country) for _ in range(rng.randint(1, 3))]
    elif kind == "web":
        uas = rng.sample(UA_DESKTOP, rng.randint(2, 4)) + [rng.choice(UA_TABLET)]
        ips = [_ip(rng, country) for _ in range(rng.randint(4, 12))]
    elif kind == "mobile":
        uas = rng.sample(UA_MOBILE, rng.randint(2, 4)) + [rng.choice(UA_TABLET)]
        ips = [_ip(rng, country) for _ in range(rng.randint(6, 16))]
    else:
        uas = [rng.choice(UA_SERVER), rng.choice(UA_DESKTOP), rng.choice(UA_MOBILE)]
        ips = [_ip(rng, country) for _ in range(rng.randint(3, 8))]

    meta = {"user-id": customer_id, "user-name": name, "Plan": plan}
    if region:
        meta["region"] = region
    return Customer(
        rank=rank, customer_id=customer_id, name=name, plan=plan, country=country, region=region,
        weight=1.0 / (rank + 1) ** ZIPF_EXPONENT, apis=apis, api_cum=tuple(api_cum), id_mode=id_mode,
        user_agents=tuple(uas), ips=tuple(ips), authorization="Bearer sk_live_" + _token(rng, 24),
        metadata=orjson.dumps(meta).decode(),
    )


def customer_count(requests: int) -> int:
    return max(1, min(MAX_CUSTOMERS, requests // REQUESTS_PER_CUSTOMER))


def _customers(seed: int, n: int, window: float, rng: random.Random) -> list[Customer]:
    """All customers with their active spans: most active throughout, some joined during the window,
    a handful went quiet in the last 10 days (some of them big), some are new in the last 7 days."""
    customers = [customer_profile(seed, k) for k in range(n)]
    day = 86400.0
    days = window / day
    pool = list(range(min(5, n), n))  # the busiest five stay steady: the demo logins belong to them
    rng.shuffle(pool)

    def take(count: int, lo: int = 0, hi: int = n) -> list[int]:
        picked = [k for k in pool if lo <= k < hi][: max(0, count)]
        for k in picked:
            pool.remove(k)
        return picked

    n_quiet = max(1, round(n * 0.004)) + (2 if n >= 50 else 0)
    quiet = take(n_quiet // 2 + 1, hi=max(15, n // 50))
    quiet += take(n_quiet - len(quiet))
    new = take(max(1, round(n * 0.015)))
    joined = take(round(n * 0.2))
    legacy_http = take(max(1, n // 150), lo=n // 5) if n >= 10 else []
    for k in quiet:
        customers[k].end = window - rng.uniform(min(3, 0.1 * days), min(10, 0.3 * days)) * day
    for k in new:
        customers[k].start = window - rng.uniform(min(0.3, 0.05 * days), min(7, 0.25 * days)) * day
    for k in joined:
        customers[k].start = rng.uniform(0.05, 0.75) * window
    # Small legacy integrations that still call over plain http (the credentials_over_http threat).
    for k in legacy_http:
        customers[k].scheme = "http"
    return customers


# ---------------------------------------------------------------- request variants per endpoint


_ID_PREFIXES = {"charge": "ch_", "refund": "re_", "intent": "pi_", "customer": "cus_"}


def _filled(route: str, rng: random.Random) -> str:
    """A route template with realistic IDs in its placeholders."""
    out = []
    for part in route.split("/"):
        if part.startswith("{"):
            name = part[1:-1]
            if name in _ID_PREFIXES:
                part = _ID_PREFIXES[name] + _token(rng, 14 if name == "customer" else 24)
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
        return {"charge": "ch_" + _token(rng, 24), "amount": amount // 3, "reason": "requested_by_customer"}
    if kind == "payout":
        return {"amount": amount * 10, "currency": "usd", "destination": {"iban": "DE89370400440532013000", "account_holder": "Finance"}}
    if kind == "customer":
        return {"email": email, "name": email.split("@")[0].title(), "phone": f"+1555{rng.randrange(10**6):07d}"}
    if kind == "webhook":
        return {"url": "https://hooks.example.com/payments", "enabled_events": ["charge.succeeded", "charge.refunded"],
                "secret": "whsec_" + _token(rng, 24)}
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
        return {"email": email, "password": _token(rng, rng.randrange(10, 18))}
    if kind == "client_credentials":
        return {"grant_type": "client_credentials", "client_id": "cli_" + _token(rng, 16), "client_secret": _token(rng, 32)}
    if kind == "refresh":
        return {"refresh_token": _token(rng, 40)}
    if kind == "profile":
        return {"name": email.split("@")[0].title(), "locale": rng.choice(("en-US", "de-DE", "fr-FR", "es-ES"))}
    if kind == "password_change":
        return {"current_password": _token(rng, 12), "new_password": _token(rng, 16)}
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
        return {"access_token": _token(rng, 40), "token_type": "Bearer", "expires_in": 3600, "refresh_token": _token(rng, 40)}
    resource = [s for s in route.split("/") if s and not s.startswith("{")][-1].removesuffix(".json")
    resource = resource[:-3] + "y" if resource.endswith("ies") else resource.removesuffix("s")
    if endpoint.query in ("list", "products", "page", "search", "recommend"):
        return {"object": "list", "data": [{"id": rng.randrange(10**6)}, {"id": rng.randrange(10**6)}], "has_more": rng.random() < 0.5}
    if endpoint.query == "report":
        return {"rows": rng.randrange(100, 5000), "currency": "usd", "url": "https://files.northwind-api.com/r/" + _token(rng, 12)}
    return {"id": rng.randrange(10**7), "object": resource, "status": rng.choice(("ok", "succeeded", "active"))}


@dataclass
class _EndpointPlan:
    api_index: int
    endpoint: Endpoint
    mu: float
    variants: list  # (path with query, query dict, request body, response body)
    success: int


def _plans(rng: random.Random, variants: int = 128) -> list[list[_EndpointPlan]]:
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
            plans.append(_EndpointPlan(a, ep, math.log(ep.latency_ms), rows, success))
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


def _payload(api: DemoApi, key: str, token: str, ts: str, ip: str, url: str, ua: str | None, method: str,
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


# ---------------------------------------------------------------- the generator


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


def _cumulative(weights) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def _ensure_apis(engine: sa.Engine) -> dict[str, tuple[int, str, str]]:
    """slug → (api_id, api_key, sdk_token); creates the demo APIs that are missing."""
    out = {}
    with engine.connect() as conn:
        existing = {name: (i, k) for i, name, k in conn.execute(sa.select(Api.id, Api.name, Api.api_key))}
    for api in APIS:
        key, token = api_credentials(api.slug)
        if api.name in existing:
            api_id, stored_key = existing[api.name]
            out[api.slug] = (api_id, stored_key, token)
        else:
            created = store.create_api(engine, api.name, api_key=key, sdk_token=token)
            out[api.slug] = (created["api_id"], key, token)
    return out


def existing_demo_requests(engine: sa.Engine) -> int:
    """How many requests the demo APIs (by name) already hold."""
    names = [a.name for a in APIS]
    with engine.connect() as conn:
        return conn.scalar(
            sa.select(sa.func.count()).select_from(Request).join(Api, Api.id == Request.api_id).where(Api.name.in_(names))
        ) or 0


@dataclass
class _World:
    """Everything the traffic depends on, fixed before any request is made; each hour bucket then has
    its own random stream, so buckets can be generated in any order or process with identical results."""

    seed: int
    start: dt.datetime
    window: float
    customers: list[Customer]
    customer_cum: list[float]
    plans: list[list[_EndpointPlan]]
    endpoint_cum: list[list[float]]
    public_plans: list[_EndpointPlan]
    public_cum: list[float]
    login_plan: _EndpointPlan
    ai_cum: list[float]
    buckets: list[tuple[dt.datetime, int]]  # (start, length in seconds)
    counts: list[int]  # requests per bucket besides the forced ones
    forced: dict[int, list[int]]  # bucket → customers whose guaranteed request falls in it
    incidents: list[tuple]
    api_keys: list[str]
    sdk_tokens: list[str]
    api_ids: dict[str, int]


BUCKET_SECONDS = 3600


def _world(seed: int, requests: int, days: int, now: dt.datetime, apis: dict[str, tuple[int, str, str]]) -> _World:
    rng = random.Random(f"{seed}:world")
    window = days * 86400.0
    start = now - dt.timedelta(days=days)
    customers = _customers(seed, customer_count(requests), window, random.Random(f"{seed}:spans"))
    plans = _plans(random.Random(f"{seed}:variants"))
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

    return _World(
        seed=seed, start=start, window=window, customers=customers,
        customer_cum=_cumulative(c.weight for c in customers), plans=plans,
        endpoint_cum=[_cumulative(p.endpoint.weight for p in api_plans) for api_plans in plans],
        public_plans=public_plans, public_cum=_cumulative(p.endpoint.weight for p in public_plans),
        login_plan=next(p for p in public_plans if p.endpoint.route.endswith("auth/login")),
        ai_cum=_cumulative(w for _ua, w in UA_AI), buckets=buckets,
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


def _bucket_payloads(world: _World, b: int) -> list[dict]:
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

    prefixes = [(b_start + dt.timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:") for m in range((length + 59) // 60)]
    # int(random() * n) instead of randrange/choice on the hot path: a third of the cost.
    offsets = sorted(int(random_() * length) for _ in range(n))
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
            ip = _ip(rng, choice(_SCANNER_COUNTRIES))
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
                    headers["x-api-key"] = "pk_live_" + _token(rng, 16)
            country = _weighted(rng, _COUNTRY_CODES, _COUNTRY_WEIGHTS) if random_() < 0.3 else choice(_ANON_COUNTRIES)
            ip = _ip(rng, country)

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
        out.append(_payload(
            api, world.api_keys[plan.api_index], world.sdk_tokens[plan.api_index], ts, ip,
            f"{scheme}://{api.host}{path}", ua, ep.method, headers, body, query, route, resp_headers, status, size,
            load_ms, resp_body, errors,
        ))
    return out


def _chunks_of_buckets(world: _World, size: int) -> list[list[int]]:
    """Consecutive buckets grouped into write batches of about `size` requests."""
    chunks, current, count = [], [], 0
    for b in range(len(world.buckets)):
        current.append(b)
        count += world.counts[b] + len(world.forced.get(b, ()))
        if count >= size:
            chunks.append(current)
            current, count = [], 0
    if current:
        chunks.append(current)
    return chunks


def _prepared(world: _World, chunk: list[int]) -> list:
    return [prepare(payload, world.api_ids) for b in chunk for payload in _bucket_payloads(world, b)]


def _write(engine: sa.Engine, items: list) -> None:
    if items:
        # The batch's last request time stands in for "received": deterministic, unlike the wall clock.
        store.write_requests(engine, items, received_at=items[-1][1].timestamp)


def _worker(world, engine, chunks, index, workers, turn, done, failed, message, cond) -> None:
    """Prepares every `workers`-th chunk in parallel with the others; writes strictly in chunk order."""
    engine.dispose(close=False)  # connections inherited through fork belong to the parent
    try:
        for c in range(index, len(chunks), workers):
            items = _prepared(world, chunks[c])
            with cond:
                while turn.value != c and not failed.value:
                    cond.wait(1.0)
                if failed.value:
                    return
            _write(engine, items)
            with cond:
                turn.value = c + 1
                done.value += len(items)
                cond.notify_all()
    except BaseException as exc:  # the parent turns this into a DemoError
        message.value = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[: len(message) - 1]
        with cond:
            failed.value = 1
            cond.notify_all()
        sys.exit(1)


def _run_parallel(world, engine, chunks, workers, progress, total) -> int:
    ctx = multiprocessing.get_context("fork")
    turn, done, failed = ctx.Value("i", 0), ctx.Value("q", 0), ctx.Value("i", 0)
    message = ctx.Array("c", 2000)
    cond = ctx.Condition()
    procs = [
        ctx.Process(target=_worker, args=(world, engine, chunks, i, workers, turn, done, failed, message, cond), daemon=True)
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    reported = -1
    try:
        while any(p.is_alive() for p in procs):
            with cond:
                cond.wait(0.25)
            if progress and done.value != reported:
                reported = done.value
                progress(reported, total)
            if any(p.exitcode not in (None, 0) for p in procs) and not failed.value:
                with cond:
                    failed.value = 1
                    cond.notify_all()
    finally:
        for p in procs:
            p.join()
    if progress and done.value != reported:
        progress(done.value, total)
    if failed.value or any(p.exitcode != 0 for p in procs):
        reason = message.value.decode("utf-8", "replace") or "a worker process stopped unexpectedly"
        raise DemoError(f"Generating demo data failed: {reason}")
    return done.value


def generate(
    engine: sa.Engine,
    *,
    requests: int,
    days: int,
    seed: int,
    now: dt.datetime,
    progress: Callable[[int, int], None] | None = None,
    append: bool = False,
    workers: int = 1,
) -> dict:
    """Generate `requests` demo requests over the `days` before `now` and store them through the real
    ingest path (normalise, enrich, write_requests). Deterministic for (seed, now, requests, days),
    whatever the number of worker processes. Returns {apis, customers, requests, days, seed, now, seconds}."""
    if requests < 1:
        raise DemoError("--requests must be at least 1.")
    if days < 1:
        raise DemoError("--days must be at least 1.")
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    now = now.astimezone(dt.timezone.utc)
    started = time.perf_counter()
    if not append:
        existing = existing_demo_requests(engine)
        if existing:
            raise DemoError(
                f"The database already holds {existing:,} requests for the demo APIs. Run with --append to add "
                "more, or point DATABASE_URL at an empty database."
            )
    world = _world(seed, requests, days, now, _ensure_apis(engine))
    chunks = _chunks_of_buckets(world, BATCH_SIZE)
    if workers > 1 and len(chunks) > 1:
        done = _run_parallel(world, engine, chunks, min(workers, len(chunks)), progress, requests)
    else:
        done = 0
        for chunk in chunks:
            items = _prepared(world, chunk)
            _write(engine, items)
            done += len(items)
            if progress:
                progress(done, requests)
    return {
        "apis": len(APIS),
        "customers": len(world.customers),
        "requests": done,
        "days": days,
        "seed": seed,
        "now": now.isoformat(),
        "seconds": round(time.perf_counter() - started, 2),
    }


# ---------------------------------------------------------------- demo accounts and bootstrap


def _account_customer(rank: int) -> Customer:
    return customer_profile(DEMO_SEED, rank)


_TOP = _account_customer(0)
_SECOND = _account_customer(1)

DEMO_ACCOUNTS: list[dict] = [
    {"email": "admin@demo.clientele", "name": "Ada Admin", "password": "orbit-lantern-meadow-42", "role": "admin",
     "customer_id": None, "group": None},
    {"email": "member@demo.clientele", "name": "Max Member", "password": "harbor-violet-summit-17", "role": "member",
     "customer_id": None, "group": None},
    {"email": "owner@top-customer.demo", "name": f"Olivia ({_TOP.name})", "password": "maple-circuit-river-63",
     "role": "customer", "customer_id": _TOP.customer_id, "group": f"{_TOP.name} team"},
    {"email": "dev@top-customer.demo", "name": f"Dev ({_TOP.name})", "password": "amber-falcon-delta-91",
     "role": "customer", "customer_id": _TOP.customer_id, "group": f"{_TOP.name} team"},
    {"email": "owner@second-customer.demo", "name": f"Sam ({_SECOND.name})", "password": "copper-willow-frost-28",
     "role": "customer", "customer_id": _SECOND.customer_id, "group": f"{_SECOND.name} team"},
]


def demo_accounts(engine: sa.Engine) -> list[dict]:
    """DEMO_ACCOUNTS when this database was bootstrapped as a demo; otherwise [] (never shown in production)."""
    with engine.connect() as conn:
        marker = conn.scalar(sa.select(Setting.value).where(Setting.key == "demo"))
    if not marker:
        return []
    return [dict(a) for a in DEMO_ACCOUNTS]


def _now_minute() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)


def _has_requests(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return conn.scalar(sa.select(Request.id).limit(1)) is not None


def bootstrap(engine: sa.Engine, *, requests: int, now: dt.datetime | None = None, progress=None) -> dict:
    """On an empty database: generate demo traffic (seed 7, 45 days) and create the demo accounts.
    Returns the generator's summary, or {"skipped": True} when there already are requests."""
    from core import auth

    if _has_requests(engine):
        return {"skipped": True}
    now = now or _now_minute()
    try:
        summary = generate(engine, requests=requests, days=DEMO_DAYS, seed=DEMO_SEED, now=now, progress=progress)
    except (DemoError, ValueError):
        if _has_requests(engine):  # another process bootstrapped at the same moment
            return {"skipped": True}
        raise
    with engine.connect() as conn:
        taken = set(conn.scalars(sa.select(models.User.email)))
    for account in DEMO_ACCOUNTS:
        if account["email"] in taken:
            continue
        auth.create_user(
            engine, email=account["email"], name=account["name"], password=account["password"],
            role=account["role"], customer_id=account["customer_id"], group=account["group"],
        )
    marker = {"accounts": [a["email"] for a in DEMO_ACCOUNTS], "generated_at": now.isoformat()}
    with engine.begin() as conn:
        conn.execute(sa.delete(Setting).where(Setting.key == "demo"))
        conn.execute(sa.insert(Setting).values(key="demo", value=marker))
    return summary


# ---------------------------------------------------------------- command line


def parse_now(text: str | None) -> dt.datetime:
    """--now as an aware UTC datetime truncated to the minute; default: the current minute."""
    if not text:
        return _now_minute()
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--now {text!r} is not an ISO time; use e.g. 2026-01-31T12:00 or 2026-01-31T12:00:00Z") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).replace(second=0, microsecond=0)


def main(args) -> int:
    """`python -m core demo`: exit 0 when loaded, 2 with a message when refused."""
    try:
        now = parse_now(args.now)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = models.get_engine()
    bars = []  # the bar appears with the first batch, so a refusal prints only its message

    def progress(done: int, total: int) -> None:
        if not bars:
            from tqdm import tqdm

            bars.append(tqdm(total=total, unit="req", unit_scale=True, file=sys.stderr, desc="demo"))
        bars[0].update(done - bars[0].n)

    try:
        summary = generate(
            engine, requests=args.requests, days=args.days, seed=args.seed, now=now,
            progress=None if args.no_progress else progress, append=getattr(args, "append", False),
            workers=min(4, os.cpu_count() or 1),
        )
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        for bar in bars:
            bar.close()
    rate = summary["requests"] / summary["seconds"] if summary["seconds"] else 0
    print(
        f"Demo data: {summary['requests']:,} requests from {summary['customers']:,} customers on {summary['apis']} APIs, "
        f"{summary['days']} days ending {summary['now']} (seed {summary['seed']}), in {summary['seconds']} s ({rate:,.0f} req/s)."
    )
    return 0
