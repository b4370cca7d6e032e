"""Home, the Customer Dashboard, a customer's profile and a Customer's own dashboard from summed settled hours
(cache.facts_frame's `summed`, facts.in_blocks) are exactly the pages from the rows by hour: every list, widget, card,
delta, sparkline, series, p95, going-quiet row, adoption cell and endpoint row,
for preset and custom windows (zones off UTC by whole and half hours), cut hours, recent hours read from SQL, a
segment, and after a write into a settled hour."""
from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest

from core import demo
from core.analytics import metrics
from core.domain import facts
from core.domain.scope import Scope
from core.domain.timewindow import custom, floor_hour, window
from core.present.customers import customers_page
from core.present.home import home_page
from core.present.my_dashboard import my_dashboard
from core.present.profile import profile_page
from core.present.segments import segment_choices, segments_model
from core.present.series import volume_series
from core.storage import cache, store
from tests.conftest import BACKENDS
from tests.databases import shared_engine
from tests.factories import NOW, make_request

pytestmark = pytest.mark.usefixtures("fresh_cache")

ADMIN = Scope.workspace()
MINUTES = dt.timedelta(minutes=37)


def _anchor(kind: str) -> dt.datetime:
    """The demo's "now": in the past (every hour settled, in memory), or this hour (the newest hours read from SQL)."""
    return NOW if kind == "settled" else floor_hour(dt.datetime.now(dt.timezone.utc)) + MINUTES


@pytest.fixture(scope="module", params=[(b, k) for b in BACKENDS for k in ("settled", "recent")], ids="-".join)
def demo_db(request, tmp_path_factory):
    backend, kind = request.param
    now = _anchor(kind)
    with shared_engine(backend, tmp_path_factory.mktemp("summed")) as engine:
        demo.generate(engine, requests=4_000, days=70, seed=5, now=now, append=True)
        yield engine, now


def _busiest_api(engine, now) -> int:
    apis = cache.visible_apis(engine, ADMIN)
    win = window("30d", now)
    return max(apis, key=lambda a: cache.facts_frame(engine, ADMIN, win, api_id=a["api_id"]).get_column("requests").sum())["api_id"]


def _by_hour(monkeypatch, call):
    """call() with every facts_frame read by hour (`summed` ignored): the page as computed before summing."""
    real = cache.facts_frame
    monkeypatch.setattr(cache, "facts_frame", lambda *args, summed=None, **kwargs: real(*args, **kwargs))
    try:
        return call()
    finally:
        monkeypatch.setattr(cache, "facts_frame", real)


def _assert_same(got, want, path="page") -> None:
    if dataclasses.is_dataclass(want):
        for f in dataclasses.fields(want):
            _assert_same(getattr(got, f.name), getattr(want, f.name), f"{path}.{f.name}")
    elif isinstance(want, pl.DataFrame):
        assert got.equals(want), f"{path} differs:\n{got}\n{want}"
    else:
        assert got == want, path


WINDOWS = {
    "7d": lambda now: window("7d", now),
    "30d": lambda now: window("30d", now),
    "30d-on-the-hour": lambda now: window("30d", floor_hour(now)),
    "all": lambda now: window("all", now, data_start=now - dt.timedelta(days=70)),
    "24h": lambda now: window("24h", now),
    "tokyo-days": lambda now: custom((now - dt.timedelta(days=20)).date(), now.date(), "Asia/Tokyo"),
    "kolkata-days": lambda now: custom((now - dt.timedelta(days=12)).date(), (now - dt.timedelta(days=2)).date(), "Asia/Kolkata"),
    "new-york-days": lambda now: custom((now - dt.timedelta(days=40)).date(), (now - dt.timedelta(days=1)).date(), "America/New_York"),
}


@pytest.mark.parametrize("name", sorted(WINDOWS))
def test_the_customer_dashboard_and_home_from_summed_hours_are_those_from_hours(demo_db, monkeypatch, name):
    engine, now = demo_db
    api = _busiest_api(engine, now)
    win = WINDOWS[name](now)
    page = lambda: customers_page(engine, ADMIN, api, win, quiet_min_requests=2)  # noqa: E731
    want = _by_hour(monkeypatch, page)
    assert want.customers.height >= 5
    _assert_same(page(), want)
    _assert_same(page(), want)  # again, from the blocks kept
    home = lambda: home_page(engine, ADMIN, win)  # noqa: E731
    want = _by_hour(monkeypatch, home)
    assert want.apis.height >= 2 and want.top_customers.height >= 5
    _assert_same(home(), want)


@pytest.mark.parametrize("name", ["30d", "kolkata-days", "24h"])
@pytest.mark.parametrize("on_api", [False, True], ids=["every-api", "one-api"])
def test_a_customers_profile_and_own_dashboard_from_summed_hours_are_those_from_hours(demo_db, monkeypatch, name, on_api):
    engine, now = demo_db
    api = _busiest_api(engine, now)
    win = WINDOWS[name](now)
    listed = customers_page(engine, ADMIN, api, win).customers.get_column("customer_id")
    for who in (listed[0], listed[listed.len() // 2]):  # the busiest customer, and one in the middle
        pages = (lambda: profile_page(engine, ADMIN, who, win, api_id=api if on_api else None),  # noqa: B023
                 lambda: my_dashboard(engine, Scope.customer(who), api if on_api else None, win))  # noqa: B023
        for page in pages:
            want = _by_hour(monkeypatch, page)
            _assert_same(page(), want)
            _assert_same(page(), want)


@pytest.mark.parametrize("name", ["30d", "all", "kolkata-days"])
def test_volume_charts_and_attribute_groups_from_summed_hours_are_those_from_hours(demo_db, monkeypatch, name):
    engine, now = demo_db
    api = _busiest_api(engine, now)
    win = WINDOWS[name](now)
    who = customers_page(engine, ADMIN, api, win).customers.get_column("customer_id")[0]
    key = segment_choices(engine, ADMIN)[1].split(" = ")[0]
    for page in (lambda: volume_series(engine, ADMIN, win), lambda: volume_series(engine, ADMIN, win, api_id=api),
                 lambda: volume_series(engine, Scope.customer(who), win), lambda: segments_model(engine, ADMIN, api, win, key)):
        want = _by_hour(monkeypatch, page)
        _assert_same(page(), want)


def test_a_segments_dashboard_from_summed_hours_is_its_dashboard_from_hours(demo_db, monkeypatch):
    engine, now = demo_db
    api, win = _busiest_api(engine, now), window("30d", now)
    segment = segment_choices(engine, ADMIN)[1]
    page = lambda: customers_page(engine, ADMIN, api, win, segment=segment)  # noqa: E731
    want = _by_hour(monkeypatch, page)
    assert 0 < want.customers.height
    _assert_same(page(), want)


def test_the_summed_hours_are_fewer_rows_and_count_every_request(demo_db):
    engine, now = demo_db
    api, win = _busiest_api(engine, now), window("30d", now)
    hourly = cache.facts_frame(engine, ADMIN, win, api_id=api)
    for summed in ("bucket", "operation-period"):
        rows = cache.facts_frame(engine, ADMIN, win, api_id=api, summed=summed)
        assert rows.height < hourly.height / 2
        for period in (win, win.previous()):
            assert metrics.request_count(metrics.in_window(rows, period)) == metrics.request_count(metrics.in_window(hourly, period))


def test_a_write_into_a_settled_hour_is_counted_in_the_summed_hours_at_once(tmp_path, monkeypatch):
    with shared_engine(BACKENDS[0], tmp_path) as engine:
        demo.generate(engine, requests=2_000, days=40, seed=3, now=NOW, append=True)
        api = _busiest_api(engine, NOW)
        win = window("30d", NOW)
        before = customers_page(engine, ADMIN, api, win).customers
        who = before.get_column("customer_id")[0]
        store.write_requests(engine, [(api, make_request(customer_id=who, timestamp=NOW - dt.timedelta(days=3), status=500))])
        cache.refresh(engine)
        after = customers_page(engine, ADMIN, api, win)
        mine = lambda f, c: f.filter(pl.col("customer_id") == who).get_column(c)[0]  # noqa: E731
        assert mine(after.customers, "requests") == mine(before, "requests") + 1
        assert mine(after.customers, "failed_requests") == mine(before, "failed_requests") + 1
        _assert_same(after, _by_hour(monkeypatch, lambda: customers_page(engine, ADMIN, api, win)))


def test_blocks_sum_every_column_per_customer_and_block_and_merge_the_histograms():
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    hour = dt.timedelta(hours=1)
    raw = pl.DataFrame({
        "api_id": [1, 1, 1, 1], "customer_id": ["a", "a", "a", "b"], "timestamp": [t0, t0 + hour, t0 + 25 * hour, t0],
        "method": ["GET", "POST", "GET", "GET"], "endpoint": ["/x", "/y", "/x", "/x"], "status": [200, 500, 404, 200],
        "load_time_ms": [10.0, 10.0, 1000.0, 5.0], "response_size": [100, 200, 300, 400],
    })
    rows = facts.from_requests(raw)
    blocks = facts.in_blocks(rows, t0, dt.timedelta(days=1))
    got = {(r["customer_id"], r["timestamp"]): r for r in blocks.to_dicts()}
    a0 = got[("a", t0)]
    assert (a0["requests"], a0["failed"], a0["status_5xx"], a0["size_sum"], a0["method"]) == (2, 1, 1, 300.0, None)
    assert (a0["first_ts"], a0["last_ts"]) == (t0, t0 + hour)
    assert a0["load_counts"] == [2] and len(a0["load_bins"]) == 1  # two requests of 10 ms: one bin, counted twice
    assert got[("a", t0 + 24 * hour)]["status_4xx"] == 1 and got[("b", t0)]["requests"] == 1
    assert blocks.get_column("timestamp").is_sorted()
    kept = facts.in_blocks(rows, t0, dt.timedelta(days=1), keep=("method", "endpoint"))
    assert kept.height == 4 and set(kept.get_column("endpoint").cast(pl.String)) == {"/x", "/y"}


def test_the_kept_sums_are_bounded_in_size_the_oldest_dropped_first(monkeypatch):
    from core.storage.cache import entry

    monkeypatch.setattr(entry, "MAX_BLOCKS_MB", 1.5)
    held = entry.Held()
    frame = lambda: pl.DataFrame({"x": pl.zeros(100_000, dtype=pl.Int64, eager=True)})  # noqa: E731  (0.8 MB)
    made = []
    for key in ("a", "b", "c"):
        held.block(key, lambda: made.append(1) or frame())  # noqa: B023
    assert list(held.blocks) == ["c"] and len(made) == 3  # each of 0.8 MB: only the newest fits
    held.block("c", lambda: made.append(1) or frame())
    assert len(made) == 3  # kept: not made again


def test_an_api_without_settled_hours_in_the_window_sums_to_nothing_and_home_is_unchanged(tmp_path, monkeypatch):
    with shared_engine(BACKENDS[0], tmp_path) as engine:
        demo.generate(engine, requests=1_500, days=20, seed=9, now=NOW, append=True)
        quiet = store.create_api(engine, "Quiet API", api_key="quiet-key")["api_id"]
        store.write_requests(engine, [(quiet, make_request(customer_id="cust_q", timestamp=NOW - dt.timedelta(days=19)))])
        cache.refresh(engine)
        win = window("7d", NOW)
        assert cache.facts_frame(engine, ADMIN, win, api_id=quiet, summed="bucket").height == 0
        home = lambda: home_page(engine, ADMIN, win)  # noqa: E731
        want = _by_hour(monkeypatch, home)
        assert quiet in want.apis.get_column("api_id").to_list()
        _assert_same(home(), want)
        _assert_same(customers_page(engine, ADMIN, quiet, win), _by_hour(monkeypatch, lambda: customers_page(engine, ADMIN, quiet, win)))
