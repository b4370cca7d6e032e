"""Rollups: requests summed per API × hour × customer × method × endpoint, with a load-time histogram.

Every dashboard number is computed from them (core.storage.cache reads them; core.analytics sums them),
so pages cost the same at a billion requests as at a million. They are written in the transaction that
writes the requests they count (store.write_requests calls add()), as increments (`requests =
requests + excluded.requests`), so a committed request is counted exactly once, also with several
collector processes on one PostgreSQL. `python -m core rollups rebuild` recomputes them from the raw
rows with the same summarise() and the same increments: rebuild and incremental agree by construction,
and tests/test_rollups.py checks that they do.

An hour is "settled" once it is more than SETTLE_AFTER old: the collector never writes into it again
(it believes an SDK's clock only within 15 minutes of the receive time). App processes keep settled
rollups in memory and read the newer ones from SQL. Writes into settled hours (file imports, the demo,
a rebuild, prune of a whole API) bump rollup_state.epoch in the same transaction, which makes every
app process reload.
"""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

import polars as pl
import sqlalchemy as sa

from core.domain import facts, histogram
from core.domain.frames import UTC_US
from core.domain.record import NormalizedRequest
from core.domain.timewindow import floor_hour
from core.storage.dialect import insert as _insert
from core.storage.models import Api, Request, RollupHour, RollupLoadBin, RollupState, utcnow

KEY = ("api_id", "hour", "customer_id", "method", "endpoint")
SUMS = facts.SUMS
SETTLE_AFTER = dt.timedelta(hours=1)
NO_CUSTOMER = ""  # customer_id of requests without one (primary key columns cannot be NULL)
# Raw rows per read when rebuilding: bounds the memory of a rebuild, whatever the table's size.
REBUILD_CHUNK_ROWS = 200_000
_US = 1_000_000
HOUR_US = 3600 * _US

RAW_SCHEMA: dict[str, pl.DataType] = {
    "api_id": pl.Int32, "customer_id": pl.String, "timestamp": UTC_US, "method": pl.String, "endpoint": pl.String,
    "status": pl.Int32, "load_time_ms": pl.Float64, "response_size": pl.Int64,
}


def settled_before(now: dt.datetime | None = None) -> dt.datetime:
    """Hours before this one are settled (see the module's docstring)."""
    return floor_hour((now or utcnow()) - SETTLE_AFTER)


# ---------------------------------------------------------------- summarising raw rows


def summarise(raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Raw request rows (RAW_SCHEMA's columns) → (rollup_hours rows, rollup_load_bins rows), sorted by key."""
    rows = raw.lazy().with_columns(
        pl.col("timestamp").dt.truncate("1h").alias("hour"),
        pl.col("customer_id").fill_null(NO_CUSTOMER),
        histogram.bin_expr(pl.col("load_time_ms")).alias("bin"),
    )
    hours = (
        rows.group_by(KEY)
        .agg(
            pl.len().cast(pl.Int64).alias("requests"),
            (pl.col("status") >= 400).sum().cast(pl.Int64).alias("failed"),
            pl.col("status").is_between(400, 499).sum().cast(pl.Int64).alias("status_4xx"),
            (pl.col("status") >= 500).sum().cast(pl.Int64).alias("status_5xx"),
            facts.load_us_expr(pl.col("load_time_ms")).sum().alias("load_us"),
            pl.col("response_size").cast(pl.Int64).sum().alias("size_sum"),
            pl.col("timestamp").min().alias("first_ts"),
            pl.col("timestamp").max().alias("last_ts"),
        )
        .sort(KEY)
    )
    bins = rows.group_by(*KEY, "bin").agg(pl.len().cast(pl.Int64).alias("count")).sort(*KEY, "bin")
    hours_df, bins_df = pl.collect_all([hours, bins])
    return hours_df, bins_df


# ---------------------------------------------------------------- writing increments


_HOUR_COLUMNS = (*KEY, *SUMS, "first_ts", "last_ts")
_BIN_COLUMNS = (*KEY, "bin", "count")
_TIMES = ("hour", "first_ts", "last_ts")


@functools.cache
def _upsert_sql(dialect: str, table: str, columns: tuple[str, ...], conflict: tuple[str, ...], sums: tuple[str, ...],
                earliest: tuple[str, ...] = (), latest: tuple[str, ...] = ()) -> str:
    """INSERT … ON CONFLICT DO UPDATE adding `sums` and keeping the earliest/latest times, in the
    dialect's placeholders and min/max (SQLite's scalar min(), PostgreSQL's LEAST)."""
    mark, low, high = ("?", "min", "max") if dialect == "sqlite" else ("%s", "LEAST", "GREATEST")
    sets = [f"{c} = {table}.{c} + excluded.{c}" for c in sums]
    sets += [f"{c} = {low}({table}.{c}, excluded.{c})" for c in earliest]
    sets += [f"{c} = {high}({table}.{c}, excluded.{c})" for c in latest]
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
            f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {', '.join(sets)}")


def _rows(frame: pl.DataFrame, columns: tuple[str, ...], dialect: str) -> list[tuple]:
    """Plain tuples for executemany: times as the text SQLAlchemy stores on SQLite (which compares them as
    text), naive UTC datetimes for PostgreSQL's timestamp columns."""
    times = [c for c in _TIMES if c in columns]
    if dialect == "sqlite":
        frame = frame.with_columns(pl.col(times).dt.strftime("%Y-%m-%d %H:%M:%S.%6f"))
    else:
        frame = frame.with_columns(pl.col(times).dt.replace_time_zone(None))
    return frame.select(columns).rows()


def _upsert(conn: sa.Connection, hours: pl.DataFrame, bins: pl.DataFrame) -> None:
    """Add these sums to the stored ones (insert missing keys), with one prepared statement per table
    (no per-value ORM processing: the demo and imports write millions of rows). Rows go in key order,
    so two writers lock the same keys in the same order (no deadlock on PostgreSQL)."""
    dialect = conn.dialect.name
    _execute_upserts(conn, _rows(hours, _HOUR_COLUMNS, dialect) if hours.height else [],
                     _rows(bins, _BIN_COLUMNS, dialect) if bins.height else [])


def _execute_upserts(conn: sa.Connection, hour_rows: list[tuple], bin_rows: list[tuple]) -> None:
    dialect = conn.dialect.name
    if hour_rows:
        conn.exec_driver_sql(_upsert_sql(dialect, "rollup_hours", _HOUR_COLUMNS, KEY, SUMS, ("first_ts",), ("last_ts",)), hour_rows)
    if bin_rows:
        conn.exec_driver_sql(_upsert_sql(dialect, "rollup_load_bins", _BIN_COLUMNS, (*KEY, "bin"), ("count",)), bin_rows)


def bump_epoch(conn: sa.Connection) -> None:
    table = RollupState.__table__
    if conn.execute(sa.update(table).where(table.c.id == 1).values(epoch=table.c.epoch + 1)).rowcount == 0:
        conn.execute(_insert(conn, table).values(id=1, epoch=1).on_conflict_do_update(
            index_elements=["id"], set_={"epoch": table.c.epoch + 1}))


def set_raw_since(engine: sa.Engine, cutoff: dt.datetime) -> None:
    """Raw rows before `cutoff` were pruned (it only moves forward). Bumps the epoch: processes re-read it."""
    table = RollupState.__table__
    with engine.begin() as conn:
        bump_epoch(conn)
        current = conn.execute(sa.select(table.c.raw_since).where(table.c.id == 1)).scalar()
        if current is None or current < cutoff:
            conn.execute(sa.update(table).where(table.c.id == 1).values(raw_since=cutoff))


def epoch(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(RollupState.epoch).where(RollupState.id == 1)).scalar() or 0)


# A batch's increments as plain rows: (rollup_hours rows, rollup_load_bins rows, the earliest hour), in key order.
Increments = tuple[list[tuple], list[tuple], "dt.datetime | None"]


def increments(items: Sequence[tuple[int, NormalizedRequest]], dialect: str) -> Increments:
    """Count a batch of requests for a database of this dialect, without it. Plain Python, no Polars: the demo
    counts in forked worker processes, where Polars' thread pool (started in the parent) hangs."""
    hours: dict[tuple, list] = {}  # key → the sums, the first and last time, and the key's {bin: count}
    floors: dict[int, dt.datetime] = {}
    utc = dt.timezone.utc
    load_us, bin_of = facts.load_us, histogram.bin_of
    for api_id, r in items:
        ts = r.timestamp
        if ts.tzinfo is not utc:
            ts = ts.astimezone(utc)
        # Keyed by the hour's number, not its datetime: an aware datetime is slow to hash and sort, and a batch
        # has nearly one key per request. The numbers sort as the hours do.
        hour = ts.toordinal() * 24 + ts.hour
        if hour not in floors:
            floors[hour] = floor_hour(ts)
        customer_id = r.customer_id
        key = (api_id, hour, customer_id if customer_id is not None else NO_CUSTOMER, r.method, r.endpoint)
        load, status = float(r.load_time_ms), r.status
        row = hours.get(key)
        if row is None:
            row = hours[key] = [0, 0, 0, 0, 0, 0, ts, ts, {}]
        row[0] += 1
        row[1] += status >= 400
        row[2] += 400 <= status <= 499
        row[3] += status >= 500
        row[4] += load_us(load)
        row[5] += int(r.response_size)
        if ts < row[6]:
            row[6] = ts
        elif ts > row[7]:
            row[7] = ts
        load_bins, bin_ = row[8], bin_of(load)
        load_bins[bin_] = load_bins.get(bin_, 0) + 1
    if not hours:
        return [], [], None
    plain = _plain_time_of(dialect)
    plain_hours = {hour: plain(floor) for hour, floor in floors.items()}
    hour_rows, bin_rows = [], []
    for k, v in sorted(hours.items()):
        key, first = (k[0], plain_hours[k[1]], *k[2:]), plain(v[6])
        hour_rows.append((*key, *v[:6], first, first if v[7] is v[6] else plain(v[7])))  # most keys have one request
        for bin_, n in sorted(v[8].items()):
            bin_rows.append((*key, bin_, n))
    return hour_rows, bin_rows, floors[min(floors)]


def add_increments(conn: sa.Connection, counted: Increments, now: dt.datetime | None = None) -> None:
    """Add a batch's increments on `conn` (the transaction that writes its requests)."""
    hour_rows, bin_rows, earliest = counted
    _execute_upserts(conn, hour_rows, bin_rows)
    if earliest is not None and earliest < settled_before(now):
        bump_epoch(conn)


def add(conn: sa.Connection, items: Sequence[tuple[int, NormalizedRequest]], now: dt.datetime | None = None) -> None:
    """Count a batch of requests being written on `conn` (the same transaction)."""
    add_increments(conn, increments(items, conn.dialect.name), now)


def _plain_time_of(dialect: str):
    """UTC datetime → what the dialect's executemany takes: SQLAlchemy's text on SQLite, a naive datetime on PostgreSQL."""
    return _sqlite_text if dialect == "sqlite" else _naive


def _naive(ts: dt.datetime) -> dt.datetime:
    return ts.replace(tzinfo=None)


def _sqlite_text(ts: dt.datetime) -> str:
    return ts.isoformat(" ", "microseconds")[:26]  # without "+00:00"


def add_frame(conn: sa.Connection, raw: pl.DataFrame, now: dt.datetime | None = None) -> None:
    """Count raw rows (RAW_SCHEMA) with Polars: rebuilds and tests, never in a forked process."""
    hours, bins = summarise(raw)
    _upsert(conn, hours, bins)
    if hours.height and hours.get_column("hour").min() < settled_before(now):
        bump_epoch(conn)


# ---------------------------------------------------------------- rebuild


def _raw_chunk(conn: sa.Connection, api_id: int, after_id: int, limit: int, since: dt.datetime | None) -> tuple[pl.DataFrame, int]:
    cols = [Request.api_id, Request.customer_id, Request.timestamp, Request.method, Request.endpoint, Request.status,
            Request.load_time_ms, Request.response_size]
    query = sa.select(Request.id, *cols).where(Request.api_id == api_id, Request.id > after_id)
    if since is not None:
        query = query.where(Request.timestamp >= since)
    rows = conn.execute(query.order_by(Request.id).limit(limit)).all()
    if not rows:
        return pl.DataFrame(schema=RAW_SCHEMA), after_id
    frame = pl.DataFrame([tuple(r)[1:] for r in rows], schema=RAW_SCHEMA, orient="row")
    return frame, int(rows[-1][0])


def rebuild(engine: sa.Engine, api_id: int | None = None, *, chunk_rows: int = REBUILD_CHUNK_ROWS,
            progress=None) -> dict:
    """Recompute the rollups of one API (or all) from the raw rows, in one transaction; returns counts.
    Only the hours the raw rows still cover wholly (from the first whole hour after prune's cutoff,
    rollup_state.raw_since): older rollups are all that is left of their requests, and are kept."""
    with engine.begin() as conn:
        return rebuild_on(conn, api_id, chunk_rows=chunk_rows, progress=progress)


def rebuild_on(conn: sa.Connection, api_id: int | None = None, *, chunk_rows: int = REBUILD_CHUNK_ROWS, progress=None) -> dict:
    api_ids = [api_id] if api_id is not None else list(conn.scalars(sa.select(Api.id).order_by(Api.id)))
    raw_since = conn.execute(sa.select(RollupState.raw_since).where(RollupState.id == 1)).scalar()
    since = None if raw_since is None else floor_hour(raw_since) + (dt.timedelta(hours=1) if floor_hour(raw_since) != raw_since else dt.timedelta())
    done = 0
    for one in api_ids:
        for table in (RollupLoadBin.__table__, RollupHour.__table__):
            stale = table.c.api_id == one
            conn.execute(sa.delete(table).where(stale if since is None else stale & (table.c.hour >= since)))
        after = 0
        while True:
            raw, after = _raw_chunk(conn, one, after, chunk_rows, since)
            if raw.height == 0:
                break
            _upsert(conn, *summarise(raw))
            done += raw.height
            if progress:
                progress(done)
    bump_epoch(conn)
    rows = conn.execute(sa.select(sa.func.count()).select_from(RollupHour)).scalar_one()
    return {"apis": len(api_ids), "requests": done, "rollup_rows": int(rows)}
