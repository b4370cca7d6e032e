"""Error groups: failed requests grouped by API × endpoint × status × error type × normalised message, with
counts, first and last seen, a trend per bucket of the window and the customers affected.

Pure functions over core.storage.error_groups.FAILED_SCHEMA frames. Messages are normalised with RE2 (linear
time on any input: they come from SDKs, i.e. from anyone), once per distinct message.
"""
from __future__ import annotations

import polars as pl
import re2

from core.analytics.metrics import bucket_index, bucket_starts
from core.domain.scope import Scope
from core.domain.timewindow import Window

# The columns that make a group, in display order.
GROUP_KEYS = ("api_id", "endpoint", "status", "error_type", "message")
NO_ERROR = "(no error reported)"
MAX_MESSAGE_CHARS = 300
TOP_CUSTOMERS = 3

# A quoted value ('bob', "x-1", `col`) after the start or a non-word character (so "can't" and "it's" stay).
_QUOTED = re2.compile(r"""(^|[^\w'"`])(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)""")
_UUID = re2.compile(r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_HEX_LITERAL = re2.compile(r"(?i)\b0x[0-9a-f]+\b")
# A word with a digit in it: a number, an id, a hash, or a number with a unit ("250ms").
_DIGIT_WORD = re2.compile(r"\b\w*\d\w*\b")
_HEX_WORD = re2.compile(r"(?i)^[0-9a-f]{8,}$")
_NUMBER_UNIT = re2.compile(r"^\d+([A-Za-z]*)$")
_SPACES = re2.compile(r"\s+")


def _digit_word(match) -> str:
    word = match.group(0)
    unit = _NUMBER_UNIT.match(word)
    if unit:
        return "{n}" + unit.group(1)
    if _HEX_WORD.match(word):
        return "{hex}"
    # Three digits, or digits inside a longer word, make an id (usr_8f3k2x, order_12345); a name ends in a
    # digit or two and keeps it (OAuth2, utf8, http2, user42: an instance number this short is rare).
    digits = sum(c.isdigit() for c in word)
    inside = len(word) >= 6 and any(c.isdigit() for c in word.rstrip("0123456789"))
    return "{id}" if digits >= 3 or inside else word


def normalise_message(text: str | None) -> str | None:
    """An error message with what differs between occurrences replaced: quoted values → {value}, UUIDs →
    {uuid}, hex ids → {hex}, numbers → {n} (a unit stays: {n}ms), other ids with digits → {id}; spaces
    collapsed, at most MAX_MESSAGE_CHARS. None stays None."""
    if text is None:
        return None
    out = _QUOTED.sub(r"\1{value}", text)
    out = _UUID.sub("{uuid}", out)
    out = _HEX_LITERAL.sub("{hex}", out)
    out = _DIGIT_WORD.sub(_digit_word, out)
    out = _SPACES.sub(" ", out).strip()
    return out[:MAX_MESSAGE_CHARS - 1] + "…" if len(out) > MAX_MESSAGE_CHARS else out


def _normalised(column: pl.Series) -> pl.Series:
    """normalise_message over a column, computed once per distinct value."""
    distinct = column.unique().to_list()
    mapping = {value: normalise_message(value) for value in distinct if value is not None}
    return column.replace_strict(mapping, default=None, return_dtype=pl.String) if mapping else column.cast(pl.String)


def error_groups(failed: pl.DataFrame, window: Window, scope: Scope, *, top_customers: int = TOP_CUSTOMERS) -> pl.DataFrame:
    """One row per error group of the failed requests (core.storage.error_groups.FAILED_SCHEMA) in the window:
    api_id, api_name, endpoint, status, error_type, message (normalised; NO_ERROR when the SDK reported none),
    requests, first_seen, last_seen, customers (distinct customers affected; unattributed requests count for
    none), top_customers (display names, else IDs, most affected first, at most `top_customers`), methods (seen,
    sorted) and trend (requests per bucket of the window, one value per bucket). Most requests first."""
    scope.check(failed)
    rows = failed.filter((pl.col("timestamp") >= window.start) & (pl.col("timestamp") < window.end))
    rows = rows.with_columns(
        _normalised(rows.get_column("error_type")).alias("error_type"),
        _normalised(rows.get_column("error_message")).fill_null(NO_ERROR).alias("message"),
    )
    keys = list(GROUP_KEYS)
    groups = rows.group_by(keys).agg(
        pl.col("api_name").first(),
        pl.len().cast(pl.Int64).alias("requests"),
        pl.col("timestamp").min().alias("first_seen"),
        pl.col("timestamp").max().alias("last_seen"),
        pl.col("customer_id").drop_nulls().n_unique().cast(pl.Int64).alias("customers"),
        pl.col("method").unique().sort().alias("methods"),
    )
    who = (
        rows.filter(pl.col("customer_id").is_not_null())
        .group_by(*keys, "customer_id").agg(pl.len().alias("n"), pl.col("customer_name").first())
        .group_by(keys)
        .agg(pl.coalesce("customer_name", "customer_id").sort_by(["n", "customer_id"], descending=[True, False])
             .head(top_customers).alias("top_customers"))
    )
    buckets = bucket_starts(window).select("bucket_index")
    per_bucket = rows.with_columns(bucket_index(window).alias("bucket_index")).group_by(*keys, "bucket_index").agg(
        pl.len().cast(pl.Int64).alias("n"))
    trend = (
        groups.select(keys).join(buckets, how="cross")
        .join(per_bucket, on=[*keys, "bucket_index"], how="left", nulls_equal=True)
        .group_by(keys)
        .agg(pl.col("n").fill_null(0).sort_by("bucket_index").alias("trend"))
    )
    out = (
        groups.join(who, on=keys, how="left", nulls_equal=True)
        .join(trend, on=keys, how="left", nulls_equal=True)
        .with_columns(pl.col("top_customers").fill_null(pl.lit([], dtype=pl.List(pl.String))))
        .sort(["requests", "last_seen", "api_id", "endpoint", "status", "error_type", "message"],
              descending=[True, True, False, False, False, False, False], nulls_last=True)
    )
    return out.select("api_id", "api_name", "endpoint", "status", "error_type", "message", "requests", "first_seen",
                      "last_seen", "customers", "top_customers", "methods", "trend")
