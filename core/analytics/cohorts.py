"""Customer retention by cohort: customers grouped by the week of their first request, and how many of each
cohort were active 0, 1, 2, … weeks later. Weeks are UTC weeks starting on Monday.

Pure functions on facts (core.domain.facts) and a first-seen frame (core.storage.cache.first_seen_frame:
the stored first request per customer × API, which prune keeps), like core.analytics.customers.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from core.analytics.metrics import in_window
from core.domain.facts import as_facts
from core.domain.frames import UTC_US
from core.domain.scope import Scope, require_workspace
from core.domain.timewindow import Window

WEEK = dt.timedelta(days=7)
COHORT_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "cohort": UTC_US, "weeks_since": pl.Int32, "cohort_size": pl.Int64, "active": pl.Int64, "retention_pct": pl.Float64,
}


def _week(col: pl.Expr) -> pl.Expr:
    return col.dt.truncate("1w")


def cohorts(requests: pl.DataFrame, first_seen_frame: pl.DataFrame, window: Window, scope: Scope, *,
            api_id: int | None = None) -> pl.DataFrame:
    """One row per (cohort week, weeks since) for the cohorts whose first request (to this API, or to any
    API when api_id is None) falls in the window: cohort (the Monday of that UTC week), weeks_since (0 is the
    cohort's own week), cohort_size, active (customers of the cohort with a request in that week; weeks
    after the window's end are left out), retention_pct = active / cohort_size; oldest cohort first."""
    require_workspace(scope, "Customer cohorts")
    firsts = first_seen_frame if api_id is None else first_seen_frame.filter(pl.col("api_id") == api_id)
    firsts = (
        firsts.group_by("customer_id").agg(pl.col("first_seen").min())
        .filter((pl.col("first_seen") >= window.start) & (pl.col("first_seen") < window.end))
        .select("customer_id", _week(pl.col("first_seen")).alias("cohort"))
    )
    if firsts.height == 0:
        return pl.DataFrame(schema=COHORT_SCHEMA)
    facts = in_window(as_facts(requests), window)
    if api_id is not None:
        facts = facts.filter(pl.col("api_id") == api_id)
    weeks = (
        facts.filter(pl.col("customer_id").is_not_null())
        .select(pl.col("customer_id").cast(pl.String), _week(pl.col("timestamp")).alias("week"))
        .unique()
    )
    sizes = firsts.group_by("cohort").agg(pl.len().cast(pl.Int64).alias("cohort_size"))
    last_week = _week(pl.lit(window.end - dt.timedelta(microseconds=1), UTC_US))
    active = (
        weeks.join(firsts, on="customer_id")
        .filter(pl.col("week") >= pl.col("cohort"))
        .with_columns(((pl.col("week") - pl.col("cohort")).dt.total_days() // 7).cast(pl.Int32).alias("weeks_since"))
        .group_by("cohort", "weeks_since").agg(pl.len().cast(pl.Int64).alias("active"))
    )
    # Every cohort × every week from its own up to the window's last week, zeros included.
    grid = (
        sizes.with_columns(pl.int_ranges(0, ((last_week - pl.col("cohort")).dt.total_days() // 7) + 1, dtype=pl.Int32).alias("weeks_since"))
        .explode("weeks_since")
    )
    return (
        grid.join(active, on=["cohort", "weeks_since"], how="left")
        .with_columns(pl.col("active").fill_null(0))
        .with_columns((pl.col("active") * 100.0 / pl.col("cohort_size")).alias("retention_pct"))
        .select(list(COHORT_SCHEMA))
        .sort("cohort", "weeks_since")
    )
