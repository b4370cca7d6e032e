"""Process-wide columnar cache of request data (Polars), refreshed incrementally by id watermark.

Per-page reads from SQL cannot be fast at millions of rows, so every dashboard number is computed
from this in-memory copy of the narrow `requests` table (plus the small customer tables). Scope is
applied on every read; nothing here returns rows without one.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from core.domain import config
from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import Window
from core.storage.models import Api, Customer, CustomerApi

log = logging.getLogger(__name__)

# The cheap check (max/min id, both index look-ups) runs at most this often. The count check finds
# rows deleted in the middle and ids that a slow transaction committed below the watermark; it scans,
# so it runs less often.
CHECK_INTERVAL_S = 2.0
COUNT_INTERVAL_S = 30.0
# Rows per SQL read on a full load (bounds the memory of one raw chunk); chunks load in parallel.
LOAD_CHUNK_ROWS = 500_000
LOAD_THREADS = max(1, min(2, os.cpu_count() or 1))
# SQLite id ranges at least this wide are read by an ADBC child process (see _Reader).
SUBPROCESS_MIN_IDS = 100_000
# Appended rows stay in a small unsorted tail until it outgrows this share of the main frame.
TAIL_MERGE_ROWS = 50_000
TAIL_MERGE_SHARE = 0.02
# A snapshot on disk makes a restart read one Arrow file instead of the whole table (validated
# against the database before use). Small tables reload faster than the snapshot is worth.
SNAPSHOT_MIN_ROWS = 200_000
SNAPSHOT_VERSION = 2
# Tables this big are counted in a background thread (a count scans: seconds at 10M rows).
BACKGROUND_COUNT_MIN_ROWS = 1_000_000

UTC_US = pl.Datetime("us", "UTC")
REQUEST_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64,
    "api_id": pl.Int32,
    "customer_id": pl.Categorical(),
    "timestamp": UTC_US,
    "method": pl.Categorical(),
    "endpoint": pl.Categorical(),
    "status": pl.Int16,
    "load_time_ms": pl.Float32,
    "response_size": pl.Int64,
    "device": pl.Categorical(),
    "ai_agent": pl.Categorical(),
    "country": pl.Categorical(),
    "threat_level": pl.Categorical(),
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
    """A raw chunk (any backend, any reader) with the cache's compact dtypes, in one memory chunk."""
    ts = raw.get_column("timestamp")
    if ts.dtype == pl.String:
        # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC).
        ts_expr = pl.col("timestamp").str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", time_zone="UTC")
    elif isinstance(ts.dtype, pl.Datetime) and ts.dtype.time_zone is None:
        ts_expr = pl.col("timestamp").dt.cast_time_unit("us").dt.replace_time_zone("UTC")
    else:
        ts_expr = pl.col("timestamp").cast(UTC_US)
    text = {
        c: pl.when(pl.col(c).cast(pl.String) != "").then(pl.col(c).cast(pl.String)).cast(pl.Categorical).alias(c)
        for c in _NULLABLE_TEXT
    }
    return raw.select(
        pl.col("id").cast(pl.Int64),
        pl.col("api_id").cast(pl.Int32),
        text["customer_id"],
        ts_expr.alias("timestamp"),
        pl.col("method").cast(pl.String).cast(pl.Categorical),
        pl.col("endpoint").cast(pl.String).cast(pl.Categorical),
        pl.col("status").cast(pl.Int16),
        pl.col("load_time_ms").cast(pl.Float32),
        pl.col("response_size").cast(pl.Int64),
        text["device"],
        text["ai_agent"],
        text["country"],
        text["threat_level"],
    ).rechunk()


def _adbc_read(url: sa.URL, sql: str) -> pl.DataFrame:
    with _adbc_connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        table = cur.fetch_arrow_table()
    raw = pl.from_arrow(table)
    return _compact(raw) if raw.height else empty_requests()


def _adbc_read_ranges(url: sa.URL, ranges: list[tuple[int, int]]) -> pl.DataFrame:
    parts = [_adbc_read(url, _range_sql(lo, hi)) for lo, hi in ranges]
    return pl.concat(parts, rechunk=False) if parts else empty_requests()


def _adbc_read_in_child(url: sa.URL, ranges: list[tuple[int, int]]) -> pl.DataFrame:
    """_adbc_read_ranges in a child process (its own SQLite library); the frame comes back as an
    Arrow file (one process per loader thread: starting Python costs about a second)."""
    with tempfile.TemporaryDirectory(prefix="clientele-load-") as tmp:
        out = Path(tmp) / "rows.arrow"
        proc = subprocess.run(
            [sys.executable, "-m", "core.storage.cache", url.render_as_string(hide_password=False), str(out)],
            input=json.dumps(ranges).encode(), capture_output=True, cwd=config.ROOT, timeout=1800, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError((proc.stderr.decode(errors="replace").strip().splitlines() or ["child failed"])[-1])
        return pl.read_ipc(out) if out.stat().st_size else empty_requests()


def _range_sql(after_id: int, upto_id: int) -> str:
    return _SELECT + f" WHERE id > {int(after_id)} AND id <= {int(upto_id)} ORDER BY id"


class _Reader:
    """Reads the requests table by id range.

    PostgreSQL: ADBC in this process. SQLite: large ranges through ADBC in a child process, small
    ones (incremental refreshes) through SQLAlchemy. ADBC bundles its own copy of the SQLite
    library, and two copies in one process break each other's POSIX locks: the second copy then
    misses rows committed to the WAL, and a later open fails with "disk I/O error" (SQLite's
    how-to-corrupt guide, "multiple copies of SQLite in the same program"). Any ADBC failure falls
    back to SQLAlchemy, which is slower but gives the same rows.
    """

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.sqlite = engine.url.get_backend_name() == "sqlite"
        self.use_adbc = True

    def read(self, after_id: int, upto_id: int) -> pl.DataFrame:
        """Rows with after_id < id <= upto_id, in id order."""
        ranges = [(lo, min(lo + LOAD_CHUNK_ROWS, upto_id)) for lo in range(after_id, upto_id, LOAD_CHUNK_ROWS)]
        if not ranges:
            return empty_requests()
        if self.use_adbc:
            try:
                if not self.sqlite:
                    with ThreadPoolExecutor(LOAD_THREADS) as pool:
                        parts = list(pool.map(lambda r: _adbc_read(self.engine.url, _range_sql(*r)), ranges))
                    return pl.concat(parts, rechunk=False)
                if upto_id - after_id >= SUBPROCESS_MIN_IDS:
                    groups = [g for g in (ranges[i::LOAD_THREADS] for i in range(LOAD_THREADS)) if g]
                    with ThreadPoolExecutor(len(groups)) as pool:
                        parts = list(pool.map(lambda g: _adbc_read_in_child(self.engine.url, g), groups))
                    return pl.concat(parts, rechunk=False).sort("id")
            except Exception as exc:  # any driver problem: the slower path still gives right answers
                log.warning("ADBC read failed (%s); falling back to SQLAlchemy", exc)
                self.use_adbc = False
        return pl.concat([self._sqlalchemy(_range_sql(*r)) for r in ranges], rechunk=False)

    def read_ids(self, ids: list[int]) -> pl.DataFrame:
        return self._sqlalchemy(_SELECT + f" WHERE id IN ({', '.join(str(int(i)) for i in ids)}) ORDER BY id")

    def _sqlalchemy(self, sql: str) -> pl.DataFrame:
        with self.engine.connect() as conn:
            result = conn.exec_driver_sql(sql)
            names = list(result.keys())
            rows = result.fetchall()
        if not rows:
            return empty_requests()
        raw = pl.DataFrame([tuple(r) for r in rows], schema=names, orient="row", infer_schema_length=None)
        return _compact(raw)

    def bounds(self) -> tuple[int, int]:
        """(min id, max id) of the table; (0, 0) when empty."""
        with self.engine.connect() as conn:
            # Two statements: SQLite answers a lone min() or max() from the index, not both at once.
            hi = conn.exec_driver_sql("SELECT max(id) FROM requests").scalar()
            lo = conn.exec_driver_sql("SELECT min(id) FROM requests").scalar()
        return int(lo or 0), int(hi or 0)

    def count(self, upto_id: int) -> int:
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM requests WHERE id <= {int(upto_id)}").scalar() or 0)


def _read_small_tables(engine: sa.Engine) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(apis, customers, customer_apis) as frames; one row per API, customer, or customer × API."""
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


def first_seen(requests: pl.DataFrame) -> pl.DataFrame:
    """One row per (customer, API): first_seen, the customer's first request to that API in these rows."""
    return (
        requests.lazy()
        .filter(pl.col("customer_id").is_not_null())
        .group_by("customer_id", "api_id")
        .agg(pl.col("timestamp").min().alias("first_seen"))
        .select(pl.col("customer_id").cast(pl.String), pl.col("api_id").cast(pl.Int32), "first_seen")
        .sort("customer_id", "api_id")
        .collect(engine="in-memory")
    )


_first_seen = first_seen  # one definition of "first seen", shared with the metrics (core.analytics.customers)


# ---------------------------------------------------------------- the in-memory layout


# Columns kept a second time in customer order: a customer's rows with only these columns (every
# metric page asks for no more) are then a slice, not a gather of up to millions of scattered rows.
BY_CUSTOMER_COLUMNS = ("id", "api_id", "customer_id", "timestamp", "method", "endpoint", "status", "load_time_ms", "response_size")


@dataclass(frozen=True)
class _Main:
    """Request rows sorted by (api_id, timestamp), with the row ranges of each API and the row
    numbers of each customer, so an API or a customer is a slice or a gather, never a scan; plus
    the metric columns again sorted by (customer, timestamp), where a customer is a slice."""

    frame: pl.DataFrame
    api_ranges: dict[int, tuple[int, int]]
    customer_index: pl.DataFrame  # customer_id, row (list of row numbers in time order); kept for snapshots
    customer_rows: dict[str, pl.Series]
    by_customer: pl.DataFrame
    customer_spans: dict[str, tuple[int, int]]

    @classmethod
    def build(cls, frame: pl.DataFrame, *, presorted: bool = False, index: pl.DataFrame | None = None) -> "_Main":
        if not presorted:
            frame = frame.sort("api_id", "timestamp", "id")
        frame = frame.rechunk()
        apis = frame.group_by("api_id").agg(pl.len().alias("n")).sort("api_id")
        ranges, offset = {}, 0
        for api_id, n in zip(apis.get_column("api_id").to_list(), apis.get_column("n").to_list()):
            ranges[int(api_id)] = (offset, int(n))
            offset += int(n)
        if index is None:
            index = (
                frame.lazy()
                .select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), "customer_id", "timestamp")
                .group_by("customer_id")
                .agg(pl.col("row").sort_by("timestamp", "row"))
                .filter(pl.col("customer_id").is_not_null())
                .with_columns(pl.col("customer_id").cast(pl.String))
                .collect(engine="in-memory")
            )
        ids = index.get_column("customer_id").to_list()
        customer_rows = dict(zip(ids, index.get_column("row")))
        lengths = index.get_column("row").list.len().to_list()
        spans, offset = {}, 0
        for customer_id, n in zip(ids, lengths):
            spans[customer_id] = (offset, int(n))
            offset += int(n)
        order = index.get_column("row").explode() if index.height else pl.Series("row", [], dtype=pl.UInt32)
        by_customer = frame.select(BY_CUSTOMER_COLUMNS).select(pl.all().gather(order))
        return cls(frame, ranges, index, customer_rows, by_customer, spans)

    def api(self, api_id: int) -> pl.DataFrame:
        start, n = self.api_ranges.get(int(api_id), (0, 0))
        return self.frame.slice(start, n).with_columns(pl.col("timestamp").set_sorted())

    def customer(self, customer_id: str, start: dt.datetime | None, end: dt.datetime | None,
                 columns: list[str] | None = None) -> pl.DataFrame:
        """The customer's rows in time order: a slice of the customer-ordered copy when the columns
        are among its columns, else a gather (with a window, only those rows and columns)."""
        if columns is not None and set(columns) <= set(BY_CUSTOMER_COLUMNS):
            start_row, n = self.customer_spans.get(customer_id, (0, 0))
            part = self.by_customer.slice(start_row, n).with_columns(pl.col("timestamp").set_sorted())
            if start is not None:
                part = _window_slice(part, start, end)
            return part.select(columns)
        rows = self.customer_rows.get(customer_id)
        frame = self.frame if columns is None else self.frame.select(columns)
        if rows is None:
            return frame.clear()
        if start is not None:
            ts = self.frame.get_column("timestamp").gather(rows).set_sorted()
            lo, hi = ts.search_sorted(start, side="left"), ts.search_sorted(end, side="left")
            rows = rows.slice(lo, hi - lo)
        return frame.select(pl.all().gather(rows)).with_columns(pl.col("timestamp").set_sorted())


def _window_slice(frame: pl.DataFrame, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """Rows with start <= timestamp < end; a binary search on time-sorted frames, a filter otherwise."""
    ts = frame.get_column("timestamp")
    if ts.flags["SORTED_ASC"] and ts.null_count() == 0:
        lo = ts.search_sorted(start, side="left")
        hi = ts.search_sorted(end, side="left")
        return frame.slice(lo, hi - lo)
    return frame.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))


# ---------------------------------------------------------------- snapshot on disk


def _snapshot_path(engine: sa.Engine) -> Path:
    override = os.environ.get("CLIENTELE_CACHE_DIR")
    url = engine.url
    digest = hashlib.sha256(url.render_as_string(hide_password=False).encode()).hexdigest()[:16]
    if override:
        return Path(override) / f"requests-{digest}.arrow"
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        # Beside the database file: it goes wherever the database goes (and .gitignore covers *.db-*).
        return Path(url.database + "-columns.arrow")
    return config.DATA_DIR / "cache" / f"requests-{digest}.arrow"


def _sample_ids(frame: pl.DataFrame, k: int = 16) -> list[int]:
    ids = frame.get_column("id").sort()
    picks = {ids[int(i * (ids.len() - 1) / (k - 1))] for i in range(k)} if ids.len() else set()
    return sorted(int(i) for i in picks)


def _snapshot_parts(path: Path) -> dict[str, Path]:
    return {"rows": path, "index": path.with_name(path.name + ".index"), "first": path.with_name(path.name + ".first"),
            "meta": path.with_name(path.name + ".json")}


def _write_snapshot(path: Path, main: _Main, first_seen_frame: pl.DataFrame, watermark: int, min_id: int) -> None:
    """The sorted rows, the customer index and first-seen frame, and what to check them against.
    Files are as private as the database they copy; each is renamed into place when complete."""
    parts = _snapshot_parts(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"version": SNAPSHOT_VERSION, "watermark": watermark, "min_id": min_id, "rows": main.frame.height,
            "sample": _sample_ids(main.frame)}
    parts["meta"].unlink(missing_ok=True)  # no meta, no snapshot: a half-written set is never used
    for key, frame in (("rows", main.frame), ("index", main.customer_index), ("first", first_seen_frame)):
        tmp = parts[key].with_name(parts[key].name + ".tmp")
        frame.write_ipc(tmp)
        os.chmod(tmp, 0o600)
        tmp.replace(parts[key])
    tmp = parts["meta"].with_name(parts["meta"].name + ".tmp")
    tmp.write_text(json.dumps(meta))
    os.chmod(tmp, 0o600)
    tmp.replace(parts["meta"])


@dataclass(frozen=True)
class _Snapshot:
    frame: pl.DataFrame
    index: pl.DataFrame
    first_seen: pl.DataFrame
    watermark: int


def _read_snapshot(path: Path, reader: _Reader, lo: int, hi: int) -> _Snapshot | None:
    """The snapshot when it matches the database (bounds, sampled rows), else None. The row count
    is checked by the caller (in the background for big tables)."""
    parts = _snapshot_parts(path)
    if not all(p.exists() for p in parts.values()):
        return None
    try:
        meta = json.loads(parts["meta"].read_text())
        if meta.get("version") != SNAPSHOT_VERSION or meta["min_id"] != lo or meta["watermark"] > hi:
            return None
        frame = pl.read_ipc(parts["rows"])
        if frame.height != meta["rows"] or list(frame.schema.items()) != list(REQUEST_SCHEMA.items()):
            return None
        sample = meta["sample"]
        stored = frame.filter(pl.col("id").is_in(sample)).sort("id")
        if not stored.equals(reader.read_ids(sample)):
            return None
        return _Snapshot(frame, pl.read_ipc(parts["index"]), pl.read_ipc(parts["first"]), int(meta["watermark"]))
    except Exception as exc:  # a damaged or foreign file is only a missed shortcut
        log.warning("requests cache: ignoring snapshot %s (%s)", path, exc)
        return None


# ---------------------------------------------------------------- the cache


@dataclass
class _Entry:
    """Everything cached for one database URL. Frames are replaced, never mutated, so a reader
    holding a reference keeps a consistent view while a refresh builds the next one."""

    reader: _Reader
    snapshot: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    main: _Main | None = None
    tail: pl.DataFrame = field(default_factory=empty_requests)
    first_seen: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FIRST_SEEN_SCHEMA))
    apis: pl.DataFrame | None = None
    customers: pl.DataFrame | None = None
    customer_apis: pl.DataFrame | None = None
    watermark: int = 0
    min_id: int = 0
    checked_at: float = 0.0
    counted_at: float = 0.0
    stale: bool = False
    view: "_View | None" = None
    small_at: float = 0.0
    full_loads: int = 0
    snapshot_loads: int = 0
    incremental_loads: int = 0

    @property
    def height(self) -> int:
        return (self.main.frame.height if self.main else 0) + self.tail.height

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.main is not None and not force and not self.stale and now - self.checked_at < CHECK_INTERVAL_S:
            return
        lo, hi = self.reader.bounds()
        changed = False
        if self.stale or self.main is None or hi < self.watermark or (self.height and lo != self.min_id) or (hi and not self.height):
            # First load, or rows went away (pruned, deleted, or the database was replaced).
            self._load(lo, hi, use_snapshot=not self.stale)
            changed = True
        elif hi > self.watermark:
            self._append(self.reader.read(self.watermark, hi))
            changed = True
        if force or now - self.counted_at >= COUNT_INTERVAL_S:
            self.counted_at = now
            if self._verify(force):
                self._load(*self.reader.bounds(), use_snapshot=False)
                changed = True
        if changed or force or self.apis is None or now - self.small_at >= CHECK_INTERVAL_S:
            # Names, attributes and API discovery change with new requests; new APIs must appear promptly.
            self.apis, self.customers, self.customer_apis = _read_small_tables(self.reader.engine)
            self.small_at = now
        self.checked_at = time.monotonic()
        if self.view is None or self.view.main is not self.main or self.view.tail is not self.tail:
            self.view = _View(self.main, self.tail)

    def _verify(self, synchronous: bool) -> bool:
        """True when the database holds a different number of rows up to the watermark (rows deleted
        in the middle, or committed late below it). Big tables are counted in the background, so no
        page waits for the scan; a mismatch found there reloads on the next read."""
        watermark, height = self.watermark, self.height
        if synchronous or height < BACKGROUND_COUNT_MIN_ROWS:
            differs = self.reader.count(watermark) != height
            if differs:
                log.info("requests cache: row count differs from the database; reloading")
            return differs

        def count_later() -> None:
            try:
                if self.reader.count(watermark) != height and self.watermark == watermark:
                    log.info("requests cache: row count differs from the database; reloading")
                    self.stale = True
            except Exception as exc:  # the next check tries again
                log.warning("requests cache: background count failed (%s)", exc)

        threading.Thread(target=count_later, name="clientele-cache-count", daemon=True).start()
        return False

    def _load(self, lo: int, hi: int, use_snapshot: bool = True) -> None:
        self.stale = False
        snap = _read_snapshot(self.snapshot, self.reader, lo, hi) if use_snapshot and hi else None
        if snap is not None:
            self.main = _Main.build(snap.frame, presorted=True, index=snap.index)
            self.first_seen = snap.first_seen
            watermark = snap.watermark
            self.snapshot_loads += 1
        else:
            self.main = _Main.build(self.reader.read(max(lo - 1, 0), hi))
            self.first_seen = _first_seen(self.main.frame)
            watermark = hi
            self.full_loads += 1
            if self.main.frame.height >= SNAPSHOT_MIN_ROWS:
                try:
                    _write_snapshot(self.snapshot, self.main, self.first_seen, watermark, lo)
                except OSError as exc:
                    log.warning("requests cache: could not write snapshot %s (%s)", self.snapshot, exc)
        self.tail = empty_requests()
        self.watermark = watermark
        self.min_id = int(self.main.frame.get_column("id").min()) if self.main.frame.height else 0
        self.counted_at = time.monotonic()
        if snap is not None:
            self.counted_at = 0.0  # count at the end of this refresh (in the background when big)
        if watermark < hi:
            self._append(self.reader.read(watermark, hi))

    def _append(self, new: pl.DataFrame) -> None:
        if new.height == 0:
            return
        if not self.height:
            self.min_id = int(new.get_column("id").min())
        self.watermark = max(self.watermark, int(new.get_column("id").max()))
        self.first_seen = (
            pl.concat([self.first_seen, _first_seen(new)])
            .group_by("customer_id", "api_id")
            .agg(pl.col("first_seen").min())
            .sort("customer_id", "api_id")
        )
        tail = pl.concat([self.tail, new], rechunk=False)
        main_rows = self.main.frame.height if self.main else 0
        if tail.height > max(TAIL_MERGE_ROWS, TAIL_MERGE_SHARE * main_rows):
            frames = [self.main.frame, tail] if self.main else [tail]
            self.main = _Main.build(pl.concat(frames, rechunk=False))
            self.tail = empty_requests()
        else:
            self.tail = tail.rechunk() if tail.n_chunks() > 16 else tail
        self.incremental_loads += 1


@dataclass(frozen=True)
class _View:
    """What readers use: the main frame and the tail as of one refresh, read as one attribute so a
    concurrent refresh can never hand a reader a new main frame with an old tail (or the reverse).
    Narrowing only; the caller applies and asserts the Scope."""

    main: _Main
    tail: pl.DataFrame

    def for_api(self, api_id: int, start: dt.datetime | None, end: dt.datetime | None) -> pl.DataFrame:
        part = self.main.api(api_id)
        if start is not None:
            part = _window_slice(part, start, end)
        if self.tail.height == 0:  # the usual case: skip the tail's filter and binary searches
            return part
        tail = self.tail.filter(pl.col("api_id") == api_id)
        if start is not None:
            tail = _window_slice(tail, start, end)
        return _concat_sorted(part, tail)

    def for_customer(self, customer_id: str, start: dt.datetime | None, end: dt.datetime | None,
                     columns: list[str] | None = None) -> pl.DataFrame:
        mine = self.main.customer(customer_id, start, end, columns)
        if self.tail.height == 0:
            return mine
        tail = self.tail.filter(pl.col("customer_id") == customer_id)
        if columns is not None:
            tail = tail.select(columns)
        if start is not None:
            tail = _window_slice(tail, start, end)
        if tail.height == 0:
            return mine
        return pl.concat([mine, tail]).sort("timestamp", maintain_order=True).with_columns(pl.col("timestamp").set_sorted())

    def everything(self, start: dt.datetime | None, end: dt.datetime | None) -> pl.DataFrame:
        parts = [self.for_api(api_id, start, end) for api_id in sorted(self.main.api_ranges)]
        tail_only = self.tail.filter(~pl.col("api_id").is_in(list(self.main.api_ranges)))
        if start is not None and tail_only.height:
            tail_only = _window_slice(tail_only, start, end)
        parts.append(tail_only)
        return pl.concat(parts, rechunk=False)


def _concat_sorted(part: pl.DataFrame, tail: pl.DataFrame) -> pl.DataFrame:
    """part (time-sorted) + tail rows; keeps the sorted flag when the tail continues in order."""
    if tail.height == 0:
        return part
    frame = pl.concat([part, tail], rechunk=False)
    ts = frame.get_column("timestamp")
    if ts.null_count() == 0 and ts.is_sorted():
        return frame.with_columns(pl.col("timestamp").set_sorted())
    return frame


_entries: dict[str, _Entry] = {}
_entries_lock = threading.Lock()


def _key(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _get(engine: sa.Engine) -> _Entry:
    key = _key(engine)
    with _entries_lock:
        entry = _entries.get(key)
        if entry is None:
            entry = _entries[key] = _Entry(reader=_Reader(engine), snapshot=_snapshot_path(engine))
    return entry


def _entry(engine: sa.Engine) -> _Entry:
    entry = _get(engine)
    with entry.lock:
        entry.refresh()
    return entry


def refresh(engine: sa.Engine) -> None:
    """Bring the cache up to date now (new rows, deleted rows), ignoring the check intervals."""
    entry = _get(engine)
    with entry.lock:
        entry.refresh(force=True)


def invalidate(engine: sa.Engine | None = None) -> None:
    """Forget the cache of one database (or all): the next read loads again."""
    with _entries_lock:
        if engine is None:
            _entries.clear()
        else:
            _entries.pop(_key(engine), None)


def stats(engine: sa.Engine) -> dict:
    """How the cache of this database was built (for the benchmark and tests)."""
    entry = _entry(engine)
    main = entry.main.frame if entry.main else empty_requests()
    by_customer = entry.main.by_customer if entry.main else empty_requests().select(BY_CUSTOMER_COLUMNS)
    return {
        "rows": entry.height,
        "tail_rows": entry.tail.height,
        "watermark": entry.watermark,
        "full_loads": entry.full_loads,
        "snapshot_loads": entry.snapshot_loads,
        "incremental_loads": entry.incremental_loads,
        "estimated_mb": round(main.estimated_size("mb") + by_customer.estimated_size("mb") + entry.tail.estimated_size("mb"), 1),
    }


# ---------------------------------------------------------------- public reads (all scoped)


# The columns every metric needs; pages that show no device/country/AI agent/threat ask for these only.
METRIC_COLUMNS = BY_CUSTOMER_COLUMNS


def requests_frame(engine: sa.Engine, scope: Scope, *, api_id: int | None = None, customer_id: str | None = None,
                   window: Window | None = None, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Cached request rows this scope may see (one row per request), optionally for one API, one
    customer (a workspace viewer opening a profile) and a [start, end) window, with only `columns`
    (customer_id is always kept: the scope is checked on it). Sorted by time when it comes from a
    single API or customer."""
    view = _entry(engine).view
    start, end = (window.start, window.end) if window is not None else (None, None)
    if scope.is_customer and customer_id is not None and customer_id != scope.customer_id:
        raise ScopeError("Refused: the data requested is outside your account.")
    who = scope.customer_id if scope.is_customer else customer_id
    keep = None if columns is None else list(dict.fromkeys(["customer_id", "timestamp", *columns]))
    if who is not None:
        # The API filter needs api_id even when the caller did not ask for it (keep drops it again below).
        read = keep if keep is None or api_id is None else list(dict.fromkeys([*keep, "api_id"]))
        frame = view.for_customer(who, start, end, read)
        if api_id is not None:
            frame = frame.filter(pl.col("api_id") == api_id)
    elif api_id is not None:
        frame = view.for_api(api_id, start, end)
    else:
        frame = view.everything(start, end)
    if keep is not None:
        frame = frame.select(keep)
    # The single filter, applied again on what was gathered (a no-op for workspace scopes), then asserted.
    return scope.check(scope.filter(frame))


def first_seen_frame(engine: sa.Engine, scope: Scope) -> pl.DataFrame:
    """One row per (customer, API) this scope may see: when the customer first called the API.

    From the stored customer_apis.first_seen, which `prune` keeps: the cached rows start at the
    retention cutoff, so a first-seen computed from them would make every old customer look new.
    A pair whose stored date is missing, or later than a cached request (the small tables are
    re-read a moment after the rows), takes the earlier of the two."""
    entry = _entry(engine)
    stored = entry.customer_apis.select(pl.col("customer_id").cast(pl.String), pl.col("api_id").cast(pl.Int32),
                                        pl.col("first_seen").cast(UTC_US))
    both = (
        pl.concat([stored, entry.first_seen.select(list(FIRST_SEEN_SCHEMA))])
        .group_by("customer_id", "api_id")
        .agg(pl.col("first_seen").min())
        .sort("customer_id", "api_id")
    )
    return scope.check(scope.filter(both))


def customers_frame(engine: sa.Engine, scope: Scope) -> pl.DataFrame:
    """One row per customer this scope may see: display name, attributes (JSON text), first/last seen."""
    return scope.check(scope.filter(_entry(engine).customers))


def customer_apis_frame(engine: sa.Engine, scope: Scope) -> pl.DataFrame:
    """One row per (customer, API) pair seen, restricted to this scope (automatic API discovery)."""
    return scope.check(scope.filter(_entry(engine).customer_apis))


def visible_apis(engine: sa.Engine, scope: Scope) -> list[dict]:
    """[{"api_id", "name"}] by name: every API for workspace scopes; for a Customer, the APIs where
    their ID appeared in at least one request."""
    entry = _entry(engine)
    apis = entry.apis
    if scope.is_customer:
        mine = scope.filter(entry.customer_apis).get_column("api_id")
        apis = apis.filter(pl.col("api_id").is_in(mine.implode()))
    return apis.sort("name", "api_id").select(pl.col("api_id").cast(pl.Int64), "name").to_dicts()


def resolve_api(engine: sa.Engine, scope: Scope, api: str | int) -> dict:
    """The visible API named by id or name; LookupError with a message safe to show otherwise."""
    text = str(api).strip()
    visible = visible_apis(engine, scope)
    for item in visible:
        if str(item["api_id"]) == text:
            return item
    for item in visible:
        if item["name"] == text:
            return item
    if scope.is_customer:
        raise LookupError(f"No API {text!r} among the APIs of your account.")
    raise LookupError(f"No API {text!r}; `python -m core apis list` shows the APIs.")


def data_start(engine: sa.Engine, scope: Scope, api_id: int | None = None) -> dt.datetime | None:
    """The first request this scope may see (on one API or all), where All Time windows start."""
    return data_span(engine, scope, api_id)[0]


def data_span(engine: sa.Engine, scope: Scope, api_id: int | None = None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(first, newest) request this scope may see (on one API or all): the bounds of All Time.
    The newest can be dated after now (an imported file from a clock ahead of ours)."""
    frame = requests_frame(engine, scope, api_id=api_id, columns=["timestamp"])
    if frame.height == 0:
        return None, None
    ts = frame.get_column("timestamp")
    return ts.min(), ts.max()


if __name__ == "__main__":
    # Child process of _adbc_read_in_child: URL and output file as arguments, id ranges (JSON) on stdin.
    _frame = _adbc_read_ranges(sa.engine.make_url(sys.argv[1]), [tuple(r) for r in json.loads(sys.stdin.read())])
    _frame.write_ipc(sys.argv[2])
