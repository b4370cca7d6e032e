"""The request-history table as people read it: display columns, filter choices, page labels and the
bounded CSV export of every filtered row (on top of core.storage.request_log, which does the scoped querying)."""
from __future__ import annotations

import shlex
from dataclasses import replace
from urllib.parse import urlencode

import orjson
import polars as pl
import sqlalchemy as sa

from core.domain.countries import country_name
from core.domain.masking import mask, mask_body, mask_url
from core.domain.scope import Scope
from core.present import fmt
from core.present.tables import fill_missing_text, fitting_columns
from core.storage.request_log import COUNT_CAP, MAX_PAGE_SIZE, STATUS_CLASSES, HistoryPage, HistoryQuery, request_history

UNKNOWN_COUNTRY = "unknown"  # how an unknown location is written in a URL
# Display column names, in order (units in the names).
TIME, METHOD, STATUS, ENDPOINT, LOAD, SIZE = "Time", "Method", "Status", "Endpoint", "Load time (ms)", "Size"
THREAT, DEVICE, AGENT, LOCATION, CUSTOMER, CUSTOMER_ID, API, REQUEST_ID = (
    "Threat", "Device", "AI agent", "Location", "Customer", "Customer ID", "API", "Request ID")
# Display widths (px), sized like core.present.tables.CUSTOMER_WIDTHS: each header and typical values fit.
WIDTHS = {TIME: 150, METHOD: 80, STATUS: 72, ENDPOINT: 190, LOAD: 125, SIZE: 80, THREAT: 80, LOCATION: 120,
          DEVICE: 85, AGENT: 100, CUSTOMER: 160, CUSTOMER_ID: 165, API: 130, REQUEST_ID: 100}
# Most wanted first: what a table shows by default while it fits 1366 px; the rest wait in the column chooser.
PRIORITY = (TIME, METHOD, STATUS, ENDPOINT, CUSTOMER, LOAD, SIZE, API, THREAT, LOCATION, DEVICE, AGENT, CUSTOMER_ID,
            REQUEST_ID)


# How the stored device classes (core.ingest.enrich.DEVICES) read on a page; other values are shown as stored.
DEVICE_LABELS = {"desktop": "Desktop", "mobile": "Mobile", "tablet": "Tablet", "bot": "Bot", "server": "Server",
                 "unknown": "Unknown"}


def device_label(value: str | None) -> str:
    """A stored device class as people read it: "bot" → "Bot"; a missing one as fmt.MISSING."""
    if value is None or value == "":
        return fmt.MISSING
    return DEVICE_LABELS.get(value, value)


def default_columns(columns: list[str]) -> list[str]:
    """The history columns shown before the viewer picks others (Time always first): those that fit 1366 px."""
    return fitting_columns(columns, WIDTHS, PRIORITY)


def display_rows(rows: pl.DataFrame, tz: str, *, show_customer: bool = True, show_api: bool = True) -> pl.DataFrame:
    """One row per request of a history page (core.storage.request_log.COLUMNS) as shown: time in the viewer's
    zone, load time to 0.1 ms, size humanised, country name, customer display name (else ID)."""
    zone = fmt.zone_name(tz)
    countries = rows.get_column("country").unique().to_list()
    names = {code: country_name(code) for code in countries}
    sizes = [fmt.size(v) for v in rows.get_column("response_size").to_list()]
    frame = rows.with_columns(
        pl.col("timestamp").dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d %H:%M:%S").alias(TIME),
        pl.col("load_time_ms").round(1).alias(LOAD),
        pl.Series(SIZE, sizes, dtype=pl.String),
        pl.col("country").replace_strict(names, default="Unknown", return_dtype=pl.String).alias(LOCATION),
        pl.coalesce("customer_name", "customer_id").fill_null(fmt.MISSING).alias(CUSTOMER),
        pl.col("customer_id").fill_null(fmt.MISSING).alias(CUSTOMER_ID),
        pl.col("ai_agent").fill_null(fmt.MISSING).alias(AGENT),
        pl.col("device").replace(DEVICE_LABELS).alias(DEVICE),
    ).rename({"method": METHOD, "status": STATUS, "endpoint": ENDPOINT, "threat_level": THREAT,
              "api_name": API, "id": REQUEST_ID})
    columns = [TIME] + ([CUSTOMER] if show_customer else [])
    columns += [METHOD, STATUS, ENDPOINT, LOAD, SIZE, THREAT, LOCATION, DEVICE, AGENT]
    columns += [API] if show_api else []
    columns += [CUSTOMER_ID] if show_customer else []
    return fill_missing_text(frame.select(*columns, REQUEST_ID))


# How Treblle names its SDKs; the payload's "sdk" field carries the lowercase token.
SDK_NAMES = {"django": "Django", "laravel": "Laravel", "express": "Express", "node": "Node.js", "nodejs": "Node.js",
             "php": "PHP", "python": "Python", "flask": "Flask", "fastapi": "FastAPI", "go": "Go", "dotnet": ".NET",
             "net": ".NET", "ruby": "Ruby", "rails": "Rails", "java": "Java", "spring": "Spring", "nestjs": "NestJS",
             "koa": "Koa", "hono": "Hono", "fastify": "Fastify", "symfony": "Symfony", "lumen": "Lumen"}


def sdk_caption(name: str | None, version) -> str | None:
    """Who sent a request: "Sent by Treblle's Django SDK, payload version 20"; None without an SDK name."""
    token = (name or "").strip()
    if not token:
        return None
    text = f"Sent by Treblle's {SDK_NAMES.get(token.lower(), token)} SDK"
    version = "" if version is None else str(version).strip()
    return f"{text}, payload version {version}" if version else text


def split_statuses(values) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Status filter choices ("4xx", "404", 500) as (classes, codes) for HistoryQuery."""
    classes, codes = [], []
    for value in values:
        text = str(value).strip().lower()
        if text in STATUS_CLASSES:
            classes.append(text)
        elif text.isdigit():
            codes.append(int(text))
    return tuple(classes), tuple(codes)


def status_choices(options: dict) -> list[str]:
    """Status filter choices from core.storage.filter_options.filter_options: the classes present, then the codes."""
    return list(options["status_classes"]) + [str(code) for code in options["statuses"]]


def country_label(code: str | None) -> str:
    """A location filter choice as shown: "Germany (DE)", or "Unknown" for requests without one."""
    if code in (None, UNKNOWN_COUNTRY):
        return "Unknown"
    return f"{country_name(code)} ({code})"


def countries_from_url(values) -> tuple[str | None, ...]:
    """URL values of the location filter as HistoryQuery.countries (UNKNOWN_COUNTRY → None)."""
    return tuple(None if v == UNKNOWN_COUNTRY else v for v in values)


def countries_to_url(values) -> list[str]:
    return [UNKNOWN_COUNTRY if v is None else v for v in values]


def page_label(page: HistoryPage) -> str:
    """Where the table is: "Page 2 of 7 · 345 requests", "… 10,000+ requests" when the count was capped."""
    if page.total == 0:
        return "No matching requests"
    noun = "request" if page.total == 1 and not page.total_capped else "requests"
    total = f"{fmt.count(page.total)}+" if page.total_capped else fmt.count(page.total)
    return f"Page {fmt.count(page.page)} of {fmt.count(page.pages)}{'+' if page.total_capped else ''} · {total} {noun}"


def export_rows(engine: sa.Engine, scope: Scope, query: HistoryQuery, *, limit: int = COUNT_CAP) -> pl.DataFrame:
    """Every request matching the query (not just one page), in the query's order, at most `limit`
    rows; columns of core.storage.request_log.COLUMNS. Scoped like the history itself."""
    parts, page, fetched = [], 1, 0
    while fetched < limit:
        size = min(MAX_PAGE_SIZE, limit - fetched)
        # Whole pages of MAX_PAGE_SIZE keep the offsets aligned; the last one is cut to the limit.
        result = request_history(engine, scope, replace(query, page=page, page_size=MAX_PAGE_SIZE))
        rows = result.rows.head(size)
        parts.append(rows)
        fetched += rows.height
        if result.rows.height < MAX_PAGE_SIZE:
            break
        page += 1
    return pl.concat(parts) if parts else request_history(engine, scope, query).rows.head(0)



# ---------------------------------------------------------------- one request's details

# Streamlit badge colours ("blue" → :blue-badge[GET]); the API docs colour their methods the same way.
METHOD_COLORS = {"GET": "blue", "POST": "green", "PUT": "orange", "PATCH": "violet", "DELETE": "red"}
# 4xx amber and 5xx red, as in the charts (core.present.charts.SERIES_COLORS).
STATUS_COLORS = {2: "green", 3: "blue", 4: "orange", 5: "red"}


def method_color(method) -> str:
    """The badge colour of an HTTP method (gray for one without a colour of its own)."""
    return METHOD_COLORS.get(str(method or "").strip().upper(), "gray")


def status_color(status) -> str:
    """The badge colour of a response status: 2xx green, 3xx blue, 4xx orange, 5xx red, else gray."""
    try:
        return STATUS_COLORS.get(int(status) // 100, "gray")
    except (TypeError, ValueError):
        return "gray"


# Recomputed by curl from the body it sends; a stored one would be wrong once the body was masked.
_LEFT_OUT_HEADERS = frozenset({"content-length", "transfer-encoding"})


def _arg(value) -> str:
    # A NUL byte cannot be part of a shell argument; everything else is quoted, newlines included.
    return shlex.quote(str(value).replace("\x00", ""))


def _query_string(query) -> str:
    if isinstance(query, dict):
        pairs = [(k, v) for k, values in query.items() for v in (values if isinstance(values, list) else [values])]
        return urlencode([(str(k), "" if v is None else v if isinstance(v, str) else orjson.dumps(v).decode())
                          for k, v in pairs])
    return str(query or "")


def curl_command(detail: dict) -> str:
    """A stored request (core.storage.request_log.request_detail) as a cURL command for a POSIX shell:
    method, URL, request headers and body as stored, so masked values stay masked (masked once more here,
    in case the masking rules grew since it was stored). Every argument is shell-quoted: no stored text,
    whatever quotes, `$( )` or newlines it holds, can run anything or add an option of its own."""
    general = detail["general"]
    method = str(general.get("method") or "GET").strip().upper()
    url = mask_url(str(general.get("url") or ""))
    query = mask(detail.get("query"))
    if query and "?" not in url:
        url = f"{url}?{_query_string(query)}"
    # A URL must not read as an option ("-o …"): --url says what it is.
    parts = [f"curl --url {_arg(url)}" if url.startswith("-") or not url else f"curl {_arg(url)}"]
    if method == "HEAD":
        parts.append("--head")
    elif method != "GET" or detail.get("request_body") not in (None, "", {}, []):
        parts.append(f"-X {_arg(method)}")
    headers = mask(detail.get("request_headers")) or {}
    if isinstance(headers, dict):
        for name, values in headers.items():
            if str(name).strip().lower() in _LEFT_OUT_HEADERS:
                continue
            for value in values if isinstance(values, list) else [values]:
                parts.append(f"-H {_arg(f'{name}: {value}')}")
    body = mask_body(detail.get("request_body"))
    if body not in (None, "", {}, []):
        text = body if isinstance(body, str) else orjson.dumps(body).decode()
        # --data-raw: a body starting with "@" is text, never a file for curl to read.
        parts.append(f"--data-raw {_arg(text)}")
    return " \\\n  ".join(parts)
