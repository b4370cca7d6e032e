"""Process-wide columnar cache of request data (Polars), refreshed incrementally by id watermark.

Per-page reads from SQL cannot be fast at millions of rows, so every dashboard number is computed
from this in-memory copy of the narrow `requests` table (plus the small customer tables). Scope is
applied on every read; nothing here returns rows without one.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass, field

import polars as pl
import sqlalchemy as sa

from core.models import Api, Customer, CustomerApi
from core.scope import Scope, ScopeError
from core.timewindow import Window

log = logging.getLogger(__name__)

# The cheap check (max/min id) runs at most this often; the count check (finds deleted rows in the
# middle, and ids that a slow transaction committed below the watermark) less often, it scans.
CHECK_INTERVAL_S = 2.0
COUNT_INTERVAL_S = 30.0
# Rows per SQL read on a full load: bounds peak memory (one raw chunk at a time).
LOAD_CHUNK_ROWS = 1_000_000

UTC_US = pl.Datetime("us", "UTC")
REQUEST_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64,
    "api_id": pl.Int32,
    "customer_id": pl.Categorical,
    "timestamp": UTC_US,
    "method": pl.Categorical,
    "endpoint": pl.Categorical,
    "status": pl.Int16,
    "load_time_ms": pl.Float32,
    "response_size": pl.Int64,
    "device": pl.Categorical,
    "ai_agent": pl.Categorical,
    "country": pl.Categorical,
    "threat_level": pl.Categorical,
}
_NULLABLE_TEXT = ("customer_id", "device", "ai_agent", "country", "threat_level")
# SQLite's ADBC driver infers a column's type from its first rows, so a text column that starts with
# NULLs breaks the read: select '' instead (customer IDs and the rest are never empty) and map back.
_SELECT = (
    "SELECT id, api_id, COALESCE(customer_id, '') AS customer_id, timestamp, method, endpoint, status, "
    "CAST(load_time_ms AS REAL) AS load_time_ms, response_size, COALESCE(device, '') AS device, "
    "COALESCE(ai_agent, '') AS ai_agent, COALESCE(country, '') AS country, "
    "COALESCE(threat_level, '') AS threat_level FROM requests"
)
FIRST_SEEN_SCHEMA = {"customer_id": pl.String, "api_id": pl.Int32, "first_seen": UTC_US}


def empty_requests() -> pl.DataFrame:
    return pl.DataFrame(schema=REQUEST_SCHEMA)


# ---------------------------------------------------------------- reading from SQL


def _adbc_connect(url: sa.URL):
    if url.get_backend_name() == "sqlite":
        import adbc_driver_sqlite.dbapi as adbc_sqlite

        return adbc_sqlite.connect(url.database)
    import adbc_driver_postgresql.dbapi as adbc_pg

    return adbc_pg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))


def _compact(raw: pl.DataFrame) -> pl.DataFrame:
    """A raw chunk (any backend, any reader) with the cache's compact dtypes."""
    ts = raw.get_column("timestamp")
    if ts.dtype == pl.String:
        # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC).
        ts_expr = pl.col("timestamp").str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", time_zone="UTC")
    elif isinstance(ts.dtype, pl.Datetime) and ts.dtype.time_zone is None:
        ts_expr = pl.col("timestamp").dt.cast_time_unit("us").dt.replace_time_zone("UTC")
    else:
        ts_expr = pl.col("timestamp").cast(UTC_US)
    text = [
        pl.when(pl.col(c).cast(pl.String) != "").then(pl.col(c).cast(pl.String)).cast(pl.Categorical).alias(c)
        for c in _NULLABLE_TEXT
    ]
    return raw.select(
        pl.col("id").cast(pl.Int64),
        pl.col("api_id").cast(pl.Int32),
        text[0],
        ts_expr.alias("timestamp"),
        pl.col("method").cast(pl.String).cast(pl.Categorical),
        pl.col("endpoint").cast(pl.String).cast(pl.Categorical),
        pl.col("status").cast(pl.Int16),
        pl.col("load_time_ms").cast(pl.Float32),
        pl.col("response_size").cast(pl.Int64),
        *text[1:],
    ).rechunk()


class _Reader:
    """Reads id ranges of the requests table: ADBC when it works, SQLAlchemy otherwise."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.use_adbc = True

    def read(self, after_id: int, upto_id: int | None = None) -> pl.DataFrame:
        where = f" WHERE id > {int(after_id)}" + (f" AND id <= {int(upto_id)}" if upto_id is not None else "")
        sql = _SELECT + where + " ORDER BY id"
        if self.use_adbc:
            try:
                with _adbc_connect(self.engine.url) as conn, conn.cursor() as cur:
                    cur.execute(sql)
                    table = cur.fetch_arrow_table()
                raw = pl.from_arrow(table)
                return _compact(raw) if raw.height else empty_requests()
            except Exception as exc:  # any driver problem: the slower path still gives right answers
                log.warning("ADBC read failed (%s); falling back to SQLAlchemy", exc)
                self.use_adbc = False
        with self.engine.connect() as conn:
            result = conn.exec_driver_sql(sql)
            names = list(result.keys())
            rows = result.fetchall()
        if not rows:
            return empty_requests()
        raw = pl.DataFrame([tuple(r) for r in rows], schema=names, orient="row", infer_schema_length=None)
        return _compact(raw)

    def bounds(self) -> tuple[int, int]:
        """(min id, max id) of the table; (0, 0) when empty. Both are index look-ups."""
        with self.engine.connect() as conn:
            hi = conn.exec_driver_sql("SELECT max(id) FROM requests").scalar()
            lo = conn.exec_driver_sql("SELECT min(id) FROM requests").scalar()
        return int(lo or 0), int(hi or 0)

    def count(self, upto_id: int) -> int:
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM requests WHERE id <= {int(upto_id)}").scalar() or 0)


def _read_small_tables(engine: sa.Engine) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(apis, customers, customer_apis) as frames; these tables are small (one row per API/customer)."""
    with engine.connect() as conn:
        apis = conn.execute(sa.select(Api.id, Api.name, Api.created_at).order_by(Api.id)).all()
        customers = conn.execute(
            sa.select(Customer.customer_id, Customer.display_name, Customer.attributes, Customer.first_seen, Customer.last_seen)
        ).all()
        links = conn.execute(sa.select(CustomerApi.customer_id, CustomerApi.api_id, CustomerApi.first_seen, CustomerApi.last_seen)).all()
    apis_df = pl.DataFrame(
        {"api_id": [r.id for r in apis], "name": [r.name for r in apis], "created_at": [r.created_at for r in apis]},
        schema={"api_id": pl.Int32, "name": pl.String, "created_at": UTC_US},
    )
    customers_df = pl.DataFrame(
        {
            "customer_id": [r.customer_id for r in customers],
            "display_name": [r.display_name for r in customers],
            "attributes": [json.dumps(r.attributes or {}, sort_keys=True, default=str) for r in customers],
            "first_seen": [r.first_seen for r in customers],
            "last_seen": [r.last_seen for r in customers],
        },
        schema={"customer_id": pl.String, "display_name": pl.String, "attributes": pl.String, "first_seen": UTC_US, "last_seen": UTC_US},
    )
    links_df = pl.DataFrame(
        {
            "customer_id": [r.customer_id for r in links],
            "api_id": [r.api_id for r in links],
            "first_seen": [r.first_seen for r in links],
            "last_seen": [r.last_seen for r in links],
        },
        schema={"customer_id": pl.String, "api_id": pl.Int32, "first_seen": UTC_US, "last_seen": UTC_US},
    )
    return apis_df, customers_df, links_df


def _first_seen(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per (customer, API): when that customer first called that API, from these rows."""
    return (
        frame.lazy()
        .filter(pl.col("customer_id").is_not_null())
        .group_by("customer_id", "api_id")
        .agg(pl.col("timestamp").min().alias("first_seen"))
        .select(pl.col("customer_id").cast(pl.String), pl.col("api_id").cast(pl.Int32), "first_seen")
        .collect()
    )


# ---------------------------------------------------------------- the cache


@dataclass
class _Entry:
    """Everything cached for one database URL. Frames are replaced, never mutated, so a reader
    holding a reference keeps a consistent snapshot while a refresh builds the next one."""

    reader: _Reader
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: pl.DataFrame = field(default_factory=empty_requests)
    first_seen: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FIRST_SEEN_SCHEMA))
    apis: pl.DataFrame | None = None
    customers: pl.DataFrame | None = None
    customer_apis: pl.DataFrame | None = None
    loaded: bool = False
    watermark: int = 0
    min_id: int = 0
    checked_at: float = 0.0
    counted_at: float = 0.0
    full_loads: int = 0
    incremental_loads: int = 0

    def refresh(self, force_count: bool = False) -> None:
        now = time.monotonic()
        if self.loaded and not force_count and now - self.checked_at < CHECK_INTERVAL_S:
            return
        lo, hi = self.reader.bounds()
        changed = False
        if not self.loaded or hi < self.watermark or (self.requests.height and lo > self.min_id):
            # First load, or rows went away (pruned, or the database was replaced).
            self._full_load(lo, hi)
            changed = True
        elif hi > self.watermark:
            self._append(self.reader.read(self.watermark))
            changed = True
        if self.loaded and (force_count or now - self.counted_at >= COUNT_INTERVAL_S):
            self.counted_at = now
            if self.reader.count(self.watermark) != self.requests.height:
                log.info("requests cache: row count differs from the database; reloading")
                self._full_load(*self.reader.bounds())
                changed = True
        if changed or self.apis is None or now - self.checked_at >= COUNT_INTERVAL_S:
            self.apis, self.customers, self.customer_apis = _read_small_tables(self.reader.engine)
        elif self.apis is not None:
            # New APIs must appear promptly (a customer's first request on a new API); this table is tiny.
            self.apis = _read_small_tables_apis(self.reader.engine, self.apis)
        self.checked_at = time.monotonic()

    def _full_load(self, first: int, upto: int) -> None:
        chunks = []
        lo = max(first - 1, 0)
        while lo < upto:
            chunks.append(self.reader.read(lo, min(lo + LOAD_CHUNK_ROWS, upto)))
            lo += LOAD_CHUNK_ROWS
        frame = pl.concat(chunks, rechunk=True) if chunks else empty_requests()
        self.requests = frame
        self.first_seen = _first_seen(frame)
        self.watermark = upto if frame.height == 0 else max(upto, int(frame.get_column("id").max()))
        self.min_id = int(frame.get_column("id").min()) if frame.height else 0
        self.loaded = True
        self.counted_at = time.monotonic()
        self.full_loads += 1

    def _append(self, new: pl.DataFrame) -> None:
        if new.height == 0:
            return
        self.requests = pl.concat([self.requests, new], rechunk=False)
        if self.requests.n_chunks() > 64:
            self.requests = self.requests.rechunk()
        merged = pl.concat([self.first_seen, _first_seen(new)])
        self.first_seen = merged.group_by("customer_id", "api_id").agg(pl.col("first_seen").min())
        self.watermark = int(new.get_column("id").max())
        if not self.min_id:
            self.min_id = int(new.get_column("id").min())
        self.incremental_loads += 1


def _read_small_tables_apis(engine: sa.Engine, current: pl.DataFrame) -> pl.DataFrame:
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(Api)).scalar_one()
    if count == current.height:
        return current
    return _read_small_tables(engine)[0]


_entries: dict[str, _Entry] = {}
_entries_lock = threading.Lock()


def _key(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _entry(engine: sa.Engine) -> _Entry:
    key = _key(engine)
    with _entries_lock:
        entry = _entries.get(key)
        if entry is None:
            entry = _entries[key] = _Entry(reader=_Reader(engine))
    with entry.lock:
        entry.refresh()
    return entry


def refresh(engine: sa.Engine) -> None:
    """Bring the cache up to date now (new rows, deletions), ignoring the check interval."""
    key = _key(engine)
    with _entries_lock:
        entry = _entries.setdefault(key, _Entry(reader=_Reader(engine)))
    with entry.lock:
        entry.refresh(force_count=True)


def invalidate(engine: sa.Engine | None = None) -> None:
    """Forget the cache of one database (or all): the next read loads from SQL again."""
    with _entries_lock:
        if engine is None:
            _entries.clear()
        else:
            _entries.pop(_key(engine), None)


def stats(engine: sa.Engine) -> dict:
    """How the cache of this database was built (for the benchmark and tests)."""
    entry = _entry(engine)
    return {
        "rows": entry.requests.height,
        "watermark": entry.watermark,
        "full_loads": entry.full_loads,
        "incremental_loads": entry.incremental_loads,
        "estimated_mb": round(entry.requests.estimated_size("mb"), 1),
    }


# ---------------------------------------------------------------- public reads (all scoped)


def requests_frame(engine: sa.Engine, scope: Scope, *, api_id: int | None = None, window: Window | None = None) -> pl.DataFrame:
    """Cached request rows this scope may see, optionally for one API and a [start, end) window."""
    frame = scope.filter(_entry(engine).requests)
    if api_id is not None:
        frame = frame.filter(pl.col("api_id") == api_id)
    if window is not None:
        frame = frame.filter((pl.col("timestamp") >= window.start) & (pl.col("timestamp") < window.end))
    return scope.check(frame)


def first_seen_frame(engine: sa.Engine, scope: Scope) -> pl.DataFrame:
    """One row per (customer, API) this scope may see: the first request ever, from all cached rows."""
    return scope.check(scope.filter(_entry(engine).first_seen))


def customers_frame(engine: sa.Engine, scope: Scope) -> pl.DataFrame:
    """The customers table (display name, attributes, first/last seen) restricted to this scope."""
    entry = _entry(engine)
    return scope.check(scope.filter(entry.customers))


def customer_apis_frame(engine: sa.Engine, scope: Scope) -> pl.DataFrame:
    """Which customer appeared on which API (automatic API discovery), restricted to this scope."""
    entry = _entry(engine)
    return scope.check(scope.filter(entry.customer_apis))


def visible_apis(engine: sa.Engine, scope: Scope) -> list[dict]:
    """[{"api_id", "name"}] by name: every API for workspace scopes; for a Customer, the APIs where
    their ID appeared in at least one request."""
    entry = _entry(engine)
    apis = entry.apis
    if scope.is_customer:
        mine = scope.filter(entry.customer_apis).get_column("api_id")
        apis = apis.filter(pl.col("api_id").is_in(mine.implode()))
    return apis.sort("name").select("api_id", "name").to_dicts()


def resolve_api(engine: sa.Engine, scope: Scope, api: str | int) -> dict:
    """The visible API named by id or name; LookupError (message safe to show) otherwise."""
    text = str(api).strip()
    for item in visible_apis(engine, scope):
        if str(item["api_id"]) == text or item["name"] == text:
            return item
    if scope.is_customer:
        raise LookupError(f"No API {text!r} among the APIs of your account.")
    raise LookupError(f"No API {text!r}; see `python -m core apis list`.")


def data_start(engine: sa.Engine, scope: Scope, api_id: int | None = None) -> dt.datetime | None:
    """The first request this scope may see (on one API or all), for All Time windows."""
    frame = requests_frame(engine, scope, api_id=api_id)
    if frame.height == 0:
        return None
    return frame.get_column("timestamp").min()


__all__ = [
    "REQUEST_SCHEMA",
    "ScopeError",
    "customer_apis_frame",
    "customers_frame",
    "data_start",
    "first_seen_frame",
    "invalidate",
    "refresh",
    "requests_frame",
    "resolve_api",
    "visible_apis",
]
