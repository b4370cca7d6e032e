"""Request history read straight from SQL: scoped, filtered, searched, sorted and paginated.

Only one page of rows is ever fetched; totals are counted up to COUNT_CAP so a 10M-row API answers
as fast as a small one. Request details (headers, bodies, errors) come from request_details.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, fields, replace

import polars as pl
import sqlalchemy as sa

from core.domain.countries import country_name
from core.domain.errors import ClienteleError
from core.domain.masking import mask, mask_url, scrub_credentials
from core.domain.record import FAILED_STATUS
from core.domain.scope import Scope
from core.domain.timewindow import Window
from core.storage import details, history_counts
from core.storage.models import Api, Customer, Request, RequestDetail
from core.storage.store import NotFound

MAX_PAGE_SIZE = 500
MAX_SEARCH_CHARS = 200
# Up to this many matches, the matching ids are fetched once and paged by primary key.
SMALL_RESULT = 2000
# Counting stops here: beyond it the UI shows "10,000+" instead of scanning millions of rows.
COUNT_CAP = 10_000

STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
ANY_AI_AGENT = "any AI agent"
NO_AI_AGENT = "no AI agent"
SORT_COLUMNS = (
    "timestamp", "method", "status", "endpoint", "load_time_ms", "response_size",
    "threat_level", "device", "ai_agent", "country", "customer",
)
DIRECTIONS = ("asc", "desc")

ROW_SCHEMA = {
    "id": pl.Int64, "timestamp": pl.Datetime("us", "UTC"), "method": pl.String, "status": pl.Int32, "endpoint": pl.String,
    "url": pl.String, "load_time_ms": pl.Float64, "response_size": pl.Int64, "threat_level": pl.String, "device": pl.String,
    "ai_agent": pl.String, "country": pl.String, "customer_id": pl.String, "customer_name": pl.String, "api_id": pl.Int64,
    "api_name": pl.String,
}
# Columns of HistoryPage.rows, in display order.
COLUMNS = (
    "id", "timestamp", "method", "status", "endpoint", "path", "load_time_ms", "response_size",
    "threat_level", "device", "ai_agent", "country", "customer_id", "customer_name", "api_id", "api_name",
)


class HistoryError(ClienteleError, ValueError):
    """A history query the user built makes no sense; the message says why."""


def _as_tuple(value, name: str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (str, bytes, int)):
        raise HistoryError(f"The {name} filter takes a list of values.")
    return tuple(value)


@dataclass(frozen=True)
class HistoryQuery:
    """What one history table shows. Empty filter tuples mean "no filter"."""

    api_id: int | None = None
    window: Window | None = None
    customer_id: str | None = None
    methods: tuple[str, ...] = ()
    # A row matches when its status is in any chosen class OR equals any chosen code.
    status_classes: tuple[str, ...] = ()
    statuses: tuple[int, ...] = ()
    endpoints: tuple[str, ...] = ()
    threat_levels: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    # Agent names, plus ANY_AI_AGENT / NO_AI_AGENT.
    ai_agents: tuple[str, ...] = ()
    # Two-letter codes; None selects requests whose country is unknown.
    countries: tuple[str | None, ...] = ()
    search: str = ""
    sort: str = "timestamp"
    direction: str = "desc"
    page: int = 1
    page_size: int = 50

    def __post_init__(self):
        for f in fields(self):
            if f.type.startswith("tuple"):
                object.__setattr__(self, f.name, _as_tuple(getattr(self, f.name), f.name.replace("_", " ")))
        bad = [c for c in self.status_classes if c not in STATUS_CLASSES]
        if bad:
            raise HistoryError(f"Unknown status class {bad[0]!r}; choose from {', '.join(STATUS_CLASSES)}.")
        for code in self.statuses:
            if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 999:
                raise HistoryError(f"{code!r} is not an HTTP status code (100–999).")
        if self.sort not in SORT_COLUMNS:
            raise HistoryError(f"Cannot sort by {self.sort!r}; choose one of {', '.join(SORT_COLUMNS)}.")
        if self.direction not in DIRECTIONS:
            raise HistoryError("Sort direction must be 'asc' or 'desc'.")
        if isinstance(self.page, bool) or not isinstance(self.page, int) or self.page < 1:
            raise HistoryError("Pages are numbered from 1.")
        if isinstance(self.page_size, bool) or not isinstance(self.page_size, int) or not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise HistoryError(f"A page shows between 1 and {MAX_PAGE_SIZE} requests.")
        search = (self.search or "").strip()
        if len(search) > MAX_SEARCH_CHARS:
            raise HistoryError(f"Search text is limited to {MAX_SEARCH_CHARS} characters.")
        object.__setattr__(self, "search", search)


@dataclass(frozen=True)
class HistoryPage:
    rows: pl.DataFrame  # one row per request, columns COLUMNS
    total: int  # matching requests, counted up to COUNT_CAP
    total_capped: bool  # True when more than COUNT_CAP requests match
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """Page count (at least 1, so an empty result is "page 1 of 1")."""
        return max(1, math.ceil(self.total / self.page_size))


# ---------------------------------------------------------------- SQL building blocks


def like_pattern(text: str) -> str:
    """`%text%` with LIKE wildcards in text taken literally (escape character: backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _like(column, pattern: str, dialect: str):
    # Case-insensitive match, in each database's cheapest form (measured on 250k rows): SQLite's
    # LIKE already ignores ASCII case, as its lower() folds only ASCII; on PostgreSQL lower() LIKE
    # costs 60% of ILIKE.
    if dialect == "sqlite":
        return column.like(pattern, escape="\\")
    return sa.func.lower(column).like(pattern.lower(), escape="\\")


def _contains(column, text: str, dialect: str):
    return _like(column, like_pattern(text), dialect)


def base_conditions(scope: Scope, api_id: int | None, window: Window | None, *, seek: bool = False) -> list:
    """The scope's requests of one API (or every API) in the window, as SQL conditions, indexed columns first:
    (api_id, timestamp) and (customer_id, timestamp) carry the query. `seek`: every API's rows through that index,
    one range per API, where the time alone would scan the table from its oldest row: for reads that stop early
    (a LIMIT) or cover a short range; reading most of the table, a scan is faster."""
    conds = [scope.where(Request.customer_id)]
    if api_id is not None:
        conds.append(Request.api_id == api_id)
    elif seek and not scope.is_customer:
        conds.append(Request.api_id.in_(sa.select(Api.id)))
    if window is not None:
        conds += [Request.timestamp >= window.start, Request.timestamp < window.end]
    return conds


def _failed_only(classes: tuple[str, ...], codes: tuple[int, ...]) -> bool:
    """Whether these status classes and codes (at least one) ask for failed requests alone."""
    return min([int(c[0]) * 100 for c in classes] + list(codes)) >= FAILED_STATUS


def _status_condition(classes: tuple[str, ...], codes: tuple[int, ...]):
    parts = [Request.status.between(int(c[0]) * 100, int(c[0]) * 100 + 99) for c in classes]
    parts += [Request.status.in_(codes)] if codes else []
    if not _failed_only(classes, codes):
        return sa.or_(*parts)
    # Failed requests only: said as a literal, so the planner can walk the partial index of them (ix_requests_api_failed_ts).
    return sa.and_(Request.status >= sa.literal(FAILED_STATUS, literal_execute=True), sa.or_(*parts))


def _ai_agent_condition(agents: tuple[str, ...]):
    names = [a for a in agents if a not in (ANY_AI_AGENT, NO_AI_AGENT)]
    parts = []
    if ANY_AI_AGENT in agents:
        parts.append(Request.ai_agent.is_not(None))
    if NO_AI_AGENT in agents:
        parts.append(Request.ai_agent.is_(None))
    if names:
        parts.append(Request.ai_agent.in_(names))
    return sa.or_(*parts)


def _country_condition(countries: tuple[str | None, ...]):
    codes = [c for c in countries if c is not None]
    parts = [Request.country.in_(codes)] if codes else []
    if None in countries:
        parts.append(Request.country.is_(None))
    return sa.or_(*parts)


def _path_contains(text: str, dialect: str):
    # The URL column holds scheme and host too; matching them would make "co" find every row of
    # api.example.com. The text must occur after the first "/" that follows "://" (when it starts
    # with "/" itself, anywhere after "://"); URLs stored without a host are searched whole.
    escaped = like_pattern(text)[1:-1]
    after_host = f"%://%{escaped}%" if text.startswith("/") else f"%://%/%{escaped}%"
    return sa.or_(
        _like(Request.url, after_host, dialect),
        sa.and_(Request.url.not_like("%://%"), _like(Request.url, f"%{escaped}%", dialect)),
    )


def _search_condition(scope: Scope, text: str, dialect: str):
    # Display names live in customers; matching IDs are looked up there, within the scope, so a
    # Customer's search can only ever reach their own rows.
    named = sa.select(Customer.customer_id).where(_contains(Customer.display_name, text, dialect), scope.where(Customer.customer_id))
    return sa.or_(
        _path_contains(text, dialect),
        _contains(Request.endpoint, text, dialect),
        _contains(Request.customer_id, text, dialect),
        Request.customer_id.in_(named),
    )


def _conditions(scope: Scope, q: HistoryQuery, dialect: str, *, seek: bool = False) -> list:
    conds = base_conditions(scope, q.api_id, q.window, seek=seek)
    if q.customer_id is not None:
        conds.append(Request.customer_id == q.customer_id)
    if q.methods:
        conds.append(Request.method.in_([m.upper() for m in q.methods]))
    if q.status_classes or q.statuses:
        conds.append(_status_condition(q.status_classes, q.statuses))
    if q.endpoints:
        conds.append(Request.endpoint.in_(q.endpoints))
    if q.threat_levels:
        conds.append(Request.threat_level.in_(q.threat_levels))
    if q.devices:
        conds.append(Request.device.in_(q.devices))
    if q.ai_agents:
        conds.append(_ai_agent_condition(q.ai_agents))
    if q.countries:
        conds.append(_country_condition(q.countries))
    if q.search:
        conds.append(_search_condition(scope, q.search, dialect))
    return conds


_THREAT_RANK = sa.case({"Low": 0, "Medium": 1, "High": 2}, value=Request.threat_level, else_=3)
_SORT_KEYS = {
    "timestamp": Request.timestamp,
    "method": Request.method,
    "status": Request.status,
    "endpoint": Request.endpoint,
    "load_time_ms": Request.load_time_ms,
    "response_size": Request.response_size,
    "threat_level": _THREAT_RANK,
    "device": Request.device,
    "ai_agent": Request.ai_agent,
    "country": Request.country,
    "customer": sa.func.coalesce(Customer.display_name, Request.customer_id),
}


_NULLABLE_SORTS = {"ai_agent", "country", "customer"}


def _order_by(sort: str, direction: str) -> list:
    key = _SORT_KEYS[sort]
    # The id breaks ties so pages never overlap or skip rows. Missing values go last in both
    # directions (SQLite and PostgreSQL disagree by default); only nullable columns say so, as an
    # explicit NULLS LAST on timestamp would stop PostgreSQL from walking the index backwards.
    ordered = key.asc() if direction == "asc" else key.desc()
    if sort in _NULLABLE_SORTS:
        ordered = ordered.nulls_last()
    return [ordered, Request.id.asc() if direction == "asc" else Request.id.desc()]


def _row_select():
    return (
        sa.select(
            Request.id, Request.timestamp, Request.method, Request.status, Request.endpoint, Request.url,
            Request.load_time_ms, Request.response_size, Request.threat_level, Request.device, Request.ai_agent,
            Request.country, Request.customer_id, Customer.display_name.label("customer_name"),
            Request.api_id, Api.name.label("api_name"),
        )
        .select_from(Request)
        .outerjoin(Customer, Customer.customer_id == Request.customer_id)
        .join(Api, Api.id == Request.api_id)
    )


def _frame(rows) -> pl.DataFrame:
    frame = pl.DataFrame([tuple(r) for r in rows], schema=ROW_SCHEMA, orient="row")
    path = (
        pl.col("url")
        .str.replace(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*", "")
        .str.replace(r"[?#].*$", "")
    )
    frame = frame.with_columns(path=pl.when(path == "").then(pl.lit("/")).otherwise(path))
    # A key written into a URL's path by a release that did not look for it there is masked as read, like
    # request_detail's URL (a page or an export's rows: scrub_credentials returns the text itself when it holds none).
    return frame.with_columns(pl.col("path").map_elements(scrub_credentials, return_dtype=pl.String)).select(COLUMNS)


_FILTERS = ("methods", "endpoints", "threat_levels", "devices", "ai_agents", "countries", "search")  # and statuses


def _empty_page(q: HistoryQuery) -> HistoryPage:
    return HistoryPage(_frame([]), 0, False, q.page, q.page_size)


# ---------------------------------------------------------------- public reads


def request_history(engine: sa.Engine, scope: Scope, query: HistoryQuery) -> HistoryPage:
    """One page of requests matching the query, newest first by default, within the scope."""
    if scope.is_customer and query.customer_id is not None and query.customer_id != scope.customer_id:
        # Asking for another customer's rows as a Customer yields nothing, exactly like an unknown ID.
        return _empty_page(query)
    conds = _conditions(scope, query, engine.dialect.name)
    # Reads that stop at a LIMIT seek an (api_id, timestamp) index when it holds the answer: the time alone, or failed
    # requests alone (the partial index). Other filters make each indexed row a table lookup: then a scan is faster.
    asked = query.status_classes, query.statuses
    seek = not any(getattr(query, f) for f in _FILTERS) and (not any(asked) or _failed_only(*asked))
    early = _conditions(scope, query, engine.dialect.name, seek=seek)
    offset = (query.page - 1) * query.page_size
    exact = None  # the total from the rollups, when they can answer it
    with engine.connect() as conn:
        # A rare match (a search, an uncommon status) then costs one scan of the slice: its ids are
        # all collected here, and sorting them needs only primary-key lookups. Common matches stop
        # this probe early and are counted (up to COUNT_CAP) and sorted in SQL instead.
        probe = list(conn.execute(sa.select(Request.id).where(*early).limit(SMALL_RESULT + 1)).scalars())
        if len(probe) <= SMALL_RESULT:
            total = len(probe)
            page_ids = _page_ids(conn, [Request.id.in_(probe)], query, offset) if probe and offset < total else []
        else:
            exact = exact_total(conn, scope, query)
            if exact is not None:
                total = exact
            else:
                counted = sa.select(Request.id).where(*early).limit(COUNT_CAP + 1).subquery()
                total = min(conn.execute(sa.select(sa.func.count()).select_from(counted)).scalar_one(), COUNT_CAP + 1)
            if _merge_per_api(scope, query):
                api_ids = list(conn.execute(sa.select(Api.id).order_by(Api.id)).scalars())
                page_ids = _page_ids_per_api(conn, conds, api_ids, query, offset)
            else:
                page_ids = _page_ids(conn, conds, query, offset)
        rows = conn.execute(_row_select().where(Request.id.in_(page_ids), scope.where(Request.customer_id))).all() if page_ids else []
    position = {rid: i for i, rid in enumerate(page_ids)}
    rows.sort(key=lambda r: position[r.id])
    frame = scope.check(_frame(rows))
    capped = total > COUNT_CAP and exact is None
    return HistoryPage(frame, COUNT_CAP if capped else total, capped, query.page, query.page_size)


def exact_total(conn: sa.Connection, scope: Scope, q: HistoryQuery) -> int | None:
    """The exact number of requests matching q when the rollups can tell (core.storage.history_counts)."""
    def count_raw(start: dt.datetime, end: dt.datetime) -> int:
        conds = [*_conditions(scope, replace(q, window=None), conn.dialect.name, seek=True), Request.timestamp >= start,
                 Request.timestamp < end]
        return int(conn.execute(sa.select(sa.func.count()).select_from(Request).where(*conds)).scalar_one())
    return history_counts.from_rollups(conn, scope, q, count_raw)


def _page_ids(conn: sa.Connection, conds: list, q: HistoryQuery, offset: int) -> list[int]:
    """Ids of one page, in display order (a narrow query; columns are fetched by id afterwards)."""
    stmt = sa.select(Request.id).select_from(Request)
    if q.sort == "customer":
        stmt = stmt.outerjoin(Customer, Customer.customer_id == Request.customer_id)
    stmt = stmt.where(*conds).order_by(*_order_by(q.sort, q.direction)).limit(q.page_size).offset(offset)
    return list(conn.execute(stmt).scalars())


def _merge_per_api(scope: Scope, q: HistoryQuery) -> bool:
    # Newest-first across every API and customer has no (timestamp) index to walk; each API's
    # (api_id, timestamp) index does, so the page is merged from per-API top lists instead.
    return q.sort == "timestamp" and q.api_id is None and q.customer_id is None and not scope.is_customer


def _page_ids_per_api(conn: sa.Connection, conds: list, api_ids: list[int], q: HistoryQuery, offset: int) -> list[int]:
    if not api_ids:
        return []
    order = _order_by("timestamp", q.direction)
    tops = [
        sa.select(Request.id, Request.timestamp).where(Request.api_id == api_id, *conds)
        .order_by(*order).limit(offset + q.page_size).subquery()
        for api_id in api_ids
    ]
    merged = sa.union_all(*(sa.select(t.c.id, t.c.timestamp) for t in tops)).subquery()
    key, rid = (merged.c.timestamp.asc(), merged.c.id.asc()) if q.direction == "asc" else (merged.c.timestamp.desc(), merged.c.id.desc())
    stmt = sa.select(merged.c.id).order_by(key, rid).limit(q.page_size).offset(offset)
    return list(conn.execute(stmt).scalars())


def recent_requests(engine: sa.Engine, scope: Scope, api_id: int | None, limit: int = 10) -> pl.DataFrame:
    """The latest `limit` requests (newest first) on an API, or on every API when api_id is None."""
    return request_history(engine, scope, HistoryQuery(api_id=api_id, page_size=limit)).rows


def _not_found(request_id) -> NotFound:
    # One message for "missing" and "not yours": a Customer must not learn that an id exists.
    return NotFound(f"No request with id {request_id}.")


def _errors_for(scope: Scope, errors: list) -> list:
    """A Customer sees what went wrong (an error's type and message), not where in the server's code
    (file, line and whatever else the SDK reported)."""
    if not scope.is_customer:
        return errors
    return [{k: e[k] for k in ("type", "message") if k in e} if isinstance(e, dict) else {"message": str(e)} for e in errors]


def request_detail(engine: sa.Engine, scope: Scope, request_id: int) -> dict:
    """Everything stored about one request (masked at ingest, and again as read: details.unpacked_masked, the URL, the
    user agent).

    Keys: general (dict), request_headers, query, request_body, response_headers, response_body, errors (list; a
    Customer gets only each error's type and message), metadata_error, threat_reasons (list), sdk ({"name",
    "version"}), and for workspace scopes only, server (infrastructure facts a Customer must not see)."""
    try:
        rid = int(request_id)
    except (TypeError, ValueError):
        raise _not_found(request_id) from None
    stmt = (
        sa.select(
            Request.id, Request.timestamp, Request.received_at, Request.api_id, Api.name.label("api_name"),
            Request.method, Request.url, Request.endpoint, Request.status, Request.load_time_ms,
            Request.response_size, Request.ip, Request.country, Request.user_agent, Request.device,
            Request.ai_agent, Request.threat_level, Request.customer_id, Customer.display_name.label("customer_name"),
            RequestDetail.sdk, RequestDetail.sdk_version, RequestDetail.packed, RequestDetail.request_headers,
            RequestDetail.query, RequestDetail.request_body, RequestDetail.response_headers, RequestDetail.response_body,
            RequestDetail.errors, RequestDetail.server, RequestDetail.metadata_error, RequestDetail.threat_reasons,
        )
        .select_from(Request)
        .join(Api, Api.id == Request.api_id)
        .outerjoin(Customer, Customer.customer_id == Request.customer_id)
        .outerjoin(RequestDetail, RequestDetail.request_id == Request.id)
        .where(Request.id == rid, scope.where(Request.customer_id))
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        raise _not_found(request_id)
    r = row._mapping
    if scope.is_customer and r["customer_id"] != scope.customer_id:
        raise _not_found(request_id)
    general = {key: r[key] for key in (
        "id", "timestamp", "received_at", "api_id", "api_name", "method", "url", "endpoint", "status", "load_time_ms",
        "response_size", "ip", "country", "user_agent", "device", "ai_agent", "threat_level", "customer_id", "customer_name",
    )}
    general |= {"country_name": country_name(r["country"]), "url": mask_url(r["url"]), "user_agent": mask(r["user_agent"])}
    packed = details.unpacked_masked(r)
    detail = {
        "general": general,
        "request_headers": packed["request_headers"] or {},
        "query": packed["query"] if packed["query"] is not None else {},
        "request_body": packed["request_body"],
        "response_headers": packed["response_headers"] or {},
        "response_body": packed["response_body"],
        "errors": mask(_errors_for(scope, r["errors"] or [])),
        "metadata_error": r["metadata_error"],
        "threat_reasons": r["threat_reasons"] or [],
        "sdk": {"name": r["sdk"], "version": r["sdk_version"]},
    }
    if not scope.is_customer:
        detail["server"] = packed["server"] or {}
    return detail
