"""The demo's fixed catalogue: the four APIs with their endpoints, the incidents, the user agents of
browsers, servers, AI agents, search bots and scanners, and the probes scanners send."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

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

# ---------------------------------------------------------------- user agents

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
