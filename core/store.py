"""All reads and writes of the database. Writes of request data go through write_requests."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from core import config
from core.ingest.normalize import NormalizedRequest
from core.models import Api, Customer, CustomerApi, RejectedPayload, Request, RequestDetail, SdkToken, utcnow


class NotFound(LookupError):
    """Something named by the user does not exist; the message says what."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _insert(engine_or_conn, table):
    dialect = engine_or_conn.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# ---------------------------------------------------------------- APIs and SDK tokens


def create_api(engine: sa.Engine, name: str, api_key: str | None = None, sdk_token: str | None = None) -> dict:
    """Create an API. Returns {"api_id", "api_key", "sdk_token"}; the token is shown only now."""
    name = (name or "").strip()
    if not name:
        raise ValueError("An API needs a name.")
    if len(name) > 200:
        raise ValueError("API names are at most 200 characters.")
    api_key = api_key or secrets.token_urlsafe(18)
    sdk_token = sdk_token or secrets.token_urlsafe(24)
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
    token = secrets.token_urlsafe(24)
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


def write_requests(engine: sa.Engine, items: Sequence[tuple[int, NormalizedRequest]], received_at: dt.datetime | None = None) -> list[int]:
    """Store normalised, enriched requests in one transaction. Returns their new ids in order.

    Also keeps customers (first/last seen, display name, attributes: latest wins) and
    customer_apis (automatic API discovery) up to date.
    """
    if not items:
        return []
    received_at = received_at or utcnow()
    request_rows = [
        {
            "api_id": api_id,
            "customer_id": r.customer_id,
            "timestamp": r.timestamp,
            "method": r.method,
            "endpoint": r.endpoint,
            "url": r.url,
            "status": r.status,
            "load_time_ms": r.load_time_ms,
            "response_size": r.response_size,
            "ip": r.ip,
            "country": r.country,
            "user_agent": r.user_agent,
            "device": r.device,
            "ai_agent": r.ai_agent,
            "threat_level": r.threat_level,
            "received_at": received_at,
        }
        for api_id, r in items
    ]
    with engine.begin() as conn:
        ids = list(conn.execute(sa.insert(Request).returning(Request.id, sort_by_parameter_order=True), request_rows).scalars())
        conn.execute(
            sa.insert(RequestDetail),
            [
                {
                    "request_id": rid,
                    "sdk": r.sdk,
                    "sdk_version": r.sdk_version,
                    "request_headers": r.request_headers,
                    "request_body": r.request_body,
                    "query": r.query,
                    "response_headers": r.response_headers,
                    "response_body": r.response_body,
                    "errors": r.errors or None,
                    "server": r.server or None,
                    "metadata_error": r.metadata_error,
                    "threat_reasons": r.threat_reasons or None,
                }
                for rid, (_api, r) in zip(ids, items)
            ],
        )
        _upsert_customers(conn, [r for _api, r in items])
        _upsert_customer_apis(conn, items)
    return ids


def _upsert_customers(conn: sa.Connection, requests: Iterable[NormalizedRequest]) -> None:
    seen: dict[str, dict] = {}
    for r in requests:
        if r.customer_id is None:
            continue
        c = seen.setdefault(r.customer_id, {"first": r.timestamp, "last": r.timestamp, "name": None, "name_ts": None, "attrs": {}, "attrs_ts": None})
        c["first"] = min(c["first"], r.timestamp)
        c["last"] = max(c["last"], r.timestamp)
        if r.display_name and (c["name_ts"] is None or r.timestamp >= c["name_ts"]):
            c["name"], c["name_ts"] = r.display_name, r.timestamp
        if r.customer_attributes and (c["attrs_ts"] is None or r.timestamp >= c["attrs_ts"]):
            c["attrs"] = {**c["attrs"], **r.customer_attributes}
            c["attrs_ts"] = r.timestamp
    if not seen:
        return
    existing = {}
    for chunk in _chunks(list(seen), 500):
        for row in conn.execute(
            sa.select(Customer.customer_id, Customer.display_name, Customer.attributes, Customer.attributes_updated_at, Customer.first_seen, Customer.last_seen)
            .where(Customer.customer_id.in_(chunk))
        ):
            existing[row.customer_id] = row
    inserts, updates = [], []
    for cid, c in seen.items():
        old = existing.get(cid)
        if old is None:
            inserts.append({
                "customer_id": cid, "display_name": c["name"], "attributes": c["attrs"] or None,
                "attributes_updated_at": c["attrs_ts"], "first_seen": c["first"], "last_seen": c["last"],
            })
            continue
        change: dict = {}
        if old.first_seen is None or c["first"] < old.first_seen:
            change["first_seen"] = c["first"]
        if old.last_seen is None or c["last"] > old.last_seen:
            change["last_seen"] = c["last"]
        newer = old.attributes_updated_at is None or (c["attrs_ts"] is not None and c["attrs_ts"] >= old.attributes_updated_at)
        if c["name"] and c["name"] != old.display_name and (newer or old.display_name is None):
            change["display_name"] = c["name"]
        if c["attrs"] and newer:
            merged = {**(old.attributes or {}), **c["attrs"]}
            if merged != (old.attributes or {}):
                change["attributes"] = merged
                change["attributes_updated_at"] = c["attrs_ts"]
        if change:
            updates.append((cid, change))
    if inserts:
        stmt = _insert(conn, Customer).values(inserts)
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["customer_id"]))
    for cid, change in updates:
        conn.execute(sa.update(Customer).where(Customer.customer_id == cid).values(**change))


def _upsert_customer_apis(conn: sa.Connection, items: Sequence[tuple[int, NormalizedRequest]]) -> None:
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
    if not pairs:
        return
    table = CustomerApi.__table__
    rows = [{"customer_id": cid, "api_id": api, "first_seen": first, "last_seen": last} for (cid, api), (first, last) in pairs.items()]
    for chunk in _chunks(rows, 500):
        stmt = _insert(conn, CustomerApi).values(chunk)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["customer_id", "api_id"],
            set_={
                "first_seen": sa.case((excluded.first_seen < table.c.first_seen, excluded.first_seen), else_=table.c.first_seen),
                "last_seen": sa.case((table.c.last_seen.is_(None), excluded.last_seen), (excluded.last_seen > table.c.last_seen, excluded.last_seen), else_=table.c.last_seen),
            },
        )
        conn.execute(stmt)


def _chunks(seq: list, size: int):
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


# ---------------------------------------------------------------- rejected payloads


def reject(engine_or_conn, source: str, reason: str, raw: bytes | str, api_id: int | None = None) -> None:
    """Keep a rejected payload (truncated) with its reason, for admins to inspect."""
    limit = config.settings().rejected_raw_limit
    if isinstance(raw, bytes):
        size = len(raw)
        text = raw[:limit].decode("utf-8", "replace")
    else:
        size = len(raw.encode("utf-8", "replace"))
        text = raw[:limit]
    text = text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    row = {"api_id": api_id, "source": source[:255], "reason": reason[:2000], "raw": text, "raw_size": size, "received_at": utcnow()}
    if isinstance(engine_or_conn, sa.Engine):
        with engine_or_conn.begin() as conn:
            conn.execute(sa.insert(RejectedPayload), [row])
    else:
        engine_or_conn.execute(sa.insert(RejectedPayload), [row])


def reject_many(engine: sa.Engine, rows: Sequence[dict]) -> None:
    """rows: {"source", "reason", "raw", "api_id"?}, stored in one transaction."""
    if not rows:
        return
    with engine.begin() as conn:
        for row in rows:
            reject(conn, row["source"], row["reason"], row["raw"], row.get("api_id"))


def rejected_payloads(engine: sa.Engine, limit: int = 200) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(RejectedPayload).order_by(RejectedPayload.id.desc()).limit(limit)).scalars()
        return [
            {"id": r.id, "received_at": r.received_at, "source": r.source, "reason": r.reason, "raw_size": r.raw_size, "raw": r.raw, "api_id": r.api_id}
            for r in rows
        ]
