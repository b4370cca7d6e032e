"""The columns of the cached request rows and of the first-seen frame, their compact dtypes, and the
one definition of "first seen" (shared with the metrics in core.analytics.customers)."""
from __future__ import annotations

import polars as pl

from core.domain.frames import UTC_US

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
FIRST_SEEN_SCHEMA = {"customer_id": pl.String, "api_id": pl.Int32, "first_seen": UTC_US}
# Columns kept a second time in customer order: a customer's rows with only these columns (every
# metric page asks for no more) are then a slice, not a gather of up to millions of scattered rows.
BY_CUSTOMER_COLUMNS = ("id", "api_id", "customer_id", "timestamp", "method", "endpoint", "status", "load_time_ms", "response_size")
# The columns every metric needs; pages that show no device/country/AI agent/threat ask for these only.
METRIC_COLUMNS = BY_CUSTOMER_COLUMNS


def empty_requests() -> pl.DataFrame:
    return pl.DataFrame(schema=REQUEST_SCHEMA)


def empty_first_seen() -> pl.DataFrame:
    return pl.DataFrame(schema=FIRST_SEEN_SCHEMA)


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
