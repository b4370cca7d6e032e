"""Series for the dashboard charts: request sparklines per API, the busiest endpoints over time and
their heatmap cells, and overview series with gaps where a bucket had no requests."""
from __future__ import annotations

import datetime as dt

import polars as pl

from core.analytics import metrics
from core.analytics.metrics import bucket_index, bucket_starts, in_window
from core.domain.facts import as_facts
from core.domain.frames import UTC_US
from core.domain.scope import Scope, require_workspace
from core.domain.timewindow import MIN_RANGE, Window, WindowError, parse_range, range_text
from core.present import fmt

TOP_ENDPOINTS = 10


def chart_series(series: pl.DataFrame) -> pl.DataFrame:
    """metrics.overview_series with the averages of empty buckets set to null: a bucket without
    requests has no load time or size (a chart then shows a gap, not a drop to 0)."""
    empty = pl.col("requests") == 0
    return series.with_columns(
        pl.when(empty).then(None).otherwise(pl.col(c)).alias(c) for c in ("avg_load_time_ms", "avg_response_size_bytes"))


def api_sparklines(requests: pl.DataFrame, window: Window, scope: Scope) -> pl.DataFrame:
    """One row per API with requests in the frame: api_id, sparkline (requests per bucket of the
    window, zeros included, oldest first)."""
    require_workspace(scope, "API request series")
    buckets = bucket_starts(window).select("bucket_index")
    requests = as_facts(requests)
    per = in_window(requests.select("api_id", "timestamp", "requests"), window).group_by("api_id", bucket_index(window).alias("bucket_index")).agg(
        pl.col("requests").sum().cast(pl.Int64))
    apis = requests.select(pl.col("api_id").cast(pl.Int32)).unique()
    return (
        apis.join(buckets, how="cross")
        .join(per.with_columns(pl.col("api_id").cast(pl.Int32)), on=["api_id", "bucket_index"], how="left")
        .with_columns(pl.col("requests").fill_null(0))
        .sort("api_id", "bucket_index")
        .group_by("api_id", maintain_order=True)
        .agg(pl.col("requests").alias("sparkline"))
    )


def endpoint_activity(requests: pl.DataFrame, window: Window, scope: Scope, *, top_n: int = TOP_ENDPOINTS) -> pl.DataFrame:
    """One row per (endpoint, bucket) for the top_n busiest endpoints of the window, zeros included:
    endpoint ("GET /orders"), bucket (UTC start), requests; busiest endpoint first, then by time."""
    current = in_window(metrics.check(requests, scope), window).with_columns(
        pl.format("{} {}", pl.col("method").cast(pl.String), pl.col("endpoint").cast(pl.String)).alias("endpoint"))
    schema = {"endpoint": pl.String, "bucket": UTC_US, "requests": pl.Int64}
    if current.height == 0:
        return pl.DataFrame(schema=schema)
    top = (current.group_by("endpoint").agg(pl.col("requests").sum().alias("n"))
           .sort(["n", "endpoint"], descending=[True, False]).head(top_n).with_row_index("_rank"))
    per = current.group_by("endpoint", bucket_index(window).alias("bucket_index")).agg(pl.col("requests").sum().cast(pl.Int64))
    return (
        top.join(bucket_starts(window), how="cross")
        .join(per, on=["endpoint", "bucket_index"], how="left")
        .with_columns(pl.col("requests").fill_null(0))
        .sort("_rank", "bucket")
        .select(list(schema))
    )


def activity_cells(activity: pl.DataFrame, window: Window, tz: str) -> pl.DataFrame:
    """endpoint_activity rows for a heatmap: endpoint, time (the bucket's local start as short text that
    stays unique in the window: "Nov 24" for buckets of whole local days, "Nov 24 14:00" when buckets
    are shorter or start at another hour (they start with the window), the year first when the window
    spans years), requests."""
    with_hour = window.bucket_delta < dt.timedelta(days=1) or window.start.astimezone(fmt.zone(tz)).time() != dt.time()
    day = "%b %d" if window.length <= dt.timedelta(days=360) else "%Y-%m-%d"
    pattern = f"{day} %H:%M" if with_hour else day
    return activity.select(
        "endpoint",
        pl.col("bucket").dt.convert_time_zone(fmt.zone_name(tz)).dt.strftime(pattern).alias("time"),
        "requests",
    )


def volume_series(engine, scope: Scope, window: Window, *, api_id: int | None = None,
                  customer_id: str | None = None) -> pl.DataFrame:
    """The volume-and-errors chart above a request history: per bucket of the window, the requests that
    succeeded (below 400), failed with 4xx and with 5xx, for one API or all and one customer or all."""
    from core.present.page_data import scoped_rows

    rows = scoped_rows(engine, scope, window, api_id=api_id, customer_id=customer_id, summed="bucket")  # counts per bucket
    series = metrics.overview_series(rows, window, scope)
    return series.select(
        "bucket",
        (pl.col("requests") - pl.col("status_4xx") - pl.col("status_5xx")).alias("ok"),
        "status_4xx",
        "status_5xx",
    )


def brushed_window(selection: dict | None, window: Window, tz: str | None) -> Window | None:
    """The part of `window` a brush over a local-time chart (charts.local_times: wall-clock times labelled
    UTC) selected: the brush's {field: [start, end]} in epoch milliseconds or ISO text, read as the viewer's
    wall-clock time; None for no brush or one outside the window."""
    interval = next(iter((selection or {}).values()), None)
    if not isinstance(interval, (list, tuple)) or len(interval) != 2:
        return None
    zone = fmt.zone(tz)

    def utc(value) -> dt.datetime | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            wall = dt.datetime.fromtimestamp(value / 1000, dt.timezone.utc).replace(tzinfo=None)
        elif isinstance(value, str):
            try:
                wall = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
            except ValueError:
                return None
        else:
            return None
        return wall.replace(tzinfo=zone).astimezone(dt.timezone.utc)

    ends = [utc(v) for v in interval]
    if None in ends:
        return None
    start, end = max(min(ends), window.start), min(max(ends), window.end)
    if end <= start:
        return None
    return Window(start, end, window.bucket, "custom")


def brushed_range(selection: dict | None, window: Window, tz: str | None) -> Window | None:
    """The time filter a brush over the volume chart asks for: brushed_window widened to whole minutes of the
    viewer's zone `tz`, exactly as a link carries it (timewindow.range_text, parse_range); None for no brush,
    one outside the window or shorter than a minute, or one that would leave the window as it is."""
    narrowed = brushed_window(selection, window, tz)
    if narrowed is None or narrowed.length < MIN_RANGE:
        return None
    try:
        ranged = parse_range(*range_text(narrowed, tz), tz)
    except WindowError:  # an edge in the hour repeated when clocks go back, read as its first occurrence
        return None
    return None if (ranged.start, ranged.end) == (window.start, window.end) else ranged
