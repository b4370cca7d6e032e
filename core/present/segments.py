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


EVERYONE = "Every customer"
MAX_FILTER_VALUES = 20  # per attribute key in the customer list's segment filter


def segment_choices(engine: sa.Engine, scope: Scope) -> list[str]:
    """The customer list's segment filter: EVERYONE, then "Key = value" for each attribute value customers
    carry (the most widespread keys first; at most MAX_FILTER_VALUES values per key, by name)."""
    customers = cache.customers_frame(engine, scope)
    choices = [EVERYONE]
    for key in segments.attribute_keys(customers):
        values = sorted(set(segments.attribute_values(customers, key).get_column("value").to_list()))
        choices += [f"{key} = {value}" for value in values[:MAX_FILTER_VALUES]]
    return choices


def segment_members(engine: sa.Engine, scope: Scope, choice: str) -> list[str] | None:
    """The customer IDs of a segment_choices entry; None for EVERYONE (no filter)."""
    if choice == EVERYONE or " = " not in choice:
        return None
    key, value = choice.split(" = ", 1)
    return segments.segment_customers(cache.customers_frame(engine, scope), key, value)


def only_segment(engine: sa.Engine, scope: Scope, segment: str | None, *frames: pl.DataFrame) -> tuple[pl.DataFrame, ...]:
    """The frames (with a customer_id column) restricted to the customers of `segment`, a segment_choices
    entry; unchanged for None or EVERYONE. Unattributed requests belong to no segment."""
    members = segment_members(engine, scope, segment) if segment else None
    if members is None:
        return frames
    return tuple(f.filter(pl.col("customer_id").is_in(members)) for f in frames)


@dataclass(frozen=True)
class SegmentsModel:
    key: str
    table: pl.DataFrame  # segments.segment_table rows
    series: pl.DataFrame  # bucket, one column per value of `names`
    names: list[str]  # the busiest TOP_VALUES values, the chart's series


def segments_model(engine: sa.Engine, scope: Scope, api_id: int | None, window: Window, key: str) -> SegmentsModel:
    values = segments.attribute_values(cache.customers_frame(engine, scope), key)
    rows = scoped_rows(engine, scope, window, api_id=api_id, summed="bucket")  # per customer and bucket
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
