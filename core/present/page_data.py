"""What every page model reads from the cache: the scoped rows of a window and the period before it,
the visible APIs, whether the data covers that period, and the data version that keys cached pages."""
from __future__ import annotations

import polars as pl
import sqlalchemy as sa

from core.analytics import metrics
from core.domain.scope import Scope
from core.domain.timewindow import Window
from core.storage import cache


def data_version(engine: sa.Engine) -> str:
    """Changes whenever the request data does (new requests, rewritten or pruned rollups): part of every
    page cache key, so a cached page never outlives the data it was computed from."""
    info = cache.stats(engine)
    return f"{info['epoch']}:{info['newest_id']}:{info['settled']}"


def scoped_rows(engine: sa.Engine, scope: Scope, window: Window, **where) -> pl.DataFrame:
    """The scoped facts of the window and the period before it (for deltas)."""
    return cache.facts_frame(engine, scope, window, **where)


def api_names(engine: sa.Engine, scope: Scope) -> pl.DataFrame:
    """One row per API this scope may see: api_id, name."""
    return pl.DataFrame(cache.visible_apis(engine, scope), schema={"api_id": pl.Int64, "name": pl.String})


def data_covers_previous(engine: sa.Engine, scope: Scope, window: Window, api_id: int | None = None) -> bool:
    """Whether the scope's data on this API (or every API) covers the whole period before the window."""
    return metrics.covers_previous(window, cache.data_start(engine, scope, api_id))
