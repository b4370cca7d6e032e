"""SQLAlchemy models and the engine: one schema for SQLite (embedded default) and PostgreSQL."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.domain import config
from core.domain.record import FAILED_STATUS


class UTCDateTime(sa.types.TypeDecorator):
    """Stores naive UTC on every backend; always hands back timezone-aware UTC datetimes."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Api(Base):
    __tablename__ = "apis"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    api_key: Mapped[str] = mapped_column(sa.String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    openapi_spec: Mapped[str | None] = mapped_column(sa.Text)
    openapi_uploaded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SdkToken(Base):
    """SDK tokens are stored as SHA-256 hashes; the clear token is shown once at creation."""

    __tablename__ = "sdk_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    api_id: Mapped[int] = mapped_column(sa.ForeignKey("apis.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Customer(Base):
    __tablename__ = "customers"
    customer_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(255))
    attributes: Mapped[dict | None] = mapped_column(sa.JSON)
    attributes_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    description: Mapped[str | None] = mapped_column(sa.Text)
    description_updated_by: Mapped[str | None] = mapped_column(sa.String(255))
    description_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    first_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CustomerApi(Base):
    """A customer ID appeared on an API: drives automatic API discovery for Customers."""

    __tablename__ = "customer_apis"
    customer_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    api_id: Mapped[int] = mapped_column(sa.ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Request(Base):
    """One API call. Narrow on purpose (fast scans); bulky parts live in request_details."""

    __tablename__ = "requests"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    api_id: Mapped[int] = mapped_column(sa.ForeignKey("apis.id", ondelete="CASCADE"))
    customer_id: Mapped[str | None] = mapped_column(sa.String(255))
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(sa.String(16))
    endpoint: Mapped[str] = mapped_column(sa.String(512))
    url: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[int] = mapped_column(sa.Integer)
    load_time_ms: Mapped[float] = mapped_column(sa.Float)
    response_size: Mapped[int] = mapped_column(sa.BigInteger)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    user_agent: Mapped[str | None] = mapped_column(sa.Text)
    device: Mapped[str] = mapped_column(sa.String(32), default="unknown")
    ai_agent: Mapped[str | None] = mapped_column(sa.String(64))
    threat_level: Mapped[str] = mapped_column(sa.String(8), default="Low")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.Index("ix_requests_api_ts", "api_id", "timestamp"),
        sa.Index("ix_requests_customer_ts", "customer_id", "timestamp"),
        # API docs count each operation's requests by status from this index alone, and read the latest N requests of
        # each (operation, status) with a seek, not a sort (core.api_docs.infer; migration 0011).
        sa.Index("ix_requests_api_operation", "api_id", "endpoint", "method", "status", "id"),
        # The Errors page reads each API's newest failed requests (core.storage.error_groups): only those, not every
        # request of the window, and the index costs a write only for a failed one. (Migration 0009.)
        sa.Index("ix_requests_api_failed_ts", "api_id", "timestamp", sqlite_where=sa.text(f"status >= {FAILED_STATUS}"),
                 postgresql_where=sa.text(f"status >= {FAILED_STATUS}")),
    )


class RequestDetail(Base):
    """Headers, bodies and errors as stored (sensitive values already masked)."""

    __tablename__ = "request_details"
    request_id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("requests.id", ondelete="CASCADE"),
        primary_key=True,
    )
    sdk: Mapped[str | None] = mapped_column(sa.String(64))
    sdk_version: Mapped[str | None] = mapped_column(sa.String(32))
    request_headers: Mapped[dict | None] = mapped_column(sa.JSON)
    request_body: Mapped[object | None] = mapped_column(sa.JSON)
    query: Mapped[object | None] = mapped_column(sa.JSON)
    response_headers: Mapped[dict | None] = mapped_column(sa.JSON)
    response_body: Mapped[object | None] = mapped_column(sa.JSON)
    errors: Mapped[list | None] = mapped_column(sa.JSON)
    server: Mapped[dict | None] = mapped_column(sa.JSON)
    metadata_error: Mapped[str | None] = mapped_column(sa.Text)
    threat_reasons: Mapped[list | None] = mapped_column(sa.JSON)
    # What a failed response's body says went wrong, when the SDK reported no error (NormalizedRequest.problem):
    # error groups read it instead of unpacking the body. NULL in rows stored before migration 0010.
    problem: Mapped[str | None] = mapped_column(sa.Text)
    # Headers, query, bodies and server facts: packed (core.storage.details) since migration 0007; the JSON
    # columns above hold them for rows stored before (core.storage.details.unpacked reads either).
    packed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    # The request's timestamp: on PostgreSQL the key this table is partitioned by (core.storage.partitions);
    # NULL on SQLite, which does not partition.
    timestamp: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RejectedPayload(Base):
    """A payload the collector or an import refused. Capped in rows and age (core.storage.store.reject_many)."""

    __tablename__ = "rejected_payloads"
    id: Mapped[int] = mapped_column(primary_key=True)
    api_id: Mapped[int | None] = mapped_column(sa.Integer)
    source: Mapped[str] = mapped_column(sa.String(255))
    source_ip: Mapped[str | None] = mapped_column(sa.String(64))  # the collector's client; None for imports
    reason: Mapped[str] = mapped_column(sa.Text)
    # None when the sender did not authenticate (401): anyone may post, and what they post is not kept.
    raw: Mapped[str | None] = mapped_column(sa.Text)
    raw_size: Mapped[int] = mapped_column(sa.BigInteger)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ClockSkew(Base):
    """An API's SDK whose timestamps the collector did not believe (no reading within 15 minutes of
    the receive time) or found mislabelled (UTC labelled with another zone): one row per (API, SDK,
    fault), updated once per written batch, so it stays small."""

    __tablename__ = "clock_skews"
    api_id: Mapped[int] = mapped_column(sa.ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True)
    sdk: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # "" when the payload names none
    fault: Mapped[str] = mapped_column(sa.String(8), primary_key=True, default="clock")  # NormalizedRequest.clock_fault
    fallbacks: Mapped[int] = mapped_column(sa.BigInteger)
    # Skew = the SDK's closest reading minus the receive time (positive: its clock is ahead).
    skew_sum_s: Mapped[float] = mapped_column(sa.Float)
    min_skew_s: Mapped[float] = mapped_column(sa.Float)
    max_skew_s: Mapped[float] = mapped_column(sa.Float)
    last_skew_s: Mapped[float] = mapped_column(sa.Float)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RollupHour(Base):
    """Requests summed per API × hour × customer × method × endpoint (core.storage.rollups): the source of
    every dashboard number. Written in the same transaction as the requests they count; kept by prune.
    customer_id is "" for requests without one (a primary key column cannot be NULL)."""

    __tablename__ = "rollup_hours"
    api_id: Mapped[int] = mapped_column(sa.ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    customer_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    method: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    endpoint: Mapped[str] = mapped_column(sa.String(512), primary_key=True)
    requests: Mapped[int] = mapped_column(sa.BigInteger)
    failed: Mapped[int] = mapped_column(sa.BigInteger)  # status >= 400
    status_4xx: Mapped[int] = mapped_column(sa.BigInteger)
    status_5xx: Mapped[int] = mapped_column(sa.BigInteger)
    load_us: Mapped[int] = mapped_column(sa.BigInteger)  # load times in whole microseconds (exact sums)
    size_sum: Mapped[int] = mapped_column(sa.BigInteger)
    first_ts: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_ts: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_rollup_hours_customer", "customer_id", "hour"), sa.Index("ix_rollup_hours_hour", "hour"))


class RollupLoadBin(Base):
    """The load-time histogram of a rollup_hours row: one row per non-empty bin (core.domain.histogram)."""

    __tablename__ = "rollup_load_bins"
    api_id: Mapped[int] = mapped_column(sa.ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    customer_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    method: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    endpoint: Mapped[str] = mapped_column(sa.String(512), primary_key=True)
    bin: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger)

    __table_args__ = (sa.Index("ix_rollup_load_bins_hour", "hour"),)


class RollupState(Base):
    """One row: epoch grows whenever rollups of settled hours change (imports, demo, rebuild), so every
    app process reloads its copy of them; the collector writes only recent hours, which are read fresh."""

    __tablename__ = "rollup_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    epoch: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # Raw rows before this were pruned: hours before it are read whole from the rollups (core.storage.prune).
    raw_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16))  # admin | member | customer
    customer_id: Mapped[str | None] = mapped_column(sa.String(255))
    group_name: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Cookies issued before this instant are refused (logout, password change).
    valid_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Random per account row, carried by its cookies and sessions: a user removed and invited again under
    # the same email (or, on SQLite, given the same reused id) is a new account none of them reach.
    session_epoch: Mapped[str | None] = mapped_column(sa.String(32))


class Invitation(Base):
    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    purpose: Mapped[str] = mapped_column(sa.String(16), default="invite")  # invite | reset
    email: Mapped[str] = mapped_column(sa.String(320))
    # A reset link is for one account row, not for whoever holds its email later.
    user_id: Mapped[int | None] = mapped_column(
        # Named as PostgreSQL would name it: migrations (batch mode on SQLite) need a name, create_all gives the same.
        sa.ForeignKey("users.id", ondelete="SET NULL", name="invitations_user_id_fkey"))
    role: Mapped[str] = mapped_column(sa.String(16))
    customer_id: Mapped[str | None] = mapped_column(sa.String(255))
    group_name: Mapped[str | None] = mapped_column(sa.String(200))
    invited_by: Mapped[str | None] = mapped_column(sa.String(320))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Favorite(Base):
    __tablename__ = "favorites"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DashboardPref(Base):
    __tablename__ = "dashboard_prefs"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[object | None] = mapped_column(sa.JSON)


class Setting(Base):
    """Small workspace-level key/values (e.g. demo accounts created, schema facts)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[object | None] = mapped_column(sa.JSON)


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str | None = None) -> sa.Engine:
    url = url or config.settings().database_url
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            config.private_file(Path(path))  # SQLite gives its -wal and -shm files the database's mode
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    return engine


@lru_cache(maxsize=8)
def engine_for(url: str) -> sa.Engine:
    """One engine per URL per process (connection pools are process-wide)."""
    engine = make_engine(url)
    init_db(engine)
    return engine


@lru_cache(maxsize=8)
def read_engine_for(url: str) -> sa.Engine:
    """One engine per read-only URL (a replica): not migrated, it follows its primary."""
    return make_engine(url)


def get_engine() -> sa.Engine:
    return engine_for(config.settings().database_url)


def init_db(engine: sa.Engine) -> None:
    """Create the schema or upgrade it to the newest migration (idempotent; core.storage.migrations), and on
    PostgreSQL the month partitions ahead (core.storage.partitions)."""
    from core.storage import migrations, partitions

    migrations.upgrade(engine)
    partitions.ensure(engine)
