"""Choices of the request history's filter widgets: the values present in a slice of requests.

Collecting them reads every row of the slice (a month of every API took 4 s at 10 million requests, at every
minute the page's window moved on). For the workspace, the values of each API's settled hours (core.storage.rollups:
the collector no longer writes there; a write that does moves the rollup epoch) are kept in this process once read,
by whole UTC day or by hour, so a window reads only what it has not read before: its first and last partial hours,
and the hours not settled yet. The workspace's are kept per API, read through the (api_id, timestamp) index; a
Customer's per customer, read through theirs (a busy customer's month took 2-4 s at 10 million requests).
"""
from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterable

import orjson
import sqlalchemy as sa

from core.domain.record import THREAT_LEVELS
from core.domain.scope import Scope
from core.domain.timewindow import Window, ceil_hour, floor_hour
from core.storage import rollups
from core.storage.models import Api, Request
from core.storage.request_log import ANY_AI_AGENT, NO_AI_AGENT, STATUS_CLASSES, base_conditions

COLUMNS = (Request.method, Request.status, Request.endpoint, Request.threat_level, Request.device, Request.ai_agent, Request.country)
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
OPTIONS_LIMIT = 1000  # the longest list of distinct values offered for one filter widget
MAX_BLOCKS = 20_000  # value sets of (API, day or hour) kept, least recently used dropped first
Values = tuple[frozenset, ...]  # one set per column of COLUMNS

_kept: OrderedDict[tuple, Values] = OrderedDict()  # (database, epoch, API, start, end) → the values of its requests
_lock = threading.Lock()


def filter_options(engine: sa.Engine, scope: Scope, api_id: int | None, window: Window | None) -> dict:
    """Values present in the scoped slice, for filter widgets.

    Keys: methods, status_classes, statuses, endpoints, threat_levels, devices, ai_agents
    (ANY_AI_AGENT when some agent is present, NO_AI_AGENT when some request has none, then the
    names), countries (codes, then None when some are unknown). Lists hold at most OPTIONS_LIMIT values.
    """
    with engine.connect() as conn:
        values = _read(conn, base_conditions(scope, api_id, window)) if window is None else _window_values(conn, scope, api_id, window)
    return _options(values)


def _window_values(conn: sa.Connection, scope: Scope, api_id: int | None, window: Window) -> Values:
    """The values of every request of the window the scope sees (on one API, or every API): its whole settled hours
    from memory once read (as whole UTC days where it holds them, else hour by hour), the rest read now. The
    workspace's sets are kept per API; a Customer's per customer (never shown to anyone else: the key names them)."""
    epoch = rollups.epoch(conn)
    if scope.is_customer:
        slices: list[int | None] = [api_id]  # the customer's own rows, through their index
    else:
        slices = [api_id] if api_id is not None else list(conn.execute(sa.select(Api.id).order_by(Api.id)).scalars())
    first, last = ceil_hour(window.start), min(floor_hour(window.end), rollups.settled_before())
    if first >= last:  # no whole settled hour inside
        return _union([_read(conn, _where(scope, api, window.start, window.end)) for api in slices])
    database = conn.engine.url.render_as_string(hide_password=False)
    wanted = [(database, epoch, scope.customer_id, api, *block) for api in slices for block in _blocks(first, last)]
    with _lock:
        held = {key: _kept[key] for key in wanted if key in _kept}
        for key in held:
            _kept.move_to_end(key)
    # Each block missing is read alone: a range of one index, without a GROUP BY's sort.
    found = {key: _read(conn, _where(scope, key[3], key[4], key[5])) for key in wanted if key not in held}
    if found:
        with _lock:
            _kept.update(found)
            while len(_kept) > MAX_BLOCKS:
                _kept.popitem(last=False)
    parts = [*held.values(), *found.values()]
    for start, end in ((window.start, first), (last, window.end)):
        if start < end:
            parts += [_read(conn, _where(scope, api, start, end)) for api in slices]
    return _union(parts)


def _where(scope: Scope, api_id: int | None, start: dt.datetime, end: dt.datetime) -> list:
    """The scope's requests of one API (None: every API, for a Customer) in [start, end): a range of the
    (api_id, timestamp) index, or of a Customer's (customer_id, timestamp)."""
    return base_conditions(scope, api_id, Window(start, end, "1h", "custom"))


def _blocks(first: dt.datetime, last: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """[first, last) (whole hours) cut into whole UTC days, and single hours where a day is not whole."""
    blocks, at = [], first
    while at < last:
        midnight = at.replace(hour=0)
        step = DAY if at == midnight and midnight + DAY <= last else HOUR
        blocks.append((at, at + step))
        at += step
    return blocks


def _aggregates(dialect: str) -> list:
    # One pass collecting every distinct set (seven DISTINCT queries would read the slice seven times).
    if dialect == "sqlite":
        return [sa.func.json_group_array(c.distinct()) for c in COLUMNS]
    return [sa.func.array_agg(c.distinct()) for c in COLUMNS]


def _values(row: Iterable) -> Values:
    return tuple(frozenset(orjson.loads(v) if isinstance(v, str) else (v or [])) for v in row)


def _read(conn: sa.Connection, conds: list) -> Values:
    return _values(conn.execute(sa.select(*_aggregates(conn.dialect.name)).where(*conds)).one())


def _union(parts: list[Values]) -> Values:
    return tuple(frozenset().union(*(p[i] for p in parts)) for i in range(len(COLUMNS)))


_EMPTY: Values = tuple(frozenset() for _ in COLUMNS)


def _options(values: Values) -> dict:
    methods, statuses, endpoints, threats, devices, agents, countries = values

    def ordered(items) -> list:
        present = [v for v in items if v is not None]
        return sorted(present)[:OPTIONS_LIMIT] + ([None] if None in items else [])

    names = ordered(agents)[:-1] if None in agents else ordered(agents)
    return {
        "methods": ordered(methods),
        "status_classes": sorted({f"{s // 100}xx" for s in statuses if s is not None} & set(STATUS_CLASSES)),
        "statuses": ordered(statuses),
        "endpoints": ordered(endpoints),
        "threat_levels": [t for t in THREAT_LEVELS if t in threats] + sorted(t for t in threats if t is not None and t not in THREAT_LEVELS),
        "devices": ordered(devices),
        "ai_agents": ([ANY_AI_AGENT] if names else []) + ([NO_AI_AGENT] if None in agents else []) + names,
        "countries": ordered(countries),
    }
