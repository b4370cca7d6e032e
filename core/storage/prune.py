"""Data retention: `python -m core prune --older-than 30d` deletes old requests (with their details) and
old rejected payloads in small transactions, so the collector keeps writing while it runs; on PostgreSQL a
month wholly before the cutoff goes by dropping its partitions. The rollups
(core.storage.rollups) stay: every dashboard number, All Time, first-seen and New are computed from them,
so they stay right after the raw rows are gone; only request history, details, search and the CSV of
requests end at the cutoff."""
from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass

import sqlalchemy as sa

from core.domain.errors import ClienteleError
from core.storage import models, partitions, rollups
from core.storage.models import Api, RejectedPayload, Request, RequestDetail, utcnow

# Rows per transaction: small enough that a collector waiting for the SQLite write lock (busy_timeout
# 10 s) or a PostgreSQL reader never waits long, large enough that a million rows take minutes, not hours.
BATCH_ROWS = 5000
_AGE = re.compile(r"^\s*(\d+)\s*([dh])\s*$", re.IGNORECASE)


class PruneError(ClienteleError, ValueError):
    """The retention asked for cannot be understood; the message says what to write instead."""


@dataclass(frozen=True)
class PruneResult:
    cutoff: dt.datetime
    requests: int
    rejected: int


def parse_age(text: str) -> dt.timedelta:
    """'30d' or '12h' as a timedelta (at least one hour)."""
    match = _AGE.match(text or "")
    if not match:
        raise PruneError(f"--older-than {text!r} is not an age; write a number of days or hours, e.g. 30d or 12h.")
    amount, unit = int(match.group(1)), match.group(2).lower()
    age = dt.timedelta(days=amount) if unit == "d" else dt.timedelta(hours=amount)
    if age < dt.timedelta(hours=1):
        raise PruneError("--older-than must be at least 1h: 0 would delete everything.")
    return age


def prune(engine: sa.Engine, older_than: dt.timedelta, *, now: dt.datetime | None = None, batch_rows: int = BATCH_ROWS) -> PruneResult:
    """Delete requests whose timestamp is before now - older_than (and their request_details), and
    rejected payloads received before it, batch_rows per transaction.

    Customers and customer_apis keep their first/last seen, and the rollups keep every count: they
    record what happened, which stays true after the requests themselves are gone. rollup_state.raw_since
    records the cutoff, so a window edge cutting an hour before it counts that hour whole from the rollups.
    """
    if batch_rows < 1:
        raise PruneError("The batch size must be at least 1.")
    cutoff = (now or utcnow()) - older_than
    with engine.connect() as conn:
        api_ids = list(conn.scalars(sa.select(Api.id).order_by(Api.id)))
    deleted_requests = _drop_months(engine, cutoff)
    deleted_requests += sum(_prune_requests(engine, api_id, cutoff, batch_rows) for api_id in api_ids)
    deleted_rejected = _prune_rejected(engine, cutoff, batch_rows)
    rollups.set_raw_since(engine, cutoff)
    return PruneResult(cutoff=cutoff, requests=deleted_requests, rejected=deleted_rejected)


def _drop_months(engine: sa.Engine, cutoff: dt.datetime) -> int:
    """PostgreSQL: the month partitions wholly before the cutoff go whole, each in a moment (a DROP, not millions
    of deletes; core.storage.partitions). What is left before the cutoff (part of a month, the default partition)
    goes row by row. Returns the requests dropped."""
    if engine.dialect.name != "postgresql":
        return 0
    limit = cutoff.astimezone(dt.timezone.utc).replace(tzinfo=None)
    with engine.connect() as conn:
        if not partitions.applies(conn):
            return 0
        old = [month for month in partitions.months(conn) if partitions.next_month(month) <= limit]
    dropped = 0
    for month in old:
        with engine.begin() as conn:
            dropped += partitions.drop_month(conn, month)
    return dropped


def _prune_requests(engine: sa.Engine, api_id: int, cutoff: dt.datetime, batch_rows: int) -> int:
    # Per API, so each batch is a seek on ix_requests_api_ts rather than a scan of the whole table.
    total = 0
    while True:
        with engine.begin() as conn:
            ids = list(conn.scalars(
                sa.select(Request.id).where(Request.api_id == api_id, Request.timestamp < cutoff).limit(batch_rows)
            ))
            if not ids:
                return total
            # Explicitly, not by ON DELETE CASCADE: SQLite enforces it only on connections with foreign_keys on.
            conn.execute(sa.delete(RequestDetail).where(RequestDetail.request_id.in_(ids)))
            conn.execute(sa.delete(Request).where(Request.id.in_(ids)))
        total += len(ids)


def _prune_rejected(engine: sa.Engine, cutoff: dt.datetime, batch_rows: int) -> int:
    total = 0
    while True:
        with engine.begin() as conn:
            ids = list(conn.scalars(
                sa.select(RejectedPayload.id).where(RejectedPayload.received_at < cutoff).order_by(RejectedPayload.id).limit(batch_rows)
            ))
            if not ids:
                return total
            conn.execute(sa.delete(RejectedPayload).where(RejectedPayload.id.in_(ids)))
        total += len(ids)


def main(args) -> int:
    """`python -m core prune --older-than AGE [--batch-rows N]`: exit 0 with counts, 2 with a message."""
    try:
        age = parse_age(args.older_than)
        result = prune(models.get_engine(), age, batch_rows=args.batch_rows)
    except PruneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"cutoff: {result.cutoff.isoformat().replace('+00:00', 'Z')}")
    print(f"deleted requests: {result.requests}")
    print(f"deleted rejected payloads: {result.rejected}")
    return 0
