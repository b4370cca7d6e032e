"""Process-wide cache of the rollups (Polars), with the scoped reads every dashboard number starts from.

Every dashboard number is computed from facts (core.domain.facts): hourly rollups, plus the raw rows
of the hours a window cuts. This package keeps the rollups of settled hours in memory and reads the
rest from SQL. Scope is applied on every read; nothing here returns rows without one. Callers use this
package's names (`cache.facts_frame(...)`); the modules behind them:

    layout    the frame layouts (facts, first seen)
    reader    SQL → frames: rollups, raw rows of cut hours, the small tables, the state
    index     the settled rollups in memory: sorted by API and hour, indexed by customer
    entry     one database's cache, its refresh, the registry, refresh/invalidate/stats
    snapshot  the settled rollups on disk, so that a process starting again need not read them all
    scoped    the public reads, each filtered by a Scope and asserted
"""
from core.storage.cache.entry import invalidate, refresh, refreshed, reload_due, stats
from core.storage.cache.layout import FACT_SCHEMA, FIRST_SEEN_SCHEMA, empty_facts, first_seen
from core.storage.cache.scoped import (
    customer_apis_frame,
    customers_frame,
    data_span,
    data_start,
    facts_frame,
    first_seen_frame,
    resolve_api,
    settled_parts,
    settled_total,
    visible_apis,
)

__all__ = [
    "FACT_SCHEMA", "FIRST_SEEN_SCHEMA", "customer_apis_frame", "customers_frame", "data_span", "data_start", "empty_facts",
    "facts_frame", "first_seen", "first_seen_frame", "invalidate", "refresh", "refreshed", "reload_due", "resolve_api", "settled_parts",
    "settled_total", "stats", "visible_apis",
]
