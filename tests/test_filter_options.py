"""core.storage.filter_options: the request history's filter choices are exactly the values of the window's requests,
whether read now or kept from an earlier read of the same settled hours; a later minute of the same window reads
only the hours it has not read; a write into a settled hour is seen at once. SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.domain.scope import Scope
from core.domain.timewindow import Window, window
from core.storage import filter_options as fo
from core.storage import store
from core.storage.models import utcnow
from core.storage.request_log import base_conditions
from tests.factories import make_request

WORKSPACE = Scope.workspace()
CHOICES = {  # each request gets one of each, by its number
    "method": ["GET", "POST", "DELETE"], "status": [200, 201, 404, 503, 302], "endpoint": ["/a", "/b/{id}", "/c"],
    "threat_level": ["Low", "Medium", "High"], "device": ["desktop", "mobile", "bot", "tablet"],
    "ai_agent": [None, "GPTBot", None, "ClaudeBot"], "country": ["US", "DE", None, "JP", "FR", "BR", "IN"],
}


@pytest.fixture(autouse=True)
def _forget_kept_hours():
    fo._kept.clear()
    yield
    fo._kept.clear()


def _write(engine: sa.Engine, api: int, end: dt.datetime, n: int, *, every: dt.timedelta, offset: int = 0) -> None:
    rows = []
    for i in range(n):
        pick = {k: v[(i + offset) * (j + 1) % len(v)] for j, (k, v) in enumerate(CHOICES.items())}
        rows.append((api, make_request(timestamp=end - (i + 1) * every, customer_id=f"c{i % 5}", **pick)))
    store.write_requests(engine, rows)


def _apis(engine: sa.Engine) -> tuple[int, int]:
    a = store.create_api(engine, "Orders", api_key="orders-key")["api_id"]
    b = store.create_api(engine, "Billing", api_key="billing-key")["api_id"]
    return a, b


def _read_now(engine: sa.Engine, api_id: int | None, win: Window) -> dict:
    """The options as one read of every row of the slice gives them (what filter_options returned before it kept any)."""
    with engine.connect() as conn:
        return fo._options(fo._read(conn, base_conditions(WORKSPACE, api_id, win)))


def test_the_choices_of_settled_hours_kept_or_read_now_are_those_of_the_windows_rows(engine):
    a, b = _apis(engine)
    end = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
    _write(engine, a, end, 400, every=dt.timedelta(minutes=17))
    _write(engine, b, end, 150, every=dt.timedelta(minutes=41), offset=3)
    windows = [window("24h", end + dt.timedelta(minutes=7)), window("7d", end - dt.timedelta(hours=30, minutes=23)),
               Window(end - dt.timedelta(hours=50, minutes=10), end - dt.timedelta(hours=3, minutes=50), "1h", "custom"),
               Window(end - dt.timedelta(minutes=50), end - dt.timedelta(minutes=10), "1h", "custom"),
               Window(end - dt.timedelta(days=3), end - dt.timedelta(days=2), "1h", "custom")]
    for _ in range(2):  # read, then from the hours kept
        for win in windows:
            for api in (None, a, b):
                assert fo.filter_options(engine, WORKSPACE, api, win) == _read_now(engine, api, win), (win, api)
    assert fo._kept  # the second round was served from them


def test_hours_not_settled_yet_are_read_every_time(engine):
    a, _ = _apis(engine)
    now = utcnow().replace(second=0, microsecond=0)
    _write(engine, a, now, 30, every=dt.timedelta(minutes=9))
    win = window("24h", now)
    assert fo.filter_options(engine, WORKSPACE, None, win) == _read_now(engine, None, win)
    store.write_requests(engine, [(a, make_request(timestamp=now - dt.timedelta(minutes=2), method="PATCH", country="NZ"))])
    options = fo.filter_options(engine, WORKSPACE, None, win)
    assert "PATCH" in options["methods"] and "NZ" in options["countries"]
    assert options == _read_now(engine, None, win)


def test_a_later_minute_of_a_window_reads_only_its_partial_hours_again(engine):
    # Seen at 10 million requests: each minute the Requests page's window moved on, its filter choices read the whole
    # month again (4 s for every API).
    a, b = _apis(engine)
    end = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
    _write(engine, a, end, 300, every=dt.timedelta(hours=2, minutes=11))
    _write(engine, b, end, 100, every=dt.timedelta(hours=5, minutes=3))
    fo.filter_options(engine, WORKSPACE, None, window("30d", end + dt.timedelta(minutes=36)))
    later = window("30d", end + dt.timedelta(minutes=37))
    options, spans = _with_spans_read(engine, lambda: fo.filter_options(engine, WORKSPACE, None, later))
    assert options == _read_now(engine, None, later)
    assert spans and max(spans) <= dt.timedelta(hours=1)


def test_a_write_into_a_settled_hour_is_among_the_choices_at_once(engine):
    a, _ = _apis(engine)
    end = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
    _write(engine, a, end, 100, every=dt.timedelta(minutes=23))
    win = window("7d", end)
    assert "NZ" not in fo.filter_options(engine, WORKSPACE, None, win)["countries"]
    # An import into a settled hour moves the rollup epoch: the hours kept from before it are not used.
    store.write_requests(engine, [(a, make_request(timestamp=end - dt.timedelta(hours=30), country="NZ", method="PATCH"))])
    options = fo.filter_options(engine, WORKSPACE, None, win)
    assert "NZ" in options["countries"] and "PATCH" in options["methods"]


@pytest.mark.parametrize("api", [None, "Orders"])
def test_a_customers_choices_come_from_their_own_rows_kept_or_read_now(engine, api):
    a, b = _apis(engine)
    api_id = {"Orders": a, None: None}[api]
    end = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
    _write(engine, a, end, 60, every=dt.timedelta(minutes=31))
    _write(engine, b, end, 40, every=dt.timedelta(minutes=47), offset=2)
    store.write_requests(engine, [(a, make_request(timestamp=end - dt.timedelta(hours=2), customer_id="other", country="NZ",
                                                   method="PATCH"))])
    win = window("7d", end + dt.timedelta(minutes=13))
    c1 = Scope.customer("c1")
    with engine.connect() as conn:
        expected = fo._options(fo._read(conn, base_conditions(c1, api_id, win)))
    for _ in range(2):  # read, then from the sets kept (the workspace's sets, kept too, are never a customer's)
        assert fo.filter_options(engine, WORKSPACE, api_id, win) == _read_now(engine, api_id, win)
        mine = fo.filter_options(engine, c1, api_id, win)
        assert mine == expected
        assert "NZ" not in mine["countries"] and "PATCH" not in mine["methods"]
    assert fo.filter_options(engine, Scope.customer("other"), api_id, win)["countries"] == ["NZ"]


def test_a_later_minute_of_a_customers_window_reads_only_its_partial_hours_again(engine):
    # Seen at 10 million requests: the busiest customer's My requests read their whole month again each minute (2-4 s).
    a, _ = _apis(engine)
    end = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
    _write(engine, a, end, 300, every=dt.timedelta(hours=2, minutes=11))
    c1 = Scope.customer("c1")
    fo.filter_options(engine, c1, None, window("30d", end + dt.timedelta(minutes=36)))
    _, spans = _with_spans_read(engine, lambda: fo.filter_options(engine, c1, None, window("30d", end + dt.timedelta(minutes=37))))
    assert spans and max(spans) <= dt.timedelta(hours=1)


def _with_spans_read(engine: sa.Engine, call):
    """call()'s result, and the time span each of its statements on `requests` read (its latest bound time less its
    earliest)."""
    spans = []

    def record(_conn, _cursor, sql, params, _context, _many):
        if "FROM requests" in sql:
            times = [t for v in (params.values() if isinstance(params, dict) else params) if (t := _time(v)) is not None]
            spans.append(max(times) - min(times))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        return call(), spans
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _time(value) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == " ":
        return dt.datetime.fromisoformat(value[:26])
    return None
