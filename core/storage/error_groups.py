"""Failed requests of a window, read from SQL for error groups: the newest ones first, a bounded number,
each with its API, customer, endpoint, status and first reported error (type and message).

The read walks the (api_id, timestamp) or (customer_id, timestamp) index backwards and stops after `limit`
rows; over every API it merges per-API top lists, as the request history does, so a busy workspace costs
`limit` rows per API, never a scan of the window. Grouping happens in core.analytics.error_groups.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa
import zstandard

from core.domain.frames import UTC_US
from core.domain.masking import scrub_credentials
from core.domain.problems import body_message
from core.domain.scope import Scope
from core.domain.timewindow import Window
from core.storage import details
from core.storage.models import Api, Customer, Request, RequestDetail

# At most this many failed requests are read per view: enough for every group of a normal window; when
# more failed, the groups describe the newest MAX_ROWS and say so (FailedRequests.truncated).
MAX_ROWS = 20_000

FAILED_SCHEMA = {
    "id": pl.Int64,
    "timestamp": UTC_US,
    "api_id": pl.Int64,
    "api_name": pl.String,
    "customer_id": pl.String,
    "customer_name": pl.String,
    "method": pl.String,
    "endpoint": pl.String,
    "status": pl.Int64,
    "error_type": pl.String,  # of the first error the SDK reported; null when it reported none
    # The first reported error's message, else what the response body says (core.domain.problems.body_message); as
    # stored (masked at ingest), not yet normalised.
    "error_message": pl.String,
}


@dataclass(frozen=True)
class FailedRequests:
    rows: pl.DataFrame  # FAILED_SCHEMA, newest first
    truncated: bool  # more failed requests matched: rows holds the newest `limit` of them


def failed_requests(engine: sa.Engine, scope: Scope, window: Window, *, min_status: int, api_id: int | None = None,
                    customer_id: str | None = None, limit: int = MAX_ROWS) -> FailedRequests:
    """The newest `limit` requests with status >= min_status and window.start <= timestamp < window.end, within
    the scope (and one API / one customer when given). A Customer scope naming another customer gets none."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError("limit must be a positive number of rows.")
    if scope.is_customer and customer_id is not None and customer_id != scope.customer_id:
        return FailedRequests(pl.DataFrame(schema=FAILED_SCHEMA), False)
    # The status as a literal in the SQL: a partial index (models.Request, ix_requests_api_failed_ts) is used only
    # when the planner sees that the query asks for failed requests alone.
    conds = [scope.where(Request.customer_id), Request.timestamp >= window.start, Request.timestamp < window.end,
             Request.status >= sa.literal(int(min_status), literal_execute=True)]
    if api_id is not None:
        conds.append(Request.api_id == api_id)
    if customer_id is not None:
        conds.append(Request.customer_id == customer_id)
    newest = (Request.timestamp.desc(), Request.id.desc())
    with engine.connect() as conn:
        if api_id is None and customer_id is None and not scope.is_customer:
            # No index orders every API's rows by time; each API's (api_id, timestamp) index does.
            api_ids = list(conn.execute(sa.select(Api.id).order_by(Api.id)).scalars())
            tops = [sa.select(Request.id, Request.timestamp).where(Request.api_id == a, *conds).order_by(*newest)
                    .limit(limit + 1).subquery() for a in api_ids]
            if not tops:
                return FailedRequests(pl.DataFrame(schema=FAILED_SCHEMA), False)
            merged = sa.union_all(*(sa.select(t.c.id, t.c.timestamp) for t in tops)).subquery()
            top = sa.select(merged.c.id, merged.c.timestamp).order_by(merged.c.timestamp.desc(), merged.c.id.desc())
        else:
            top = sa.select(Request.id, Request.timestamp).where(*conds).order_by(*newest)
        top = top.limit(limit + 1).subquery()
        first_error = RequestDetail.errors[(0, "type")].as_string(), RequestDetail.errors[(0, "message")].as_string()
        # The body only where ingest did not read its message already (rows stored before migration 0010).
        unread = RequestDetail.problem.is_(None)
        stmt = (
            sa.select(Request.id, Request.timestamp, Request.api_id, Api.name, Request.customer_id, Customer.display_name,
                      Request.method, Request.endpoint, Request.status, *first_error, RequestDetail.problem,
                      sa.case((unread, RequestDetail.packed)).label("packed"),
                      sa.case((unread, RequestDetail.response_body)).label("response_body"))
            .select_from(top)
            .join(Request, Request.id == top.c.id)
            .join(Api, Api.id == Request.api_id)
            .outerjoin(Customer, Customer.customer_id == Request.customer_id)
            .outerjoin(RequestDetail, RequestDetail.request_id == Request.id)
            .where(scope.where(Request.customer_id))
            .order_by(top.c.timestamp.desc(), top.c.id.desc())
        )
        rows = [_with_body_message(r) for r in conn.execute(stmt)]
    frame = pl.DataFrame(rows[:limit], schema=FAILED_SCHEMA, orient="row")
    return FailedRequests(scope.check(frame), len(rows) > limit)


def _with_body_message(row: sa.Row) -> tuple:
    """A failed request's FAILED_SCHEMA values from its row (… error type, error message, problem, packed, response
    body): without a reported error, the message its response body carries, as ingest read it (problem) or, for a row
    stored before, read from the body now. Details that cannot be read leave it None (the group then says no error
    was reported), never the whole read failing."""
    *values, problem, _packed, _stored_body = row
    if values[-1] is None and problem is not None:
        values[-1] = problem or None
    elif values[-1] is None:
        try:
            body = details.unpacked(row._mapping)["response_body"]  # packed, or a row stored before packing
        except (ValueError, KeyError, TypeError, zstandard.ZstdError):
            body = None
        values[-1] = body_message(body)
    if values[-1] is not None:  # a credential a request stored before ingest masked those is hidden as read
        values[-1] = scrub_credentials(values[-1])
    return tuple(values)
