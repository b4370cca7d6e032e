"""Display tables: result frames of core.analytics as people read them (column names with units,
rounded numbers, "3 h ago", local times), and chart rows labelled so two customers never merge."""
from __future__ import annotations

import datetime as dt

import polars as pl

from core.present import fmt

# Display column names shared by the customer tables (units in the names).
CUSTOMER, CUSTOMER_ID, REQUESTS, SHARE, CHANGE = "Customer", "Customer ID", "Requests", "Share (%)", "Change (%)"
LAST_ACTIVE, LAST_ACTIVE_AT, ERROR_RATE, P95, TREND = (
    "Last active", "Last active at", "Error rate (%)", "p95 load time (ms)", "Requests over time")
FIRST_SEEN, RANK = "First seen", "Rank"
REQUESTS_BEFORE, REQUESTS_NOW, REQUESTS_LOST = "Requests before", "Requests now", "Requests lost"

# A full-width table at 1366 px with the sidebar open is 904 px inside; the row-selection boxes take 36.
TABLE_WIDTH_PX = 868
# Display widths (px): each fits its header (the grid's header font, 8 px padding either side, 18 px for the
# sort arrow) and typical values; tests/browser measures the headers in the real font.
CUSTOMER_WIDTHS = {
    CUSTOMER: 160, CUSTOMER_ID: 165, REQUESTS: 90, SHARE: 95, TREND: 150, LAST_ACTIVE: 100, ERROR_RATE: 115,
    P95: 145, LAST_ACTIVE_AT: 140, CHANGE: 105, REQUESTS_BEFORE: 130, REQUESTS_NOW: 120, REQUESTS_LOST: 115,
    FIRST_SEEN: 95, RANK: 65,
}
# Which customer columns a table shows first, most wanted first; the rest wait in the column chooser.
CUSTOMER_PRIORITY = (CUSTOMER, RANK, REQUESTS, SHARE, LAST_ACTIVE, ERROR_RATE, P95, TREND, CHANGE, REQUESTS_BEFORE,
                     REQUESTS_NOW, REQUESTS_LOST, FIRST_SEEN, LAST_ACTIVE_AT, CUSTOMER_ID)


def fitting_columns(columns: list[str], widths: dict[str, int], priority: tuple[str, ...],
                    budget_px: int = TABLE_WIDTH_PX) -> list[str]:
    """The columns a table shows before the viewer picks others: in priority order, each one that still
    fits budget_px (a column without a width or priority is left out), returned in the table's order."""
    chosen, used = set(), 0
    for column in priority:
        if column in columns and column in widths and used + widths[column] <= budget_px:
            chosen.add(column)
            used += widths[column]
    return [c for c in columns if c in chosen]


def fill_missing_text(frame: pl.DataFrame) -> pl.DataFrame:
    """A display frame whose missing text cells read fmt.MISSING ("–") instead of None (numbers,
    times and lists keep their nulls: st.dataframe leaves those cells empty)."""
    return frame.with_columns(pl.col(pl.String).fill_null(fmt.MISSING))


def _local(column: str, tz: str, alias: str) -> pl.Expr:
    """A UTC datetime column as the viewer's wall-clock time (no zone), for tables and CSV."""
    return pl.col(column).dt.convert_time_zone(fmt.zone_name(tz)).dt.replace_time_zone(None).alias(alias)


def _ago(frame: pl.DataFrame, column: str, now: dt.datetime, alias: str) -> pl.Series:
    return pl.Series(alias, [fmt.ago(ts, now) for ts in frame.get_column(column).to_list()], dtype=pl.String)


def _change_pct(current: str, previous: str, covered: bool = True) -> pl.Expr:
    """Change from the previous period in percent, one decimal; null when there was nothing before, or
    when the data does not cover the whole previous period."""
    return (pl.when(pl.col(previous) > 0 if covered else pl.lit(False))
            .then((pl.col(current) - pl.col(previous)) * 100.0 / pl.col(previous))
            .otherwise(None).round(1))


def search_customers(frame: pl.DataFrame, text: str | None) -> pl.DataFrame:
    """The rows whose display_name or customer_id contains `text` (case-insensitive, taken literally)."""
    needle = (text or "").strip().lower()
    if not needle:
        return frame
    hit = lambda c: pl.col(c).cast(pl.String).str.to_lowercase().str.contains(needle, literal=True).fill_null(False)  # noqa: E731
    return frame.filter(hit("display_name") | hit("customer_id"))


# How the customer list can be ordered: {key: (label, column of mc.customer_list, descending)}.
CUSTOMER_SORTS = {
    "requests": ("Requests", "requests", True),
    "error_rate": ("Error rate", "error_rate_pct", True),
    "p95": ("p95 load time", "p95_load_time_ms", True),
    "last_active": ("Last active", "last_active", True),
    "name": ("Name", "display_name", False),
}


def rank_customers(customers: pl.DataFrame, *, sort: str = "requests", min_requests: int = 0) -> pl.DataFrame:
    """mc.customer_list rows with at least min_requests requests, ordered by `sort` (a CUSTOMER_SORTS key;
    missing values last); ties go to the busier customer, then by customer ID. A rate of a customer with one
    request says little: min_requests keeps those out of a sort by error rate or load time."""
    if sort not in CUSTOMER_SORTS:
        raise ValueError(f"Unknown sort {sort!r}; use one of {', '.join(CUSTOMER_SORTS)}.")
    _label, column, descending = CUSTOMER_SORTS[sort]
    kept = customers.filter(pl.col("requests") >= max(int(min_requests), 0))
    by = [column] + ([] if column == "requests" else ["requests"]) + ["customer_id"]
    order = [descending] + ([] if column == "requests" else [True]) + [False]
    if column == "display_name":  # names sort as people read them, whatever their case
        kept = kept.with_columns(pl.col("display_name").str.to_lowercase().alias("_name"))
        by[0] = "_name"
    return kept.sort(by, descending=order, nulls_last=True).drop("_name", strict=False)


def customer_table(customers: pl.DataFrame, tz: str, now: dt.datetime) -> pl.DataFrame:
    """mc.customer_list rows as shown: name, ID, requests, share to 0.1%, the request sparkline, last
    active ("3 h ago"), error rate to 0.1%, p95 to 0.1 ms, and the exact local time of the last request."""
    return fill_missing_text(customers.select(
        pl.col("display_name").alias(CUSTOMER),
        pl.col("customer_id").alias(CUSTOMER_ID),
        pl.col("requests").alias(REQUESTS),
        pl.col("share_pct").round(1).alias(SHARE),
        pl.col("sparkline").alias(TREND),
        _ago(customers, "last_active", now, LAST_ACTIVE),
        pl.col("error_rate_pct").round(1).alias(ERROR_RATE),
        pl.col("p95_load_time_ms").round(1).alias(P95),
        _local("last_active", tz, LAST_ACTIVE_AT),
    ))


def top_table(top: pl.DataFrame, covered: bool = True) -> pl.DataFrame:
    """mc.top_customers rows as shown: rank, name, ID, requests, share and change vs the period before
    (none when the data does not cover that period)."""
    return fill_missing_text(top.select(
        pl.col("rank").alias(RANK),
        pl.col("display_name").alias(CUSTOMER),
        pl.col("customer_id").alias(CUSTOMER_ID),
        pl.col("requests").alias(REQUESTS),
        pl.col("share_pct").round(1).alias(SHARE),
        _change_pct("requests", "requests_prev", covered).alias(CHANGE),
    ))


def recent_table(recent: pl.DataFrame, tz: str, now: dt.datetime) -> pl.DataFrame:
    """mc.recent_customers rows as shown: name, ID, first seen ("2 d ago" and the exact local time)."""
    return fill_missing_text(recent.select(
        pl.col("display_name").alias(CUSTOMER),
        pl.col("customer_id").alias(CUSTOMER_ID),
        _ago(recent, "first_seen", now, FIRST_SEEN),
        _local("first_seen", tz, "First seen at"),
    ))


def favorites_table(favorites: pl.DataFrame, now: dt.datetime, covered: bool = True) -> pl.DataFrame:
    """mc.favorite_customers rows as shown: name, ID, requests, change vs the period before (when covered),
    last active."""
    return fill_missing_text(favorites.select(
        pl.col("display_name").alias(CUSTOMER),
        pl.col("customer_id").alias(CUSTOMER_ID),
        pl.col("requests").alias(REQUESTS),
        _change_pct("requests", "requests_prev", covered).alias(CHANGE),
        pl.Series(LAST_ACTIVE, [fmt.ago(ts, now) if ts else "not in this window"
                                for ts in favorites.get_column("last_active").to_list()], dtype=pl.String),
    ))


def quiet_table(quiet: pl.DataFrame, tz: str, now: dt.datetime) -> pl.DataFrame:
    """mc.going_quiet rows as shown: name, ID, requests before and now, requests lost, change, last active."""
    return fill_missing_text(quiet.select(
        pl.col("display_name").alias(CUSTOMER),
        pl.col("customer_id").alias(CUSTOMER_ID),
        pl.col("requests_prev").alias(REQUESTS_BEFORE),
        pl.col("requests").alias(REQUESTS_NOW),
        pl.col("requests_lost").alias(REQUESTS_LOST),
        pl.col("change_pct").round(1).alias(CHANGE),
        _ago(quiet, "last_active", now, LAST_ACTIVE),
        _local("last_active", tz, LAST_ACTIVE_AT),
    ))


def endpoint_table(endpoints: pl.DataFrame) -> pl.DataFrame:
    """metrics.endpoint_breakdown rows as shown: method, endpoint, requests, failed, error rate, load times."""
    return fill_missing_text(endpoints.select(
        pl.col("method").alias("Method"),
        pl.col("endpoint").alias("Endpoint"),
        pl.col("requests").alias(REQUESTS),
        pl.col("failed_requests").alias("Failed"),
        pl.col("error_rate_pct").round(1).alias(ERROR_RATE),
        pl.col("avg_load_time_ms").round(1).alias("Average load time (ms)"),
        pl.col("p95_load_time_ms").round(1).alias(P95),
    ))


def apis_used_table(apis_used: pl.DataFrame, tz: str, now: dt.datetime) -> pl.DataFrame:
    """Profile.apis_used rows as shown: API name, requests, last active."""
    return fill_missing_text(apis_used.select(
        pl.col("name").alias("API"),
        pl.col("requests").alias(REQUESTS),
        _ago(apis_used, "last_active", now, LAST_ACTIVE),
        _local("last_active", tz, LAST_ACTIVE_AT),
    ))


def attributes_table(attributes: dict) -> pl.DataFrame:
    """A customer's metadata (e.g. Plan) as Attribute/Value text rows, by attribute name."""
    keys = sorted(attributes, key=str.lower)
    values = ["" if attributes[k] is None else str(attributes[k]) for k in keys]
    return pl.DataFrame({"Attribute": keys, "Value": values}, schema={"Attribute": pl.String, "Value": pl.String})


def chart_labels(frame: pl.DataFrame) -> pl.DataFrame:
    """frame with `label`: the display name, or "name (ID)" where two customers share a display name,
    so a chart never merges two customers into one bar or row."""
    shared = pl.col("customer_id").n_unique().over("display_name") > 1
    label = pl.when(shared & (pl.col("display_name") != pl.col("customer_id")))
    return frame.with_columns(
        label.then(pl.format("{} ({})", "display_name", "customer_id")).otherwise(pl.col("display_name")).alias("label"))


def known_table(known: list[dict], tz: str, now: dt.datetime) -> pl.DataFrame:
    """core.storage.customers.known_customers items as shown: name (else ID), ID, last active."""
    frame = pl.DataFrame(known, schema={"customer_id": pl.String, "display_name": pl.String, "last_seen": pl.Datetime("us")})
    frame = frame.with_columns(pl.col("last_seen").dt.replace_time_zone("UTC"))
    return fill_missing_text(frame.select(
        pl.coalesce("display_name", "customer_id").alias(CUSTOMER),
        pl.col("customer_id").alias(CUSTOMER_ID),
        pl.Series(LAST_ACTIVE, [fmt.ago(ts, now) for ts in frame.get_column("last_seen").to_list()], dtype=pl.String),
        _local("last_seen", tz, LAST_ACTIVE_AT),
    ))


def top_chart_rows(top: pl.DataFrame) -> pl.DataFrame:
    """mc.top_customers rows for a bar chart: label (chart_labels), customer_id, requests, share to 0.1%."""
    return chart_labels(top).select("label", "customer_id", "requests", pl.col("share_pct").round(1).alias(SHARE))
