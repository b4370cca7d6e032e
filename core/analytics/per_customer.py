"""Per-customer building blocks of core.analytics.customers: sums per customer (a Polars group-by, or np.bincount
over customer numbers), sparklines, display names, busiest-first order. Unattributed rows (customer_id null) are
never a customer here."""
from __future__ import annotations

import numpy as np
import polars as pl

from core.analytics.metrics import bucket_index, bucket_starts
from core.domain.frames import group_ids, sums_by
from core.domain.timewindow import Window


def first_seen_for(first_seen_frame: pl.DataFrame, api_id: int | None) -> pl.DataFrame:
    """customer_id, first_seen: first request to this API, or to any API when api_id is None."""
    frame = first_seen_frame if api_id is None else first_seen_frame.filter(pl.col("api_id") == api_id)
    return frame.group_by("customer_id").agg(pl.col("first_seen").min()).sort("customer_id")


def with_names(names: pl.DataFrame | None, frame: pl.DataFrame) -> pl.DataFrame:
    """frame with display_name (the customer's display name, else their ID) after customer_id."""
    if names is None or names.height == 0:
        out = frame.with_columns(pl.col("customer_id").alias("display_name"))
    else:
        lookup = names.select(pl.col("customer_id").cast(pl.String), pl.col("display_name").cast(pl.String)).unique("customer_id")
        out = frame.join(lookup, on="customer_id", how="left").with_columns(pl.coalesce("display_name", "customer_id").alias("display_name"))
    cols = [c for c in out.columns if c not in ("customer_id", "display_name")]
    return out.select("customer_id", "display_name", *cols)


def per_customer(frame: pl.DataFrame, *aggs: pl.Expr, by: tuple[pl.Expr | str, ...] = ()) -> pl.DataFrame:
    """Aggregates per customer (customer_id as String); unattributed rows are left out.

    Groups on the column as stored (a categorical's codes hash fast) and drops the null group
    afterwards, instead of filtering, which would copy every row first."""
    out = frame.group_by("customer_id", *by).agg(*aggs)
    return out.filter(pl.col("customer_id").is_not_null()).with_columns(pl.col("customer_id").cast(pl.String))


def per_customer_counts(frame: pl.DataFrame, by: tuple[str, ...] = ()) -> pl.DataFrame:
    """customer_id (String), `by`, requests: one row per customer (and `by`) with requests in the frame."""
    out = sums_by(frame.select("customer_id", *by, pl.col("requests").cast(pl.Int64)), ["customer_id", *by], ["requests"])
    return out.filter(pl.col("customer_id").is_not_null()).with_columns(pl.col("customer_id").cast(pl.String))


def sparklines(rows: pl.DataFrame, window: Window, groups: tuple[pl.DataFrame, np.ndarray] | None = None) -> pl.DataFrame:
    """customer_id (String), sparkline: requests per bucket of the window, zeros included, as a list. The rows are
    in the window: each customer's counts are summed into a row of one customers × buckets array. groups:
    group_ids(rows, ["customer_id"]) when the caller has them."""
    n = bucket_starts(window).height
    customers, gid = groups or group_ids(rows, ["customer_id"])
    cell = gid * n + rows.select(bucket_index(window)).to_series().to_numpy()
    counts = np.bincount(cell, weights=rows.get_column("requests").to_numpy(), minlength=customers.height * n)
    lines = pl.Series("sparkline", counts.reshape(customers.height, n).astype(np.int64)).cast(pl.List(pl.Int64))
    return (
        customers.with_columns(lines).filter(pl.col("customer_id").is_not_null())
        .select(pl.col("customer_id").cast(pl.String), "sparkline")
    )


def by_requests(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(["requests", "customer_id"], descending=[True, False])
