"""Request history from SQL: filters, search, sort, pagination, details, and the customer scope.

Rows are named by how many hours before NOW they happened (every row has its own hour):
  Orders API   1 (cust_a "Alpha Inc"), 2 (cust_a, 300 ms), 30 (cust_a, 500 /boom), 3 (cust_b "Beta LLC",
               3000 B), 5 (cust_b, 404 /missing), 4 (no customer)
  Billing API  6 (cust_a /invoices), 7 (cust_c "Carol Co"), 8 (cust_c, POST 201)
  Lab API      10, 11, 12, 13: every sortable column differs (see `lab` below)
"""
from __future__ import annotations

import datetime as dt
from contextlib import ExitStack

import polars as pl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.domain.scope import Scope
from core.domain.timewindow import Window, window
from core.present.error_groups import error_groups_page
from core.storage import cache, store
from core.storage import request_log as history
from core.storage.filter_options import filter_options
from core.storage.models import Request, RollupState
from core.storage.request_log import (
    ANY_AI_AGENT,
    NO_AI_AGENT,
    HistoryError,
    HistoryQuery,
    recent_requests,
    request_detail,
    request_history,
)
from tests.conftest import BACKENDS
from tests.databases import shared_engine
from tests.factories import NOW, make_request, seed_small

WORKSPACE = Scope.workspace()


def at(hours: int) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours)


def hours(frame: pl.DataFrame) -> list[int]:
    return [int((NOW - ts).total_seconds() // 3600) for ts in frame.get_column("timestamp").to_list()]


def write_apis(engine: sa.Engine) -> dict:
    """The requests in the module docstring. Returns the API ids ("orders", "billing", "lab")."""
    ids = seed_small(engine)
    lab = store.create_api(engine, "Lab API", api_key="lab-key", sdk_token="lab-token")["api_id"]
    base = "https://lab.example.com"
    store.write_requests(engine, [
        (lab, make_request(timestamp=at(10), method="GET", status=200, endpoint="/a", url=f"{base}/a/50%off", load_time_ms=50.0,
                           response_size=500, threat_level="Low", device="desktop", ai_agent=None, country="US",
                           customer_id="cust_x", display_name="Zed Corp")),
        (lab, make_request(timestamp=at(11), method="POST", status=404, endpoint="/c", url=f"{base}/c/except", load_time_ms=250.0,
                           response_size=100, threat_level="High", device="mobile", ai_agent="GPTBot", country="DE",
                           customer_id="cust_y")),
        (lab, make_request(timestamp=at(12), method="DELETE", status=503, endpoint="/b", url=f"{base}/b", load_time_ms=150.0,
                           response_size=900, threat_level="Medium", device="bot", ai_agent="ClaudeBot", country=None,
                           customer_id=None)),
        (lab, make_request(timestamp=at(13), method="PUT", status=302, endpoint="/d", url=f"{base}/d/snake_case", load_time_ms=10.0,
                           response_size=300, threat_level="Low", device="tablet", ai_agent=None, country="FR",
                           customer_id="cust_x")),
    ])
    return {**ids, "lab": lab}


def stored(engine: sa.Engine) -> tuple[int, int | None]:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count(), sa.func.max(Request.id))).one())


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """backend → (engine, API ids): write_apis()'s requests, written once per backend (on first use) for the
    tests that only read. Not parametrized itself: `database` is, as conftest's db_url is, so test ids keep their shape."""
    with ExitStack() as stack:
        made: dict[str, tuple[sa.Engine, dict]] = {}

        def get(backend: str) -> tuple[sa.Engine, dict]:
            if backend not in made:
                engine = stack.enter_context(shared_engine(backend, tmp_path_factory.mktemp("history")))
                made[backend] = engine, write_apis(engine)
            return made[backend]

        yield get


@pytest.fixture
def writes():
    """Requested (`@pytest.mark.usefixtures("writes")`) by a test that writes: it gets a fresh database of its own."""


@pytest.fixture(params=BACKENDS)
def database(request, shared, tmp_path):
    """(engine, API ids): the backend's shared database, or a fresh one written anew for a test that `writes`.
    A test that writes to the shared one without saying so fails here, before the next test reads it."""
    if "writes" in request.fixturenames:
        with shared_engine(request.param, tmp_path) as fresh:
            yield fresh, write_apis(fresh)
        return
    engine, ids = shared(request.param)
    before = stored(engine)
    yield engine, ids
    assert stored(engine) == before, 'this test wrote to the shared database: give it @pytest.mark.usefixtures("writes")'


@pytest.fixture
def engine(database) -> sa.Engine:
    """This module's engine (not tests/conftest.py's fresh one per test): see `database`."""
    return database[0]


@pytest.fixture
def apis(database) -> dict:
    return database[1]


@pytest.fixture(params=["few matches", "many matches"])
def paths(request, monkeypatch):
    """Runs a test through both query plans: ids collected then sorted, or sorted and counted in SQL."""
    if request.param == "many matches":
        monkeypatch.setattr(history, "SMALL_RESULT", 0)
    return request.param


def ids_by_hour(engine, scope=WORKSPACE) -> dict[int, int]:
    rows = request_history(engine, scope, HistoryQuery(page_size=500)).rows
    return dict(zip(hours(rows), rows.get_column("id").to_list()))


# ---------------------------------------------------------------- listing and windows


def test_history_lists_an_apis_requests_newest_first(engine, apis, paths):
    page = request_history(engine, WORKSPACE, HistoryQuery(api_id=apis["orders"]))
    assert hours(page.rows) == [1, 2, 3, 4, 5, 30]
    assert (page.total, page.pages, page.total_capped) == (6, 1, False)


def test_history_without_an_api_lists_every_api_newest_first(engine, apis, paths):
    page = request_history(engine, WORKSPACE, HistoryQuery())
    assert hours(page.rows) == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 30]


def test_history_across_apis_pages_oldest_first_too(engine, apis, paths):
    page = request_history(engine, WORKSPACE, HistoryQuery(direction="asc", page=2, page_size=5))
    assert hours(page.rows) == [8, 7, 6, 5, 4]


def test_window_keeps_only_requests_inside_it(engine, apis, paths):
    page = request_history(engine, WORKSPACE, HistoryQuery(api_id=apis["orders"], window=window("24h", NOW)))
    assert hours(page.rows) == [1, 2, 3, 4, 5]


def test_window_includes_its_start_and_excludes_its_end(engine, apis, paths):
    q = HistoryQuery(window=Window(at(2), at(1), "1h", "custom"))
    assert hours(request_history(engine, WORKSPACE, q).rows) == [2]


def test_rows_carry_path_customer_name_and_api_name(engine, apis):
    rows = request_history(engine, WORKSPACE, HistoryQuery(api_id=apis["orders"], page_size=1)).rows
    assert rows.columns == list(history.COLUMNS)
    row = rows.row(0, named=True)
    assert row["timestamp"] == at(1)
    assert (row["method"], row["status"], row["endpoint"], row["path"]) == ("GET", 200, "/orders/{id}", "/orders/1")
    assert (row["load_time_ms"], row["response_size"], row["threat_level"], row["device"]) == (100.0, 1000, "Low", "desktop")
    assert (row["ai_agent"], row["country"]) == (None, "US")
    assert (row["customer_id"], row["customer_name"], row["api_id"], row["api_name"]) == ("cust_a", "Alpha Inc", apis["orders"], "Orders API")


@pytest.mark.usefixtures("writes")
def test_path_drops_the_query_string(engine, apis):
    store.write_requests(engine, [(apis["orders"], make_request(timestamp=at(0), url="https://api.example.com/orders?page=2#top"))])
    rows = request_history(engine, WORKSPACE, HistoryQuery(api_id=apis["orders"], page_size=1)).rows
    assert rows.get_column("path").to_list() == ["/orders"]


def test_an_empty_result_keeps_the_column_types(engine, apis):
    rows = request_history(engine, WORKSPACE, HistoryQuery(search="nothing-matches-this")).rows
    assert rows.height == 0
    assert rows.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert rows.schema["status"] == pl.Int32
    assert rows.schema["customer_name"] == pl.String


# ---------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"methods": ("POST",)}, [8, 11]),
        ({"methods": ("post", "put")}, [8, 11, 13]),
        ({"status_classes": ("5xx",)}, [12, 30]),
        ({"status_classes": ("2xx",), "api_id": "billing"}, [6, 7, 8]),
        ({"statuses": (404,)}, [5, 11]),
        ({"status_classes": ("3xx",), "statuses": (404,)}, [5, 11, 13]),
        ({"endpoints": ("/invoices",)}, [6, 7, 8]),
        ({"endpoints": ("/boom", "/a")}, [10, 30]),
        ({"threat_levels": ("Medium", "High")}, [11, 12]),
        ({"devices": ("mobile", "tablet")}, [11, 13]),
        ({"ai_agents": ("GPTBot",)}, [11]),
        ({"ai_agents": (ANY_AI_AGENT,)}, [11, 12]),
        ({"ai_agents": (NO_AI_AGENT,), "api_id": "lab"}, [10, 13]),
        ({"ai_agents": (NO_AI_AGENT, "GPTBot"), "api_id": "lab"}, [10, 11, 13]),
        ({"countries": ("DE",)}, [11]),
        ({"countries": (None,)}, [12]),
        ({"countries": ("FR", None)}, [12, 13]),
        ({"customer_id": "cust_a"}, [1, 2, 6, 30]),
        ({"customer_id": "cust_a", "api_id": "billing"}, [6]),
        ({"methods": ("GET",), "status_classes": ("4xx",), "api_id": "orders"}, [5]),
    ],
)
def test_each_filter_keeps_exactly_the_matching_requests(engine, apis, paths, filters, expected):
    if "api_id" in filters:
        filters = {**filters, "api_id": apis[filters["api_id"]]}
    page = request_history(engine, WORKSPACE, HistoryQuery(**filters))
    assert hours(page.rows) == expected
    assert page.total == len(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("invoices", [6, 7, 8]),  # endpoint and path
        ("MISSING", [5]),  # case-insensitive
        ("cust_b", [3, 5]),  # customer ID
        ("carol", [7, 8]),  # display name
        ("zed", [10, 13]),  # display name on one request, applies to all of that customer's
        ("orders/1", [1, 2, 3, 4]),
        ("%", [10]),  # a literal percent sign, not "anything"
        ("e_c", [13]),  # a literal underscore: "/c/except" does not match
        ("50%o", [10]),
        ("example", []),  # the host is not searched
    ],
)
def test_search_matches_path_endpoint_customer_id_and_name(engine, apis, paths, text, expected):
    page = request_history(engine, WORKSPACE, HistoryQuery(search=text))
    assert hours(page.rows) == expected
    assert page.total == len(expected)


# ---------------------------------------------------------------- sorting


@pytest.mark.parametrize(
    ("sort", "ascending", "descending"),
    [
        ("timestamp", [13, 12, 11, 10], [10, 11, 12, 13]),
        ("method", [12, 10, 11, 13], [13, 11, 10, 12]),
        ("status", [10, 13, 11, 12], [12, 11, 13, 10]),
        ("endpoint", [10, 12, 11, 13], [13, 11, 12, 10]),
        ("load_time_ms", [13, 10, 12, 11], [11, 12, 10, 13]),
        ("response_size", [11, 13, 10, 12], [12, 10, 13, 11]),
        # By severity, not alphabetically; equal values keep arrival order (then its reverse).
        ("threat_level", [10, 13, 12, 11], [11, 12, 13, 10]),
        ("device", [12, 10, 11, 13], [13, 11, 10, 12]),
        # Missing values last in both directions.
        ("ai_agent", [12, 11, 10, 13], [11, 12, 13, 10]),
        ("country", [11, 13, 10, 12], [10, 13, 11, 12]),
        # Display name, else ID ("Zed Corp" < "cust_y": uppercase sorts first); no customer last.
        ("customer", [10, 13, 11, 12], [11, 13, 10, 12]),
    ],
)
def test_every_column_sorts_both_ways(engine, apis, paths, sort, ascending, descending):
    asc = request_history(engine, WORKSPACE, HistoryQuery(api_id=apis["lab"], sort=sort, direction="asc"))
    desc = request_history(engine, WORKSPACE, HistoryQuery(api_id=apis["lab"], sort=sort, direction="desc"))
    assert (hours(asc.rows), hours(desc.rows)) == (ascending, descending)


# ---------------------------------------------------------------- pagination


def test_pages_split_the_rows_in_order(engine, apis, paths):
    first = request_history(engine, WORKSPACE, HistoryQuery(api_id=apis["orders"], page=1, page_size=4))
    assert hours(first.rows) == [1, 2, 3, 4]
    assert (first.total, first.pages) == (6, 2)


def test_last_page_is_partial(engine, apis, paths):
    last = request_history(engine, WORKSPACE, HistoryQuery(api_id=apis["orders"], page=2, page_size=4))
    assert hours(last.rows) == [5, 30]


def test_page_beyond_the_end_is_empty_with_the_true_total(engine, apis, paths):
    page = request_history(engine, WORKSPACE, HistoryQuery(api_id=apis["orders"], page=3, page_size=4))
    assert page.rows.height == 0
    assert (page.total, page.pages, page.page) == (6, 2, 3)


def test_sorted_pages_never_overlap(engine, apis, paths):
    pages = [request_history(engine, WORKSPACE, HistoryQuery(sort="load_time_ms", page=n, page_size=3)) for n in (1, 2, 3, 4, 5)]
    seen = [h for p in pages for h in hours(p.rows)]
    assert sorted(seen) == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 30]


def test_empty_result_is_page_one_of_one(engine, apis):
    page = request_history(engine, WORKSPACE, HistoryQuery(search="nothing-matches-this"))
    assert (page.total, page.pages) == (0, 1)


def test_total_stops_counting_at_the_cap(engine, apis, monkeypatch):
    monkeypatch.setattr(history, "SMALL_RESULT", 0)
    monkeypatch.setattr(history, "COUNT_CAP", 4)
    # A search is not a rollup dimension: its matches are counted row by row, up to the cap.
    page = request_history(engine, WORKSPACE, HistoryQuery(api_id=apis["orders"], page_size=3, search="/"))
    assert (page.total, page.total_capped, page.pages) == (4, True, 2)
    assert hours(page.rows) == [1, 2, 3]


def test_a_total_the_rollups_can_answer_is_exact_beyond_the_cap(engine, apis, monkeypatch):
    # Regression (#14): "Page 1 of 200+ · 10,000+ requests" where the rollups knew the real number.
    everything = request_history(engine, WORKSPACE, HistoryQuery(api_id=apis["orders"])).total
    monkeypatch.setattr(history, "SMALL_RESULT", 0)
    monkeypatch.setattr(history, "COUNT_CAP", 4)
    page = request_history(engine, WORKSPACE, HistoryQuery(api_id=apis["orders"], page_size=3))
    assert everything > 4
    assert (page.total, page.total_capped, page.pages) == (everything, False, -(-everything // 3))
    assert hours(page.rows) == [1, 2, 3]


def _raw_count(engine, scope: Scope, query: HistoryQuery) -> int:
    with engine.connect() as conn:
        conds = history._conditions(scope, query, engine.dialect.name)
        return conn.execute(sa.select(sa.func.count()).select_from(Request).where(*conds)).scalar_one()


def _custom(start_hours_ago: float, end_hours_ago: float) -> Window:
    return Window(NOW - dt.timedelta(hours=start_hours_ago), NOW - dt.timedelta(hours=end_hours_ago), "1h", "custom")


ROLLUP_QUERIES = {
    "all time": {},
    "an API": {"api": "orders"},
    "24h preset": {"window": "24h"},
    "window cutting both hours": {"window": (12.6, 0.3)},
    "window inside one hour": {"window": (10.9, 10.1)},
    "window across two partial hours": {"window": (11.5, 10.5)},
    "a customer": {"customer_id": "cust_x"},
    "methods and endpoints": {"methods": ("GET", "POST"), "endpoints": ("/a", "/c", "/orders/{id}")},
    "4xx": {"status_classes": ("4xx",)},
    "4xx or 5xx in a window": {"status_classes": ("4xx", "5xx"), "window": (12.5, 0.5)},
}


def _rollup_query(apis: dict, name: str) -> HistoryQuery:
    spec = dict(ROLLUP_QUERIES[name])
    win = spec.pop("window", None)
    api = spec.pop("api", None)
    return HistoryQuery(api_id=apis[api] if api else None,
                        window=window(win, NOW) if isinstance(win, str) else _custom(*win) if win else None, **spec)


@pytest.mark.parametrize("held", ["in SQL", "in memory"])
@pytest.mark.parametrize("name", list(ROLLUP_QUERIES))
@pytest.mark.parametrize("who", ["workspace", "cust_x"])
def test_the_rollups_count_exactly_the_requests_the_table_would_list(engine, apis, name, who, held):
    # "in memory": the settled hours are summed from the process's cache (loaded by a dashboard), the rest in SQL.
    query = _rollup_query(apis, name)
    scope = WORKSPACE if who == "workspace" else Scope.customer(who)
    if held == "in memory":
        cache.refresh(engine)
    else:
        cache.invalidate(engine)
    with engine.connect() as conn:
        counted = history.exact_total(conn, scope, query)
        epoch = conn.execute(sa.select(RollupState.epoch)).scalar()
    assert (cache.settled_total(engine, scope, epoch, None, None) is not None) == (held == "in memory")
    assert counted == _raw_count(engine, scope, query)


@pytest.mark.usefixtures("writes")
def test_requests_written_into_settled_hours_after_the_cache_was_loaded_are_counted_at_once(engine, apis):
    query = HistoryQuery(api_id=apis["orders"], window=window("7d", NOW))
    cache.refresh(engine)
    before = request_history(engine, WORKSPACE, query).total
    store.write_requests(engine, [(apis["orders"], make_request(timestamp=at(20 + i))) for i in range(3)])
    # The write moved the rollup epoch: the cache, not reloaded yet, no longer answers; SQL does.
    assert request_history(engine, WORKSPACE, query).total == before + 3 == _raw_count(engine, WORKSPACE, query)
    cache.invalidate(engine)


@pytest.mark.usefixtures("writes")
@pytest.mark.parametrize("asked", [{}, {"status_classes": ("5xx",)}, {"status_classes": ("4xx",), "statuses": (503,)}],
                         ids=["the time alone", "5xx", "4xx or 503"])
@pytest.mark.parametrize("preset", ["24h", "7d", "30d"])
def test_the_history_of_every_api_seeks_its_index_instead_of_scanning_the_table(engine, apis, preset, asked, monkeypatch):
    # Seen at 10 million requests: the newest page of every API (the Requests page as it opens) took 0.8 s, and of its
    # 5xx requests 2 s, as its first read and the count of the hours the window cuts read the table from its oldest row.
    if engine.dialect.name != "sqlite":
        pytest.skip("reads SQLite's query plans")
    store.write_requests(engine, [(apis["orders"], make_request(timestamp=NOW - dt.timedelta(minutes=37 + 45 * i), status=(200, 404, 503)[i % 3]))
                                  for i in range(180)])
    monkeypatch.setattr(history, "SMALL_RESULT", 0)  # as with millions of matches: counted, then sorted in SQL
    statements = []

    def record(_conn, _cursor, sql, params, _context, _many):
        statements.append((sql, params))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        page = request_history(engine, WORKSPACE, HistoryQuery(window=window(preset, NOW - dt.timedelta(minutes=20)), **asked))
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert page.rows.height == min(page.total, 50) > 0
    with engine.connect() as conn:
        plans = [(sql, [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)])
                 for sql, params in statements if sql.lstrip().upper().startswith("SELECT") and "FROM requests" in sql]
    assert plans
    assert not [(sql, plan) for sql, plan in plans if any(step.startswith("SCAN requests") for step in plan)]


@pytest.mark.parametrize("spec", [{"statuses": (404,)}, {"status_classes": ("2xx",)}, {"devices": ("bot",)},
                                  {"search": "lab"}, {"countries": ("US",)}, {"threat_levels": ("High",)}])
def test_filters_the_rollups_do_not_hold_are_counted_from_the_rows(engine, apis, spec):
    with engine.connect() as conn:
        assert history.exact_total(conn, WORKSPACE, HistoryQuery(**spec)) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"page": 0}, "Pages are numbered from 1."),
        ({"page_size": 501}, "A page shows between 1 and 500 requests."),
        ({"page_size": 0}, "A page shows between 1 and 500 requests."),
        ({"sort": "ip"}, "Cannot sort by 'ip'"),
        ({"direction": "up"}, "Sort direction must be 'asc' or 'desc'."),
        ({"status_classes": ("6xx",)}, "Unknown status class '6xx'"),
        ({"statuses": (42,)}, "42 is not an HTTP status code"),
        ({"methods": "GET"}, "The methods filter takes a list of values."),
        ({"search": "x" * 201}, "Search text is limited to 200 characters."),
    ],
)
def test_a_query_that_makes_no_sense_is_refused_with_a_reason(fields, message):
    with pytest.raises(HistoryError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        HistoryQuery(**fields)


# ---------------------------------------------------------------- the customer scope


def test_customer_sees_only_their_own_requests(engine, apis, paths):
    page = request_history(engine, Scope.customer("cust_a"), HistoryQuery())
    assert hours(page.rows) == [1, 2, 6, 30]
    assert page.total == 4


def test_customer_asking_for_another_customer_gets_nothing(engine, apis, paths):
    page = request_history(engine, Scope.customer("cust_a"), HistoryQuery(customer_id="cust_b"))
    assert (page.rows.height, page.total) == (0, 0)


@pytest.mark.parametrize("text", ["Beta", "cust_b", "cust_", "missing"])
def test_customer_search_never_reaches_other_customers(engine, apis, paths, text):
    page = request_history(engine, Scope.customer("cust_a"), HistoryQuery(search=text))
    assert set(page.rows.get_column("customer_id").to_list()) <= {"cust_a"}
    assert page.total == page.rows.height


def test_customer_search_finds_their_own_name(engine, apis, paths):
    page = request_history(engine, Scope.customer("cust_a"), HistoryQuery(search="alpha"))
    assert hours(page.rows) == [1, 2, 6, 30]


def test_customer_on_an_api_without_their_requests_sees_nothing(engine, apis):
    page = request_history(engine, Scope.customer("cust_c"), HistoryQuery(api_id=apis["orders"]))
    assert page.total == 0


def test_customer_sort_by_customer_keeps_their_rows_only(engine, apis, paths):
    page = request_history(engine, Scope.customer("cust_c"), HistoryQuery(sort="customer", direction="asc"))
    assert hours(page.rows) == [7, 8]  # equal names: arrival order (7 was stored first)


_scopes = st.sampled_from(["cust_a", "cust_b", "cust_c", "cust_x", "cust_y", "nobody"])
_queries = st.builds(
    HistoryQuery,
    customer_id=st.one_of(st.none(), _scopes),
    methods=st.lists(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), max_size=2),
    status_classes=st.lists(st.sampled_from(list(history.STATUS_CLASSES)), max_size=2),
    statuses=st.lists(st.sampled_from([200, 201, 404, 500]), max_size=2),
    endpoints=st.lists(st.sampled_from(["/orders/{id}", "/invoices", "/boom", "/a"]), max_size=2),
    ai_agents=st.lists(st.sampled_from([ANY_AI_AGENT, NO_AI_AGENT, "GPTBot"]), max_size=2),
    countries=st.lists(st.sampled_from(["US", "DE", None]), max_size=2),
    search=st.sampled_from(["", "Beta", "Carol", "cust_", "Zed", "invoices", "%", "_", "o"]),
    sort=st.sampled_from(list(history.SORT_COLUMNS)),
    direction=st.sampled_from(["asc", "desc"]),
    page=st.integers(1, 3),
    page_size=st.integers(1, 5),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(customer=_scopes, query=_queries)
def test_no_query_ever_returns_another_customers_row(engine, apis, customer, query):
    page = request_history(engine, Scope.customer(customer), query)
    assert set(page.rows.get_column("customer_id").to_list()) <= {customer}
    assert page.total <= {"cust_a": 4, "cust_b": 2, "cust_c": 2, "cust_x": 2, "cust_y": 1, "nobody": 0}[customer]


# ---------------------------------------------------------------- recent requests and filter options


def test_recent_requests_are_the_latest_few(engine, apis):
    assert hours(recent_requests(engine, WORKSPACE, apis["orders"], limit=2)) == [1, 2]


def test_recent_requests_of_a_customer_are_theirs_only(engine, apis):
    assert hours(recent_requests(engine, Scope.customer("cust_c"), None, limit=3)) == [7, 8]


def test_filter_options_list_the_values_present(engine, apis):
    options = filter_options(engine, WORKSPACE, None, None)
    assert options == {
        "methods": ["DELETE", "GET", "POST", "PUT"],
        "status_classes": ["2xx", "3xx", "4xx", "5xx"],
        "statuses": [200, 201, 302, 404, 500, 503],
        "endpoints": ["/a", "/b", "/boom", "/c", "/d", "/invoices", "/missing", "/orders/{id}"],
        "threat_levels": ["Low", "Medium", "High"],
        "devices": ["bot", "desktop", "mobile", "tablet"],
        "ai_agents": [ANY_AI_AGENT, NO_AI_AGENT, "ClaudeBot", "GPTBot"],
        "countries": ["DE", "FR", "US", None],
    }


def test_filter_options_follow_the_api_and_window(engine, apis):
    options = filter_options(engine, WORKSPACE, apis["orders"], window("24h", NOW))
    assert (options["statuses"], options["status_classes"]) == ([200, 404], ["2xx", "4xx"])
    assert options["endpoints"] == ["/missing", "/orders/{id}"]
    assert options["ai_agents"] == [NO_AI_AGENT]


def test_filter_options_of_a_customer_come_from_their_rows_only(engine, apis):
    options = filter_options(engine, Scope.customer("cust_c"), apis["billing"], None)
    assert (options["methods"], options["statuses"]) == (["GET", "POST"], [200, 201])


def test_filter_options_of_an_empty_slice_are_empty(engine, apis):
    options = filter_options(engine, Scope.customer("cust_a"), apis["lab"], None)
    assert all(values == [] for values in options.values())


# ---------------------------------------------------------------- request details


def test_detail_shows_what_was_stored(engine, apis):
    rid = ids_by_hour(engine)[1]
    detail = request_detail(engine, WORKSPACE, rid)
    general = detail["general"]
    assert (general["id"], general["timestamp"], general["api_name"], general["url"]) == (rid, at(1), "Orders API", "https://api.example.com/orders/1")
    assert (general["customer_id"], general["customer_name"], general["country"], general["country_name"]) == ("cust_a", "Alpha Inc", "US", "United States")
    assert detail["request_headers"] == {"authorization": "Bearer ****"}
    assert (detail["query"], detail["request_body"], detail["response_headers"], detail["response_body"]) == ({}, None, {}, {"ok": True})
    assert (detail["errors"], detail["metadata_error"], detail["threat_reasons"]) == ([], None, [])
    assert detail["sdk"] == {"name": "django", "version": "20"}
    assert detail["server"] == {}


@pytest.mark.usefixtures("writes")
def test_detail_keeps_errors_and_threat_reasons(engine, apis):
    req = make_request(timestamp=at(0), errors=[{"source": "onError", "type": "E", "message": "boom", "file": "a.py", "line": 3}],
                       threat_level="High", threat_reasons=["sql_injection"], metadata_error="treblle-metadata is not valid JSON")
    (rid,) = store.write_requests(engine, [(apis["orders"], req)])
    detail = request_detail(engine, WORKSPACE, rid)
    assert detail["errors"] == [{"source": "onError", "type": "E", "message": "boom", "file": "a.py", "line": 3}]
    assert (detail["threat_reasons"], detail["metadata_error"]) == (["sql_injection"], "treblle-metadata is not valid JSON")


@pytest.mark.usefixtures("writes")
def test_customer_sees_an_errors_type_and_message_but_not_the_servers_file_and_line(engine, apis):
    req = make_request(timestamp=at(0), errors=[
        {"source": "onException", "type": "UNHANDLED_EXCEPTION", "message": "probe failure", "file": "/srv/app/urls.py", "line": 15},
        {"message": "no type given", "file": "/srv/app/views.py", "line": 7}])
    (rid,) = store.write_requests(engine, [(apis["orders"], req)])
    detail = request_detail(engine, Scope.customer("cust_a"), rid)
    assert detail["errors"] == [{"type": "UNHANDLED_EXCEPTION", "message": "probe failure"}, {"message": "no type given"}]


@pytest.mark.usefixtures("writes")
def test_a_credential_stored_before_ingest_masked_it_is_shown_masked(engine, apis):
    # Rows stored by a release whose masking missed a token in free text, or a SECRET_KEY field, keep them in the
    # database; the details read them masked. (make_request skips ingest, as those rows did.)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.S3cr3tSignature9"
    req = make_request(timestamp=at(0), status=401, request_body={"SECRET_KEY": "hunter2hunter2", "note": "ok"},
                       response_body={"error": {"message": f"token Bearer {jwt} rejected"}},
                       errors=[{"type": "AuthError", "message": f"bad {jwt}"}], query={"q": f"Bearer {jwt}"},
                       response_headers={"x-debug": f"jwt={jwt}"}, server={"signature": jwt},
                       url="https://api.example.com/v1/geo?key=AIzaSyZ91234567890abcdefghijklmnopqrstuv",
                       user_agent="client/1.0 (sk_live_51HxYzAbCdEfGhIjKlMnOpQr)")
    (rid,) = store.write_requests(engine, [(apis["orders"], req)])
    detail = request_detail(engine, WORKSPACE, rid)
    shown = str(detail)
    assert "S3cr3tSignature9" not in shown and "hunter2" not in shown
    # The URL and user agent of such a row too (a known service's key: masked at ingest since).
    assert "SyZ91234567890" not in shown and "51HxYzAbCdEf" not in shown
    assert (detail["general"]["url"], detail["general"]["user_agent"]) == (
        "https://api.example.com/v1/geo?key=AIza" + "*" * 32, "client/1.0 (sk_live_" + "*" * 24 + ")")
    assert detail["request_body"] == {"SECRET_KEY": "**************", "note": "ok"}
    assert detail["response_body"]["error"]["message"].startswith("token Bearer ****")
    assert detail["errors"][0]["message"].startswith("bad ****")
    groups = error_groups_page(engine, WORKSPACE, window("24h", NOW + dt.timedelta(hours=1))).groups
    [message] = groups.filter(pl.col("status") == 401).get_column("message").to_list()
    assert message.startswith("bad ****") and "S3cr3tSignature9" not in str(groups.to_dicts())


def test_customer_sees_their_own_detail_without_server_facts(engine, apis):
    detail = request_detail(engine, Scope.customer("cust_a"), ids_by_hour(engine)[1])
    assert detail["general"]["customer_id"] == "cust_a"
    assert "server" not in detail


def test_another_customers_request_looks_exactly_like_a_missing_one(engine, apis):
    by_hour = ids_by_hour(engine)
    other, missing = by_hour[3], max(by_hour.values()) + 1000
    with pytest.raises(store.NotFound) as not_theirs:
        request_detail(engine, Scope.customer("cust_a"), other)
    with pytest.raises(store.NotFound) as absent:
        request_detail(engine, Scope.customer("cust_a"), missing)
    assert str(not_theirs.value) == f"No request with id {other}."
    assert str(absent.value) == f"No request with id {missing}."


def test_a_request_without_customer_is_hidden_from_customers(engine, apis):
    rid = ids_by_hour(engine)[4]
    with pytest.raises(store.NotFound, match=f"^No request with id {rid}.$"):
        request_detail(engine, Scope.customer("cust_a"), rid)


def test_a_malformed_request_id_is_not_found(engine, apis):
    with pytest.raises(store.NotFound, match="^No request with id abc.$"):
        request_detail(engine, WORKSPACE, "abc")
