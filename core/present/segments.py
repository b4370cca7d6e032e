"""The Customers page's "By attribute" section (e.g. by plan): the attribute keys to pick from, and per value
of the picked one its requests, customers, error rate and p95, as a table and requests over time."""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from core.analytics import segments
from core.domain.scope import Scope
from core.domain.timewindow import Window
from core.present.page_data import scoped_rows
from core.storage import cache

TOP_VALUES = 6  # the chart's series: the busiest values


def attribute_keys(engine: sa.Engine, scope: Scope) -> list[str]:
    """The attribute keys the scope's customers carry, the most widespread first."""
    return segments.attribute_keys(cache.customers_frame(engine, scope))


def default_key(keys: list[str]) -> str | None:
    """Plan when customers carry it (the view product managers ask for), else the most widespread key."""
    return "Plan" if "Plan" in keys else (keys[0] if keys else None)


@dataclass(frozen=True)
class SegmentsModel:
    key: str
    table: pl.DataFrame  # segments.segment_table rows
    series: pl.DataFrame  # bucket, one column per value of `names`
    names: list[str]  # the busiest TOP_VALUES values, the chart's series


def segments_model(engine: sa.Engine, scope: Scope, api_id: int | None, window: Window, key: str) -> SegmentsModel:
    values = segments.attribute_values(cache.customers_frame(engine, scope), key)
    rows = scoped_rows(engine, scope, window, api_id=api_id)
    table = segments.segment_table(rows, values, window, scope)
    names = table.get_column("value").head(TOP_VALUES).to_list()
    return SegmentsModel(key, table, segments.segment_series(rows, values, window, scope, names), names)


def display_table(model: SegmentsModel) -> pl.DataFrame:
    """The table as shown: the value under the attribute's name, then the numbers with their units."""
    return model.table.select(
        pl.col("value").alias(model.key),
        pl.col("requests").alias("Requests"),
        pl.col("customers").alias("Customers"),
        pl.col("error_rate_pct").round(1).alias("Error rate (%)"),
        pl.col("avg_load_time_ms").round(1).alias("Average load time (ms)"),
        pl.col("p95_load_time_ms").round(1).alias("p95 load time (ms)"),
    )
