"""Home (workspace at a glance): the page model, its cards and the cards of each API."""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from core.analytics import customers as mc
from core.analytics import metrics
from core.analytics.metrics import bucket_starts
from core.domain.scope import Scope, require_workspace
from core.domain.timewindow import Window
from core.present.cards import Card, count_card, ms_card, pct_card
from core.present.page_data import api_names, data_covers_previous, scoped_rows
from core.present.segments import only_segment
from core.present.series import api_sparklines
from core.storage import cache


def _pct(part, whole) -> float | None:
    """part as a percentage of whole; None when whole is 0 (no requests, no failure rate)."""
    return part * 100.0 / whole if whole else None


@dataclass(frozen=True)
class HomePage:
    """The workspace at a glance: totals, one row per API with its headline numbers and request
    sparkline (mc.API_HEADLINE_SCHEMA + sparkline), and the top customers across all APIs."""

    requests: mc.Delta
    failed_pct: mc.Delta
    active_customers: mc.Delta
    new_customers: mc.Delta
    apis: pl.DataFrame  # + covered: the API's data covers the period before the window
    top_customers: pl.DataFrame
    covered: bool = True  # the workspace's data covers the period before the window (deltas shown)


def home_page(engine: sa.Engine, scope: Scope, window: Window, *, top_n: int = 10, segment: str | None = None) -> HomePage:
    """segment: a core.present.segments.segment_choices entry ("Plan = Pro"): every number then counts only
    the requests of its customers."""
    require_workspace(scope, "The workspace home")
    # The settled hours summed per API, customer and bucket: every number here is one of those, or a sum of them.
    rows, first_seen = only_segment(engine, scope, segment, scoped_rows(engine, scope, window, summed="bucket"),
                                    cache.first_seen_frame(engine, scope))
    (now, failed_now), (before, failed_before) = metrics.failed_counts_in(metrics.check(rows, scope), [window, window.previous()])
    active, top = mc.active_and_top_customers(rows, window, scope, names=cache.customers_frame(engine, scope), n=top_n)
    headlines = mc.api_headlines(rows, window, scope, api_names(engine, scope))
    spark = api_sparklines(rows, window, scope)
    empty = bucket_starts(window).height * [0]
    apis = headlines.join(spark, on="api_id", how="left").with_columns(
        pl.col("sparkline").fill_null(pl.lit(empty, dtype=pl.List(pl.Int64))))
    covered = [data_covers_previous(engine, scope, window, int(a)) for a in apis.get_column("api_id")]
    apis = apis.with_columns(pl.Series("covered", covered, dtype=pl.Boolean))
    return HomePage(
        requests=mc.Delta(now, before),
        failed_pct=mc.Delta(_pct(failed_now, now), _pct(failed_before, before)),
        active_customers=active,
        new_customers=mc.new_customers(first_seen, window, scope),
        apis=apis,
        top_customers=top,
        covered=data_covers_previous(engine, scope, window),
    )


def home_cards(page: HomePage) -> list[Card]:
    c = page.covered
    return [
        count_card("Requests", page.requests, help="Every request on every API, with or without a customer.", covered=c),
        pct_card("Failed requests", page.failed_pct.current, page.failed_pct.previous, inverse=True,
                  help="Share of requests answered with status 400 or above.", covered=c),
        count_card("Active customers", page.active_customers, help="Customers with at least one request in the window.",
                    covered=c),
        count_card("New customers", page.new_customers, help="Customers whose first request ever falls in the window.",
                    covered=c),
    ]


def api_cards(row: dict) -> list[Card]:
    """The headline cards of one HomePage.apis row."""
    c = row.get("covered", True)
    return [
        count_card("Requests", mc.Delta(row["requests"], row["requests_prev"]), chart=row["sparkline"], covered=c),
        pct_card("Failed", row["failed_pct"], row["failed_pct_prev"], inverse=True,
                  help="Share of requests answered with status 400 or above.", covered=c),
        ms_card("p95 load time", row["p95_load_time_ms"], row["p95_load_time_ms_prev"], "95 of 100 requests were faster.", c),
        count_card("Active customers", mc.Delta(row["active_customers"], row["active_customers_prev"]), covered=c),
    ]
