"""The cache's frame layouts: facts (core.domain.facts) and first-seen, and the one definition of
"first seen" (shared with the metrics in core.analytics.customers)."""
from __future__ import annotations

import polars as pl

from core.domain.facts import FACT_SCHEMA, FIRST_SEEN_SCHEMA, empty_facts, first_seen

__all__ = ["FACT_SCHEMA", "FIRST_SEEN_SCHEMA", "empty_facts", "empty_first_seen", "first_seen"]


def empty_first_seen() -> pl.DataFrame:
    return pl.DataFrame(schema=FIRST_SEEN_SCHEMA)
