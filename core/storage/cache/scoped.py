"""The cache's public reads: request rows, first-seen dates, customers and APIs, each filtered by the
viewer's Scope and asserted (core.domain.scope) before it is returned."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl
import sqlalchemy as sa

from core.domain.frames import UTC_US
from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import Window
from core.storage.cache.entry import refreshed
from core.storage.cache.layout import FIRST_SEEN_SCHEMA


def requests_frame(engine: sa.Engine, scope: Scope, *, api_id: int | None = None, customer_id: str | None = None,
                   window: Window | None = None, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Cached request rows this scope may see (one row per request), optionally for one API, one
    customer (a workspace viewer opening a profile) and a [start, end) window, with only `columns`
    (customer_id is always kept: the scope is checked on it). Sorted by time when it comes from a
    single API or customer."""
    view = refreshed(engine).view
    start, end = (window.start, window.end) if window is not None else (None, None)
    if scope.is_customer and customer_id is not None and customer_id != scope.customer_id:
        raise ScopeError("Refused: the data requested is outside your account.")
    who = scope.customer_id if scope.is_customer else customer_id
    keep = None if columns is None else list(dict.fromkeys(["customer_id", "timestamp", *columns]))
    if who is not None:
        # The API filter needs api_id even when the caller did not ask for it (keep drops it again below).
        read = keep if keep is None or api_id is None else list(dict.fromkeys([*keep, "api_id"]))
        frame = view.for_customer(who, start, end, read)
        if api_id is not None:
            frame = frame.filter(pl.col("api_id") == api_id)
    elif api_id is not None:
        frame = view.for_api(api_id, start, end)
    else:
        frame = view.everything(start, end)
    if keep is not None:
        frame = frame.select(keep)
    # The single filter, applied again on what was gathered (a no-op for workspace scopes), then asserted.
    return scope.check(scope.filter(frame))


def first_seen_frame(engine: sa.Engine, scope: Scope) -> pl.DataFrame:
    """One row per (customer, API) this scope may see: when the customer first called the API.

    From the stored customer_apis.first_seen, which `prune` keeps: the cached rows start at the
    retention cutoff, so a first-seen computed from them would make every old customer look new.
    A pair whose stored date is missing, or later than a cached request (the small tables are
    re-read a moment after the rows), takes the earlier of the two."""
    entry = refreshed(engine)
    stored = entry.customer_apis.select(pl.col("customer_id").cast(pl.String), pl.col("api_id").cast(pl.Int32),
                                        pl.col("first_seen").cast(UTC_US))
    both = (
        pl.concat([stored, entry.first_seen.select(list(FIRST_SEEN_SCHEMA))])
        .group_by("customer_id", "api_id")
        .agg(pl.col("first_seen").min())
        .sort("customer_id", "api_id")
    )
    return scope.check(scope.filter(both))


def customers_frame(engine: sa.Engine, scope: Scope) -> pl.DataFrame:
    """One row per customer this scope may see: display name, attributes (JSON text), first/last seen."""
    return scope.check(scope.filter(refreshed(engine).customers))


def customer_apis_frame(engine: sa.Engine, scope: Scope) -> pl.DataFrame:
    """One row per (customer, API) pair seen, restricted to this scope (automatic API discovery)."""
    return scope.check(scope.filter(refreshed(engine).customer_apis))


def visible_apis(engine: sa.Engine, scope: Scope) -> list[dict]:
    """[{"api_id", "name"}] by name: every API for workspace scopes; for a Customer, the APIs where
    their ID appeared in at least one request."""
    entry = refreshed(engine)
    apis = entry.apis
    if scope.is_customer:
        mine = scope.filter(entry.customer_apis).get_column("api_id")
        apis = apis.filter(pl.col("api_id").is_in(mine.implode()))
    return apis.sort("name", "api_id").select(pl.col("api_id").cast(pl.Int64), "name").to_dicts()


def resolve_api(engine: sa.Engine, scope: Scope, api: str | int) -> dict:
    """The visible API named by id or name; LookupError with a message safe to show otherwise."""
    text = str(api).strip()
    visible = visible_apis(engine, scope)
    for item in visible:
        if str(item["api_id"]) == text:
            return item
    for item in visible:
        if item["name"] == text:
            return item
    if scope.is_customer:
        raise LookupError(f"No API {text!r} among the APIs of your account.")
    raise LookupError(f"No API {text!r}; `python -m core apis list` shows the APIs.")


def data_start(engine: sa.Engine, scope: Scope, api_id: int | None = None) -> dt.datetime | None:
    """The first request this scope may see (on one API or all), where All Time windows start."""
    return data_span(engine, scope, api_id)[0]


def data_span(engine: sa.Engine, scope: Scope, api_id: int | None = None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(first, newest) request this scope may see (on one API or all): the bounds of All Time.
    The newest can be dated after now (an imported file from a clock ahead of ours)."""
    frame = requests_frame(engine, scope, api_id=api_id, columns=["timestamp"])
    if frame.height == 0:
        return None, None
    ts = frame.get_column("timestamp")
    return ts.min(), ts.max()
