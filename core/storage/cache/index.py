"""The settled rollups in memory: Main holds them in segments, each sorted by (API, hour) with each API's row range
and each customer's row numbers, so an API is a slice and a customer a gather, never a scan.

The first segment is the bulk load. Each hour that settles later becomes a segment of its own, and the newest
segments are merged as they pile up (the last two when the newer is as large as the older: a few dozen at most
after years), never into the first: an hour settling costs a copy of that hour's rows, not of everything loaded
(at 10 million requests, that copy took 1.2 s under the cache's lock and doubled the process's memory).
Segments hold consecutive hours, in order, so the rows of an API or a customer come in time order across them."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from core.domain.frames import UTC_US


@dataclass(frozen=True)
class Segment:
    frame: pl.DataFrame
    api_ranges: dict[int, tuple[int, int]]
    customer_rows: dict[str, pl.Series]

    @classmethod
    def build(cls, frame: pl.DataFrame, rows: pl.DataFrame | None = None) -> "Segment":
        """The segment of these rollups; `rows`: customer_rows(frame) when the caller has it (the bulk load's child
        process makes it, so that its transient memory is the child's: about 90 MB at 10 million requests)."""
        if not _in_cache_order(frame):  # the bulk load sorts in its child process: no second copy here
            frame, rows = frame.sort("api_id", "timestamp"), None
        frame = frame.rechunk()
        apis = frame.group_by("api_id").agg(pl.len().alias("n")).sort("api_id")
        ranges, offset = {}, 0
        for api_id, n in zip(apis.get_column("api_id").to_list(), apis.get_column("n").to_list()):
            ranges[int(api_id)] = (offset, int(n))
            offset += int(n)
        index = customer_rows(frame) if rows is None else rows
        return cls(frame, ranges, dict(zip(index.get_column("customer_id").to_list(), index.get_column("row"))))

    def api(self, api_id: int, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
        first, n = self.api_ranges.get(int(api_id), (0, 0))
        return _window_slice(self.frame.slice(first, n), start, end)

    def customer(self, customer_id: str, start: dt.datetime, end: dt.datetime, columns: list[str] | None) -> pl.DataFrame:
        frame = self.frame if columns is None else self.frame.select(columns)
        rows = self.customer_rows.get(customer_id)
        if rows is None:
            return frame.clear()
        lo, hi = _bounds(self.frame.get_column("timestamp").gather(rows), start, end)
        return frame.select(pl.all().gather(rows.slice(lo, hi - lo)))


@dataclass(frozen=True)
class Main:
    segments: tuple[Segment, ...]

    @classmethod
    def build(cls, frame: pl.DataFrame, rows: pl.DataFrame | None = None) -> "Main":
        return cls((Segment.build(frame, rows),))

    def append(self, newer: pl.DataFrame) -> "Main":
        """This copy with the rollups of hours after all it holds; the loaded segment is kept as it is."""
        if newer.height == 0:
            return self
        segments = [*self.segments, Segment.build(newer)]
        while len(segments) > 2 and segments[-1].frame.height >= segments[-2].frame.height:
            last, before = segments.pop(), segments.pop()
            segments.append(Segment.build(pl.concat([before.frame, last.frame], how="vertical_relaxed")))
        return Main(tuple(segments))

    @property
    def frame(self) -> pl.DataFrame:
        """Every row held (the segments side by side, not copied)."""
        return _joined([s.frame for s in self.segments])

    def api(self, api_id: int, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
        """The API's rows in [start, end), sorted by time."""
        return _joined([s.api(api_id, start, end) for s in self.segments])

    def customer(self, customer_id: str, start: dt.datetime, end: dt.datetime, *, columns: list[str] | None = None) -> pl.DataFrame:
        """The customer's rows in [start, end), sorted by time; only `columns` when given (gathered alone)."""
        return _joined([s.customer(customer_id, start, end, columns) for s in self.segments])

    @property
    def api_ids(self) -> list[int]:
        """The APIs that have rows here, ascending."""
        return sorted({a for s in self.segments for a in s.api_ranges})

    def per_api(self, start: dt.datetime, end: dt.datetime) -> list[pl.DataFrame]:
        """Each API's rows in [start, end), each sorted by time."""
        return [self.api(api_id, start, end) for api_id in self.api_ids]


def customer_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per customer of rollups in cache order (API, hour): customer_id, row (their row numbers, by time)."""
    return (
        frame.lazy()
        .select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), "customer_id", "timestamp")
        .group_by("customer_id")
        .agg(pl.col("row").sort_by("timestamp", "row"))
        .filter(pl.col("customer_id").is_not_null())
        .with_columns(pl.col("customer_id").cast(pl.String))
        .collect()
    )


def _joined(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The parts one after the other, without copying them; the first alone when the others are empty."""
    kept = [p for p in parts[1:] if p.height]
    return parts[0] if not kept else pl.concat([parts[0], *kept], how="vertical_relaxed", rechunk=False)


def _in_cache_order(frame: pl.DataFrame) -> bool:
    """Whether the rows are sorted by (API, hour) already."""
    api_step = pl.col("api_id").diff()
    time_step = pl.col("timestamp").diff().dt.total_microseconds()
    return bool(frame.select(((api_step > 0) | ((api_step == 0) & (time_step >= 0))).fill_null(True).all()).item())


def _window_slice(frame: pl.DataFrame, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """Rows with start <= timestamp < end of a time-sorted frame: two binary searches."""
    lo, hi = _bounds(frame.get_column("timestamp"), start, end)
    return frame.slice(lo, hi - lo)


def _bounds(ts: pl.Series, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """The positions of start and end in time-sorted `ts` (one binary search call for both)."""
    lo, hi = ts.search_sorted(pl.Series([start, end], dtype=UTC_US), side="left").to_list()
    return lo, hi
