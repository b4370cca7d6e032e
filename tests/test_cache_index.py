"""core.storage.cache.index: the settled rollups in memory, loaded once and then one settled hour at a time.

A Main built from a load and then appended to, hour by hour, must answer every read (an API, a customer, each
API, all rows) with exactly the rows of a Main built from all of them at once, in time order; and an hour
settling must not copy what was loaded (at 10 million requests that copy doubled the app's memory).
"""
from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain.facts import from_requests
from core.storage.cache import entry as cache_entry
from core.storage.cache.index import Main

UTC = dt.timezone.utc
HOUR = dt.timedelta(hours=1)
T0 = dt.datetime(2026, 5, 1, tzinfo=UTC)
CUSTOMERS = ["cust_a", "cust_b", "cust_c", None]


def rollup_rows(cells: list[tuple[int, int, int, int]]) -> pl.DataFrame:
    """Facts at whole hours, one per (hour, api, customer index, endpoint index) cell."""
    raw = pl.DataFrame(
        {
            "api_id": [a for _, a, _, _ in cells],
            "customer_id": [CUSTOMERS[c] for _, _, c, _ in cells],
            "timestamp": [T0 + h * HOUR for h, _, _, _ in cells],
            "method": ["GET"] * len(cells),
            "endpoint": [f"/e{e}" for _, _, _, e in cells],
            "status": [200 + 100 * e for _, _, _, e in cells],
            "load_time_ms": [float(1 + h + e) for h, _, _, e in cells],
            "response_size": [10 * h for h, _, _, _ in cells],
        },
        schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
    )
    return from_requests(raw)


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    out = frame.with_columns(pl.col(c).cast(pl.String) for c in ("customer_id", "method", "endpoint") if c in frame.columns)
    return out.sort(out.columns[:5], nulls_last=True)


def in_time_order(frame: pl.DataFrame) -> bool:
    return frame.height < 2 or bool(frame.select(pl.col("timestamp").diff().dt.total_microseconds().fill_null(0).min() >= 0).item())


def same_rows(got: pl.DataFrame, expected: pl.DataFrame, *, in_order: bool = True) -> None:
    assert in_time_order(got) or not in_order
    assert comparable(got).equals(comparable(expected))


HOURS = 24
cell = st.tuples(st.integers(0, HOURS - 1), st.integers(1, 3), st.integers(0, 3), st.integers(0, 2))


@settings(max_examples=40, deadline=None)
@given(cells=st.lists(cell, max_size=80, unique=True), loaded=st.integers(0, HOURS),
       window=st.tuples(st.integers(-2, HOURS + 2), st.integers(0, 4)))
def test_a_load_and_its_appended_hours_read_as_one_load_of_them_all(cells, loaded, window):
    facts = rollup_rows(cells)
    hours = pl.col("timestamp")
    main = Main.build(facts.filter(hours < T0 + loaded * HOUR))
    for h in range(loaded, HOURS):  # one settled hour at a time, empty ones too
        main = main.append(facts.filter(hours == T0 + h * HOUR))
    whole = Main.build(facts)
    start = T0 + window[0] * HOUR
    end = start + window[1] * 6 * HOUR

    same_rows(main.frame, whole.frame, in_order=False)  # (by API, then time)
    for a, b in zip(main.per_api(start, end), whole.per_api(start, end), strict=True):
        same_rows(a, b)
    for api_id in (1, 2, 3, 9):
        same_rows(main.api(api_id, start, end), whole.api(api_id, start, end))
    for customer in ("cust_a", "cust_b", "cust_c", "nobody"):
        same_rows(main.customer(customer, start, end), whole.customer(customer, start, end))
        span = ["customer_id", "api_id", "timestamp", "first_ts"]
        got, expected = main.customer(customer, start, end, columns=span), whole.customer(customer, start, end, columns=span)
        assert got.columns == span
        same_rows(got, expected)


def test_an_hour_settling_keeps_the_loaded_rows_and_adds_few_segments():
    loaded = rollup_rows([(h, 1 + h % 3, h % 4, h % 2) for h in range(200)])
    main = Main.build(loaded)
    first = main.segments[0]
    for h in range(200, 456):
        main = main.append(rollup_rows([(h, 1, h % 4, 0), (h, 2, 0, 1)]))
        assert main.segments[0] is first  # not copied: the same frame, the same index
    # 256 hours later: the newest segments were merged as they piled up, the loaded one never.
    assert len(main.segments) <= 2 + math.ceil(math.log2(256))
    assert main.frame.height == loaded.height + 2 * 256


def test_the_cache_appends_a_settled_hour_without_copying_what_it_loaded(monkeypatch):
    loaded = rollup_rows([(h, 1, h % 4, 0) for h in range(10)])
    reads = iter([loaded, rollup_rows([(10, 1, 0, 0), (10, 2, 1, 1)])])
    settles = iter([T0 + 10 * HOUR, T0 + 11 * HOUR])
    monkeypatch.setattr(cache_entry, "read_all_rollups", lambda engine, settled, out=None: (next(reads), None))
    monkeypatch.setattr(cache_entry, "read_rollups", lambda engine, start, end: next(reads))
    monkeypatch.setattr(cache_entry, "read_state", lambda engine: (1, None, 5))
    monkeypatch.setattr(cache_entry, "read_small_tables", lambda engine, customers: (pl.DataFrame(), None, None))
    monkeypatch.setattr(cache_entry.rollups, "settled_before", lambda: next(settles))
    entry = cache_entry.Entry(engine=None)  # type: ignore[arg-type]  (every read is replaced above)
    entry.refresh(force=True)
    kept = entry.held.main.segments[0]
    entry.refresh(force=True)
    assert (entry.loads, entry.appends) == (1, 1)
    assert entry.held.main.segments[0] is kept
    assert entry.held.main.frame.height == 12


@pytest.mark.parametrize("size", [0, 1])
def test_an_empty_hour_adds_no_segment(size):
    main = Main.build(rollup_rows([(0, 1, 0, 0)]))
    appended = main.append(rollup_rows([(1, 1, 0, 0)] * size))
    assert len(appended.segments) == 1 + size


def test_a_page_reading_while_an_hour_settles_counts_every_hour_once(engine, monkeypatch, fresh_cache):
    """A page reads the rollups in memory and the hour they end at; an hour settling between those two reads
    (another thread's refresh) must not leave that hour in neither: both come from one snapshot."""
    from core.domain.scope import Scope
    from core.domain.timewindow import window
    from core.storage import cache, rollups, store
    from core.storage.cache import scoped
    from tests.factories import make_request

    top = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 24 * HOUR
    clock = [top]
    monkeypatch.setattr(rollups, "utcnow", lambda: clock[0])
    api = store.create_api(engine, "Orders API")["api_id"]
    sent = [top - dt.timedelta(minutes=m) for m in range(20, 6 * 60, 40)]
    store.write_requests(engine, [(api, make_request(customer_id="cust_a", timestamp=ts)) for ts in sent])
    cache.refresh(engine)
    before = cache.stats(engine)

    entry = cache_entry.entry_for(engine)
    clock[0] = top + HOUR  # the next hour settles at the next refresh

    class RefreshedRightAfterTheFirstRead(type(entry)):
        fired = False

        def __getattribute__(self, name):
            value = object.__getattribute__(self, name)
            if name in ("held", "main") and not type(self).fired:
                type(self).fired = True
                object.__getattribute__(self, "refresh")(force=True)
            return value

    entry.__class__ = RefreshedRightAfterTheFirstRead
    monkeypatch.setattr(scoped, "refreshed", lambda _engine: entry)
    facts = cache.facts_frame(engine, Scope.workspace(), window("24h", top))
    assert RefreshedRightAfterTheFirstRead.fired and cache.stats(engine)["appends"] == before["appends"] + 1
    assert int(facts.get_column("requests").sum()) == len(sent)
