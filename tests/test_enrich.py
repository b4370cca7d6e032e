"""Enrichment: device classes from real user agents, AI agents, countries, and every threat rule."""
from __future__ import annotations

import copy

import pytest

from core.domain.countries import country_name
from core.ingest import enrich
from core.ingest.normalize import normalize
from tests.conftest import fixture_payload

CHROME_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
SAFARI_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
ANDROID_PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
IOS_APP = "Acme/5.2.1 CFNetwork/1494.0.7 Darwin/23.4.0"
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
ANDROID_TABLET = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"


# ---------------------------------------------------------------- helpers


def _payload(**request_fields) -> dict:
    """A real captured django payload (POST with Authorization, on localhost) with request fields replaced."""
    payload = copy.deepcopy(fixture_payload("django-02-post-json-user-id-and-metadata.json"))
    for key, value in request_fields.items():
        payload["data"]["request"][key] = value
    return payload


def _enriched(**request_fields):
    return enrich.enrich(normalize(_payload(**request_fields)))


def _get(url: str, **fields):
    return _enriched(method="GET", url=url, body={}, **fields)


# ---------------------------------------------------------------- devices


@pytest.mark.parametrize("ua", [CHROME_WINDOWS, SAFARI_MAC, FIREFOX_LINUX])
def test_desktop_browsers_are_desktop(ua):
    assert enrich.device_for(ua) == "desktop"


@pytest.mark.parametrize("ua", [IPHONE, ANDROID_PHONE, IOS_APP])
def test_phones_and_phone_apps_are_mobile(ua):
    assert enrich.device_for(ua) == "mobile"


@pytest.mark.parametrize("ua", [IPAD, ANDROID_TABLET])
def test_ipads_and_android_tablets_are_tablets(ua):
    assert enrich.device_for(ua) == "tablet"


@pytest.mark.parametrize(
    "ua",
    [
        "curl/8.5.0",
        "python-requests/2.31.0",
        "Go-http-client/2.0",
        "okhttp/4.12.0",
        "axios/1.6.8",
        "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
        "PostmanRuntime/7.37.3",
        "Java/17.0.2",
        "Apache-HttpClient/4.5.14 (Java/17.0.2)",
        "acme-billing-sync/2.4.1",
    ],
)
def test_http_libraries_and_service_clients_are_server(ua):
    assert enrich.device_for(ua) == "server"


def test_the_user_agent_parser_built_ahead_is_the_one_requests_use():
    import ua_parser

    enrich.build_user_agent_parser()
    built = ua_parser.parser
    enrich.device_for.cache_clear()
    assert enrich.device_for(IPAD) == "tablet"
    assert ua_parser.parser is built


def test_a_missing_user_agent_is_server_to_server():
    assert enrich.device_for(None) == "server"


@pytest.mark.parametrize("ua", [GOOGLEBOT, "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"])
def test_search_crawlers_are_bots(ua):
    assert enrich.device_for(ua) == "bot"


def test_text_that_is_no_user_agent_is_unknown():
    assert enrich.device_for("hello world") == "unknown"


# ---------------------------------------------------------------- AI agents


@pytest.mark.parametrize(
    ("ua", "agent"),
    [
        (GPTBOT, "GPTBot"),
        ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot", "ChatGPT-User"),
        (CHROME_WINDOWS + "; compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot", "OAI-SearchBot"),
        ("Mozilla/5.0 (compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", "ClaudeBot"),
        ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Claude-User/1.0; +Claude-User@anthropic.com)", "Claude-User"),
        ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)", "PerplexityBot"),
        ("Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.0.0 Safari/537.36", "Bytespider"),
        ("CCBot/2.0 (https://commoncrawl.org/faq/)", "CCBot"),
        ("meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)", "Meta-ExternalAgent"),
        ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot)", "Amazonbot"),
        ("Mozilla/5.0 (compatible; MistralAI-User/1.0; +https://docs.mistral.ai/robots)", "MistralAI-User"),
    ],
)
def test_ai_agents_are_named_by_their_product_token(ua, agent):
    assert enrich.ai_agent_for(ua) == agent


def test_ai_crawlers_missing_from_our_list_are_named_from_crawler_user_agents():
    assert enrich.ai_agent_for("Mozilla/5.0 (compatible; TavilyBot/1.0)") == "TavilyBot"


@pytest.mark.parametrize("ua", [CHROME_WINDOWS, IPHONE, GOOGLEBOT, "curl/8.5.0", None])
def test_browsers_tools_and_search_crawlers_are_not_ai_agents(ua):
    assert enrich.ai_agent_for(ua) is None


def test_an_ai_agent_request_is_a_bot_device():
    request = _get("https://api.example.com/v1/products", user_agent=GPTBOT)
    assert (request.ai_agent, request.device) == ("GPTBot", "bot")


# ---------------------------------------------------------------- countries


@pytest.mark.parametrize(
    ("ip", "code"),
    [("8.8.8.8", "US"), ("81.2.69.160", "GB"), ("133.242.0.1", "JP"), ("200.160.2.3", "BR"), ("2a00:1450:4001::1", "IE")],
)
def test_public_ips_map_to_their_country(ip, code):
    assert enrich.country_for(ip) == code


@pytest.mark.parametrize(
    "ip",
    [
        "10.0.0.1", "192.168.1.20", "172.16.5.4", "127.0.0.1", "::1", "100.64.0.1", "169.254.10.1", "203.0.113.5",
        "198.18.0.7", "0.0.0.0", "224.0.0.251", "255.255.255.255", "fe80::1", "fd12:3456::1", "2001:db8::1",
    ],
)
def test_private_loopback_and_reserved_ips_have_no_country(ip):
    assert enrich.country_for(ip) is None


@pytest.mark.parametrize("ip", ["not-an-ip", "999.1.1.1", "8.8.8.8:80", "", None])
def test_invalid_ips_have_no_country(ip):
    assert enrich.country_for(ip) is None


def test_the_request_country_comes_from_its_ip():
    assert _get("https://api.example.com/v1/x", ip="81.2.69.160").country == "GB"


def test_country_names_are_readable():
    assert (country_name("DE"), country_name("gb")) == ("Germany", "United Kingdom")


def test_a_missing_country_reads_unknown_and_an_odd_code_is_kept():
    assert (country_name(None), country_name("ZZ")) == ("Unknown", "ZZ")


# ---------------------------------------------------------------- threat rules


def test_the_captured_local_post_with_authorization_is_low():
    request = _enriched()
    assert (request.threat_level, request.threat_reasons) == ("Low", [])


def test_every_rule_is_described_with_its_level():
    rules = enrich.describe_rules()
    assert [r["id"] for r in rules] == [
        "sql_injection", "path_traversal", "xss", "command_injection", "credentials_over_http",
        "unauthenticated_write", "scanner_user_agent", "sensitive_path_probe",
    ]
    assert [r["level"] for r in rules] == ["High"] * 5 + ["Medium"] * 3
    assert all(r["description"] for r in rules)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1/users?id=1%27%20OR%20%271%27%3D%271",
        "https://api.example.com/v1/users?id=1 UNION SELECT username, password FROM users",
        "https://api.example.com/v1/users?name=x%27%3B%20DROP%20TABLE%20users--",
        "https://api.example.com/v1/users?id=1%20AND%20SLEEP(5)",
    ],
)
def test_sql_injection_in_the_url_is_high(url):
    request = _get(url)
    assert (request.threat_level, request.threat_reasons) == ("High", ["sql_injection"])


@pytest.mark.parametrize("space", ["%0b", "%c2%a0", "%e2%80%83"])  # vertical tab, no-break space, em space
def test_sql_injection_separated_by_unusual_whitespace_is_high(space):
    request = _get(f"https://api.example.com/v1/users?id=1{space}union{space}select{space}password")
    assert request.threat_reasons == ["sql_injection"]


def test_sql_injection_in_the_request_body_is_high():
    request = _enriched(body={"username": "admin' OR '1'='1", "remember": True})
    assert (request.threat_level, request.threat_reasons) == ("High", ["sql_injection"])


def test_sql_injection_in_a_form_encoded_body_is_high():
    request = _enriched(body="user=admin%27+OR+%271%27%3D%271&password=x")
    assert request.threat_reasons == ["sql_injection"]


def test_sql_injection_in_a_query_only_sent_as_the_query_object_is_high():
    request = _get("https://api.example.com/v1/users", query={"q": "1 union select null,null"})
    assert request.threat_reasons == ["sql_injection"]


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1/files/../../etc/hosts",
        "https://api.example.com/v1/files?name=%2e%2e%2f%2e%2e%2fwindows%2fwin.ini",
        "https://api.example.com/v1/files?name=..%5c..%5cboot.ini",
    ],
)
def test_path_traversal_is_high(url):
    request = _get(url)
    assert (request.threat_level, request.threat_reasons) == ("High", ["path_traversal"])


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
        "https://api.example.com/v1/redirect?to=javascript:alert(document.domain)",
        "https://api.example.com/v1/search?q=<img src=x onerror=alert(1)>",
    ],
)
def test_cross_site_scripting_is_high(url):
    request = _get(url)
    assert (request.threat_level, request.threat_reasons) == ("High", ["xss"])


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1/ping?host=8.8.8.8;%20cat%20/etc/passwd",
        "https://api.example.com/v1/ping?host=$(whoami)",
        "https://api.example.com/v1/ping?host=example.com%20%26%26%20whoami",
    ],
)
def test_command_injection_is_high(url):
    request = _get(url)
    assert (request.threat_level, request.threat_reasons) == ("High", ["command_injection"])


def test_an_authorization_header_over_plain_http_is_high():
    request = _enriched(url="http://api.example.com/api/orders")
    assert (request.threat_level, request.threat_reasons) == ("High", ["credentials_over_http"])


def test_masked_authorization_still_counts_as_credentials():
    request = _enriched(url="http://api.example.com/api/orders")
    assert request.request_headers["authorization"] == "Bearer *******"
    assert request.threat_reasons == ["credentials_over_http"]


def test_an_api_key_in_the_query_over_plain_http_is_high():
    request = _get("http://api.example.com/v1/products?api_key=abc123", headers={"accept": "*/*"})
    assert request.threat_reasons == ["credentials_over_http"]


def test_credentials_over_http_to_localhost_are_not_a_threat():
    request = _enriched(url="http://localhost:8000/api/orders")
    assert request.threat_reasons == []


def test_credentials_over_https_are_not_a_threat():
    request = _enriched(url="https://api.example.com/api/orders")
    assert request.threat_reasons == []


def _behind_tls_proxy(**proxy_headers):
    """The captured Django POST (Bearer token) as an app behind a TLS-terminating proxy reports it: http:// URL."""
    headers = {**fixture_payload("django-02-post-json-user-id-and-metadata.json")["data"]["request"]["headers"], **proxy_headers}
    return _enriched(url="http://api.example.com/api/orders", headers=headers)


@pytest.mark.parametrize(
    "proxy_headers",
    [
        {"x-forwarded-proto": "https"},
        {"X-Forwarded-Proto": "HTTPS"},
        {"x-forwarded-proto": "https, http"},
        {"forwarded": "for=203.0.113.7;proto=https;host=api.example.com"},
        {"Forwarded": 'for="[2001:db8::1]";Proto="https", for=10.0.0.2;proto=http'},
    ],
)
def test_credentials_behind_a_tls_terminating_proxy_are_not_a_threat(proxy_headers):
    request = _behind_tls_proxy(**proxy_headers)
    assert request.request_headers["authorization"] == "Bearer *******"
    assert (request.threat_level, request.threat_reasons) == ("Low", [])


@pytest.mark.parametrize("proxy_headers", [{"x-forwarded-proto": "http"}, {"forwarded": "for=203.0.113.7;proto=http"}, {}])
def test_credentials_a_proxy_received_over_plain_http_are_still_high(proxy_headers):
    request = _behind_tls_proxy(**proxy_headers)
    assert (request.threat_level, request.threat_reasons) == ("High", ["credentials_over_http"])


def test_plain_http_without_credentials_is_low():
    request = _get("http://api.example.com/v1/products", headers={"accept": "*/*"})
    assert (request.threat_level, request.threat_reasons) == ("Low", [])


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_without_any_auth_header_is_medium(method):
    request = _enriched(method=method, url="https://api.example.com/api/orders", headers={"content-type": "application/json"})
    assert (request.threat_level, request.threat_reasons) == ("Medium", ["unauthenticated_write"])


@pytest.mark.parametrize("header", ["x-api-key", "Cookie", "Authorization"])
def test_a_write_with_an_api_key_cookie_or_authorization_is_authenticated(header):
    request = _enriched(url="https://api.example.com/api/orders", headers={"content-type": "application/json", header: "secret-value"})
    assert request.threat_reasons == []


def test_a_read_without_auth_is_low():
    request = _get("https://api.example.com/v1/products", headers={"accept": "*/*"})
    assert request.threat_level == "Low"


@pytest.mark.parametrize(
    "ua",
    [
        "sqlmap/1.8#stable (https://sqlmap.org)",
        "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)",
        "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
        "Mozilla/5.0 zgrab/0.x",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36 (nuclei)",
        "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
    ],
)
def test_a_vulnerability_scanner_user_agent_is_medium(ua):
    request = _get("https://api.example.com/v1/products", user_agent=ua)
    assert (request.threat_level, request.threat_reasons, request.device) == ("Medium", ["scanner_user_agent"], "bot")


@pytest.mark.parametrize("path", ["/.env", "/.git/config", "/wp-admin/", "/wp-login.php", "/phpmyadmin/index.php", "/server-status"])
def test_probing_sensitive_paths_is_medium(path):
    request = _get("https://api.example.com" + path)
    assert (request.threat_level, request.threat_reasons) == ("Medium", ["sensitive_path_probe"])


@pytest.mark.parametrize("path", ["/v1/environments", "/v1/settings/git-integration", "/v1/admin/users", "/v1/status"])
def test_ordinary_paths_that_resemble_sensitive_ones_are_low(path):
    assert _get("https://api.example.com" + path).threat_reasons == []


@pytest.mark.parametrize(
    "body",
    [
        {"note": "Rock and roll; cat lovers welcome", "tags": ["and", "or"]},
        {"title": "Terms & conditions", "url": "https://example.com/a?b=1&id=2"},
        {"comment": "it's fine -- really", "price": "$ 10"},
    ],
)
def test_ordinary_text_in_bodies_raises_no_threat(body):
    assert _enriched(url="https://api.example.com/api/notes", body=body).threat_reasons == []


def test_the_highest_level_wins_and_every_fired_rule_is_listed():
    request = _enriched(
        url="https://api.example.com/.env?id=1%20UNION%20SELECT%201",
        headers={"content-type": "application/json"},
        user_agent="sqlmap/1.8#stable (https://sqlmap.org)",
    )
    assert request.threat_level == "High"
    assert request.threat_reasons == ["sql_injection", "unauthenticated_write", "scanner_user_agent", "sensitive_path_probe"]


def test_huge_bodies_are_scanned_only_up_to_the_bound():
    body = {"filler": "a" * (enrich.MAX_BODY_SCAN_BYTES + 100), "attack": "1 UNION SELECT password FROM users"}
    assert _enriched(url="https://api.example.com/api/notes", body=body).threat_reasons == []
