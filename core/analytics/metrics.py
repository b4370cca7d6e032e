"""Request-level numbers and series in Polars: overview totals, time series, endpoint breakdown.

Pure functions: facts in (core.domain.facts: hourly rollups and raw rows of cut hours; raw request rows
are accepted too and converted), a frame or small dataclass out. Counts and averages are sums of the
facts' sums, so they are exact; percentiles merge the facts' load-time histograms (within 1 %,
core.domain.histogram). Each takes the window and the viewer's Scope; a Customer scope's frame must
hold only their rows (asserted). Customer-level and workspace numbers are in core.analytics.customers.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import polars as pl

from core.domain import facts, histogram
from core.domain.facts import as_facts
from core.domain.frames import UTC_US
from core.domain.scope import Scope
from core.domain.timewindow import Window

UTC = dt.timezone.utc
# Buckets are counted from the window's start, which is a whole hour (core.domain.timewindow): a preset
# window's last bucket is the current one so far (24H: this hour; 7D: the day that ends at the top of
# the next hour), and partial_buckets() names it for the charts to mark. A custom range (whole days in
# the viewer's zone) gets that zone's days.
PERCENTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
_US = 1_000_000


# ---------------------------------------------------------------- windows and buckets


def in_window(frame: pl.DataFrame, window: Window) -> pl.DataFrame:
    """The rows with window.start <= timestamp < window.end (binary search when sorted by time)."""
    return _between(frame, window.start, window.end)


def before(frame: pl.DataFrame, end: dt.datetime) -> pl.DataFrame:
    """The rows with timestamp < end (a slice when sorted by time)."""
    return _between(frame, None, end)


def _between(frame: pl.DataFrame, start: dt.datetime | None, end: dt.datetime) -> pl.DataFrame:
    """The rows with start <= timestamp < end (no lower bound when start is None): two binary searches when the
    rows are sorted by time, a filter otherwise."""
    ts = frame.get_column("timestamp")
    if frame.height and ts.flags["SORTED_ASC"] and ts.null_count() == 0:
        lo = 0 if start is None else ts.search_sorted(start, side="left")
        return frame.slice(lo, ts.search_sorted(end, side="left") - lo)
    inside = pl.col("timestamp") < end
    return frame.filter(inside if start is None else inside & (pl.col("timestamp") >= start))


def count_in(frame: pl.DataFrame, window: Window) -> int:
    """request_count(in_window(frame, window)) without copying the rows of the window (their histograms)."""
    return counts_in(frame, [window])[0]


def counts_in(frame: pl.DataFrame, windows: Sequence[Window]) -> list[int]:
    """count_in of each window, in one pass over the rows (Polars sums the windows side by side)."""
    ts = pl.col("timestamp")
    sums = frame.select(pl.col("requests").filter((ts >= w.start) & (ts < w.end)).sum().alias(str(i)) for i, w in enumerate(windows))
    return [int(v or 0) for v in sums.row(0)]


def failed_counts_in(frame: pl.DataFrame, windows: Sequence[Window]) -> list[tuple[int, int]]:
    """(requests, failed requests) of each window, in one pass over the rows: the counts of totals() without its
    percentiles (which read every row's histogram)."""
    ts = pl.col("timestamp")
    sums = frame.select(pl.col(c).filter((ts >= w.start) & (ts < w.end)).sum().alias(f"{c}{i}")
                        for i, w in enumerate(windows) for c in ("requests", "failed")).row(0)
    return [(int(sums[2 * i] or 0), int(sums[2 * i + 1] or 0)) for i in range(len(windows))]


def span(window: Window) -> Window:
    """The current window and the previous period together (what a page loads to show deltas)."""
    return Window(window.previous().start, window.end, window.bucket, window.preset)


def _step_us(window: Window) -> int:
    return int(window.bucket_delta.total_seconds()) * _US


def _start_us(window: Window) -> int:
    """Where bucket 0 starts (Window.origin), in epoch microseconds."""
    return int(window.origin.timestamp()) * _US + window.origin.microsecond


def bucket_index(window: Window) -> pl.Expr:
    """Expression: the 0-based bucket of each row's timestamp, counted from the window's origin (its start, or
    the whole hour before it for hourly buckets: Window.origin)."""
    step = _step_us(window)
    first = _start_us(window)
    return ((pl.col("timestamp").dt.epoch("us") - first) // step).cast(pl.Int32)


def _bucket_key(frame: pl.DataFrame, window: Window) -> pl.Expr:
    """bucket_index as a group key; marked sorted when the rows are in time order, so grouping
    splits the frame into contiguous slices instead of hashing every row."""
    key = bucket_index(window)
    ts = frame.get_column("timestamp")
    if ts.flags["SORTED_ASC"] and ts.null_count() == 0:
        key = key.set_sorted()
    return key.alias("bucket_index")


def _bucket_count(window: Window) -> int:
    """Buckets from the window's origin until its end (the last one may reach past the end)."""
    return window.bucket_count


def bucket_starts(window: Window) -> pl.DataFrame:
    """One row per chart bucket of the window from its origin (Window.origin): bucket (UTC start), bucket_index."""
    step = _step_us(window)
    first = _start_us(window)
    n = _bucket_count(window)
    return pl.DataFrame({"bucket_index": pl.int_range(0, n, dtype=pl.Int32, eager=True)}).with_columns(
        (pl.lit(first, pl.Int64) + pl.col("bucket_index").cast(pl.Int64) * step).cast(UTC_US).alias("bucket")
    ).select("bucket", "bucket_index")


def partial_buckets(window: Window) -> list[dt.datetime]:
    """UTC starts of the buckets only partly inside the window: the first when the window starts inside it (a
    range brushed or typed to the minute: its hourly buckets start at the whole hour before), and the last when
    it reaches past the window's end. They hold only part of a bucket's time, so their counts are smaller
    without any drop in traffic."""
    out = [window.origin] if window.origin < window.start else []
    last = window.origin + (_bucket_count(window) - 1) * window.bucket_delta
    if last + window.bucket_delta > window.end and last not in out:
        out.append(last)
    return out


def covers_previous(window: Window, data_start: dt.datetime | None) -> bool:
    """True when the recorded data (first request at data_start) covers the whole period before the
    window, so a change against it means something; All Time has no period before it."""
    if window.preset == "all" or data_start is None:
        return False
    return data_start <= window.previous().start


def check(frame: pl.DataFrame, scope: Scope) -> pl.DataFrame:
    """Defence in depth: a Customer scope's frame must hold only that customer's rows. Returns facts."""
    return as_facts(scope.check(frame))


def request_count(frame: pl.DataFrame) -> int:
    """How many requests a frame of facts counts."""
    return int(frame.get_column("requests").sum() or 0)


# ---------------------------------------------------------------- overview


@dataclass(frozen=True)
class Totals:
    """Headline numbers of a set of requests."""

    total_requests: int
    failed_requests: int
    avg_response_size_bytes: float | None
    avg_load_time_ms: float | None
    p50_load_time_ms: float | None
    p95_load_time_ms: float | None
    p99_load_time_ms: float | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Overview:
    """Totals of the window and of the period just before it (for deltas)."""

    current: Totals
    previous: Totals

    def to_dict(self) -> dict:
        return {**self.current.to_dict(), "previous": self.previous.to_dict()}


def totals(frame: pl.DataFrame) -> Totals:
    """Totals over every fact of the frame (no window applied)."""
    frame = as_facts(frame)
    row = frame.select(
        pl.col("requests").sum().alias("n"),
        pl.col("failed").sum().alias("failed"),
        pl.col("size_sum").sum().alias("size"),
        pl.col("load_us").sum().alias("load_us"),
    ).row(0, named=True)
    n = int(row["n"] or 0)
    q = histogram.quantiles(frame, [], PERCENTILES).row(0, named=True) if n else dict.fromkeys(PERCENTILES)
    return Totals(n, int(row["failed"] or 0), row["size"] / n if n else None,
                  row["load_us"] / n / facts.US_PER_MS if n else None,
                  q["p50"], q["p95"], q["p99"])


def overview(requests: pl.DataFrame, window: Window, scope: Scope) -> Overview:
    """Total and failed requests, average size and load time, p50/p95/p99, now and the period before."""
    requests = check(requests, scope)
    return Overview(totals(in_window(requests, window)), totals(in_window(requests, window.previous())))


# ---------------------------------------------------------------- series


def _fill(per_bucket: pl.DataFrame, window: Window, zero: dict[str, pl.Expr]) -> pl.DataFrame:
    """Join per-bucket aggregates onto every bucket of the window; empty buckets get `zero`."""
    return (
        bucket_starts(window)
        .join(per_bucket, on="bucket_index", how="left")
        .with_columns(pl.col(c).fill_null(v) for c, v in zero.items())
        .drop("bucket_index")
        .sort("bucket")
    )


def request_series(requests: pl.DataFrame, window: Window, scope: Scope) -> pl.DataFrame:
    """One row per time bucket of the window: bucket (UTC start), requests (0 when none)."""
    rows = in_window(check(requests, scope), window)
    per = rows.group_by(_bucket_key(rows, window)).agg(pl.col("requests").sum().cast(pl.Int64))
    return _fill(per, window, {"requests": pl.lit(0, pl.Int64)})


# The load-time percentiles of each bucket in overview_series (from the facts' histograms, within 1 %).
SERIES_PERCENTILES = {"p50_load_time_ms": 0.50, "p95_load_time_ms": 0.95, "p99_load_time_ms": 0.99}


def overview_series(requests: pl.DataFrame, window: Window, scope: Scope) -> pl.DataFrame:
    """One row per time bucket: bucket, requests, avg_load_time_ms, avg_response_size_bytes,
    status_4xx, status_5xx, p50/p95/p99_load_time_ms; buckets without requests hold zeros (null
    percentiles: there is no load time to rank)."""
    rows = in_window(check(requests, scope), window)
    rows = rows.with_columns(_bucket_key(rows, window))
    n = pl.col("requests").sum()
    per = (
        rows.group_by("bucket_index")
        .agg(
            n.cast(pl.Int64).alias("requests"),
            facts.avg_load_ms(pl.col("load_us").sum(), n).alias("avg_load_time_ms"),
            (pl.col("size_sum").sum() / n).alias("avg_response_size_bytes"),
            pl.col("status_4xx").sum().cast(pl.Int64),
            pl.col("status_5xx").sum().cast(pl.Int64),
        )
        .join(histogram.quantiles(rows, ["bucket_index"], SERIES_PERCENTILES), on="bucket_index", how="left")
    )
    zero = {
        "requests": pl.lit(0, pl.Int64),
        "avg_load_time_ms": pl.lit(0.0),
        "avg_response_size_bytes": pl.lit(0.0),
        "status_4xx": pl.lit(0, pl.Int64),
        "status_5xx": pl.lit(0, pl.Int64),
    }
    return _fill(per, window, zero).with_columns(pl.col(name).cast(pl.Float64) for name in SERIES_PERCENTILES)


# ---------------------------------------------------------------- endpoints


def endpoint_breakdown(requests: pl.DataFrame, window: Window, scope: Scope) -> pl.DataFrame:
    """One row per (method, endpoint) called in the window: requests, failed_requests,
    error_rate_pct, avg_load_time_ms, p95_load_time_ms; busiest first."""
    rows = in_window(check(requests, scope), window).with_columns(pl.col("method").cast(pl.String), pl.col("endpoint").cast(pl.String))
    keys = ["method", "endpoint"]
    sums = rows.group_by(keys).agg(
        pl.col("requests").sum().cast(pl.Int64),
        pl.col("failed").sum().cast(pl.Int64).alias("failed_requests"),
        pl.col("load_us").sum().alias("_load_us"),
    )
    p95 = histogram.quantiles(rows, keys, {"p95_load_time_ms": 0.95})
    return (
        sums.join(p95, on=keys, how="left")
        .with_columns(
            (pl.col("failed_requests") * 100.0 / pl.col("requests")).alias("error_rate_pct"),
            facts.avg_load_ms(pl.col("_load_us"), pl.col("requests")).alias("avg_load_time_ms"),
        )
        .select("method", "endpoint", "requests", "failed_requests", "error_rate_pct", "avg_load_time_ms", "p95_load_time_ms")
        .sort(["requests", "endpoint", "method"], descending=[True, False, False])
    )
