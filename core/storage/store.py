"""All reads and writes of the database. Writes of request data go through write_requests."""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import operator
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from core.domain import config
from core.domain.errors import ClienteleError
from core.domain.masking import masked_raw
from core.domain.record import NormalizedRequest
from core.storage import clock_skews, details, partitions, rollups
from core.storage.dialect import insert_for
from core.storage.models import Api, Customer, CustomerApi, RejectedPayload, Request, RequestDetail, SdkToken, UTCDateTime, utcnow


class NotFound(ClienteleError, LookupError):
    """Something named by the user does not exist; the message says what."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


# ---------------------------------------------------------------- APIs and SDK tokens


def new_secret(nbytes: int) -> str:
    """A random URL-safe secret of `nbytes` random bytes that never starts with "-": people pass API keys and
    tokens on command lines (`python -m core ingest FILE --api-key KEY`), where a leading "-" reads as an option
    (one token_urlsafe in 64 starts so)."""
    while True:
        token = secrets.token_urlsafe(nbytes)
        if not token.startswith("-"):
            return token


def create_api(engine: sa.Engine, name: str, api_key: str | None = None, sdk_token: str | None = None) -> dict:
    """Create an API. Returns {"api_id", "api_key", "sdk_token"}; the token is shown only now."""
    name = (name or "").strip()
    if not name:
        raise ValueError("An API needs a name.")
    if len(name) > 200:
        raise ValueError("API names are at most 200 characters.")
    api_key = api_key or new_secret(18)
    sdk_token = sdk_token or new_secret(24)
    with engine.begin() as conn:
        if conn.scalar(sa.select(Api.id).where(Api.name == name)) is not None:
            raise ValueError(f"An API named {name!r} already exists.")
        if conn.scalar(sa.select(Api.id).where(Api.api_key == api_key)) is not None:
            raise ValueError("That API key is already in use.")
        api_id = conn.execute(sa.insert(Api).values(name=name, api_key=api_key, created_at=utcnow()).returning(Api.id)).scalar_one()
        conn.execute(sa.insert(SdkToken).values(api_id=api_id, token_hash=token_hash(sdk_token), created_at=utcnow()))
    return {"api_id": api_id, "api_key": api_key, "sdk_token": sdk_token}


def rotate_sdk_token(engine: sa.Engine, api_id: int) -> str:
    """Revoke every SDK token of the API and issue a new one (returned once)."""
    token = new_secret(24)
    with engine.begin() as conn:
        if conn.scalar(sa.select(Api.id).where(Api.id == api_id)) is None:
            raise NotFound(f"No API with id {api_id}.")
        conn.execute(sa.update(SdkToken).where(SdkToken.api_id == api_id, SdkToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
        conn.execute(sa.insert(SdkToken).values(api_id=api_id, token_hash=token_hash(token), created_at=utcnow()))
    return token


def list_apis(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Api.id, Api.name, Api.api_key, Api.created_at, Api.openapi_uploaded_at).order_by(Api.name))
        return [dict(r._mapping) for r in rows]


def api_by_key(engine: sa.Engine, api_key: str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(Api.id, Api.name, Api.api_key).where(Api.api_key == api_key)).first()
        return dict(row._mapping) if row else None


def valid_token_hashes(engine: sa.Engine) -> dict[str, int]:
    """{sha256 of a live SDK token: api_id}; small enough to keep in memory in the collector."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(SdkToken.token_hash, SdkToken.api_id).where(SdkToken.revoked_at.is_(None)))
        return {h: api_id for h, api_id in rows}


def api_keys(engine: sa.Engine) -> dict[str, int]:
    """{api_key: api_id}."""
    with engine.connect() as conn:
        return {k: i for k, i in conn.execute(sa.select(Api.api_key, Api.id))}


# ---------------------------------------------------------------- request writes


@dataclass
class RequestRows:
    """A batch for write_requests as plain rows, built without the database: the demo builds them in its worker
    processes, in parallel, and the one writer only runs the statements. Details lack their request ids."""

    dialect: str
    requests: list
    details: list
    customers: dict[str, dict]
    customer_apis: list[dict]
    clock_skews: list[dict]
    rollups: rollups.Increments


def write_requests(engine: sa.Engine, items: Sequence[tuple[int, NormalizedRequest]] | RequestRows,
                   received_at: dt.datetime | None = None) -> list[int]:
    """Store normalised, enriched requests in one transaction. Returns their new ids in order.

    Also keeps customers (first/last seen, display name, attributes: latest wins), customer_apis
    (automatic API discovery) and the rollups (core.storage.rollups) up to date, in the same transaction.
    `items` may be request_rows() of them, built ahead (received_at is then the one given there).
    """
    rows = items if isinstance(items, RequestRows) else request_rows(items, engine.dialect.name, received_at)
    if not rows.requests:
        return []
    if rows.dialect != engine.dialect.name:
        raise ValueError(f"rows built for {rows.dialect}, not {engine.dialect.name}")
    if rows.dialect == "postgresql":
        partitions.cover(engine, (row["timestamp"] for row in rows.requests))  # their months' partitions, first
    with engine.begin() as conn:
        insert = _insert_requests_sqlite if rows.dialect == "sqlite" else _insert_requests_orm
        ids = insert(conn, rows)
        _upsert_customers(conn, rows.customers)
        _upsert_customer_apis(conn, rows.customer_apis)
        clock_skews.upsert(conn, rows.clock_skews)
        rollups.add_increments(conn, rows.rollups)
    return ids


def request_rows(items: Sequence[tuple[int, NormalizedRequest]], dialect: str, received_at: dt.datetime | None = None) -> RequestRows:
    """write_requests' rows of these requests for a database of this dialect ("sqlite" or "postgresql")."""
    received_at = received_at or utcnow()
    if dialect == "sqlite":
        requests, detail_rows = _sqlite_rows(items, received_at)
    else:
        requests = [_request_row(api_id, r, received_at) for api_id, r in items]
        detail_rows = [_detail_row(r) for _api, r in items]
    return RequestRows(dialect, requests, detail_rows, _customer_changes(r for _api, r in items), _customer_api_rows(items),
                       clock_skews.rows_of(items), rollups.increments(items, dialect))


# The columns of `requests` and `request_details`, read off the tables (models.py defines them once). Every
# column but the ids, api_id and received_at has the name of the NormalizedRequest field it stores.
_REQUEST_COLUMNS = tuple(c.name for c in Request.__table__.columns if c.name != "id")
_REQUEST_FIELDS = tuple(c for c in _REQUEST_COLUMNS if c not in ("api_id", "received_at"))
# A detail row: its packed fields (core.storage.details, one compressed column) and the columns stored as they
# are; the legacy JSON columns of the packed fields stay NULL in new rows, and so does `timestamp` on SQLite.
_DETAIL_FIELDS = tuple(c.name for c in RequestDetail.__table__.columns
                       if c.name not in ("request_id", "packed", "timestamp") and c.name not in details.PACKED_FIELDS)
_DETAIL_COLUMNS = ("request_id", *_DETAIL_FIELDS, "packed")
_EMPTY_AS_NULL = frozenset({"errors", "threat_reasons"})  # [] / {} are stored as NULL
_request_fields = operator.attrgetter(*_REQUEST_FIELDS)
_detail_fields = operator.attrgetter(*_DETAIL_FIELDS)
_packed_fields = operator.attrgetter(*details.PACKED_FIELDS)


def _packed(r: NormalizedRequest) -> bytes:
    return details.pack_in_order(_packed_fields(r))


def _request_row(api_id: int, r: NormalizedRequest, received_at: dt.datetime) -> dict:
    return {"api_id": api_id, **dict(zip(_REQUEST_FIELDS, _request_fields(r))), "received_at": received_at}


def _detail_row(r: NormalizedRequest) -> dict:
    row = dict(zip(_DETAIL_FIELDS, _detail_fields(r)))
    for name in _EMPTY_AS_NULL:
        row[name] = row[name] or None
    row["packed"] = _packed(r)
    row["timestamp"] = r.timestamp  # PostgreSQL's partition key (core.storage.partitions); SQLite leaves it NULL
    return row


def _insert_requests_orm(conn: sa.Connection, rows: RequestRows) -> list[int]:
    ids = list(conn.execute(sa.insert(Request).returning(Request.id, sort_by_parameter_order=True), rows.requests).scalars())
    conn.execute(sa.insert(RequestDetail), [{"request_id": rid, **row} for rid, row in zip(ids, rows.details)])
    return ids


_SQLITE_REQUEST_ORDER = ("api_id", *_REQUEST_FIELDS, "received_at")  # the order of the tuples below
_SQLITE_INSERT_REQUESTS = f"INSERT INTO requests ({', '.join(_SQLITE_REQUEST_ORDER)}) VALUES ({', '.join('?' * len(_SQLITE_REQUEST_ORDER))})"
_SQLITE_INSERT_DETAILS = f"INSERT INTO request_details ({', '.join(_DETAIL_COLUMNS)}) VALUES ({', '.join('?' * len(_DETAIL_COLUMNS))})"
# Positions, in the SQLite rows below, of the values stored as text: times, JSON, and empty → NULL.
_TIME_FIELDS = tuple(i for i, c in enumerate(_REQUEST_FIELDS) if isinstance(Request.__table__.c[c].type, UTCDateTime))
_JSON_FIELDS = tuple(i for i, c in enumerate(_DETAIL_FIELDS) if isinstance(RequestDetail.__table__.c[c].type, sa.JSON))
_NULL_FIELDS = tuple(i for i, c in enumerate(_DETAIL_FIELDS) if c in _EMPTY_AS_NULL)


def _sqlite_time(value: dt.datetime) -> str:
    """The text SQLAlchemy stores on SQLite for a UTCDateTime: naive UTC with microseconds."""
    if value.tzinfo is dt.timezone.utc:
        return value.isoformat(" ", "microseconds")[:26]  # drop "+00:00"
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _json_text(value) -> str:
    """A JSON column's stored text (None → 'null', as the ORM stores it); orjson is ~10x faster than json."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value)


def _sqlite_rows(items: Sequence[tuple[int, NormalizedRequest]], received_at: dt.datetime) -> tuple[list[tuple], list[list]]:
    """The SQLite fast path of write_requests: plain tuples for executemany, no per-value ORM processing (4x faster)."""
    received = _sqlite_time(received_at)
    requests, detail_rows = [], []
    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    for api_id, r in items:
        values = list(_request_fields(r))
        for i in _TIME_FIELDS:
            values[i] = _sqlite_time(values[i])
        requests.append((api_id, *values, received))
        values = list(_detail_fields(r))
        for i in _NULL_FIELDS:
            values[i] = values[i] or None
        try:  # _json_text inlined: two values a request, mostly empty (None)
            for i in _JSON_FIELDS:
                values[i] = "null" if values[i] is None else dumps(values[i], option=option).decode()
        except (TypeError, orjson.JSONEncodeError):  # a value orjson cannot write: the whole row the slow way
            values = list(_detail_fields(r))
            for i in _NULL_FIELDS:
                values[i] = values[i] or None
            for i in _JSON_FIELDS:
                values[i] = _json_text(values[i])
        values.append(_packed(r))
        detail_rows.append(values)
    return requests, detail_rows


def _insert_requests_sqlite(conn: sa.Connection, rows: RequestRows) -> list[int]:
    conn.exec_driver_sql(_SQLITE_INSERT_REQUESTS, rows.requests)
    # This transaction holds SQLite's write lock, and a new row's id is max(id) + 1: ours are the last len(items).
    if not conn.connection.driver_connection.in_transaction:
        raise RuntimeError("write_requests needs a transaction on SQLite (is the engine in autocommit mode?)")
    last = conn.exec_driver_sql("SELECT max(id) FROM requests").scalar()
    ids = list(range(last - len(rows.requests) + 1, last + 1))
    conn.exec_driver_sql(_SQLITE_INSERT_DETAILS, [(rid, *values) for rid, values in zip(ids, rows.details)])
    return ids


def _customer_changes(requests: Iterable[NormalizedRequest]) -> dict[str, dict]:
    """customer_id → what this batch says of the customer: first and last seen, latest name and attributes."""
    seen: dict[str, dict] = {}
    for r in requests:
        cid, ts = r.customer_id, r.timestamp
        if cid is None:
            continue
        c = seen.get(cid)
        if c is None:
            c = seen[cid] = {"first": ts, "last": ts, "name": None, "name_ts": None, "attrs": {}, "attrs_ts": None}
        elif ts < c["first"]:
            c["first"] = ts
        elif ts > c["last"]:
            c["last"] = ts
        if r.display_name and (c["name_ts"] is None or ts >= c["name_ts"]):
            c["name"], c["name_ts"] = r.display_name, ts
        if r.customer_attributes and (c["attrs_ts"] is None or ts >= c["attrs_ts"]):
            c["attrs"] = {**c["attrs"], **r.customer_attributes}
            c["attrs_ts"] = ts
    return seen


def _upsert_customers(conn: sa.Connection, seen: dict[str, dict]) -> None:
    if not seen:
        return
    existing = {}
    for chunk in _chunks(list(seen), 500):
        for row in conn.execute(_customers_known(), {"ids": chunk}):
            existing[row.customer_id] = row
    inserts, updates = [], []
    for cid, c in sorted(seen.items()):  # key order: concurrent writers lock customers in one order
        old = existing.get(cid)
        if old is None:
            inserts.append({
                "customer_id": cid, "display_name": c["name"], "attributes": c["attrs"] or None,
                "attributes_updated_at": max((t for t in (c["name_ts"], c["attrs_ts"]) if t is not None), default=None),
                "first_seen": c["first"], "last_seen": c["last"],
            })
            continue
        change: dict = {}
        if old.first_seen is None or c["first"] < old.first_seen:
            change["first_seen"] = c["first"]
        if old.last_seen is None or c["last"] > old.last_seen:
            change["last_seen"] = c["last"]
        # attributes_updated_at is the time of the latest metadata seen: name and attributes alike.
        meta_ts = max((t for t in (c["name_ts"], c["attrs_ts"]) if t is not None), default=None)
        newer = old.attributes_updated_at is None or (meta_ts is not None and meta_ts >= old.attributes_updated_at)
        if c["name"] and c["name"] != old.display_name and (newer or old.display_name is None):
            change["display_name"] = c["name"]
            change["attributes_updated_at"] = max(meta_ts, old.attributes_updated_at or meta_ts)
        if c["attrs"] and newer:
            merged = {**(old.attributes or {}), **c["attrs"]}
            if merged != (old.attributes or {}):
                change["attributes"] = merged
                change["attributes_updated_at"] = max(meta_ts, old.attributes_updated_at or meta_ts)
        if change:
            updates.append((cid, change))
    if inserts:
        # executemany of one cached statement: multi-row VALUES would be compiled anew for every batch.
        conn.execute(_customers_insert(conn.dialect.name), inserts)
    # One executemany per set of changed columns instead of one UPDATE per customer.
    groups: dict[tuple[str, ...], list[dict]] = {}
    for cid, change in updates:
        groups.setdefault(tuple(sorted(change)), []).append({"b_customer_id": cid, **{f"b_{k}": v for k, v in change.items()}})
    for keys, params in groups.items():
        conn.execute(_customers_update(keys), params)


# Statements are built once (per dialect, per set of columns), not per batch: building the upserts (their
# `excluded` columns, their CASEs) took about a tenth of a collector process's time at 64 concurrent senders,
# whose batches are small. SQLAlchemy then finds each one's compiled form in its cache.
@functools.cache
def _customers_known() -> sa.Select:
    return (sa.select(Customer.customer_id, Customer.display_name, Customer.attributes, Customer.attributes_updated_at,
                      Customer.first_seen, Customer.last_seen)
            .where(Customer.customer_id.in_(sa.bindparam("ids", expanding=True))))


@functools.cache
def _customers_insert(dialect: str) -> sa.Insert:
    return insert_for(dialect, Customer.__table__).on_conflict_do_nothing(index_elements=["customer_id"])


@functools.cache
def _customers_update(keys: tuple[str, ...]) -> sa.Update:
    table = Customer.__table__
    return sa.update(table).where(table.c.customer_id == sa.bindparam("b_customer_id")).values({k: sa.bindparam(f"b_{k}") for k in keys})


def _customer_api_rows(items: Sequence[tuple[int, NormalizedRequest]]) -> list[dict]:
    pairs: dict[tuple[str, int], list] = {}
    for api_id, r in items:
        if r.customer_id is None:
            continue
        key = (r.customer_id, api_id)
        span = pairs.get(key)
        if span is None:
            pairs[key] = [r.timestamp, r.timestamp]
        else:
            span[0] = min(span[0], r.timestamp)
            span[1] = max(span[1], r.timestamp)
    # In key order: two collectors upserting the same pairs then lock them in the same order (no deadlock on PostgreSQL).
    return [{"customer_id": cid, "api_id": api, "first_seen": first, "last_seen": last} for (cid, api), (first, last) in sorted(pairs.items())]


def _upsert_customer_apis(conn: sa.Connection, rows: list[dict]) -> None:
    if rows:
        conn.execute(_customer_apis_upsert(conn.dialect.name), rows)  # executemany of one cached statement


@functools.cache
def _customer_apis_upsert(dialect: str) -> sa.Insert:
    table = CustomerApi.__table__
    stmt = insert_for(dialect, table)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["customer_id", "api_id"],
        set_={
            "first_seen": sa.case((excluded.first_seen < table.c.first_seen, excluded.first_seen), else_=table.c.first_seen),
            "last_seen": sa.case((table.c.last_seen.is_(None), excluded.last_seen), (excluded.last_seen > table.c.last_seen, excluded.last_seen),
                                 else_=table.c.last_seen),
        },
    )


def future_requests(engine: sa.Engine, now: dt.datetime) -> tuple[int, dt.datetime | None]:
    """(how many stored requests are dated after `now`, the latest of those dates)."""
    with engine.connect() as conn:
        api_ids = list(conn.execute(sa.select(Api.id)).scalars())
        if not api_ids:
            return 0, None
        # api_id IN (...) lets both databases seek the (api_id, timestamp) index instead of scanning.
        row = conn.execute(
            sa.select(sa.func.count(), sa.func.max(Request.timestamp)).where(Request.api_id.in_(api_ids), Request.timestamp > now)
        ).one()
    return int(row[0]), row[1]


def _chunks(seq: list, size: int):
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


# ---------------------------------------------------------------- rejected payloads


def reject(engine_or_conn, source: str, reason: str, raw: bytes | str | None, api_id: int | None = None,
           raw_size: int | None = None, source_ip: str | None = None) -> None:
    """Keep a rejected payload (truncated) with its reason, for admins to inspect.

    raw: None keeps only reason, size, source IP and time (a sender that did not authenticate).
    raw_size: the size of the whole payload when the caller passes only its beginning (or nothing) as raw.
    """
    settings = config.settings()
    row = _rejected_row(source, reason, raw, api_id, raw_size, settings.rejected_raw_limit, source_ip)
    if isinstance(engine_or_conn, sa.Engine):
        with engine_or_conn.begin() as conn:
            conn.execute(sa.insert(RejectedPayload), [row])
            _cap_rejected(conn, settings)
    else:
        engine_or_conn.execute(sa.insert(RejectedPayload), [row])
        _cap_rejected(engine_or_conn, settings)


def _rejected_row(source: str, reason: str, raw: bytes | str | None, api_id: int | None, raw_size: int | None, limit: int,
                  source_ip: str | None = None) -> dict:
    if raw is None:
        return {"api_id": api_id, "source": source[:255], "source_ip": source_ip[:64] if source_ip else None,
                "reason": reason[:2000], "raw": None, "raw_size": raw_size or 0, "received_at": utcnow()}
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "replace"))
    text = masked_raw(raw, limit)  # secrets never stored in clear, the SDK token not at all
    if raw_size is not None:
        size = max(size, raw_size)
    text = text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return {"api_id": api_id, "source": source[:255], "source_ip": source_ip[:64] if source_ip else None,
            "reason": reason[:2000], "raw": text, "raw_size": size, "received_at": utcnow()}


def reject_many(engine: sa.Engine, rows: Sequence[dict]) -> None:
    """rows: {"source", "reason", "raw", "api_id"?, "raw_size"?, "source_ip"?}, stored in one transaction."""
    if not rows:
        return
    settings = config.settings()
    limit = settings.rejected_raw_limit
    values = [_rejected_row(r["source"], r["reason"], r["raw"], r.get("api_id"), r.get("raw_size"), limit, r.get("source_ip"))
              for r in rows]
    with engine.begin() as conn:
        conn.execute(sa.insert(RejectedPayload), values)
        _cap_rejected(conn, settings)


def _cap_rejected(conn: sa.Connection, settings: config.Settings) -> None:
    """Keep the newest rejected_max_rows rows, none older than rejected_max_days.

    Runs with every write, so both deletes stay small: two range deletes on indexes (id, received_at),
    never a scan of the table.
    """
    table = RejectedPayload.__table__
    newest = conn.scalar(sa.select(sa.func.max(table.c.id)))
    if newest is not None and newest > settings.rejected_max_rows:
        # Ids only grow, so the rows above newest - max_rows are at most max_rows.
        conn.execute(sa.delete(table).where(table.c.id <= newest - settings.rejected_max_rows))
    cutoff = utcnow() - dt.timedelta(days=settings.rejected_max_days)
    conn.execute(sa.delete(table).where(table.c.received_at < cutoff))


def rejected_payloads(engine: sa.Engine, limit: int = 200) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(RejectedPayload.__table__).order_by(RejectedPayload.id.desc()).limit(limit))
        return [
            {"id": r.id, "received_at": r.received_at, "source": r.source, "source_ip": r.source_ip, "reason": r.reason,
             "raw_size": r.raw_size, "raw": None if r.raw is None else masked_raw(r.raw), "api_id": r.api_id}
            for r in rows
        ]
