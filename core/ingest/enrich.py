"""Enrichment at ingest: device class, AI agent, country and threat level of one normalised request.

Runs on every request (1M in the demo), so everything that depends only on the user agent or the IP
is cached per distinct value. Every pattern here is RE2 (google-re2): matching time is linear in the
text whatever the text, so no request can make a rule backtrack for seconds (ReDoS). RE2 has no
lookarounds or backreferences; the rules are written without them.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import crawleruseragents
import iptocc
import orjson
import re2
import ua_parser

from core.domain.masking import is_sensitive
from core.domain.problems import body_message
from core.domain.record import FAILED_STATUS, NormalizedRequest

DEVICES = ("desktop", "mobile", "tablet", "bot", "server", "unknown")

# Request bodies are scanned up to this many bytes of their JSON form: attacks sit near the top,
# and a bound keeps a 64 KiB body from costing more than a small one.
MAX_BODY_SCAN_BYTES = 16 * 1024

# RE2's \s is ASCII [\t\n\f\r ]; Python's, for which these rules were written, also matches \v, \x1c-\x1f
# and Unicode spaces, which some SQL parsers and shells accept as separators (a classic filter evasion).
_PY_SPACE = r"[\t-\r\x1c-\x1f\x85\pZ]"


def _linear(pattern: str, ignore_case: bool = False):
    """An RE2 pattern of ours: `\\s` (never inside a [class] here) means what it means in Python's `re`."""
    return re2.compile(("(?i)" if ignore_case else "") + pattern.replace(r"\s", _PY_SPACE))


# ---------------------------------------------------------------- AI agents

# (name shown in the UI, pattern). Checked in order before crawler-user-agents' "ai-crawler" list,
# so the well-known services get their official product token as name.
AI_AGENTS: tuple[tuple[str, str], ...] = (
    ("ChatGPT-User", r"ChatGPT-User"),
    ("OAI-SearchBot", r"OAI-SearchBot"),
    ("GPTBot", r"GPTBot"),
    ("Claude-User", r"Claude-User"),
    ("Claude-SearchBot", r"Claude-SearchBot"),
    ("ClaudeBot", r"ClaudeBot"),
    ("Claude-Web", r"Claude-Web"),
    ("anthropic-ai", r"anthropic-ai"),
    ("Perplexity-User", r"Perplexity-?User"),
    ("PerplexityBot", r"PerplexityBot"),
    ("Google-Extended", r"Google-Extended"),
    ("Gemini-Deep-Research", r"Gemini-Deep-Research"),
    ("Google-NotebookLM", r"Google-NotebookLM"),
    ("Bytespider", r"Bytespider"),
    ("CCBot", r"CCBot"),
    ("Meta-ExternalAgent", r"meta-externalagent"),
    ("Meta-ExternalFetcher", r"meta-externalfetcher"),
    ("Amazonbot", r"Amazonbot"),
    ("Applebot-Extended", r"Applebot-Extended"),
    ("cohere-ai", r"cohere-ai"),
    ("MistralAI-User", r"MistralAI-User"),
    ("DuckAssistBot", r"DuckAssistBot"),
    ("YouBot", r"YouBot"),
    ("DeepSeekBot", r"DeepSeekBot"),
    ("AI2Bot", r"AI2Bot"),
    ("PhindBot", r"PhindBot"),
    ("Timpibot", r"Timpibot"),
)
_AI_AGENT_RES = tuple((name, _linear(pattern, ignore_case=True)) for name, pattern in AI_AGENTS)
_CRAWLER_AI_RES = tuple(
    re2.compile(entry["pattern"])
    for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
    if "ai-crawler" in entry.get("tags", ())
)

# ---------------------------------------------------------------- user agents

# HTTP libraries and API tools: a program calling the API, not a person (server-to-server).
_SERVER_CLIENT = _linear(
    r"^(curl|wget|python-requests|python-urllib|python-httpx|httpx|aiohttp|urllib3|go-http-client|okhttp|axios|"
    r"node-fetch|undici|node|got|postmanruntime|insomnia|httpie|java|apache-httpclient|jakarta commons-httpclient|"
    r"jetty|reactor-netty|feign|guzzlehttp|guzzle|symfony httpclient|php|ruby|faraday|rest-client|typhoeus|"
    r"excon|libwww-perl|lwp::simple|dart|dio|restsharp|\.net|microsoft\.net|windowspowershell|powershell|"
    r"reqwest|hyper|ktor-client|elixir|hackney|finch|resty|k6|apachebench|vegeta|locust|jmeter|artillery|"
    r"azure-sdk|aws-sdk|boto3|botocore|google-api|zapier|n8n|svix-webhooks)\b",
    ignore_case=True,
)
_SERVER_ANYWHERE = _linear(r"\b(Apache-HttpClient|Java/\d|okhttp|python-requests|Go-http-client|aws-sdk-\w+)\b", ignore_case=True)
# "product/1.2" and nothing that looks like a browser or device: an in-house service client.
_PRODUCT_TOKEN = _linear(r"^[A-Za-z][\w.\-]*/v?\d[\w.\-]*(\s+[A-Za-z][\w.\-]*/v?\d[\w.\-]*)*$")
_TABLET_TOKEN = _linear(r"\bTablet\b")

# Offensive scanners; monitoring and certificate bots from crawler-user-agents' "scanner" tag are
# not hostile and do not belong here.
SCANNERS: tuple[str, ...] = (
    "sqlmap", "nikto", "nmap", "masscan", "zgrab", "nuclei", "wpscan", "acunetix", "nessus", "openvas",
    "dirbuster", "gobuster", "dirb", "ffuf", "wfuzz", "feroxbuster", "zmeu", "whatweb", "burp", "arachni",
    "w3af", "skipfish", "havij", "jaeles", "commix", "netsparker", "appscan", "qualys", "hydra", "l9explore",
)
# A scanner's name not glued to a preceding letter ("nmap", not "unmapped").
_SCANNER_RE = _linear(r"(?:^|[^a-z])(?:" + "|".join(re2.escape(s) for s in SCANNERS) + r")", ignore_case=True)

_TABLET_FAMILIES = {"iPad", "Kindle", "Generic Tablet"}
_MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "Symbian OS", "Tizen", "HarmonyOS"}
_DESKTOP_OS = {
    "Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Fedora", "Debian", "Chrome OS", "ChromeOS",
    "FreeBSD", "OpenBSD", "NetBSD", "Mint", "Arch Linux", "Red Hat", "SUSE", "Solaris", "CentOS",
}
_DESKTOP_BROWSERS = {"Chrome", "Firefox", "Safari", "Edge", "Opera", "IE", "Vivaldi", "Brave", "Yandex Browser", "Chromium"}


@lru_cache(maxsize=65536)
def ai_agent_for(user_agent: str | None) -> str | None:
    """The AI service behind a user agent ("GPTBot", "ClaudeBot" …), or None."""
    if not user_agent:
        return None
    for name, pattern in _AI_AGENT_RES:
        if pattern.search(user_agent):
            return name
    for pattern in _CRAWLER_AI_RES:
        match = pattern.search(user_agent)
        if match:
            return match.group(0).rstrip("/").strip() or None
    return None


@lru_cache(maxsize=65536)
def is_scanner(user_agent: str | None) -> bool:
    """True for the user agent of a known vulnerability scanner (sqlmap, nikto, nuclei …)."""
    return bool(user_agent) and _SCANNER_RE.search(user_agent) is not None


def build_user_agent_parser() -> None:
    """Build ua_parser's parser now rather than at the first request that needs it (about 0.3 s of regexes):
    processes forked afterwards (the demo's workers) then share it instead of each building its own."""
    ua_parser.parse("")


@lru_cache(maxsize=65536)
def device_for(user_agent: str | None) -> str:
    """desktop | mobile | tablet | bot | server (a program calling the API) | unknown."""
    ua = (user_agent or "").strip()
    if not ua:
        return "server"  # browsers and phones always send one; only hand-written clients omit it
    if ai_agent_for(ua) or is_scanner(ua):
        return "bot"
    if _SERVER_CLIENT.match(ua) or _SERVER_ANYWHERE.search(ua):
        return "server"
    if crawleruseragents.is_crawler(ua):
        return "bot"
    parsed = ua_parser.parse(ua)
    device = parsed.device
    os_family = parsed.os.family if parsed.os else None
    browser = parsed.user_agent.family if parsed.user_agent else None
    if device is not None and device.family == "Spider":
        return "bot"
    if device is not None and (device.family in _TABLET_FAMILIES or (device.brand or "").endswith("Tablet")):
        return "tablet"
    if _TABLET_TOKEN.search(ua) and "Mobile" not in ua:
        return "tablet"
    if os_family == "Android" and "Mobile" not in ua and "Dalvik" not in ua and ua.startswith("Mozilla/"):
        return "tablet"  # Android browsers on tablets drop the "Mobile" token
    if os_family in _MOBILE_OS or (device is not None and device.family in ("iPhone", "iPod")):
        return "mobile"
    if os_family in _DESKTOP_OS or browser in _DESKTOP_BROWSERS:
        return "desktop"
    if _PRODUCT_TOKEN.match(ua):
        return "server"
    return "unknown"


# ---------------------------------------------------------------- countries


@lru_cache(maxsize=262144)
def country_for(ip: str | None) -> str | None:
    """ISO-3166 alpha-2 code of a public IP (offline database); None for private, reserved or invalid."""
    if not ip:
        return None
    # The database maps only addresses the registries allocated: private, loopback, link-local,
    # documentation, multicast and malformed addresses all come back as None (tests pin this down).
    # That spares an ipaddress parse and is_global walk, 5x the cost of the lookup itself.
    code = iptocc.country_code(ip.strip())
    return code.upper() if code else None


# ---------------------------------------------------------------- threat rules

# (level, rule id, description). The README and the UI list these; every id can appear in
# request_details.threat_reasons.
RULES: list[tuple[str, str, str]] = [
    ("High", "sql_injection", "SQL injection patterns (' OR 1=1, UNION SELECT, ; DROP TABLE, SLEEP(…)) in the URL, query or request body"),
    ("High", "path_traversal", "Path traversal (../, ..\\, %2e%2e) in the URL, query or request body"),
    ("High", "xss", "Cross-site scripting (<script, javascript:, onerror=) in the URL, query or request body"),
    ("High", "command_injection", "Shell command injection (; cat /etc/passwd, $(…), && whoami, /bin/sh) in the URL, query or request body"),
    ("High", "credentials_over_http",
     "Credentials (Authorization or API-key header, a token, key or password parameter) sent over plain http:// to a host "
     "other than localhost; an https proxy in front (X-Forwarded-Proto or Forwarded: proto=https) is not plain http"),
    ("Medium", "unauthenticated_write", "A write (POST, PUT, PATCH, DELETE) without any authentication header (Authorization, API key, cookie)"),
    ("Medium", "scanner_user_agent", "User agent of a known vulnerability scanner (sqlmap, nikto, nmap, masscan, zgrab, nuclei, wpscan, acunetix …)"),
    ("Medium", "sensitive_path_probe", "Probing of well-known sensitive paths (/.env, /.git, /wp-admin, /phpmyadmin, /server-status …)"),
]
_LEVEL_OF = {rule_id: level for level, rule_id, _ in RULES}
_RANK = {"Low": 0, "Medium": 1, "High": 2}

# The content patterns run on lower-cased text, so they need no case-insensitive matching.
_SQLI = _linear(
    r"\b(?:or|and)\s+(?:'[^']*'|\"[^\"]*\"|\d+)\s*(?:=|<|>|like\b)\s*(?:'|\"|\d)"
    r"|'\s*(?:or|and)\s+(?:true|false|not)\b"
    r"|\bunion(?:\s+all|\s+distinct)?\s+select\b"
    r"|;\s*(?:drop|delete|insert|update|truncate|alter|create|exec)\s+(?:table|from|into|database|\w+\s+set)\b"
    r"|\b(?:sleep|pg_sleep|benchmark|load_file|extractvalue|updatexml)\s*\("
    r"|\bwaitfor\s+delay\b"
    r"|\b(?:information_schema|xp_cmdshell|sqlite_master|pg_catalog)\b"
    r"|'\s*(?:--|#|/\*)"
    r"|/\*!\d*"
)
_TRAVERSAL = _linear(r"\.\.[/\\]")
_TRAVERSAL_RAW = _linear(r"%2e%2e|%252e%252e|\.\.%2f|\.\.%5c|%c0%ae|\.\.;/")
# `<[^>]*\bon…=` is quadratic in a backtracking engine (16,000 "<" took 5 s in `re`); RE2 runs it in one pass.
_XSS = _linear(r"<\s*script|javascript\s*:|<[^>]*\bon(?:error|load|mouseover|focus)\s*=|<\s*iframe|<\s*svg[^>]*onload")
_CMDI = _linear(
    r"(?:;|&&|\|\|?|`)\s*(?:cat\s+/|ls\s+-|id\s*(?:$|[;&|`])|whoami|uname\s+-a|wget\s+https?:|curl\s+https?:|nc\s+-|"
    r"ncat\s|bash\s+-[ci]|sh\s+-c|rm\s+-rf|ping\s+-c|nslookup\s|python3?\s+-c|perl\s+-e|powershell)"
    r"|\$\(|/etc/(?:passwd|shadow)\b|/bin/(?:ba)?sh\b|\bcmd\.exe\b"
)
# The path must end after the name or go on with / ? # or . (no lookahead in RE2: the character is consumed).
_SENSITIVE_PATH = _linear(
    r"/(?:\.env|\.git|\.svn|\.hg|\.aws|\.ssh|\.htaccess|\.htpasswd|\.ds_store|\.vscode|\.idea|wp-admin|wp-login\.php|"
    r"wp-config\.php|wp-content|wp-includes|xmlrpc\.php|phpmyadmin|pma|adminer(?:\.php)?|server-status|server-info|"
    r"phpinfo\.php|info\.php|config\.php|configuration\.php|web\.config|actuator|jmx-console|manager/html|"
    r"cgi-bin|vendor/phpunit|solr/admin|debug/default/view|backup\.(?:sql|zip|tar\.gz)|dump\.sql|database\.sql|"
    r"id_rsa|\.bash_history|secrets?\.(?:json|ya?ml))(?:$|[/?#.])"
)
_CONTENT_RULES = (("sql_injection", _SQLI), ("path_traversal", _TRAVERSAL), ("xss", _XSS), ("command_injection", _CMDI))
# Texts up to this length have their findings cached: bodies and URLs repeat a lot in real traffic.
_CACHEABLE_CHARS = 2048
_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"}
_AUTH_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "apikey", "x-auth-token", "x-access-token"}


def describe_rules() -> list[dict]:
    """The threat rules as [{"level", "id", "description"}], highest level first."""
    return [{"level": level, "id": rule_id, "description": text} for level, rule_id, text in RULES]


def _json_text(value: Any) -> str:
    if value in (None, "", {}, []):
        return ""
    if isinstance(value, str):
        return value[:MAX_BODY_SCAN_BYTES]
    try:
        return orjson.dumps(value)[:MAX_BODY_SCAN_BYTES].decode("utf-8", "ignore")
    except (TypeError, orjson.JSONEncodeError):
        return ""


def _decoded(text: str) -> str:
    """URL-decoded text, twice for double-encoding; '+' is a space in query strings."""
    if "%" not in text and "+" not in text:
        return text
    once = unquote_plus(text)
    return unquote_plus(once) if "%" in once else once


def _has_auth_header(headers: dict) -> bool:
    for name, value in headers.items():
        if value in (None, "", []):
            continue
        lowered = name.lower()
        if lowered in _AUTH_HEADERS or is_sensitive(lowered):
            return True
    return False


def _header(headers: dict, name: str) -> str:
    """The first value of a header (names compared case-insensitively); "" when absent."""
    for key, value in headers.items():
        if key.lower() == name:
            if isinstance(value, list):
                value = value[0] if value else ""
            return value if isinstance(value, str) else ""
    return ""


def _client_scheme(url_scheme: str, headers: dict) -> str:
    """The scheme the client used: behind a TLS-terminating proxy the app sees http:// and the proxy says
    https in X-Forwarded-Proto or Forwarded (Django without SECURE_PROXY_SSL_HEADER reports such URLs)."""
    if url_scheme != "http":
        return url_scheme
    # With several proxies the first value is the one the client spoke to.
    proto = _header(headers, "x-forwarded-proto").split(",")[0].strip().lower()
    if not proto:
        for pair in _header(headers, "forwarded").split(",")[0].split(";"):
            key, _, value = pair.partition("=")
            if key.strip().lower() == "proto":
                proto = value.strip().strip('"').lower()
    return "https" if proto == "https" else url_scheme


def _has_credentials(request: NormalizedRequest, query: str) -> bool:
    if _has_auth_header(request.request_headers or {}):
        return True
    for source in (request.query, request.request_body):
        if isinstance(source, dict) and any(is_sensitive(str(k)) and v not in (None, "") for k, v in source.items()):
            return True
    if query:
        for part in query.split("&"):
            key = part.split("=", 1)[0]
            if key and is_sensitive(unquote_plus(key)):
                return True
    return False


def _scan(raw: str, decoded: str) -> frozenset[str]:
    """Content rules firing in a text: `decoded` is its URL-decoded, lower-cased form; `raw` lower-cased."""
    fired = {rule_id for rule_id, pattern in _CONTENT_RULES if pattern.search(decoded)}
    if "path_traversal" not in fired and "%" in raw and _TRAVERSAL_RAW.search(raw):
        fired.add("path_traversal")
    return frozenset(fired)


_scan_cached = lru_cache(maxsize=32768)(_scan)


def _scan_text(raw: str, decode: bool) -> frozenset[str]:
    if not raw:
        return frozenset()
    raw = raw.lower()
    decoded = _decoded(raw) if decode else raw
    return _scan_cached(raw, decoded) if len(raw) <= _CACHEABLE_CHARS else _scan(raw, decoded)


@lru_cache(maxsize=65536)
def _url_facts(url: str) -> tuple[frozenset[str], str, str, str, bool, bool]:
    """(content rules firing in the URL, scheme, host, query, has user:password@, sensitive path)."""
    try:
        parts = urlsplit(url)
        scheme, host, path, query = parts.scheme.lower(), (parts.hostname or "").lower(), parts.path, parts.query
        has_userinfo = "@" in parts.netloc
    except ValueError:
        scheme, host, path, query, has_userinfo = "", "", url, "", False
    sensitive = _SENSITIVE_PATH.search(_decoded(path).lower() or "/") is not None
    return _scan_text(url, True), scheme, host, query, has_userinfo, sensitive


def threats(request: NormalizedRequest) -> list[str]:
    """Ids of the RULES that fire for this request, in RULES order."""
    url = request.url or ""
    content, scheme, host, query, has_userinfo, sensitive = _url_facts(url)
    if not query and request.query:
        content = content | _scan_text(_json_text(request.query), True)
    body = request.request_body
    if body not in (None, "", {}, []):
        # A string body may be form-encoded ("q=1%27+OR+..."); JSON bodies are scanned as they are.
        content = content | _scan_text(_json_text(body), isinstance(body, str))

    fired = [rule_id for rule_id, _pattern in _CONTENT_RULES if rule_id in content] if content else []
    if (
        scheme == "http"
        and host not in _LOCAL_HOSTS
        and (has_userinfo or _has_credentials(request, query))
        and _client_scheme(scheme, request.request_headers or {}) == "http"
    ):
        fired.append("credentials_over_http")
    if request.method in _WRITE_METHODS and not _has_auth_header(request.request_headers or {}):
        fired.append("unauthenticated_write")
    if is_scanner(request.user_agent):
        fired.append("scanner_user_agent")
    if sensitive:
        fired.append("sensitive_path_probe")
    return fired


def threat_level(reasons: list[str]) -> str:
    """The highest level among the fired rules; Low when none fired."""
    best = "Low"
    for rule_id in reasons:
        level = _LEVEL_OF[rule_id]
        if _RANK[level] > _RANK[best]:
            best = level
    return best


# ---------------------------------------------------------------- entry point


def problem_of(request: NormalizedRequest) -> str | None:
    """NormalizedRequest.problem: for a failed request whose SDK reported no error message, what its response body
    says went wrong ("" for nothing readable), as error groups would read it from the stored body; else None."""
    if request.status < FAILED_STATUS:
        return None
    errors = request.errors
    if errors and isinstance(errors[0], dict) and errors[0].get("message") is not None:
        return None
    return body_message(request.response_body) or ""


def enrich(request: NormalizedRequest) -> NormalizedRequest:
    """Fill device, ai_agent, country, threat_level, threat_reasons and problem; returns the same object."""
    ua = request.user_agent
    request.ai_agent = ai_agent_for(ua)
    request.device = "bot" if request.ai_agent else device_for(ua)
    request.country = country_for(request.ip)
    reasons = threats(request)
    request.threat_reasons = reasons
    request.threat_level = threat_level(reasons) if reasons else "Low"
    request.problem = problem_of(request)
    return request
