"""Usage for billing, from SQL: requests and failed requests per customer × API × endpoint × method in a
[start, end) span (a UTC calendar month), counted exactly and scoped.

`usage_counts` is the one place these numbers are read: a GROUP BY over the hourly rollups
(core.storage.rollups), which are exact for whole hours, so a month (or any span between whole hours) is
exact, and stays billable after `prune` has deleted the raw requests.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import sqlalchemy as sa

from core.domain.record import FAILED_STATUS  # what rollups count as failed
from core.domain.scope import Scope
from core.domain.timewindow import floor_hour
from core.storage import rollups
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
    r = RollupHour
    conds = [scope.where(r.customer_id), r.hour >= start, r.hour < end]
    if api_id is not None:
        conds.append(r.api_id == api_id)
    if customer_id is not None:
        conds.append(r.customer_id == customer_id)
    customer = sa.case((r.customer_id == rollups.NO_CUSTOMER, sa.null()), else_=r.customer_id)
    keys = (customer.label("customer_id"), r.api_id, r.endpoint, r.method)
    stmt = (
        sa.select(*keys, sa.func.sum(r.requests).label("requests"), sa.func.sum(r.failed).label("failed_requests"))
        .where(*conds)
        .group_by(*keys)
        .order_by(customer.asc().nulls_last(), r.api_id, r.endpoint, r.method)
    )
    with engine.connect() as conn:
        rows = [tuple(row) for row in conn.execute(stmt)]
    frame = pl.DataFrame(rows, schema=USAGE_SCHEMA, orient="row")
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
