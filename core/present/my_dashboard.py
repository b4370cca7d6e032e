"""My dashboard: a viewer's own traffic on one API (or every API they may see)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from core.analytics import metrics
from core.analytics.metrics import Overview
from core.domain.scope import Scope
from core.domain.timewindow import Window
from core.present.page_data import data_covers_previous, scoped_rows
from core.present.series import chart_series


@dataclass(frozen=True)
class MyDashboard:
    """A viewer's own traffic on one API (or all they may see): overview with deltas, per-bucket
    series (chart_series of metrics.overview_series) and endpoint breakdown."""

    overview: Overview
    series: pl.DataFrame
    endpoints: pl.DataFrame
    covered: bool = True  # the viewer's data covers the period before the window (deltas shown)
    partial_buckets: tuple[dt.datetime, ...] = ()  # metrics.partial_buckets: marked on the charts


def my_dashboard(engine: sa.Engine, scope: Scope, api_id: int | None, window: Window) -> MyDashboard:
    rows = scoped_rows(engine, scope, window, api_id=api_id, summed="operation-bucket")
    return MyDashboard(
        overview=metrics.overview(rows, window, scope),
        series=chart_series(metrics.overview_series(rows, window, scope)),
        endpoints=metrics.endpoint_breakdown(rows, window, scope),
        covered=data_covers_previous(engine, scope, window, api_id),
        partial_buckets=tuple(metrics.partial_buckets(window)),
    )
