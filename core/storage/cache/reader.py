"""SQL → frames for the cache: the requests table by id range (ADBC, in this process or a child, else
SQLAlchemy), with the cache's compact dtypes, and the small API and customer tables."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from core.domain import config
from core.domain.frames import UTC_US
from core.storage.cache.layout import REQUEST_SCHEMA, empty_requests
from core.storage.models import Api, Customer, CustomerApi

log = logging.getLogger(__name__)

# Rows per SQL read on a full load (bounds the memory of one raw chunk); chunks load in parallel.
LOAD_CHUNK_ROWS = 500_000
LOAD_THREADS = max(1, min(2, os.cpu_count() or 1))
# SQLite id ranges at least this wide are read by an ADBC child process (see Reader).
SUBPROCESS_MIN_IDS = 100_000
# The module the child process runs (`python -m`): it reads the ranges with adbc_read_ranges.
CHILD_MODULE = "core.storage.cache.child"

_NULLABLE_TEXT = ("customer_id", "device", "ai_agent", "country", "threat_level")
# SQLite's ADBC driver infers a column's type from its first rows, so a text column that starts with
# NULLs breaks the read: select '' instead (customer IDs and the rest are never empty) and map back.


def _select_expr(column: str) -> str:
    if column in _NULLABLE_TEXT:
        return f"COALESCE({column}, '') AS {column}"
    if column == "load_time_ms":  # a float on both databases (PostgreSQL's double precision, SQLite's REAL)
        return f"CAST({column} AS REAL) AS {column}"
    return column


# The cache's columns are REQUEST_SCHEMA's, each a column of `requests` (models.py) by the same name.
_SELECT = f"SELECT {', '.join(_select_expr(c) for c in REQUEST_SCHEMA)} FROM requests"


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


def adbc_read_ranges(url: sa.URL, ranges: list[tuple[int, int]]) -> pl.DataFrame:
    parts = [_adbc_read(url, _range_sql(lo, hi)) for lo, hi in ranges]
    return pl.concat(parts, rechunk=False) if parts else empty_requests()


def _adbc_read_in_child(url: sa.URL, ranges: list[tuple[int, int]]) -> pl.DataFrame:
    """adbc_read_ranges in a child process (its own SQLite library); the frame comes back as an
    Arrow file (one process per loader thread: starting Python costs about a second)."""
    with tempfile.TemporaryDirectory(prefix="clientele-load-") as tmp:
        out = Path(tmp) / "rows.arrow"
        proc = subprocess.run(
            [sys.executable, "-m", CHILD_MODULE, url.render_as_string(hide_password=False), str(out)],
            input=json.dumps(ranges).encode(), capture_output=True, cwd=config.ROOT, timeout=1800, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError((proc.stderr.decode(errors="replace").strip().splitlines() or ["child failed"])[-1])
        return pl.read_ipc(out) if out.stat().st_size else empty_requests()


def _range_sql(after_id: int, upto_id: int) -> str:
    return _SELECT + f" WHERE id > {int(after_id)} AND id <= {int(upto_id)} ORDER BY id"


class Reader:
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


def read_small_tables(engine: sa.Engine) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
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
