"""The cache's public reads: facts (rollups, and raw rows where a window cuts an hour), first-seen dates,
customers and APIs, each filtered by the viewer's Scope and asserted (core.domain.scope) before it is returned."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl
import sqlalchemy as sa

from core.domain import facts
from core.domain.frames import UTC_US
from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import Window, floor_hour
from core.storage.cache.entry import entry_for, refreshed
from core.storage.cache.layout import empty_facts
from core.storage.cache.reader import read_rollups

SUMMED = ("bucket", "operation-bucket", "operation-period")  # facts_frame's `summed`


def facts_frame(engine: sa.Engine, scope: Scope, window: Window, *, api_id: int | None = None,
                customer_id: str | None = None, histograms: bool = True, summed: str | None = None) -> pl.DataFrame:
    """The facts (core.domain.facts) this scope may see in the window and its previous period, optionally
    for one API and one customer (a workspace viewer opening a profile): whole hours from the rollups
    (settled ones from memory, newer ones from SQL), and the hours an edge cuts (window.cut_hours())
    from the raw requests, so every count and bucket is exact. Where the raw rows were pruned, a cut
    hour is counted whole at its start. Without `histograms`, the rows read from SQL have empty histograms:
    for counts and sums only (their load-time bins are not read).

    `summed`: the settled hours of the window and of its previous period come summed, so
    that numbers of those two periods read many fewer rows; hours in neither period are left out (facts.in_blocks).
    "bucket": per customer and bucket of the window (method and endpoint null); "operation-bucket": per customer,
    method, endpoint and bucket; both when the buckets allow it (else rows by hour). "operation-period": per
    customer, method and endpoint over each period (no buckets)."""
    if scope.is_customer and customer_id is not None and customer_id != scope.customer_id:
        raise ScopeError("Refused: the data requested is outside your account.")
    entry = refreshed(engine)
    held = entry.held  # one snapshot (entry.Held)
    main, settled = held.main, held.settled
    who = scope.customer_id if scope.is_customer else customer_id
    start, end = window.previous().start, window.end
    cut = [h for h in window.cut_hours() if held.raw_since is None or h >= held.raw_since]
    ordered, parts = [], []  # rollups in memory, each sorted by time; rollups from SQL
    blocks = None  # `summed`: the settled hours summed (no cut hour among them), per API or for the one asked
    if main is not None and settled is not None and start < settled:
        upto = min(end, settled)
        if summed in SUMMED and (summed == "operation-period" or _buckets_align(window)):
            # Every API's by itself (each kept, so the API's own dashboard shares it), or the one API's or customer's.
            blocks = [_settled_blocks(held, window, who, a, upto, cut, summed, histograms)
                      for a in (main.api_ids if who is None and api_id is None else [api_id])]
        elif who is not None:
            part = main.customer(who, start, upto)
            ordered.append(part if api_id is None else part.filter(pl.col("api_id") == api_id))
        elif api_id is not None:
            ordered.append(main.api(api_id, start, upto))
        else:
            ordered.extend(main.per_api(start, upto))
    if settled is None or end > settled:
        recent_from = start if settled is None else max(start, settled)
        parts.append(read_rollups(engine, start=recent_from, end=end, api_id=api_id, customer_id=who, histograms=histograms))
    if cut:
        ordered = [_without_hours(p, cut) for p in ordered]
        parts = [p.filter(~pl.col("timestamp").is_in(cut)) for p in parts]
        hour = dt.timedelta(hours=1)
        ranges = [(max(h, start), min(h + hour, end)) for h in cut if h + hour > start and h < end]
        api_ids = [api_id] if api_id is not None else entry.apis.get_column("api_id").to_list()
        raw = held.settled_raw.read(engine, ranges, settled, api_ids=api_ids, customer_id=who, histograms=histograms)
        parts.append(raw if api_id is None or who is None else raw.filter(pl.col("api_id") == api_id))
    if blocks is not None:
        ordered = blocks
    if len(ordered) == 1:  # one API or one customer
        frame = _time_ordered(ordered[0], parts)
    else:
        parts = ordered + parts
        frame = pl.concat(parts, how="vertical_relaxed") if parts else empty_facts()
    # The single filter, applied again on what was gathered (a no-op for workspace scopes), then asserted.
    return scope.check(scope.filter(frame))


def _buckets_align(window: Window) -> bool:
    """Whether the window's buckets, counted on from the start of its previous period, have the window's start as an
    edge: then blocks of the bucket's length from there are the window's buckets, and none holds hours of both periods.
    Hourly buckets gain nothing."""
    step = window.bucket_delta
    return step > dt.timedelta(hours=1) and window.origin == window.start and (window.start - window.previous().start) % step == dt.timedelta(0)


def _settled_blocks(held, window: Window, who: str | None, api_id: int | None, upto: dt.datetime, cut: list[dt.datetime],
                    summed: str, histograms: bool) -> pl.DataFrame:
    """The settled rollup hours of the API or the customer (or the customer on the API) before `upto` that lie wholly in
    the window or in its previous period and are not cut (their raw rows are read instead), summed as `summed` says
    (facts_frame; facts.in_blocks): kept in `held` by what they sum, so the pages of an hour share them."""
    previous = window.previous()
    spans = ((previous.start, floor_hour(min(previous.end, upto))), (window.start, floor_hour(min(window.end, upto))))
    keep = () if summed == "bucket" else ("method", "endpoint")
    # The previous period starts one period before the window: its blocks of a period are the two periods.
    step = window.start - previous.start if summed == "operation-period" else window.bucket_delta
    key = (who, api_id, step, keep, histograms, spans, tuple(cut))

    def compute() -> pl.DataFrame:
        pieces = []
        for lo, hi in spans:  # the whole hours in [lo, hi), in time order
            if hi > lo:
                if who is None:
                    rows = held.main.api(api_id, lo, hi)
                else:
                    rows = held.main.customer(who, lo, hi)
                    rows = rows if api_id is None else rows.filter(pl.col("api_id") == api_id)
                pieces.append(_without_hours(rows, [h for h in cut if lo <= h < hi]) if cut else rows)
        rows = pl.concat(pieces, how="vertical_relaxed", rechunk=False) if pieces else empty_facts()
        return facts.in_blocks(rows, previous.start, step, keep, histograms=histograms)

    return held.block(key, compute)


def _time_ordered(main: pl.DataFrame, others: list[pl.DataFrame]) -> pl.DataFrame:
    """main (sorted by time) with the other parts (newer hours, cut hours' raw rows: hours main has not) put in
    at their times, without copying main's rows: so the pages' windows of it are binary searches
    (metrics.in_window), not filters that copy every histogram."""
    extra = [p for p in others if p.height]
    if extra:
        rest = pl.concat(extra, how="vertical_relaxed").sort("timestamp").select(main.columns)
        at = main.get_column("timestamp").search_sorted(rest.get_column("timestamp"), side="left")
        runs = rest.select(at.alias("at")).with_row_index().group_by("at", maintain_order=True).agg(pl.col("index").first(), pl.len())
        pieces, done = [], 0
        for position, first, n in runs.iter_rows():  # one run per gap of main: a few at most
            pieces += [main.slice(done, position - done), rest.slice(first, n)]
            done = position
        main = pl.concat([*pieces, main.slice(done)], how="vertical_relaxed", rechunk=False)
    return main.with_columns(pl.col("timestamp").set_sorted())


def _without_hours(frame: pl.DataFrame, hours: list[dt.datetime]) -> pl.DataFrame:
    """The rows of a time-sorted frame of whole rollup hours that are not at these hours: the slices around
    them (no copy of the rows kept, histograms included, as a filter would make)."""
    ts = frame.get_column("timestamp")
    edges = ts.search_sorted(pl.Series([*hours, *(h + dt.timedelta(hours=1) for h in hours)], dtype=UTC_US), side="left").to_list()
    drop = sorted(zip(edges[:len(hours)], edges[len(hours):]))
    pieces, at = [], 0
    for lo, hi in drop:
        if hi > lo:
            pieces.append(frame.slice(at, lo - at))
            at = hi
    if not pieces:
        return frame
    pieces.append(frame.slice(at, frame.height - at))
    return pl.concat(pieces, rechunk=False)


def first_seen_frame(engine: sa.Engine, scope: Scope) -> pl.DataFrame:
    """One row per (customer, API) this scope may see: when the customer first called the API.

    From the stored customer_apis.first_seen, written with the requests and kept by `prune`, so old
    customers never look new after their requests are gone."""
    entry = refreshed(engine)
    stored = entry.customer_apis.select(pl.col("customer_id").cast(pl.String), pl.col("api_id").cast(pl.Int32),
                                        pl.col("first_seen").cast(UTC_US))
    return scope.check(scope.filter(stored.sort("customer_id", "api_id")))


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
    """(first, newest) request this scope may see (on one API or all): the bounds of All Time, from the
    rollups (which prune keeps). The newest can be dated after now (an imported file from a clock ahead of ours)."""
    entry = refreshed(engine)
    who = scope.customer_id if scope.is_customer else None
    span = ["customer_id", "api_id", "first_ts", "last_ts"]  # gathered alone: not the rows' histograms
    held = entry.held  # one snapshot (entry.Held)

    def settled() -> tuple[dt.datetime | None, dt.datetime | None]:
        if who is not None:
            part = held.main.customer(who, *_FAR, columns=span)
            part = part if api_id is None else part.filter(pl.col("api_id") == api_id)
        else:
            part = held.main.api(api_id, *_FAR).select(span) if api_id is not None else held.main.frame.select(span)
        return _span_of(scope.check(scope.filter(part)))

    newer = read_rollups(engine, start=held.settled, api_id=api_id, customer_id=who).select(span)
    spans = [_span_of(scope.check(scope.filter(newer)))]
    if held.main is not None and held.settled is not None:
        # The same at every page until the snapshot changes (an hour settles): worked out once per snapshot.
        spans.append(held.span(who, api_id, settled))
    firsts = [first for first, _ in spans if first is not None]
    lasts = [last for _, last in spans if last is not None]
    return min(firsts, default=None), max(lasts, default=None)


def _span_of(frame: pl.DataFrame) -> tuple[dt.datetime | None, dt.datetime | None]:
    return (frame.get_column("first_ts").min(), frame.get_column("last_ts").max()) if frame.height else (None, None)


def settled_parts(engine: sa.Engine, scope: Scope, epoch: int, start: dt.datetime | None, end: dt.datetime | None, *,
                  api_id: int | None = None, customer_id: str | None = None,
                  columns: list[str] | None = None) -> tuple[list[pl.DataFrame], dt.datetime] | None:
    """The settled rollup hours in [start, end) (None: no bound) this scope may see, of one API and one customer when
    given, from memory: each API's slice as it is held (not copied into one frame), a customer's rows gathered (with
    only `columns` when given: customer_id among them), each filtered and asserted; and where the settled hours end
    (the caller reads the hours after it from SQL). None when this process holds no rollups of rollup epoch `epoch`
    (as the caller's connection read it): not loaded yet, or written since. Nothing is loaded or waited for here."""
    if scope.is_customer and customer_id is not None and customer_id != scope.customer_id:
        raise ScopeError("Refused: the data requested is outside your account.")
    held = entry_for(engine).held  # one snapshot (entry.Held): its rollups, boundary and epoch belong together
    if held.main is None or held.settled is None or held.epoch != epoch:
        return None
    who = scope.customer_id if scope.is_customer else customer_id
    lo, hi = start or _FAR[0], min(end or _FAR[1], held.settled)
    if lo >= hi:
        return [], held.settled
    if who is not None:
        part = held.main.customer(who, lo, hi, columns=None if columns is None else ["api_id", *columns])
        parts = [part if api_id is None else part.filter(pl.col("api_id") == api_id)]
    else:
        parts = [held.main.api(api_id, lo, hi)] if api_id is not None else held.main.per_api(lo, hi)
    return [scope.check(scope.filter(p)) for p in parts if p.height], held.settled


def settled_total(engine: sa.Engine, scope: Scope, epoch: int, start: dt.datetime | None, end: dt.datetime | None, *,
                  api_id: int | None = None, customer_id: str | None = None, methods: Sequence[str] = (),
                  endpoints: Sequence[str] = (), columns: Sequence[str] = ("requests",)) -> tuple[int, dt.datetime] | None:
    """The sum of `columns` over settled_parts(…), of some methods and endpoints when given, and where the settled
    hours end; None as settled_parts."""
    held = settled_parts(engine, scope, epoch, start, end, api_id=api_id, customer_id=customer_id,
                         columns=["customer_id", "method", "endpoint", *columns])
    if held is None:
        return None
    parts, settled = held
    wanted = pl.lit(True)
    if methods:
        wanted &= pl.col("method").cast(pl.String).is_in(list(methods))
    if endpoints:
        wanted &= pl.col("endpoint").cast(pl.String).is_in(list(endpoints))
    measure = pl.sum_horizontal(*columns).filter(wanted).sum()
    return sum(int(part.select(measure).item() or 0) for part in parts), settled


_FAR = (dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc))
