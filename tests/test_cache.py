"""core.storage.cache on SQLite and PostgreSQL: facts_frame and the small reads, each narrowed by the viewer's Scope.

Every test runs on data whose hours are settled (the cache's memory) and on data reaching into the last two
hours (recent rollups, read from SQL), and the facts come from rollups or, where a window's edge cuts an
hour, from raw rows: a scope must hold on every path.
"""
from __future__ import annotations

import datetime as dt
import threading

import polars as pl
import pytest
import sqlalchemy as sa

from core.analytics import metrics
from core.domain.facts import FACT_SCHEMA
from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import Window, floor_hour
from core.storage import cache, store
from core.storage.cache import reader
from core.storage.models import Request
from tests.conftest import BACKENDS
from tests.databases import shared_engine
from tests.factories import make_request

UTC = dt.timezone.utc
HOUR = dt.timedelta(hours=1)
ADMIN = Scope.workspace()
EVERYONE = ("cust_a", "cust_b", "cust_c")

pytestmark = pytest.mark.usefixtures("fresh_cache")  # tests/conftest.py


ANCHORS = ("settled", "recent")


def anchor_at(kind: str) -> dt.datetime:
    """The "now" of the seeded data: five days ago (every hour settled, kept in memory), or the end of the
    current hour (the latest two hours recent, read from SQL; the rest settled)."""
    top = floor_hour(dt.datetime.now(UTC))
    return top - dt.timedelta(days=5) if kind == "settled" else top + HOUR


@pytest.fixture(params=ANCHORS)
def anchor(request) -> dt.datetime:
    return anchor_at(request.param)


@pytest.fixture(scope="module", params=[(b, a) for b in BACKENDS for a in ANCHORS], ids="-".join)
def seeded(request, tmp_path_factory):
    """(engine, API ids, anchor): seed()'s requests, written once per backend and anchor for the read-only tests."""
    backend, kind = request.param
    now = anchor_at(kind)
    with shared_engine(backend, tmp_path_factory.mktemp("cache")) as engine:
        yield engine, seed(engine, now), now


def seed(engine, now: dt.datetime) -> dict:
    """tests.factories.seed_small's requests, at whole hours before `now`. Returns the API ids.

    Orders API:   cust_a at 1h, 2h, 30h (500); cust_b at 3h, 5h (404); unattributed at 4h
    Billing API:  cust_a at 6h; cust_c at 7h, 8h (POST, 201)
    """
    orders = store.create_api(engine, "Orders API", api_key="orders-key", sdk_token="orders-token")["api_id"]
    billing = store.create_api(engine, "Billing API", api_key="billing-key", sdk_token="billing-token")["api_id"]
    h = lambda n: now - n * HOUR  # noqa: E731
    o, b = orders, billing
    store.write_requests(engine, [
        (o, make_request(customer_id="cust_a", display_name="Alpha Inc", customer_attributes={"Plan": "Pro"}, timestamp=h(1))),
        (o, make_request(customer_id="cust_a", timestamp=h(2), load_time_ms=300.0)),
        (o, make_request(customer_id="cust_a", timestamp=h(30), status=500, endpoint="/boom")),
        (o, make_request(customer_id="cust_b", display_name="Beta LLC", timestamp=h(3), response_size=3000)),
        (o, make_request(customer_id="cust_b", timestamp=h(5), status=404, endpoint="/missing")),
        (o, make_request(customer_id=None, timestamp=h(4))),
        (b, make_request(customer_id="cust_a", timestamp=h(6), endpoint="/invoices")),
        (b, make_request(customer_id="cust_c", display_name="Carol Co", timestamp=h(7), endpoint="/invoices")),
        (b, make_request(customer_id="cust_c", timestamp=h(8), method="POST", endpoint="/invoices", status=201)),
    ])
    return {"orders": orders, "billing": billing}


def whole(now: dt.datetime) -> Window:
    """Two days of whole hours up to `now`: every fact a rollup hour."""
    return Window(now - dt.timedelta(hours=48), now, "1h", "custom")


def cut(now: dt.datetime) -> Window:
    """The same two days moved by 30 minutes: every hour is cut by a bucket edge, every fact a raw request."""
    shift = dt.timedelta(minutes=30)
    return Window(now - dt.timedelta(hours=48) + shift, now + shift, "1h", "custom")


WINDOWS = {"whole-hours": whole, "cut-hours": cut}


@pytest.fixture(params=sorted(WINDOWS))
def win_of(request):
    return WINDOWS[request.param]


def facts(engine, scope: Scope, win: Window, **where) -> pl.DataFrame:
    """The scope's facts inside the window (facts_frame also returns the period before it)."""
    return metrics.in_window(cache.facts_frame(engine, scope, win, **where), win)


def customers_in(frame: pl.DataFrame) -> set:
    return set(frame.get_column("customer_id").cast(pl.String).to_list())


def requests_in(frame: pl.DataFrame) -> int:
    return metrics.request_count(frame)


def request_times(frame: pl.DataFrame) -> list[dt.datetime]:
    """The time of every request the facts count (a rollup hour's requests all at its start)."""
    return sorted(t for t, n in zip(frame.get_column("timestamp").to_list(), frame.get_column("requests").to_list()) for _ in range(n))


def keys(frame: pl.DataFrame) -> set[tuple]:
    cols = ["api_id", "customer_id", "timestamp", "method", "endpoint"]
    return set(frame.select(pl.col(c).cast(pl.String) for c in cols).rows())


# ---------------------------------------------------------------- facts_frame


def test_facts_have_the_fact_schema(seeded, win_of):
    engine, _, anchor = seeded
    assert cache.facts_frame(engine, ADMIN, win_of(anchor)).schema == pl.Schema(FACT_SCHEMA)


def test_the_workspace_sees_every_request_including_the_unattributed_one(seeded, win_of):
    engine, _, anchor = seeded
    frame = facts(engine, ADMIN, win_of(anchor))
    unattributed = frame.filter(pl.col("customer_id").is_null())
    assert (requests_in(frame), requests_in(unattributed)) == (9, 1)


def test_a_customer_scope_sees_only_its_own_facts(seeded, win_of):
    engine, _, anchor = seeded
    a = facts(engine, Scope.customer("cust_a"), win_of(anchor))
    b = facts(engine, Scope.customer("cust_b"), win_of(anchor))
    assert (customers_in(a), requests_in(a), customers_in(b), requests_in(b)) == ({"cust_a"}, 4, {"cust_b"}, 2)


def test_two_scopes_never_share_a_fact(seeded, win_of):
    engine, _, anchor = seeded
    a = keys(facts(engine, Scope.customer("cust_a"), win_of(anchor)))
    c = keys(facts(engine, Scope.customer("cust_c"), win_of(anchor)))
    assert a and c and not (a & c)


def test_the_customers_facts_and_the_unattributed_ones_add_up_to_the_workspace(seeded, win_of):
    engine, _, anchor = seeded
    win = win_of(anchor)
    per_customer = sum(requests_in(facts(engine, Scope.customer(c), win)) for c in EVERYONE)
    unattributed = requests_in(facts(engine, ADMIN, win).filter(pl.col("customer_id").is_null()))
    assert (per_customer, unattributed, requests_in(facts(engine, ADMIN, win))) == (8, 1, 9)


def test_an_unknown_customer_sees_nothing(seeded, win_of):
    engine, _, anchor = seeded
    assert cache.facts_frame(engine, Scope.customer("nobody"), win_of(anchor)).height == 0


def test_a_customer_cannot_ask_for_another_customer(seeded):
    engine, _, anchor = seeded
    with pytest.raises(ScopeError, match="outside your account"):
        cache.facts_frame(engine, Scope.customer("cust_a"), whole(anchor), customer_id="cust_b")


def test_a_customer_may_name_themselves(seeded):
    engine, _, anchor = seeded
    assert requests_in(facts(engine, Scope.customer("cust_a"), whole(anchor), customer_id="cust_a")) == 4


def test_a_workspace_viewer_can_narrow_to_one_customer(seeded, win_of):
    engine, _, anchor = seeded
    frame = facts(engine, ADMIN, win_of(anchor), customer_id="cust_c")
    assert (customers_in(frame), requests_in(frame)) == ({"cust_c"}, 2)


def test_the_api_and_the_window_narrow_the_facts(seeded):
    engine, apis, anchor = seeded
    # Orders requests at 1, 2, 3, 4, 5 and 30 hours before the anchor; [5h, 2h) before it holds 5h, 4h and 3h.
    win = Window(anchor - 5 * HOUR, anchor - 2 * HOUR, "1h", "custom")
    frame = facts(engine, ADMIN, win, api_id=apis["orders"])
    assert request_times(frame) == [anchor - h * HOUR for h in (5, 4, 3)]


def test_a_window_cutting_hours_counts_only_the_requests_inside_it(seeded):
    engine, apis, anchor = seeded
    # From 4h30 to 1h30 before the anchor: the requests at 4h, 3h and 2h (the one at 1h is after it).
    half = dt.timedelta(minutes=30)
    win = Window(anchor - 5 * HOUR + half, anchor - 2 * HOUR + half, "1h", "custom")
    frame = facts(engine, ADMIN, win, api_id=apis["orders"])
    assert request_times(frame) == [anchor - h * HOUR for h in (4, 3, 2)]


def test_a_customer_window_is_cut_at_the_same_edges(seeded):
    engine, _, anchor = seeded
    win = Window(anchor - 6 * HOUR, anchor - 1 * HOUR, "1h", "custom")
    frame = facts(engine, Scope.customer("cust_a"), win)
    assert request_times(frame) == [anchor - h * HOUR for h in (6, 2)]


def test_a_customer_on_one_api_sees_only_that_apis_facts(seeded, win_of):
    engine, apis, anchor = seeded
    frame = facts(engine, Scope.customer("cust_a"), win_of(anchor), api_id=apis["billing"])
    assert (customers_in(frame), set(frame.get_column("api_id").to_list()), requests_in(frame)) == ({"cust_a"}, {apis["billing"]}, 1)


def test_a_customer_asking_for_an_api_they_never_used_sees_nothing(seeded, win_of):
    engine, apis, anchor = seeded
    assert cache.facts_frame(engine, Scope.customer("cust_b"), win_of(anchor), api_id=apis["billing"]).height == 0


def test_the_facts_include_the_period_before_the_window(seeded):
    engine, _, anchor = seeded
    win = Window(anchor - 4 * HOUR, anchor, "1h", "custom")  # previous period: 8h to 4h before the anchor
    frame = metrics.in_window(cache.facts_frame(engine, Scope.customer("cust_c"), win), win.previous())
    assert request_times(frame) == [anchor - h * HOUR for h in (8, 7)]


def test_a_requests_exact_time_is_kept_in_the_facts(engine, anchor):
    api = seed(engine, anchor)["orders"]
    ts = anchor - 10 * HOUR + dt.timedelta(minutes=30, seconds=15, microseconds=123456)
    store.write_requests(engine, [(api, make_request(customer_id="cust_t", timestamp=ts))])
    rollup_hour = facts(engine, Scope.customer("cust_t"), whole(anchor))
    raw = facts(engine, Scope.customer("cust_t"), Window(ts - dt.timedelta(minutes=1), ts + dt.timedelta(minutes=1), "1h", "custom"))
    assert (rollup_hour.select("timestamp", "first_ts", "last_ts").rows(), raw.get_column("timestamp").to_list()) == (
        [(floor_hour(ts), ts, ts)], [ts])


def test_an_empty_database_gives_no_facts(engine, anchor):
    assert (cache.facts_frame(engine, ADMIN, whole(anchor)).height, cache.data_start(engine, ADMIN), cache.visible_apis(engine, ADMIN)) == (
        0, None, [])


# ---------------------------------------------------------------- APIs, customers, first seen, data span


def test_visible_apis_for_a_customer_are_those_their_id_appeared_on(seeded):
    engine, _, anchor = seeded
    names = lambda scope: [a["name"] for a in cache.visible_apis(engine, scope)]  # noqa: E731
    assert (names(ADMIN), names(Scope.customer("cust_a")), names(Scope.customer("cust_b")), names(Scope.customer("cust_c")),
            names(Scope.customer("nobody"))) == (["Billing API", "Orders API"], ["Billing API", "Orders API"], ["Orders API"], ["Billing API"], [])


def test_a_new_api_appears_for_a_customer_after_their_first_request(engine, anchor):
    seed(engine, anchor)
    cache.visible_apis(engine, Scope.customer("cust_b"))
    extra = store.create_api(engine, "Extra API")["api_id"]
    store.write_requests(engine, [(extra, make_request(customer_id="cust_b", timestamp=anchor - HOUR))])
    cache.refresh(engine)
    assert [a["name"] for a in cache.visible_apis(engine, Scope.customer("cust_b"))] == ["Extra API", "Orders API"]


def test_the_customers_are_read_again_only_after_new_requests_but_a_new_api_at_every_check(engine, anchor):
    from core.storage.cache.entry import entry_for

    api = seed(engine, anchor)["orders"]
    cache.refresh(engine)
    before = entry_for(engine).customers
    store.create_api(engine, "Quiet API")
    cache.refresh(engine)
    assert entry_for(engine).customers is before  # the same frame: nothing about customers was read again
    assert "Quiet API" in [a["name"] for a in cache.visible_apis(engine, ADMIN)]
    store.write_requests(engine, [(api, make_request(customer_id="cust_new", display_name="New Co", timestamp=anchor - HOUR,
                                                     customer_attributes={"Plan": "Pro"}))])
    cache.refresh(engine)
    customers = cache.customers_frame(engine, ADMIN)
    assert customers.filter(pl.col("customer_id") == "cust_new").select("display_name", "attributes").rows() == [
        ("New Co", '{"Plan": "Pro"}')]
    assert customers.filter(pl.col("customer_id") == "cust_b").get_column("attributes").to_list() == ["{}"]
    assert customers.schema["last_seen"] == pl.Datetime("us", "UTC")


def test_resolve_api_refuses_an_api_the_customer_never_used(seeded):
    engine, apis, anchor = seeded
    with pytest.raises(LookupError, match="among the APIs of your account"):
        cache.resolve_api(engine, Scope.customer("cust_b"), apis["billing"])


def test_resolve_api_accepts_an_id_or_a_name(seeded):
    engine, apis, anchor = seeded
    assert cache.resolve_api(engine, ADMIN, "Billing API")["api_id"] == cache.resolve_api(engine, ADMIN, str(apis["billing"]))["api_id"]


def test_customers_frame_is_scoped(seeded):
    engine, _, anchor = seeded
    all_names = cache.customers_frame(engine, ADMIN).sort("customer_id").get_column("display_name").to_list()
    mine = cache.customers_frame(engine, Scope.customer("cust_c"))
    assert (all_names, mine.get_column("customer_id").to_list()) == (["Alpha Inc", "Beta LLC", "Carol Co"], ["cust_c"])


def test_customer_apis_frame_is_scoped(seeded):
    engine, apis, anchor = seeded
    mine = cache.customer_apis_frame(engine, Scope.customer("cust_c"))
    assert mine.select("customer_id", "api_id").rows() == [("cust_c", apis["billing"])]


def test_first_seen_frame_is_scoped(seeded):
    engine, apis, anchor = seeded
    mine = cache.first_seen_frame(engine, Scope.customer("cust_b"))
    assert mine.rows() == [("cust_b", apis["orders"], anchor - 5 * HOUR)]


def test_data_start_is_the_first_request_the_scope_may_see(seeded):
    engine, apis, anchor = seeded
    assert (cache.data_start(engine, ADMIN), cache.data_start(engine, ADMIN, apis["billing"]), cache.data_start(engine, Scope.customer("cust_b"))) == (
        anchor - 30 * HOUR, anchor - 8 * HOUR, anchor - 5 * HOUR)


def test_data_span_ends_at_the_newest_request_the_scope_may_see(seeded):
    engine, apis, anchor = seeded
    assert (cache.data_span(engine, ADMIN), cache.data_span(engine, ADMIN, apis["billing"]), cache.data_span(engine, Scope.customer("cust_b"))) == (
        (anchor - 30 * HOUR, anchor - HOUR), (anchor - 8 * HOUR, anchor - 6 * HOUR), (anchor - 5 * HOUR, anchor - 3 * HOUR))


def test_an_unknown_customer_has_no_data_span(seeded):
    engine, _, anchor = seeded
    assert cache.data_span(engine, Scope.customer("nobody")) == (None, None)


def test_each_scope_keeps_its_own_data_span_and_a_write_into_settled_hours_moves_it(engine, monkeypatch):
    """The settled rows' span is worked out once per snapshot and kept (entry.Held.span): a customer's, an API's and
    the workspace's must never answer for one another, and a new snapshot starts afresh."""
    now = anchor_at("settled")
    apis = seed(engine, now)
    asked = [(ADMIN, None), (Scope.customer("cust_b"), None), (ADMIN, apis["billing"]), (Scope.customer("cust_c"), apis["billing"]),
             (Scope.customer("cust_c"), apis["orders"]), (Scope.customer("cust_a"), None)]
    want = [(now - 30 * HOUR, now - HOUR), (now - 5 * HOUR, now - 3 * HOUR), (now - 8 * HOUR, now - 6 * HOUR),
            (now - 8 * HOUR, now - 7 * HOUR), (None, None), (now - 30 * HOUR, now - HOUR)]
    for _ in range(2):  # the second time from what the snapshot kept
        assert [cache.data_span(engine, scope, api) for scope, api in asked] == want
    assert cache.entry.entry_for(engine).held.spans  # kept
    early = now - 40 * HOUR  # an import of an older request of cust_b: a new snapshot
    store.write_requests(engine, [(apis["orders"], make_request(customer_id="cust_b", timestamp=early))])
    cache.refresh(engine)
    assert [cache.data_span(engine, scope, api) for scope, api in asked[:2]] == [(early, now - HOUR), (early, now - 3 * HOUR)]


def test_first_seen_comes_from_the_stored_dates_when_old_rows_are_gone(engine, anchor):
    apis = seed(engine, anchor)
    with engine.begin() as conn:  # what prune leaves behind: customer_apis keeps the first request's date
        conn.execute(sa.delete(Request).where(Request.customer_id == "cust_a", Request.api_id == apis["orders"],
                                              Request.timestamp < anchor - 10 * HOUR))
    cache.refresh(engine)
    first = cache.first_seen_frame(engine, ADMIN).filter((pl.col("customer_id") == "cust_a") & (pl.col("api_id") == apis["orders"]))
    assert first.get_column("first_seen").to_list() == [anchor - 30 * HOUR]


# ---------------------------------------------------------------- the bulk load


def test_newer_hours_and_cut_hours_are_put_in_at_their_times_without_reordering_the_rest():
    from core.storage.cache.scoped import _time_ordered

    top = dt.datetime(2026, 3, 1, tzinfo=UTC)
    schema = {"timestamp": FACT_SCHEMA["timestamp"], "n": pl.Int64}
    main = pl.DataFrame({"timestamp": [top + h * HOUR for h in (0, 0, 2, 3, 5)], "n": [0, 1, 2, 3, 4]}, schema=schema)
    cut = pl.DataFrame({"timestamp": [top + HOUR + dt.timedelta(minutes=m) for m in (40, 5)] + [top + 6 * HOUR], "n": [6, 5, 9]}, schema=schema)
    newer = pl.DataFrame({"timestamp": [top + 8 * HOUR, top + 7 * HOUR], "n": [11, 10]}, schema=schema)
    out = _time_ordered(main, [newer, cut, main.clear()])
    assert out.get_column("n").to_list() == [0, 1, 5, 6, 2, 3, 4, 9, 10, 11]
    assert out.get_column("timestamp").flags["SORTED_ASC"]
    assert _time_ordered(main, []).get_column("timestamp").flags["SORTED_ASC"]


@pytest.mark.parametrize("where", [{}, {"customer_id": "cust_a"}], ids=["workspace", "customer"])
def test_facts_without_histograms_count_and_sum_the_same_without_reading_a_bin(seeded, where, monkeypatch):
    engine, _, anchor = seeded
    half = dt.timedelta(minutes=30)
    win = Window(anchor - 30 * HOUR + half, anchor - HOUR + half, "1h", "custom")
    sums = ["requests", "failed", "status_4xx", "status_5xx", "load_us", "size_sum"]
    full = cache.facts_frame(engine, ADMIN, win, **where)
    seen = []
    monkeypatch.setattr(reader, "_select", lambda engine, sql, *a, _real=reader._select: seen.append(sql) or _real(engine, sql, *a))
    counted = cache.facts_frame(engine, ADMIN, win, histograms=False, **where)
    assert counted.select(sums).sum().row(0) == full.select(sums).sum().row(0) and full.height >= 3
    assert not any("rollup_load_bins" in sql for sql in seen)


@pytest.mark.parametrize("where", [{"api_id": "orders"}, {"customer_id": "cust_b"}], ids=["api", "customer"])
def test_a_settled_cut_hour_is_read_from_sql_once_until_a_write_into_it_moves_the_epoch(engine, where, monkeypatch):
    from core.storage.cache import entry as entry_module

    now = anchor_at("settled")
    apis = seed(engine, now)
    where = {k: apis[v] if k == "api_id" else v for k, v in where.items()}
    reads = []
    monkeypatch.setattr(entry_module, "read_raw", lambda *a, _real=entry_module.read_raw, **k: reads.append(a[1]) or _real(*a, **k))
    half = dt.timedelta(minutes=30)
    win = Window(now - 5 * HOUR + half, now - 2 * HOUR + half, "1h", "custom")  # cuts two settled hours
    first = request_times(facts(engine, ADMIN, win, **where))
    read_once = len(reads)
    assert read_once and request_times(facts(engine, ADMIN, win, **where)) == first and len(reads) == read_once
    # A late request into the first cut hour (a file import: store bumps the epoch), inside the window.
    late = now - 5 * HOUR + 2 * half - dt.timedelta(minutes=10)
    store.write_requests(engine, [(apis["orders"], make_request(customer_id="cust_b", timestamp=late))])
    cache.refresh(engine)
    assert request_times(facts(engine, ADMIN, win, **where)) == sorted([*first, late]) and len(reads) > read_once


def held_up(monkeypatch, module, name: str) -> tuple[threading.Event, threading.Event]:
    """Replace module.name by one that says it started and then waits for the second event before doing its work:
    a refresh caught in the middle. Returns (started, release)."""
    started, release = threading.Event(), threading.Event()
    real = getattr(module, name)

    def slow(*args, **kwargs):
        started.set()
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, slow)
    return started, release


def in_thread(results: dict, name: str, read) -> threading.Thread:
    """read() in a thread of its own (another session's page), started; its result, or its error, in results[name]."""
    def run():
        try:
            results[name] = read()
        except Exception as exc:  # noqa: BLE001  (what that page would have shown)
            results[name] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_reload_holds_up_only_the_page_that_found_it_the_others_read_the_copy_before_it(engine, monkeypatch):
    """An import into settled hours moves the epoch, and the next check reloads every rollup: about 20 s at 10
    million requests. Only the page that found the change waits for it; a page read meanwhile, from another
    thread, gets the copy from before the import at once (it waited for the whole reload before)."""
    from core.storage.cache import entry as entry_module

    now = anchor_at("settled")
    apis = seed(engine, now)
    win = whole(now)
    before = requests_in(facts(engine, ADMIN, win))
    store.write_requests(engine, [(apis["orders"], make_request(customer_id="cust_b", timestamp=now - 10 * HOUR))])
    loading, release = held_up(monkeypatch, entry_module, "read_all_rollups")
    monkeypatch.setattr(entry_module, "CHECK_INTERVAL_S", 0.0)
    counted: dict[str, object] = {}
    count = lambda: requests_in(facts(engine, ADMIN, win))  # noqa: E731

    reloading = in_thread(counted, "reloading", count)
    assert loading.wait(60)
    other = in_thread(counted, "other", count)
    other.join(5)
    other_waited = other.is_alive()
    release.set()
    reloading.join(60)
    other.join(60)
    assert not other_waited
    assert counted == {"other": before, "reloading": before + 1}
    assert requests_in(facts(engine, ADMIN, win)) == before + 1


def test_a_page_arriving_during_the_first_load_waits_for_all_of_it(engine, monkeypatch):
    """The first load sets the rollups, then reads the APIs and customers: a page arriving in between must wait
    for the whole of it, not serve the rollups with no customer table yet."""
    from core.storage.cache import entry as entry_module

    now = anchor_at("settled")
    seed(engine, now)
    reading, release = held_up(monkeypatch, entry_module, "read_small_tables")
    got: dict[str, object] = {}
    customers = lambda: sorted(cache.customers_frame(engine, ADMIN).get_column("customer_id").to_list())  # noqa: E731

    first = in_thread(got, "first", customers)
    assert reading.wait(60)
    second = in_thread(got, "second", customers)
    second.join(1)
    release.set()
    first.join(60)
    second.join(60)
    assert got == {"first": list(EVERYONE), "second": list(EVERYONE)}


def test_reload_due_says_what_the_next_read_will_wait_for(engine, monkeypatch):
    """What lets a page say why it waits: the first load, a reload after a write into settled hours, then nothing;
    a new request in the current hour (the collector's) is no reason to reload."""
    from core.storage.cache import entry as entry_module

    now = anchor_at("recent")
    apis = seed(engine, now)
    monkeypatch.setattr(entry_module, "CHECK_INTERVAL_S", 0.0)
    assert cache.reload_due(engine) == "load"
    win = whole(now)
    before = requests_in(facts(engine, ADMIN, win))
    assert cache.reload_due(engine) is None
    store.write_requests(engine, [(apis["orders"], make_request(customer_id="cust_b", timestamp=now - 30 * HOUR))])
    assert cache.reload_due(engine) == "reload"
    assert cache.reload_due(engine) == "reload"  # asking does not reload
    cache.refreshed(engine)
    assert cache.reload_due(engine) is None
    store.write_requests(engine, [(apis["orders"], make_request(customer_id="cust_b", timestamp=now - dt.timedelta(minutes=70)))])
    assert cache.reload_due(engine) is None
    assert requests_in(facts(engine, ADMIN, win)) == before + 2


def test_settled_raw_rows_kept_are_bounded_least_recently_used_first(engine, monkeypatch):
    from core.storage.cache import entry as entry_module

    now = anchor_at("settled")
    api = seed(engine, now)["orders"]
    monkeypatch.setattr(entry_module, "SETTLED_RAW_ROWS", 1)  # each cut hour below holds one request
    kept = entry_module.SettledRaw()
    hours = [(now - n * HOUR, now - n * HOUR + HOUR) for n in (5, 3)]
    for hour in hours:
        assert kept.read(engine, [hour], now, api_ids=[api], customer_id=None, histograms=True).height == 1
    assert list(kept._frames) == [(*hours[1], (api,), None, True)]


@pytest.mark.parametrize("who", ["api", "customer"])
def test_the_facts_of_one_api_or_one_customer_come_in_time_order_also_where_a_window_cuts_hours(seeded, who):
    # The pages' windows of a time-sorted frame are binary searches; out of order, each is a filter that copies
    # every histogram. The cut hours' raw rows and the newest hours come from SQL and must land at their times.
    engine, apis, anchor = seeded
    half = dt.timedelta(minutes=30)
    win = Window(anchor - 30 * HOUR + half, anchor - HOUR + half, "1h", "custom")
    where = {"api_id": apis["orders"]} if who == "api" else {"customer_id": "cust_a"}
    frame = cache.facts_frame(engine, ADMIN, win, **where)
    ts = frame.get_column("timestamp")
    assert frame.height >= 3 and ts.flags["SORTED_ASC"] and ts.to_list() == sorted(ts.to_list())


@pytest.mark.slow  # a child process each: the fast loop leaves subprocesses out
def test_the_bulk_load_in_a_child_process_reads_the_same_facts_as_sqlalchemy(seeded):
    """The cache's bulk load (ADBC in a child process, on both backends) gives the facts the row-by-row read
    gives, in the cache's order, with the fact schema; a database too small for it is read row by row."""
    from core.storage.cache import reader
    from core.storage.cache.index import customer_rows

    engine, _apis, now = seeded
    end = floor_hour(now) + HOUR
    loaded = reader.bulk_facts(engine, end)
    assert loaded is not None, "the child process failed: the load fell back to SQLAlchemy"
    bulk, rows = loaded
    assert rows.sort("customer_id").equals(customer_rows(bulk).sort("customer_id"))  # the index the app would build
    assert rows.height == 3
    assert bulk.schema == pl.Schema(FACT_SCHEMA)
    assert bulk.height == 9
    order = ["api_id", "timestamp", "customer_id", "method", "endpoint"]
    assert bulk.select("api_id", "timestamp").rows() == sorted(bulk.select("api_id", "timestamp").rows())
    slow = reader.read_rollups(engine, end=end)
    assert (bulk.with_columns(pl.col(pl.Categorical).cast(pl.String)).sort(order).to_dicts()
            == slow.with_columns(pl.col(pl.Categorical).cast(pl.String)).sort(order).to_dicts())
    assert reader.bulk_facts(engine, now - dt.timedelta(days=30))[0].height == 0


def test_cut_hours_are_sliced_out_of_a_time_sorted_frame_and_nothing_else():
    from core.storage.cache.scoped import _without_hours

    top = dt.datetime(2026, 3, 1, tzinfo=UTC)
    hours = [top + n * HOUR for n in (0, 0, 1, 2, 2, 2, 3, 5)]
    frame = pl.DataFrame({"timestamp": hours, "n": list(range(8))}, schema={"timestamp": FACT_SCHEMA["timestamp"], "n": pl.Int64})
    kept = _without_hours(frame, [top + 2 * HOUR, top, top + 4 * HOUR])
    assert kept.get_column("n").to_list() == [2, 6, 7]
    assert _without_hours(frame, [top + 4 * HOUR, top + 9 * HOUR]) is frame
    assert _without_hours(frame, [top + 5 * HOUR]).get_column("n").to_list() == list(range(7))


@pytest.mark.slow  # a child process each: the fast loop leaves subprocesses out
def test_the_bulk_load_never_puts_the_database_url_on_a_command_line(seeded, monkeypatch):
    """Every user of the host can read a process's command line: the URL (with a PostgreSQL password) goes to the
    child on stdin."""
    import subprocess

    from core.storage.cache import reader

    engine, _apis, now = seeded
    seen, real = [], subprocess.run
    monkeypatch.setattr(reader.subprocess, "run", lambda args, **kw: seen.append(args) or real(args, **kw))
    assert reader.bulk_facts(engine, floor_hour(now) + HOUR)[0].height == 9
    [args] = seen
    assert engine.url.render_as_string(hide_password=False) not in " ".join(args)


def test_a_small_database_is_read_in_this_process_without_starting_the_loader_child(seeded, monkeypatch):
    """The child process costs about a second to start: worth it for a large table only, on both backends (on
    PostgreSQL every cache load started one, a second per test and per small deployment's start)."""
    from core.storage.cache import reader

    engine, _apis, now = seeded
    monkeypatch.setattr(reader.subprocess, "run", lambda *a, **kw: pytest.fail("the loader child was started"))
    facts, rows = reader.read_all_rollups(engine, floor_hour(now) + HOUR)
    assert (facts.height, rows) == (9, None)  # (the app process builds the row numbers itself)
