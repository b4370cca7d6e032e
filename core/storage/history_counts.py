"""Exact totals for the request history from the hourly rollups (core.storage.rollups), so a history of
millions of requests says how many, instead of counting rows up to request_log.COUNT_CAP."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa

from core.domain.scope import Scope
from core.domain.timewindow import ceil_hour, floor_hour
from core.storage import cache, rollups
from core.storage.models import RollupHour, RollupState

# Status classes the rollups count (requests >= 400 split into 4xx and 5xx); 2xx and 3xx they do not.
_ROLLUP_STATUS_COLUMNS = {"4xx": RollupHour.status_4xx, "5xx": RollupHour.status_5xx}


def from_rollups(conn: sa.Connection, scope: Scope, q, count_raw: Callable[[dt.datetime, dt.datetime], int]) -> int | None:
    """The exact number of matching requests, from the hourly rollups plus the raw rows of the hours the
    window cuts, when every filter is a rollup dimension (API, customer, method, endpoint, 4xx/5xx);
    else None (the caller counts raw rows up to COUNT_CAP). Hours before the raw rows' start (prune) are
    left out: the table can only list requests that are still stored. The settled hours are summed from this
    process's cache when it holds them at the epoch `conn` reads (cache.settled_total; in SQL, a month of them took a
    second at 10 million requests), the hours after them in SQL."""
    if q.statuses or q.threat_levels or q.devices or q.ai_agents or q.countries or q.search:
        return None
    if any(c not in _ROLLUP_STATUS_COLUMNS for c in q.status_classes):
        return None
    raw_since = conn.execute(sa.select(RollupState.raw_since).where(RollupState.id == 1)).scalar()
    starts = [t for t in (q.window.start if q.window else None, raw_since) if t is not None]
    start = max(starts) if starts else None
    end = q.window.end if q.window else None
    first_full = ceil_hour(start) if start is not None else None
    last_full = floor_hour(end) if end is not None else None  # hours before it are whole
    if first_full is not None and last_full is not None and first_full >= last_full:
        return count_raw(start, end)  # the window lies within one or two partial hours
    total, lo, hi = 0, first_full, last_full  # whole hours [lo, hi) still to sum; None: no bound
    held = cache.settled_total(conn.engine, scope, rollups.epoch(conn), lo, hi, api_id=q.api_id, customer_id=q.customer_id,
                               methods=[m.upper() for m in q.methods], endpoints=q.endpoints,
                               columns=[f"status_{c}" for c in q.status_classes] or ["requests"])
    if held is not None:
        total, settled = held
        lo = settled if lo is None else max(lo, settled)
    if lo is None or hi is None or lo < hi:
        total += _sql_total(conn, scope, q, lo, hi)
    if start is not None and start < first_full:
        total += count_raw(start, first_full)
    if end is not None and last_full < end:
        total += count_raw(last_full, end)
    return total


def _sql_total(conn: sa.Connection, scope: Scope, q, first_full: dt.datetime | None, last_full: dt.datetime | None) -> int:
    """The matching requests of the whole hours [first_full, last_full) (None: no bound), summed in SQL."""
    measure = (sa.func.sum(sum(_ROLLUP_STATUS_COLUMNS[c] for c in q.status_classes)) if q.status_classes
               else sa.func.sum(RollupHour.requests))
    conds = [scope.where(RollupHour.customer_id)]
    if q.api_id is not None:
        conds.append(RollupHour.api_id == q.api_id)
    if q.customer_id is not None:
        conds.append(RollupHour.customer_id == q.customer_id)
    if q.methods:
        conds.append(RollupHour.method.in_([m.upper() for m in q.methods]))
    if q.endpoints:
        conds.append(RollupHour.endpoint.in_(q.endpoints))
    if first_full is not None:
        conds.append(RollupHour.hour >= first_full)
    if last_full is not None:
        conds.append(RollupHour.hour < last_full)
    return int(conn.execute(sa.select(measure).where(*conds)).scalar() or 0)
