"""Retention on the Customers page: weekly cohorts (customers by the week of their first request × weeks
since) and new vs returning customers per week, over the last RETENTION_WEEKS UTC weeks of one API."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from core.analytics import customers as mc
from core.analytics.cohorts import cohorts
from core.domain.scope import Scope, require_workspace
from core.domain.timewindow import Window
from core.present.page_data import scoped_rows
from core.storage import cache

RETENTION_WEEKS = 12


@dataclass(frozen=True)
class RetentionPage:
    window: Window
    cohorts: pl.DataFrame  # core.analytics.cohorts.COHORT_SCHEMA
    new_vs_returning: pl.DataFrame  # bucket (a week), new_customers, returning_customers


def _monday(ts: dt.datetime) -> dt.datetime:
    return (ts - dt.timedelta(days=ts.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)


def retention_window(now: dt.datetime, weeks: int = RETENTION_WEEKS, first: dt.datetime | None = None) -> Window:
    """The last `weeks` UTC weeks (Monday to Monday), this one so far included; from the week of `first` (the API's
    first request) when that is later: weeks before any data would be empty columns on the charts."""
    start = _monday(now) - dt.timedelta(weeks=weeks - 1)
    if first is not None and first <= now:
        start = max(start, _monday(first.astimezone(dt.timezone.utc)))
    return Window(start, now, "7d", "custom")


def retention_text(api_name: str, window: Window) -> str:
    """What the Retention section shows: "… the last 12 weeks, this one so far", or "the 7 weeks since its first
    request …" when the API is younger than that."""
    weeks = -(-(window.end - window.start) // dt.timedelta(weeks=1))
    if weeks >= RETENTION_WEEKS:
        span = f"the last {weeks} weeks, this one so far"
    elif weeks > 1:
        span = f"the {weeks} weeks since its first request, this one so far"
    else:
        span = "its first week, so far"
    return (f"Customers of {api_name} by the UTC week of their first request, and the share of each cohort active in "
            f"the weeks after; {span}.")


def retention_page(engine: sa.Engine, scope: Scope, api_id: int, now: dt.datetime) -> RetentionPage:
    require_workspace(scope, "Customer retention")
    window = retention_window(now, first=cache.data_start(engine, scope, api_id))
    rows = scoped_rows(engine, scope, window, api_id=api_id)
    firsts = cache.first_seen_frame(engine, scope)
    return RetentionPage(window, cohorts(rows, firsts, window, scope, api_id=api_id),
                         mc.new_vs_returning(rows, firsts, window, scope, api_id=api_id))


def cohort_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """Cohort rows for a heatmap: cohort ("Nov 02 · 14 customers", "… · 1 customer"), week ("week 0" …), retention_pct;
    newest cohort first, weeks in order."""
    return frame.sort(["cohort", "weeks_since"], descending=[True, False]).select(
        pl.format("{} · {} {}", pl.col("cohort").dt.strftime("%b %d"), pl.col("cohort_size"),
                  pl.when(pl.col("cohort_size") == 1).then(pl.lit("customer")).otherwise(pl.lit("customers"))).alias("cohort"),
        pl.format("week {}", pl.col("weeks_since")).alias("week"),
        "retention_pct",
    )
