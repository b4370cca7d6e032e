"""Process-wide columnar cache of request data (Polars), refreshed incrementally by id watermark.

Per-page reads from SQL cannot be fast at millions of rows, so every dashboard number is computed
from this in-memory copy of the narrow `requests` table (plus the small customer tables). Scope is
applied on every read; nothing here returns rows without one. Callers use this package's names
(`cache.requests_frame(...)`); the modules behind them:

    layout    REQUEST_SCHEMA and the other frame layouts, empty frames, first_seen()
    reader    SQL → frames (ADBC or SQLAlchemy); child is the `python -m` entry of its child process
    index     the rows in memory: sorted by API and time, indexed by customer, and the View readers slice
    snapshot  the copy on disk that a restart reads instead of the table
    entry     one database's cache, its refresh by watermark, the registry, refresh/invalidate/stats
    scoped    the public reads, each filtered by a Scope and asserted
"""
from core.storage.cache.entry import invalidate, refresh, stats
from core.storage.cache.layout import FIRST_SEEN_SCHEMA, METRIC_COLUMNS, REQUEST_SCHEMA, empty_requests, first_seen
from core.storage.cache.scoped import (
    customer_apis_frame,
    customers_frame,
    data_span,
    data_start,
    first_seen_frame,
    requests_frame,
    resolve_api,
    visible_apis,
)

__all__ = [
    "FIRST_SEEN_SCHEMA", "METRIC_COLUMNS", "REQUEST_SCHEMA", "customer_apis_frame", "customers_frame", "data_span",
    "data_start", "empty_requests", "first_seen", "first_seen_frame", "invalidate", "refresh", "requests_frame",
    "resolve_api", "stats", "visible_apis",
]
