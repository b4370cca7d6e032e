"""The audit log: who did what, when and from where, for every security-relevant action.

Entries are only ever added. Nothing in the app updates or deletes one: the only removal is `prune`, the
explicit age-based retention of `python -m core audit prune --older-than`, and it records itself.
Call `record(engine_or_connection, action, actor=..., target=..., detail=...)` from any feature; pass a
connection to write the entry in the same transaction as the change it describes.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.domain.errors import ClienteleError
from core.domain.masking import mask
from core.storage.models import Base, UTCDateTime, utcnow

UNKNOWN = "unknown"
MAX_NAME_CHARS = 320  # an email address
MAX_SOURCE_CHARS = 100  # two IPv6 addresses and " via "
MAX_TARGET_CHARS = 320
MAX_DETAIL_CHARS = 4000
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
MAX_ACTION_CHARS = 64


class AuditError(ClienteleError, ValueError):
    """A query of the audit log that cannot be answered; the message says what to change."""


class AuditEntry(Base):
    """One security-relevant action. actor_user_id has no foreign key: a removed user's entries stay."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor_user_id: Mapped[int | None] = mapped_column(sa.Integer)
    actor_name: Mapped[str] = mapped_column(sa.String(MAX_NAME_CHARS))  # the username (email), "anonymous" or "cli"
    source: Mapped[str] = mapped_column(sa.String(MAX_SOURCE_CHARS))  # the client's IP address, "cli" or "unknown"
    action: Mapped[str] = mapped_column(sa.String(MAX_ACTION_CHARS))  # dotted, e.g. "login.failure"
    target: Mapped[str | None] = mapped_column(sa.String(MAX_TARGET_CHARS))  # e.g. "user:ann@example.com", "api:3"
    detail: Mapped[str | None] = mapped_column(sa.Text)  # a small JSON object, secrets masked

    __table_args__ = (
        sa.Index("ix_audit_log_at", "at"),
        sa.Index("ix_audit_log_action_at", "action", "at"),
        sa.Index("ix_audit_log_actor_at", "actor_name", "at"),
    )


@dataclass(frozen=True)
class Actor:
    """Who acts, and from where: a user (id and username), "anonymous" (not logged in) or "cli"."""

    name: str
    source: str = UNKNOWN
    user_id: int | None = None

    @classmethod
    def user(cls, user_id: int, username: str, source: str | None = None) -> Actor:
        return cls(name=username, source=source or UNKNOWN, user_id=user_id)

    @classmethod
    def anonymous(cls, source: str | None = None) -> Actor:
        return cls(name="anonymous", source=source or UNKNOWN)


CLI = Actor(name="cli", source="cli")
# Recorded when a caller did not say who acted: visible in the log rather than silently missing.
NOBODY = Actor(name=UNKNOWN)


def client_source(headers: Mapping[str, str] | None, remote_ip: str | None) -> str:
    """Where a browser request came from: the first address of X-Forwarded-For (a proxy's report of its
    client), else the connection's address; both when they differ ("203.0.113.9 via 10.0.0.2"), since a
    client that reaches the app directly can write any X-Forwarded-For. "unknown" without either."""
    lower = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    forwarded = _ip(lower.get("x-forwarded-for", "").split(",")[0])
    remote = _ip(remote_ip)
    if forwarded and remote and forwarded != remote:
        return f"{forwarded} via {remote}"
    return forwarded or remote or UNKNOWN


def _ip(text: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((text or "").strip()))
    except ValueError:
        return None


def _stored(actor: Actor) -> dict:
    """The audit_log columns that say who acted, as record() writes them."""
    return dict(actor_user_id=actor.user_id, actor_name=_clip(actor.name or UNKNOWN, MAX_NAME_CHARS),
                source=_clip(actor.source or UNKNOWN, MAX_SOURCE_CHARS))


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _detail_json(detail: Mapping | None) -> str | None:
    """The detail as JSON text, any secret-looking key masked (core.domain.masking) and the whole capped."""
    if not detail:
        return None
    text = json.dumps(mask(dict(detail)), ensure_ascii=False, default=str, sort_keys=True)
    head = text
    while len(text) > MAX_DETAIL_CHARS:
        # Escaping makes the wrapped text longer than its head: cut by what is still too much.
        head = head[: len(head) - (len(text) - MAX_DETAIL_CHARS) - 20]
        text = json.dumps({"truncated": head}, ensure_ascii=False)
    return text


def record(bind: sa.Engine | sa.Connection, action: str, *, actor: Actor | None, target: str | None = None,
           detail: Mapping | None = None, at: dt.datetime | None = None) -> int:
    """Add one entry and return its id. `bind`: an engine (the entry commits on its own) or the connection
    of the transaction making the change (the entry commits, or not, with it). `actor` None is recorded as
    "unknown". Never put a password, token or link in `detail`: keys that look secret are masked anyway."""
    if not isinstance(action, str) or len(action) > MAX_ACTION_CHARS or not _ACTION.match(action):
        raise ValueError(f"Audit actions are dotted lowercase words, e.g. 'user.role_change'; got {action!r}.")
    values = dict(at=at or utcnow(), **_stored(actor or NOBODY), action=action, target=_clip(target, MAX_TARGET_CHARS),
                  detail=_detail_json(detail))
    statement = sa.insert(AuditEntry).values(**values).returning(AuditEntry.id)
    if isinstance(bind, sa.Connection):
        return bind.execute(statement).scalar_one()
    with bind.begin() as conn:
        return conn.execute(statement).scalar_one()


def recorded_since(bind: sa.Engine | sa.Connection, action: str, actor: Actor, since: dt.datetime) -> bool:
    """Whether `actor` (the same user id, name and source) has an `action` entry at or after `since`."""
    who = [getattr(AuditEntry, column).is_(value) if value is None else getattr(AuditEntry, column) == value
           for column, value in _stored(actor).items()]
    statement = sa.select(AuditEntry.id).where(AuditEntry.action == action, AuditEntry.at >= since, *who).limit(1)
    if isinstance(bind, sa.Connection):
        return bind.execute(statement).first() is not None
    with bind.connect() as conn:
        return conn.execute(statement).first() is not None


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class AuditQuery:
    """Which entries: one action, one actor (username, "anonymous", "cli"), and at in [start, end) (UTC)."""

    action: str | None = None
    actor: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def __post_init__(self):
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise AuditError("The end of the time range is not after its start.")

    def where(self) -> list[sa.ColumnElement[bool]]:
        where = []
        if self.action:
            where.append(AuditEntry.action == self.action)
        if self.actor:
            where.append(AuditEntry.actor_name == self.actor)
        if self.start is not None:
            where.append(AuditEntry.at >= self.start)
        if self.end is not None:
            where.append(AuditEntry.at < self.end)
        return where


COLUMNS = ("id", "at", "actor_user_id", "actor_name", "source", "action", "target", "detail")


def entries(engine: sa.Engine, query: AuditQuery, *, limit: int = 50, offset: int = 0) -> list[dict]:
    """The matching entries, newest first, `limit` of them after skipping `offset`; detail as a dict."""
    if limit < 1 or offset < 0:
        raise AuditError("Ask for at least one entry, from the first one on.")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(*(getattr(AuditEntry, c) for c in COLUMNS)).where(*query.where())
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
        )
        return [{**r._mapping, "detail": json.loads(r.detail) if r.detail else None} for r in rows]


def count(engine: sa.Engine, query: AuditQuery) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(*query.where()))


def actions(engine: sa.Engine) -> list[str]:
    """Every action the log holds, alphabetically (the choices of the action filter)."""
    with engine.connect() as conn:
        return sorted(conn.scalars(sa.select(AuditEntry.action).distinct()))


def actors(engine: sa.Engine) -> list[str]:
    """Every actor name the log holds, alphabetically by code point whatever the database's collation (the
    choices of the user filter)."""
    with engine.connect() as conn:
        return sorted(conn.scalars(sa.select(AuditEntry.actor_name).distinct()))


# ---------------------------------------------------------------- retention


def prune(engine: sa.Engine, older_than: dt.timedelta, *, actor: Actor, now: dt.datetime | None = None) -> int:
    """Delete the entries older than `older_than` (at least 30 days) and record that it happened, in one
    transaction. Returns how many were deleted. The only way entries leave the log."""
    if older_than < dt.timedelta(days=30):
        raise AuditError("The audit log keeps at least 30 days: use an age of 30d or more.")
    now = now or utcnow()
    cutoff = now - older_than
    with engine.begin() as conn:
        deleted = conn.execute(sa.delete(AuditEntry).where(AuditEntry.at < cutoff)).rowcount
        record(conn, "audit.prune", actor=actor, detail={"older_than_days": older_than.days, "cutoff": cutoff.isoformat(),
                                                          "deleted": deleted}, at=now)
    return deleted
