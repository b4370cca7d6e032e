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
from core.domain.timewindow import Window
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
    per = in_window(requests, window).group_by("api_id", bucket_index(window).alias("bucket_index")).agg(
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
