"""The numbers alert rules compare with their thresholds: pure Polars over facts (core.domain.facts).

Each metric is one function of the facts of a window and its previous period (what
core.storage.cache.facts_frame returns), so the switch to another source of facts is one change.
Rates are in percent. None means "no value" (an error rate or p95 of no requests), which never breaches.
"""
from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from core.analytics.metrics import in_window, totals
from core.analytics.segments import segment_customers as segment_customers  # rules' --segment (one definition)
from core.domain.timewindow import Window


def error_rate_pct(facts: pl.DataFrame, window: Window) -> float | None:
    """Requests with status >= 400 in the window, in percent of its requests; None without requests."""
    now = totals(in_window(facts, window))
    return 100.0 * now.failed_requests / now.total_requests if now.total_requests else None


def request_count(facts: pl.DataFrame, window: Window) -> float:
    return float(totals(in_window(facts, window)).total_requests)


def p95_ms(facts: pl.DataFrame, window: Window) -> float | None:
    return totals(in_window(facts, window)).p95_load_time_ms


def traffic_drop_pct(facts: pl.DataFrame, window: Window) -> float:
    """How far requests fell below the previous equal window, in percent of it; 0 when they grew or the
    previous window had none."""
    before = totals(in_window(facts, window.previous())).total_requests
    now = totals(in_window(facts, window)).total_requests
    return 100.0 * (before - now) / before if before and now < before else 0.0


FACT_METRICS = {"error_rate": error_rate_pct, "requests": request_count, "p95_ms": p95_ms, "traffic_drop_pct": traffic_drop_pct}


def metric_value(metric: str, facts: pl.DataFrame, window: Window) -> float | None:
    """The value of one of FACT_METRICS over the facts of `window` (and of its previous period)."""
    return FACT_METRICS[metric](facts, window)


def new_customers(first_seen: pl.DataFrame, window: Window, api_id: int, customer_ids: Iterable[str] | None = None) -> float:
    """Customers whose first request to the API falls in the window (first_seen rows: customer_id, api_id,
    first_seen), among `customer_ids` when given."""
    rows = first_seen.filter((pl.col("api_id") == api_id) & (pl.col("first_seen") >= window.start)
                             & (pl.col("first_seen") < window.end))
    if customer_ids is not None:
        rows = rows.filter(pl.col("customer_id").is_in(list(customer_ids)))
    return float(rows.height)


def only_customers(facts: pl.DataFrame, customer_ids: Iterable[str]) -> pl.DataFrame:
    return facts.filter(pl.col("customer_id").is_in(list(customer_ids)))


def breached(value: float | None, comparison: str, threshold: float) -> bool:
    """Whether a rule fires: strictly above (or below) its threshold; never without a value."""
    if value is None:
        return False
    return value > threshold if comparison == "above" else value < threshold
