"""The request rows in memory: Main holds them sorted by (API, time) and indexed by customer, so an API
or a customer is a slice or a gather; View is what readers narrow (main frame and unsorted tail as of
one refresh)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from core.storage.cache.layout import BY_CUSTOMER_COLUMNS


@dataclass(frozen=True)
class Main:
    """Request rows sorted by (api_id, timestamp), with the row ranges of each API and the row
    numbers of each customer, so an API or a customer is a slice or a gather, never a scan; plus
    the metric columns again sorted by (customer, timestamp), where a customer is a slice."""

    frame: pl.DataFrame
    api_ranges: dict[int, tuple[int, int]]
    customer_index: pl.DataFrame  # customer_id, row (list of row numbers in time order); kept for snapshots
    customer_rows: dict[str, pl.Series]
    by_customer: pl.DataFrame
    customer_spans: dict[str, tuple[int, int]]

    @classmethod
    def build(cls, frame: pl.DataFrame, *, presorted: bool = False, index: pl.DataFrame | None = None) -> "Main":
        if not presorted:
            frame = frame.sort("api_id", "timestamp", "id")
        frame = frame.rechunk()
        apis = frame.group_by("api_id").agg(pl.len().alias("n")).sort("api_id")
        ranges, offset = {}, 0
        for api_id, n in zip(apis.get_column("api_id").to_list(), apis.get_column("n").to_list()):
            ranges[int(api_id)] = (offset, int(n))
            offset += int(n)
        if index is None:
            index = (
                frame.lazy()
                .select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), "customer_id", "timestamp")
                .group_by("customer_id")
                .agg(pl.col("row").sort_by("timestamp", "row"))
                .filter(pl.col("customer_id").is_not_null())
                .with_columns(pl.col("customer_id").cast(pl.String))
                .collect(engine="in-memory")
            )
        ids = index.get_column("customer_id").to_list()
        customer_rows = dict(zip(ids, index.get_column("row")))
        lengths = index.get_column("row").list.len().to_list()
        spans, offset = {}, 0
        for customer_id, n in zip(ids, lengths):
            spans[customer_id] = (offset, int(n))
            offset += int(n)
        order = index.get_column("row").explode() if index.height else pl.Series("row", [], dtype=pl.UInt32)
        by_customer = frame.select(BY_CUSTOMER_COLUMNS).select(pl.all().gather(order))
        return cls(frame, ranges, index, customer_rows, by_customer, spans)

    def api(self, api_id: int) -> pl.DataFrame:
        start, n = self.api_ranges.get(int(api_id), (0, 0))
        return self.frame.slice(start, n).with_columns(pl.col("timestamp").set_sorted())

    def customer(self, customer_id: str, start: dt.datetime | None, end: dt.datetime | None,
                 columns: list[str] | None = None) -> pl.DataFrame:
        """The customer's rows in time order: a slice of the customer-ordered copy when the columns
        are among its columns, else a gather (with a window, only those rows and columns)."""
        if columns is not None and set(columns) <= set(BY_CUSTOMER_COLUMNS):
            start_row, n = self.customer_spans.get(customer_id, (0, 0))
            part = self.by_customer.slice(start_row, n).with_columns(pl.col("timestamp").set_sorted())
            if start is not None:
                part = _window_slice(part, start, end)
            return part.select(columns)
        rows = self.customer_rows.get(customer_id)
        frame = self.frame if columns is None else self.frame.select(columns)
        if rows is None:
            return frame.clear()
        if start is not None:
            ts = self.frame.get_column("timestamp").gather(rows).set_sorted()
            lo, hi = ts.search_sorted(start, side="left"), ts.search_sorted(end, side="left")
            rows = rows.slice(lo, hi - lo)
        return frame.select(pl.all().gather(rows)).with_columns(pl.col("timestamp").set_sorted())


def _window_slice(frame: pl.DataFrame, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """Rows with start <= timestamp < end; a binary search on time-sorted frames, a filter otherwise."""
    ts = frame.get_column("timestamp")
    if ts.flags["SORTED_ASC"] and ts.null_count() == 0:
        lo = ts.search_sorted(start, side="left")
        hi = ts.search_sorted(end, side="left")
        return frame.slice(lo, hi - lo)
    return frame.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))


@dataclass(frozen=True)
class View:
    """What readers use: the main frame and the tail as of one refresh, read as one attribute so a
    concurrent refresh can never hand a reader a new main frame with an old tail (or the reverse).
    Narrowing only; the caller applies and asserts the Scope."""

    main: Main
    tail: pl.DataFrame

    def for_api(self, api_id: int, start: dt.datetime | None, end: dt.datetime | None) -> pl.DataFrame:
        part = self.main.api(api_id)
        if start is not None:
            part = _window_slice(part, start, end)
        if self.tail.height == 0:  # the usual case: skip the tail's filter and binary searches
            return part
        tail = self.tail.filter(pl.col("api_id") == api_id)
        if start is not None:
            tail = _window_slice(tail, start, end)
        return _concat_sorted(part, tail)

    def for_customer(self, customer_id: str, start: dt.datetime | None, end: dt.datetime | None,
                     columns: list[str] | None = None) -> pl.DataFrame:
        mine = self.main.customer(customer_id, start, end, columns)
        if self.tail.height == 0:
            return mine
        tail = self.tail.filter(pl.col("customer_id") == customer_id)
        if columns is not None:
            tail = tail.select(columns)
        if start is not None:
            tail = _window_slice(tail, start, end)
        if tail.height == 0:
            return mine
        return pl.concat([mine, tail]).sort("timestamp", maintain_order=True).with_columns(pl.col("timestamp").set_sorted())

    def everything(self, start: dt.datetime | None, end: dt.datetime | None) -> pl.DataFrame:
        parts = [self.for_api(api_id, start, end) for api_id in sorted(self.main.api_ranges)]
        tail_only = self.tail.filter(~pl.col("api_id").is_in(list(self.main.api_ranges)))
        if start is not None and tail_only.height:
            tail_only = _window_slice(tail_only, start, end)
        parts.append(tail_only)
        return pl.concat(parts, rechunk=False)


def _concat_sorted(part: pl.DataFrame, tail: pl.DataFrame) -> pl.DataFrame:
    """part (time-sorted) + tail rows; keeps the sorted flag when the tail continues in order."""
    if tail.height == 0:
        return part
    frame = pl.concat([part, tail], rechunk=False)
    ts = frame.get_column("timestamp")
    if ts.null_count() == 0 and ts.is_sorted():
        return frame.with_columns(pl.col("timestamp").set_sorted())
    return frame
