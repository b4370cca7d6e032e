"""The clock_skews table: one row per (API, SDK, fault) whose clock the collector did not believe (core.ingest
.timestamps), summed over the batches that write requests (store.write_requests calls upsert in their transaction)."""
from __future__ import annotations

import functools
from collections.abc import Sequence

import sqlalchemy as sa

from core.domain.record import NormalizedRequest
from core.storage.dialect import insert_for
from core.storage.models import Api, ClockSkew


def rows_of(items: Sequence[tuple[int, NormalizedRequest]]) -> list[dict]:
    """One row per (API, SDK) whose clock was not believed in this batch, not one row per request."""
    per_key: dict[tuple[int, str], dict] = {}
    for api_id, r in items:
        if r.clock_skew_s is None:
            continue
        skew = r.clock_skew_s
        key = (api_id, r.sdk or "", r.clock_fault or "clock")
        row = per_key.get(key)
        if row is None:
            per_key[key] = {"api_id": api_id, "sdk": key[1], "fault": key[2], "fallbacks": 1, "skew_sum_s": skew, "min_skew_s": skew,
                            "max_skew_s": skew, "last_skew_s": skew, "last_seen": r.timestamp}
            continue
        row["fallbacks"] += 1
        row["skew_sum_s"] += skew
        row["min_skew_s"] = min(row["min_skew_s"], skew)
        row["max_skew_s"] = max(row["max_skew_s"], skew)
        if r.timestamp >= row["last_seen"]:
            row["last_skew_s"], row["last_seen"] = skew, r.timestamp
    return list(per_key.values())


def upsert(conn: sa.Connection, rows: list[dict]) -> None:
    if rows:
        conn.execute(_upsert_statement(conn.dialect.name), rows)


@functools.cache  # built once per dialect, not per batch (see store._customers_insert)
def _upsert_statement(dialect: str) -> sa.Insert:
    table = ClockSkew.__table__
    stmt = insert_for(dialect, table)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["api_id", "sdk", "fault"],
        set_={
            "fallbacks": table.c.fallbacks + excluded.fallbacks,
            "skew_sum_s": table.c.skew_sum_s + excluded.skew_sum_s,
            "min_skew_s": sa.case((excluded.min_skew_s < table.c.min_skew_s, excluded.min_skew_s), else_=table.c.min_skew_s),
            "max_skew_s": sa.case((excluded.max_skew_s > table.c.max_skew_s, excluded.max_skew_s), else_=table.c.max_skew_s),
            "last_skew_s": sa.case((excluded.last_seen >= table.c.last_seen, excluded.last_skew_s), else_=table.c.last_skew_s),
            "last_seen": sa.case((excluded.last_seen >= table.c.last_seen, excluded.last_seen), else_=table.c.last_seen),
        },
    )


def listed(engine: sa.Engine) -> list[dict]:
    """Each (API, SDK) whose clock the collector did not believe, most recently seen first:
    api_id, api_name, sdk, fallbacks, mean/min/max/last skew in seconds, last_seen."""
    query = (
        sa.select(ClockSkew.__table__, Api.name.label("api_name"))
        .join(Api, Api.id == ClockSkew.api_id)
        .order_by(ClockSkew.last_seen.desc(), Api.name, ClockSkew.sdk)
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["mean_skew_s"] = row.pop("skew_sum_s") / row["fallbacks"]
    return rows
