"""Segments: customers grouped by one of their attributes (treblle-metadata keys such as Plan), and each
group's requests, customers, error rate and p95 load time, in all and per time bucket (the "by plan" view).

Pure functions on facts (core.domain.facts) and the customers frame (attributes as JSON text). Only requests
of customers carrying the attribute count; customers without it form no group.
"""
from __future__ import annotations

import json

import polars as pl

from core.analytics.metrics import bucket_index, bucket_starts, check, in_window
from core.domain import facts, histogram
from core.domain.scope import Scope, require_workspace
from core.domain.timewindow import Window

VALUE_SCHEMA = {"customer_id": pl.String, "value": pl.String}


def _text(value) -> str:
    """An attribute value as a segment's name, and as alert rules' --segment KEY=VALUE compares it: Pro, 2, true."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _attributes(text: str | None) -> dict:
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def attribute_keys(customers: pl.DataFrame) -> list[str]:
    """The attribute keys customers carry, the most widespread first (ties by name)."""
    counts: dict[str, int] = {}
    for text in customers.get_column("attributes").to_list():
        for key in _attributes(text):
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))


def attribute_values(customers: pl.DataFrame, key: str) -> pl.DataFrame:
    """customer_id, value: each customer carrying attribute `key`, with its value as text."""
    rows = []
    for customer_id, text in customers.select("customer_id", "attributes").iter_rows():
        attributes = _attributes(text)
        if key in attributes:
            rows.append((str(customer_id), _text(attributes[key])))
    return pl.DataFrame(rows, schema=VALUE_SCHEMA, orient="row")


def segment_customers(customers: pl.DataFrame, key: str, value: str) -> list[str]:
    """The customers whose attribute `key` (from treblle-metadata, as customers_frame's JSON text holds
    them) equals `value`, compared as text: Plan=Pro matches {"Plan": "Pro"}, tier=2 matches {"tier": 2}."""
    values = attribute_values(customers, key)
    return values.filter(pl.col("value") == value).get_column("customer_id").to_list()


def _joined(requests: pl.DataFrame, values: pl.DataFrame, window: Window, scope: Scope) -> pl.DataFrame:
    require_workspace(scope, "Segments")
    rows = in_window(check(requests, scope), window).with_columns(pl.col("customer_id").cast(pl.String))
    return rows.join(values, on="customer_id", how="inner")


def segment_table(requests: pl.DataFrame, values: pl.DataFrame, window: Window, scope: Scope) -> pl.DataFrame:
    """One row per attribute value with requests in the window: value, requests, customers, failed_requests,
    error_rate_pct, p95_load_time_ms; the busiest first."""
    rows = _joined(requests, values, window, scope)
    sums = rows.group_by("value").agg(
        pl.col("requests").sum().cast(pl.Int64),
        pl.col("customer_id").n_unique().cast(pl.Int64).alias("customers"),
        pl.col("failed").sum().cast(pl.Int64).alias("failed_requests"),
        facts.avg_load_ms(pl.col("load_us").sum(), pl.col("requests").sum()).alias("avg_load_time_ms"),
    )
    p95 = histogram.quantiles(rows, ["value"], {"p95_load_time_ms": 0.95})
    return (
        sums.join(p95, on="value", how="left")
        .with_columns((pl.col("failed_requests") * 100.0 / pl.col("requests")).alias("error_rate_pct"))
        .select("value", "requests", "customers", "failed_requests", "error_rate_pct", "avg_load_time_ms", "p95_load_time_ms")
        .sort(["requests", "value"], descending=[True, False])
    )


def segment_series(requests: pl.DataFrame, values: pl.DataFrame, window: Window, scope: Scope,
                   names: list[str]) -> pl.DataFrame:
    """bucket, then one column per value in `names` (requests per bucket, 0 when none): the chart's series."""
    rows = _joined(requests, values, window, scope).filter(pl.col("value").is_in(names))
    per = rows.group_by(bucket_index(window).alias("bucket_index"), "value").agg(pl.col("requests").sum().cast(pl.Int64))
    wide = bucket_starts(window)
    for name in names:
        wide = wide.join(per.filter(pl.col("value") == name).select("bucket_index", pl.col("requests").alias(name)),
                         on="bucket_index", how="left")
    return wide.with_columns(pl.col(name).fill_null(0) for name in names).drop("bucket_index").sort("bucket")
