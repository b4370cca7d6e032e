"""Usage for billing: requests and failed requests per customer × API × endpoint × method in a [start, end) span
(a UTC calendar month), counted exactly and scoped.

`usage_counts` is the one place these numbers are read: sums over the hourly rollups (core.storage.rollups; the
settled hours from this process's cache when it holds them, a GROUP BY in SQL otherwise), which are exact for whole
hours, so a month (or any span between whole hours) is exact, and stays billable after `prune` has deleted the raw
requests.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import sqlalchemy as sa

from core.domain.record import FAILED_STATUS  # what rollups count as failed
from core.domain.scope import Scope
from core.domain.timewindow import floor_hour
from core.storage import cache, rollups
from core.storage.models import Api, CustomerApi, RollupHour

# One row per customer × API × endpoint × method; customer_id is null for requests attributed to nobody.
USAGE_SCHEMA = {
    "customer_id": pl.String,
    "api_id": pl.Int64,
    "endpoint": pl.String,
    "method": pl.String,
    "requests": pl.Int64,
    "failed_requests": pl.Int64,
}


def usage_counts(engine: sa.Engine, scope: Scope, start: dt.datetime, end: dt.datetime, *, failed_status: int,
                 api_id: int | None = None, customer_id: str | None = None) -> pl.DataFrame:
    """Requests with start <= timestamp < end, within the scope (and one API / one customer when given),
    grouped by customer × API × endpoint × method: requests, and failed_requests (status >= failed_status).

    Columns USAGE_SCHEMA, sorted by customer_id (unattributed last), api_id, endpoint, method. A Customer
    scope is filtered to its own customer ID in SQL; naming another customer yields no rows.
    """
    if failed_status != FAILED_STATUS:
        raise ValueError(f"The rollups count failed requests as status >= {FAILED_STATUS}, not {failed_status}.")
    if any(t != floor_hour(t) for t in (start, end)):
        raise ValueError("Usage spans start and end on whole hours (the rollups' grain).")
    if scope.is_customer and customer_id is not None and customer_id != scope.customer_id:
        return pl.DataFrame(schema=USAGE_SCHEMA)  # another customer's usage reads like an unknown one's: none
    r = RollupHour
    with engine.connect() as conn:
        # The settled hours from this process's cache when it holds the epoch this connection reads (a month of every
        # API took 4 s in SQL at 10 million requests), the hours after them in SQL.
        held = cache.settled_parts(engine, scope, rollups.epoch(conn), start, end, api_id=api_id, customer_id=customer_id,
                                   columns=["customer_id", "endpoint", "method", "requests", "failed"])
        parts, sql_from = ([], start) if held is None else (held[0], max(start, held[1]))
        # Summed per API part on the categorical codes first: text is made only for the summed rows.
        frames = [p.group_by("customer_id", "api_id", "endpoint", "method").agg(pl.col("requests").sum(), pl.col("failed").sum())
                  .select(pl.col("customer_id").cast(pl.String), pl.col("api_id").cast(pl.Int64), pl.col("endpoint").cast(pl.String),
                          pl.col("method").cast(pl.String), pl.col("requests").cast(pl.Int64),
                          pl.col("failed").cast(pl.Int64).alias("failed_requests")) for p in parts]
        if sql_from < end:
            conds = [scope.where(r.customer_id), r.hour >= sql_from, r.hour < end]
            if api_id is not None:
                conds.append(r.api_id == api_id)
            if customer_id is not None:
                conds.append(r.customer_id == customer_id)
            customer = sa.case((r.customer_id == rollups.NO_CUSTOMER, sa.null()), else_=r.customer_id)
            keys = (customer.label("customer_id"), r.api_id, r.endpoint, r.method)
            stmt = (sa.select(*keys, sa.func.sum(r.requests).label("requests"), sa.func.sum(r.failed).label("failed_requests"))
                    .where(*conds).group_by(*keys))
            frames.append(pl.DataFrame([tuple(row) for row in conn.execute(stmt)], schema=USAGE_SCHEMA, orient="row"))
    keys = ["customer_id", "api_id", "endpoint", "method"]
    frame = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame(schema=USAGE_SCHEMA)
    # Sorted here, byte by byte, whatever the database's collation (unattributed last).
    frame = (frame.group_by(keys).agg(pl.col("requests").sum(), pl.col("failed_requests").sum())
             .sort(keys, nulls_last=True).select(pl.col(c).cast(t) for c, t in USAGE_SCHEMA.items()))
    return scope.check(frame)


def visible_api(engine: sa.Engine, scope: Scope, api: str | int) -> dict:
    """The API named by id or name that this scope may see ({"api_id", "name"}), read from SQL (the command
    line has no cache to load). LookupError with a message safe to show otherwise: for a Customer, an API
    they never called reads exactly like one that does not exist."""
    text = str(api).strip()
    stmt = sa.select(Api.id, Api.name).order_by(Api.name, Api.id)
    if scope.is_customer:
        stmt = stmt.where(Api.id.in_(sa.select(CustomerApi.api_id).where(scope.where(CustomerApi.customer_id))))
    with engine.connect() as conn:
        apis = [{"api_id": r.id, "name": r.name} for r in conn.execute(stmt)]
    found = next((a for a in apis if str(a["api_id"]) == text), None) or next((a for a in apis if a["name"] == text), None)
    if found is not None:
        return found
    if scope.is_customer:
        raise LookupError(f"No API {text!r} among the APIs of your account.")
    raise LookupError(f"No API {text!r}; `python -m core apis list` shows the APIs.")
