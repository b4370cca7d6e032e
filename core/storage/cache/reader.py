"""SQL → frames for the cache: rollups (settled hours in bulk, recent hours per read), the raw rows of the
hours a window cuts, and the small API and customer tables. Every reader returns facts
(core.domain.facts) with the same dtypes, whatever the backend."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from core.domain import config
from core.domain.facts import FACT_SCHEMA, SUMS, empty_facts, from_requests
from core.domain.frames import UTC_US
from core.storage.rollups import KEY, NO_CUSTOMER

_HOUR_COLUMNS = (*KEY, *SUMS, "first_ts", "last_ts")
_BIN_COLUMNS = (*KEY, "bin", "count")
log = logging.getLogger(__name__)
# The module the SQLite bulk reader runs as a child process (`python -m`).
CHILD_MODULE = "core.storage.cache.child"
BULK_MIN_ROWS = 100_000
_RAW_COLUMNS = ("api_id", "customer_id", "timestamp", "method", "endpoint", "status", "load_time_ms", "response_size")


def bind_time(engine: sa.Engine, ts: dt.datetime):
    """A time as the column stores it: SQLite compares the text SQLAlchemy writes, so write the same text."""
    naive = ts.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if engine.dialect.name == "sqlite" else naive


def _utc(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Time columns as UTC microseconds: SQLite hands back SQLAlchemy's text, PostgreSQL naive datetimes."""
    exprs = []
    for c in columns:
        dtype = frame.schema[c]
        if dtype == pl.String:
            exprs.append(pl.col(c).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", time_zone="UTC"))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            exprs.append(pl.col(c).dt.cast_time_unit("us").dt.replace_time_zone("UTC"))
        else:
            exprs.append(pl.col(c).cast(UTC_US))
    return frame.with_columns(exprs)


def _select(engine: sa.Engine, sql: str, params: dict, names: Sequence[str]) -> pl.DataFrame | None:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql), params).fetchall()
    if not rows:
        return None
    return pl.DataFrame([tuple(r) for r in rows], schema=list(names), orient="row", infer_schema_length=None)


def _where(engine: sa.Engine, *, start: dt.datetime | None = None, end: dt.datetime | None = None, api_id: int | None = None,
           customer_id: str | None = None, time_column: str = "hour") -> tuple[str, dict]:
    parts, params = ["1=1"], {}
    if start is not None:
        parts.append(f"{time_column} >= :start")
        params["start"] = bind_time(engine, start)
    if end is not None:
        parts.append(f"{time_column} < :end")
        params["end"] = bind_time(engine, end)
    if api_id is not None:
        parts.append("api_id = :api_id")
        params["api_id"] = int(api_id)
    if customer_id is not None:
        parts.append("customer_id = :customer_id")
        params["customer_id"] = customer_id
    return " AND ".join(parts), params


def read_rollups(engine: sa.Engine, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
                 api_id: int | None = None, customer_id: str | None = None, histograms: bool = True) -> pl.DataFrame:
    """Rollup rows with start <= hour < end (optionally one API, one customer) as facts; without `histograms`,
    every row's histogram is empty (for counts and sums: the bins are not read)."""
    where, params = _where(engine, start=start, end=end, api_id=api_id, customer_id=customer_id)
    hours = _select(engine, f"SELECT {', '.join(_HOUR_COLUMNS)} FROM rollup_hours WHERE {where}", params, _HOUR_COLUMNS)
    if hours is None:
        return empty_facts()
    bins = _select(engine, f"SELECT {', '.join(_BIN_COLUMNS)} FROM rollup_load_bins WHERE {where}", params, _BIN_COLUMNS) if histograms else None
    return _facts(hours, bins)


def read_all_rollups(engine: sa.Engine, end: dt.datetime, out: Path | None = None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Every rollup row with hour < end, as facts: the bulk load of a cache. Arrow all the way through ADBC,
    in a child process (bulk_facts; its files are left in `out` when given, for a snapshot), when it can, with each
    customer's row numbers (index.customer_rows); row by row through SQLAlchemy otherwise (and None for the row
    numbers)."""
    with engine.connect() as conn:
        if engine.url.get_backend_name() == "sqlite":  # rowids only grow: max(rowid) bounds the rows, off the b-tree's end
            rows = conn.exec_driver_sql("SELECT max(rowid) FROM rollup_hours").scalar() or 0
        else:  # counted up to the bound only
            rows = conn.exec_driver_sql(f"SELECT count(*) FROM (SELECT 1 FROM rollup_hours LIMIT {BULK_MIN_ROWS}) AS r").scalar()
    if rows < BULK_MIN_ROWS:  # starting the child process (~1 s) costs more than reading a small table row by row
        return read_rollups(engine, end=end), None
    bulk = bulk_facts(engine, end, out)
    return (read_rollups(engine, end=end), None) if bulk is None else bulk


def adbc_read(url: sa.URL, sql: str) -> pl.DataFrame:
    if url.get_backend_name() == "sqlite":
        import adbc_driver_sqlite.dbapi as adbc_sqlite

        conn = adbc_sqlite.connect(url.database)
    else:
        import adbc_driver_postgresql.dbapi as adbc_pg

        conn = adbc_pg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    with conn, conn.cursor() as cur:
        cur.execute(sql)
        return pl.from_arrow(cur.fetch_arrow_table())


def rollup_facts(url: sa.URL, end: str) -> pl.DataFrame:
    """The child's work (core.storage.cache.child): the rollup rows with hour < `end` (the time as the
    column stores it) through ADBC, joined into facts and sorted as the cache keeps them."""
    # Both tables at once, one connection each: ADBC reads outside the GIL (1.2 -> 0.8 s at a million requests).
    with ThreadPoolExecutor(2) as pool:
        hours, bins = pool.map(lambda job: adbc_read(url, f"SELECT {', '.join(job[1])} FROM {job[0]} WHERE hour < '{end}'"),
                               (("rollup_hours", _HOUR_COLUMNS), ("rollup_load_bins", _BIN_COLUMNS)))
    return (_facts(hours, bins) if hours.height else empty_facts()).sort("api_id", "timestamp")


def bulk_facts(engine: sa.Engine, end: dt.datetime, out: Path | None = None) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """(rollup_facts(end), index.customer_rows of them) computed in a child process, or None when that fails (the caller falls back to
    SQLAlchemy). The child writes them as Parquet into `out` (left there: core.storage.cache.snapshot), else a
    temporary directory. A child, on both backends: ADBC bundles its own SQLite library, and two copies in one process
    break each other's POSIX locks (SQLite's how-to-corrupt guide, "multiple copies of SQLite in the same
    program"); and the load's peak memory (every rollup row as text, the join of their histograms: about
    14 times the finished facts) is the child's, gone when it exits, not the app process's for its lifetime."""
    cutoff = bind_time(engine, end)
    literal = cutoff if isinstance(cutoff, str) else cutoff.isoformat(" ")
    try:
        with contextlib.nullcontext(str(out)) if out else tempfile.TemporaryDirectory(prefix="clientele-load-") as tmp:
            # The URL (its password) goes through stdin: a command line is visible to every user of the host.
            job = json.dumps({"url": engine.url.render_as_string(hide_password=False), "end": literal, "out": tmp})
            proc = subprocess.run([sys.executable, "-m", CHILD_MODULE], input=job.encode(), capture_output=True,
                                  cwd=config.ROOT, timeout=1800, check=False)
            if proc.returncode != 0:
                raise RuntimeError((proc.stderr.decode(errors="replace").strip().splitlines() or ["child failed"])[-1])
            return pl.read_parquet(Path(tmp) / "facts.parquet"), pl.read_parquet(Path(tmp) / "rows.parquet")
    except Exception as exc:  # any driver problem: the slower path gives the same rows
        log.warning("ADBC bulk read failed (%s); reading through SQLAlchemy", exc)
        return None


def _facts(hours: pl.DataFrame, bins: pl.DataFrame | None) -> pl.DataFrame:
    """Rollup rows and their load-time bins (as read: times as stored) joined into facts. The join's key has
    the text columns as categorical codes: integers hash and compare several times faster than strings."""
    text = ("customer_id", "method", "endpoint")
    key = ["api_id", "hour", *(f"_{c}" for c in text)]
    hours = _utc(hours, ("hour", "first_ts", "last_ts"))
    if bins is None or bins.height == 0:
        bins = pl.DataFrame(schema={**hours.select(KEY).schema, "bin": pl.Int16, "count": pl.Int64})
    bins = _utc(bins, ("hour",))
    coded = [pl.col("api_id").cast(pl.Int64), *(pl.col(c).cast(pl.String).cast(pl.Categorical) for c in text)]
    codes = [pl.col(c).to_physical().alias(f"_{c}") for c in text]
    lists = (
        bins.lazy()
        .with_columns(*coded, pl.col("bin").cast(pl.Int16), pl.col("count").cast(pl.Int64))
        .with_columns(codes)
        .sort("bin")
        .group_by(key)
        .agg(pl.col("bin").alias("load_bins"), pl.col("count").alias("load_counts"))
    )
    joined = hours.lazy().with_columns(coded).with_columns(codes).join(lists, on=key, how="left")
    return joined.select(
        pl.col("api_id").cast(pl.Int32),
        pl.when(pl.col("customer_id") != NO_CUSTOMER).then(pl.col("customer_id")).alias("customer_id"),
        pl.col("hour").alias("timestamp"),
        "method",
        "endpoint",
        *(pl.col(c).cast(FACT_SCHEMA[c]) for c in SUMS),
        "first_ts", "last_ts",
        pl.col("load_bins").fill_null(pl.lit([], FACT_SCHEMA["load_bins"])),
        pl.col("load_counts").fill_null(pl.lit([], FACT_SCHEMA["load_counts"])),
    ).collect()


def read_raw(engine: sa.Engine, ranges: Sequence[tuple[dt.datetime, dt.datetime]], *, api_ids: Sequence[int] = (),
             customer_id: str | None = None, histograms: bool = True) -> pl.DataFrame:
    """The raw requests in these [start, end) time ranges, on these APIs (or a customer's, on any API), as
    facts (with empty histograms, without `histograms`): the hours a window or bucket edge cuts. Each range is
    one index seek (api or customer, time)."""
    parts = []
    for start, end in ranges:
        where, params = _where(engine, start=start, end=end, customer_id=customer_id, time_column="timestamp")
        if customer_id is None:  # one index seek per API (api_id, timestamp), in one statement; ids are ints
            where += f" AND api_id IN ({', '.join(str(int(a)) for a in api_ids) or 'NULL'})"
        raw = _select(engine, f"SELECT {', '.join(_RAW_COLUMNS)} FROM requests WHERE {where}", params, _RAW_COLUMNS)
        if raw is not None:
            parts.append(_utc(raw, ("timestamp",)))
    if not parts:
        return empty_facts()
    return from_requests(pl.concat(parts, how="vertical_relaxed"), histograms=histograms)


def read_state(engine: sa.Engine) -> tuple[int, dt.datetime | None, int]:
    """(rollup epoch, raw_since, newest request id): what tells a process that its copy is out of date."""
    with engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT epoch, raw_since FROM rollup_state WHERE id = 1").first()
        newest = conn.exec_driver_sql("SELECT max(id) FROM requests").scalar()
    raw_since = None
    if row is not None and row[1] is not None:
        value = row[1]
        raw_since = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        raw_since = raw_since.replace(tzinfo=dt.timezone.utc)
    return (int(row[0]) if row is not None else 0), raw_since, int(newest or 0)


def read_small_tables(engine: sa.Engine, *, customers: bool = True) -> tuple[pl.DataFrame, pl.DataFrame | None,
                                                                             pl.DataFrame | None]:
    """(apis, customers, customer_apis) as frames; one row per API, customer, or customer × API (only the APIs,
    and None twice, without `customers`). Read as plain columns and converted by Polars (no per-row type
    processing: this runs whenever new requests came in). A customer's attributes stay the JSON text stored
    (the same text on both backends), "{}" for none."""
    text = "CAST(attributes AS TEXT)" if engine.dialect.name == "postgresql" else "attributes"
    queries = {
        "apis": ("SELECT id, name, created_at FROM apis ORDER BY id", ("api_id", "name", "created_at")),
        "customers": (f"SELECT customer_id, display_name, {text}, first_seen, last_seen FROM customers",
                      ("customer_id", "display_name", "attributes", "first_seen", "last_seen")),
        "links": ("SELECT customer_id, api_id, first_seen, last_seen FROM customer_apis",
                  ("customer_id", "api_id", "first_seen", "last_seen")),
    }
    if not customers:
        del queries["customers"], queries["links"]
    with engine.connect() as conn:
        rows = {name: conn.exec_driver_sql(sql).fetchall() for name, (sql, _) in queries.items()}

    def frame(name: str, schema: dict, times: Sequence[str]) -> pl.DataFrame:
        raw = pl.DataFrame(rows[name], schema=list(queries[name][1]), orient="row", infer_schema_length=None)
        return _utc(raw, times).select(pl.col(c).cast(dtype) for c, dtype in schema.items())

    apis_df = frame("apis", {"api_id": pl.Int32, "name": pl.String, "created_at": UTC_US}, ("created_at",))
    if not customers:
        return apis_df, None, None
    customers_df = frame("customers", {"customer_id": pl.String, "display_name": pl.String, "attributes": pl.String,
                                       "first_seen": UTC_US, "last_seen": UTC_US}, ("first_seen", "last_seen"))
    customers_df = customers_df.with_columns(
        pl.when(pl.col("attributes").is_null() | (pl.col("attributes") == "null")).then(pl.lit("{}"))
        .otherwise(pl.col("attributes")).alias("attributes"))
    links_df = frame("links", {"customer_id": pl.String, "api_id": pl.Int32, "first_seen": UTC_US, "last_seen": UTC_US},
                     ("first_seen", "last_seen"))
    return apis_df, customers_df, links_df
