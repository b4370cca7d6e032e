"""PostgreSQL: `requests` and `request_details` partitioned by month of the request's timestamp (declarative
range partitioning), so `prune` drops a month's two partitions instead of deleting its rows one by one, and each
month's indexes stay the size of a month.

Each of the two tables is a parent partitioned BY RANGE (timestamp) with
- one partition per calendar month (UTC), `<table>_pYYYYMM`, created ahead by `ensure` (this month and the next
  AHEAD_MONTHS) at every start (init_db), and by `cover` for the months of a batch about to be written (the
  first batch of a new month, an import of last year's data), back to HISTORY_MONTHS;
- a DEFAULT partition, `<table>_pdefault`, for the rows no month takes: older than HISTORY_MONTHS, or dated
  further ahead than AHEAD_MONTHS by a clock that lies. Making a month moves its rows out of it.

PostgreSQL requires a partitioned table's keys to hold the partition key: the primary keys are (id, timestamp)
and (request_id, timestamp), and request_details has no foreign key to requests (it could only refer to both
columns). What the key ensured, the writers do: a request and its details are written in one transaction
(store.write_requests) and pruned together (core.storage.prune).
SQLite has none of this; request_details.timestamp stays NULL there.
"""
from __future__ import annotations

import datetime as dt
import re
import weakref
from collections.abc import Iterable

import sqlalchemy as sa

AHEAD_MONTHS = 2  # months created before their first request, so the collector never waits for one
HISTORY_MONTHS = 24  # months before now that get a partition of their own when rows of theirs are written
TABLES = ("requests", "request_details")
_KEYS = {"requests": "id, timestamp", "request_details": "request_id, timestamp"}
_MONTH = re.compile(r"^requests_p(\d{4})(\d{2})$")
_PARTITION = re.compile(r"^(requests|request_details)_p(\d{6}|default)$")


def is_partition(table: str) -> bool:
    """A partition's name (of a month, or the default one): a table the models do not describe."""
    return _PARTITION.match(table) is not None


def month_of(ts: dt.datetime) -> dt.datetime:
    """The first instant of ts's month (UTC), naive: what PostgreSQL's timestamp columns hold."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return dt.datetime(ts.year, ts.month, 1)


def next_month(month: dt.datetime) -> dt.datetime:
    return dt.datetime(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: dt.datetime) -> dt.datetime:
    return dt.datetime(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def name_of(table: str, month: dt.datetime) -> str:
    return f"{table}_p{month:%Y%m}"


def applies(conn: sa.Connection) -> bool:
    """This database partitions: PostgreSQL, at or after migration 0008."""
    return conn.dialect.name == "postgresql" and bool(conn.exec_driver_sql(
        "SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('requests')").scalar())


def months(conn: sa.Connection) -> list[dt.datetime]:
    """The months that have their partition (of requests; request_details has the same ones), oldest first."""
    names = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass('requests')").scalars()
    found = [_MONTH.match(name) for name in names]
    return sorted(dt.datetime(int(m.group(1)), int(m.group(2)), 1) for m in found if m)


def wanted(now: dt.datetime) -> list[dt.datetime]:
    """The months `ensure` makes: now's and the next AHEAD_MONTHS."""
    month, out = month_of(now), []
    for _ in range(AHEAD_MONTHS + 1):
        out.append(month)
        month = next_month(month)
    return out


def _lock(conn: sa.Connection) -> None:
    """One process changes the partitions of a schema at a time (collectors and app processes start together)."""
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('clientele-partitions:' || current_schema()))")


def _literal(ts: dt.datetime) -> str:
    return f"'{ts:%Y-%m-%d %H:%M:%S}'"  # from a datetime: nothing of a user's reaches the DDL


def ensure(engine: sa.Engine, now: dt.datetime | None = None, *, covering: Iterable[dt.datetime] = ()) -> list[str]:
    """Create the month partitions missing for this month and the next AHEAD_MONTHS, and for the months of
    `covering` (times about to be written) back to HISTORY_MONTHS before now; returns the names created. Only
    reads when they exist (every start calls this); nothing on SQLite or before migration 0008."""
    if engine.dialect.name != "postgresql":
        return []
    now = now or dt.datetime.now(dt.timezone.utc)
    ahead, oldest, asked = wanted(now), _history_start(now), {month_of(t) for t in covering}
    needed = set(ahead) | {m for m in asked if oldest <= m <= ahead[-1]}
    with engine.connect() as conn:
        if not applies(conn):
            return []
        have = set(months(conn))
    missing = sorted(needed - have)
    if missing:
        with engine.begin() as conn:
            _lock(conn)
            have = set(months(conn))  # again: another process may have made them meanwhile
            missing = sorted(needed - have)
            for month in missing:
                add_month(conn, month)
    _handled[engine] = have | set(missing) | asked
    return [name_of(table, month) for month in missing for table in TABLES]


# Per engine, the months whose requests have their place: a partition, or (too old, too far ahead) the default one.
# A batch of them costs no query (cover).
_handled: weakref.WeakKeyDictionary[sa.Engine, set[dt.datetime]] = weakref.WeakKeyDictionary()


def cover(engine: sa.Engine, times: Iterable[dt.datetime]) -> None:
    """Before requests of these times are written (store.write_requests): the partitions of their months, made
    if missing (a file import of last year, the demo's weeks, the first batch of a month). No query when known."""
    if engine.dialect.name != "postgresql":
        return
    utc = dt.timezone.utc
    seen = {(t.year, t.month) for t in (t if t.tzinfo in (None, utc) else t.astimezone(utc) for t in times)}
    asked = {dt.datetime(year, month, 1) for year, month in seen}
    if not asked <= _handled.get(engine, set()):
        ensure(engine, covering=asked)


def _history_start(now: dt.datetime) -> dt.datetime:
    """The oldest month given a partition of its own (older rows go to the default partition)."""
    month = month_of(now)
    for _ in range(HISTORY_MONTHS):
        month = previous_month(month)
    return month


def add_month(conn: sa.Connection, month: dt.datetime) -> None:
    """Attach both tables' partitions of `month`, moving its rows out of the DEFAULT partitions (PostgreSQL
    refuses a new partition while the default one holds rows of its range)."""
    low, high = _literal(month), _literal(next_month(month))
    for table in TABLES:
        name = name_of(table, month)
        conn.exec_driver_sql(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS)')
        conn.exec_driver_sql(
            f'WITH moved AS (DELETE FROM "{table}_pdefault" WHERE timestamp >= {low} AND timestamp < {high} RETURNING *) '
            f'INSERT INTO "{name}" SELECT * FROM moved')
        conn.exec_driver_sql(f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM ({low}) TO ({high})')


def drop_month(conn: sa.Connection, month: dt.datetime) -> int:
    """Drop both tables' partitions of `month`; returns how many requests they held."""
    count = conn.exec_driver_sql(f'SELECT count(*) FROM "{name_of("requests", month)}"').scalar_one()
    conn.exec_driver_sql(f'DROP TABLE "{name_of("request_details", month)}", "{name_of("requests", month)}"')
    return int(count)


def adopt(conn: sa.Connection, now: dt.datetime | None = None) -> None:
    """Turn the two plain tables (with their rows) into partitioned ones (migration 0008). The rows are copied;
    request_details.timestamp is filled from their requests."""
    if conn.dialect.name != "postgresql" or applies(conn):
        return
    now = now or dt.datetime.now(dt.timezone.utc)
    seen = conn.exec_driver_sql("SELECT DISTINCT date_trunc('month', timestamp) FROM requests "
                                f"WHERE timestamp >= {_literal(_history_start(now))}").scalars()
    ahead = wanted(now)
    inspector = sa.inspect(conn)
    for statement in adopt_sql(
        sorted(set(ahead) | {m for m in seen if m < next_month(ahead[-1])}),
        conn.exec_driver_sql("SELECT pg_get_serial_sequence('requests', 'id')").scalar_one(),
        [c["name"] for c in inspector.get_columns("request_details")],
        [(ix["name"], ix["column_names"], ix.get("dialect_options", {}).get("postgresql_where"))
         for ix in inspector.get_indexes("requests") if not ix["unique"]],
    ):
        conn.exec_driver_sql(statement)
    # New tables have no statistics, and autovacuum never analyzes a partitioned parent: without them the planner
    # took a month of rows for one and scanned it whole to fetch a page of 50 by id.
    conn.exec_driver_sql("ANALYZE requests, request_details")


def adopt_sql(months: list[dt.datetime], sequence: str, detail_columns: list[str],
              indexes: list[tuple[str, list[str], str | None]]) -> list[str]:
    """adopt's statements, given what it reads first: the months to partition, the sequence of requests.id,
    request_details' columns and requests' (non-unique) indexes (name, columns, a partial index's condition or None),
    which are made again on the new table."""
    out = []
    for table in TABLES:
        out.append(f'CREATE TABLE "{table}_new" (LIKE "{table}" INCLUDING DEFAULTS) PARTITION BY RANGE (timestamp)')
        out.append(f'CREATE TABLE "{table}_pdefault" PARTITION OF "{table}_new" DEFAULT')
        out.extend(f'CREATE TABLE "{name_of(table, month)}" PARTITION OF "{table}_new" '
                   f'FOR VALUES FROM ({_literal(month)}) TO ({_literal(next_month(month))})' for month in months)
    copied = [c for c in detail_columns if c != "timestamp"]
    listed, selected = ", ".join(f'"{c}"' for c in copied), ", ".join(f'd."{c}"' for c in copied)
    out += [
        'ALTER TABLE "request_details_new" ALTER COLUMN timestamp SET NOT NULL',
        'INSERT INTO "requests_new" SELECT * FROM "requests"',
        f'INSERT INTO "request_details_new" ({listed}, timestamp) SELECT {selected}, r.timestamp '
        'FROM "request_details" d JOIN "requests" r ON r.id = d.request_id',
        f"ALTER SEQUENCE {sequence} OWNED BY NONE",  # else dropping the old table drops it
        'DROP TABLE "request_details", "requests"',
    ]
    for table in TABLES:
        out.append(f'ALTER TABLE "{table}_new" RENAME TO "{table}"')
        out.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY ({_KEYS[table]})')
    out.append(f"ALTER SEQUENCE {sequence} OWNED BY requests.id")
    out.append('ALTER TABLE "requests" ADD CONSTRAINT "requests_api_id_fkey" FOREIGN KEY (api_id) REFERENCES apis (id) ON DELETE CASCADE')
    for name, columns, where in indexes:
        out.append(f'CREATE INDEX "{name}" ON "requests" ({", ".join(chr(34) + c + chr(34) for c in columns)})'
                   + (f" WHERE {where}" if where else ""))
    return out
