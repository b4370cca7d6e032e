"""Facts: the one frame shape every dashboard number is computed from.

A fact row counts requests of one API, customer, method and endpoint at `timestamp`: either a rollup
hour (timestamp = the hour's start, every sum of that hour) or a single raw request (timestamp = its
time, requests = 1). Both can sit in one frame: a window reads whole hours from the rollups and the
hours cut by a window or bucket edge from the raw rows, so every count, sum and time stays exact.
Load-time percentiles come from the rows' histograms (core.domain.histogram).
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

from core.domain import histogram
from core.domain.frames import UTC_US, group_ids

Dtype = pl.DataType | type[pl.DataType]

FACT_SCHEMA: dict[str, Dtype] = {
    "api_id": pl.Int32,
    "customer_id": pl.Categorical(),
    "timestamp": UTC_US,
    "method": pl.Categorical(),
    "endpoint": pl.Categorical(),
    "requests": pl.Int64,
    "failed": pl.Int64,
    "status_4xx": pl.Int64,
    "status_5xx": pl.Int64,
    "load_us": pl.Int64,  # load times summed in whole microseconds: integer sums are exact in any order
    "size_sum": pl.Float64,
    "first_ts": UTC_US,
    "last_ts": UTC_US,
    "load_bins": pl.List(histogram.BIN_DTYPE),
    "load_counts": pl.List(pl.Int64),
}
# The columns that add up: a rollup hour's increments, and what summing facts (in_blocks) sums.
SUMS = ("requests", "failed", "status_4xx", "status_5xx", "load_us", "size_sum")
# Raw request rows, as tests and the cut hours' reads build them (from_requests turns them into facts).
REQUEST_SCHEMA: dict[str, Dtype] = {
    "id": pl.Int64, "api_id": pl.Int32, "customer_id": pl.Categorical(), "timestamp": UTC_US, "method": pl.Categorical(),
    "endpoint": pl.Categorical(), "status": pl.Int16, "load_time_ms": pl.Float32, "response_size": pl.Int64,
    "device": pl.Categorical(), "ai_agent": pl.Categorical(), "country": pl.Categorical(), "threat_level": pl.Categorical(),
}
US_PER_MS = 1000
# A load time over a day is a broken clock (an SDK sent 10^30): it counts as a day, so a sum of 2^63 µs
# holds 10^8 of them and one hostile payload cannot overflow a rollup's BIGINT.
MAX_LOAD_MS = 86_400_000.0


def load_us(load_time_ms: float) -> int:
    """A load time in whole microseconds (half up). Sums of these are exact whatever the order of additions,
    so SQLite and PostgreSQL, an incremental rollup and a rebuild, give the same averages to the last digit."""
    return math.floor(min(load_time_ms, MAX_LOAD_MS) * US_PER_MS + 0.5)


def load_us_expr(load_time_ms: pl.Expr) -> pl.Expr:
    """load_us as a Polars expression (the same arithmetic, so both paths agree bit for bit)."""
    return (load_time_ms.cast(pl.Float64).clip(upper_bound=MAX_LOAD_MS) * US_PER_MS + 0.5).floor().cast(pl.Int64)


def avg_load_ms(load_us_sum: pl.Expr, requests: pl.Expr) -> pl.Expr:
    """The average load time in ms of summed microseconds."""
    return load_us_sum / requests / US_PER_MS


FIRST_SEEN_SCHEMA: dict[str, Dtype] = {"customer_id": pl.String, "api_id": pl.Int32, "first_seen": UTC_US}


def empty_facts() -> pl.DataFrame:
    return pl.DataFrame(schema=FACT_SCHEMA)


def is_facts(frame: pl.DataFrame) -> bool:
    return "requests" in frame.columns and "load_bins" in frame.columns


def from_requests(raw: pl.DataFrame, *, histograms: bool = True) -> pl.DataFrame:
    """Raw request rows (api_id, customer_id, timestamp, method, endpoint, status, load_time_ms,
    response_size; missing ones are null) → one fact per request (with an empty histogram, without `histograms`:
    for counts and sums)."""
    def col(name: str, dtype: Dtype) -> pl.Expr:
        return pl.col(name).cast(dtype) if name in raw.columns else pl.lit(None, dtype)

    status = col("status", pl.Int32)
    load = col("load_time_ms", pl.Float64)
    return raw.select(
        col("api_id", pl.Int32).alias("api_id"),
        col("customer_id", pl.String).cast(pl.Categorical).alias("customer_id"),
        col("timestamp", UTC_US).alias("timestamp"),
        col("method", pl.String).cast(pl.Categorical).alias("method"),
        col("endpoint", pl.String).cast(pl.Categorical).alias("endpoint"),
        pl.lit(1, pl.Int64).alias("requests"),
        (status >= 400).cast(pl.Int64).fill_null(0).alias("failed"),
        status.is_between(400, 499).cast(pl.Int64).fill_null(0).alias("status_4xx"),
        (status >= 500).cast(pl.Int64).fill_null(0).alias("status_5xx"),
        load_us_expr(load).alias("load_us"),
        col("response_size", pl.Float64).alias("size_sum"),
        col("timestamp", UTC_US).alias("first_ts"),
        col("timestamp", UTC_US).alias("last_ts"),
        (pl.concat_list(histogram.bin_expr(load)) if histograms else pl.lit([], FACT_SCHEMA["load_bins"])).alias("load_bins"),
        (pl.concat_list(pl.lit(1, pl.Int64)) if histograms else pl.lit([], FACT_SCHEMA["load_counts"])).alias("load_counts"),
    )


def as_facts(frame: pl.DataFrame) -> pl.DataFrame:
    """Facts as they are; raw request rows converted (tests and small callers pass raw rows)."""
    return frame if is_facts(frame) else from_requests(frame)


def first_seen(facts: pl.DataFrame) -> pl.DataFrame:
    """One row per (customer, API): the customer's first request to that API in these facts (or raw rows)."""
    return (
        as_facts(facts).lazy()
        .filter(pl.col("customer_id").is_not_null())
        .group_by("customer_id", "api_id")
        .agg(pl.col("first_ts").min().alias("first_seen"))
        .select(pl.col("customer_id").cast(pl.String), pl.col("api_id").cast(pl.Int32), "first_seen")
        .sort("customer_id", "api_id")
        .collect()
    )


_BLOCK_ROWS = 100_000


def in_blocks(frame: pl.DataFrame, origin: dt.datetime, step: dt.timedelta, keep: tuple[str, ...] = (), *,
              histograms: bool = True) -> pl.DataFrame:
    """The facts summed per API, customer, `keep` (method, endpoint or both) and block of `step` from `origin`
    (timestamp: the block's start), sorted by time: every count and sum, the first and last request time and the
    merged histogram (empty without `histograms`) kept; method and endpoint null unless kept. Numbers over windows
    and buckets whose edges are block edges are the same from the blocks as from the rows they sum, from many fewer
    rows (a month of an API's hours per customer and day: 18 times fewer at 10M requests)."""
    if frame.height == 0:
        return empty_facts()
    step_us = step // dt.timedelta(microseconds=1)
    block = _block_numbers(frame, origin, step_us)
    # A chunk of rows at a time: the flat arrays of every row's histogram would cost a few hundred megabytes at 10M
    # requests. Rows in time order are cut between blocks where one is near, so that no block is in two chunks;
    # otherwise the chunks' blocks, which are few rows, are summed once more.
    in_order = bool((np.diff(block) >= 0).all())
    edges = [0]
    while edges[-1] < frame.height:
        at = min(edges[-1] + _BLOCK_ROWS, frame.height)
        if at < frame.height and in_order:  # back to the start of the block there, if that is not too far
            start = int(np.searchsorted(block, block[at], side="left"))
            at = start if start - edges[-1] >= _BLOCK_ROWS // 2 else at
        edges.append(at)
    parts = [_summed(frame.slice(lo, hi - lo), block[lo:hi], origin, step_us, keep, histograms) for lo, hi in zip(edges, edges[1:])]
    out = parts[0] if len(parts) == 1 else pl.concat(parts, rechunk=False)
    if any(not in_order or block[at - 1] == block[at] for at in edges[1:-1]):  # a block in two chunks
        out = _summed(out, _block_numbers(out, origin, step_us), origin, step_us, keep, histograms)
    return out.sort("timestamp", maintain_order=True).with_columns(pl.col("timestamp").set_sorted())


def _block_numbers(frame: pl.DataFrame, origin: dt.datetime, step_us: int) -> np.ndarray:
    return frame.select((pl.col("timestamp") - origin).dt.total_microseconds() // step_us).to_series().to_numpy()


def _summed(frame: pl.DataFrame, block: np.ndarray, origin: dt.datetime, step_us: int, keep: tuple[str, ...],
            histograms: bool) -> pl.DataFrame:
    """in_blocks of one chunk of rows, whose block numbers are `block`."""
    keys, gid = group_ids(frame.select("api_id", "customer_id", *keep).with_columns(pl.Series("block", block)),
                          ["api_id", "customer_id", *keep, "block"])
    sums = (
        frame.select(pl.Series("group", gid), *SUMS, "first_ts", "last_ts")
        .group_by("group").agg(*(pl.col(c).sum() for c in SUMS), pl.col("first_ts").min(), pl.col("last_ts").max())
        .sort("group")
    )
    if histograms:
        merged = histogram.merged(frame.get_column("load_bins"), frame.get_column("load_counts"), gid, keys.height)
    else:
        merged = pl.DataFrame([pl.repeat(pl.lit([], FACT_SCHEMA[c]), keys.height, eager=True).alias(c) for c in ("load_bins", "load_counts")])
    blocks = pl.concat([
        keys.with_columns((pl.lit(origin, UTC_US) + pl.duration(microseconds=pl.col("block") * step_us)).alias("timestamp"),
                          *(pl.lit(None, FACT_SCHEMA[c]).alias(c) for c in ("method", "endpoint") if c not in keep)),
        sums.drop("group"),
        merged,
    ], how="horizontal")
    return blocks.select(pl.col(c).cast(t) for c, t in FACT_SCHEMA.items())
