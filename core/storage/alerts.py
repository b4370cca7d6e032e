"""Alert rules and their deliveries: the tables, and every SQL statement the alerts feature runs.

A rule's state (ok | firing) changes only through `change_state`: one conditional UPDATE (on the state
the evaluation read) and the deliveries of that change, in one transaction, so two overlapping runs
cannot both send it. A delivery is claimed before each attempt (`claim`, conditional on its attempt
count), so two workers never send the same attempt twice either.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.models import Base, UTCDateTime, utcnow

METRICS = ("error_rate", "requests", "p95_ms", "traffic_drop_pct", "new_customers")
COMPARISONS = ("above", "below")
WINDOWS: dict[str, dt.timedelta] = {
    "15m": dt.timedelta(minutes=15), "1h": dt.timedelta(hours=1), "24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7),
}
STATES = ("ok", "firing")
DELIVERY_STATUSES = ("pending", "sent", "failed")
MAX_DESTINATION_CHARS = 2048
# A claimed attempt is someone's for this long: a worker killed mid-send leaves it to be retried after.
CLAIM_LEASE = dt.timedelta(minutes=5)


class AlertRule(Base):
    """One rule: a metric of one API (optionally one customer or a segment of customers) over a window,
    compared with a threshold. owner_user_id is set for a Customer's own rule (removed with the user)."""

    __tablename__ = "alert_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    api_id: Mapped[int] = mapped_column(sa.ForeignKey("apis.id", ondelete="CASCADE"))
    customer_id: Mapped[str | None] = mapped_column(sa.String(255))
    segment_key: Mapped[str | None] = mapped_column(sa.String(100))
    segment_value: Mapped[str | None] = mapped_column(sa.String(255))
    metric: Mapped[str] = mapped_column(sa.String(32))
    comparison: Mapped[str] = mapped_column(sa.String(8))  # above | below
    threshold: Mapped[float] = mapped_column(sa.Float)
    window: Mapped[str] = mapped_column(sa.String(8))  # one of WINDOWS
    notify: Mapped[list] = mapped_column(sa.JSON)  # webhook URLs and e-mail addresses
    muted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_by: Mapped[str] = mapped_column(sa.String(320))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    owner_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(sa.String(8), default="ok")  # ok | firing
    state_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_value: Mapped[float | None] = mapped_column(sa.Float)
    last_evaluated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_alert_rules_api", "api_id"), sa.Index("ix_alert_rules_owner", "owner_user_id"))


class AlertDelivery(Base):
    """One notification of one change of state to one destination, and how sending it went."""

    __tablename__ = "alert_deliveries"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    rule_id: Mapped[int] = mapped_column(sa.ForeignKey("alert_rules.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(sa.String(8))  # firing | resolved
    payload: Mapped[str] = mapped_column(sa.Text)  # the webhook's JSON body (e-mails are written from it)
    destination: Mapped[str] = mapped_column(sa.String(MAX_DESTINATION_CHARS))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    status: Mapped[str] = mapped_column(sa.String(8), default="pending")  # pending | sent | failed
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_alert_deliveries_rule", "rule_id", "created_at"),
    )


RULE_COLUMNS = tuple(c.name for c in AlertRule.__table__.columns)
DELIVERY_COLUMNS = tuple(c.name for c in AlertDelivery.__table__.columns)


# ---------------------------------------------------------------- rules


def add_rule(bind: sa.Connection, **values) -> int:
    """Insert a rule (values already validated, core.alerts.rules) on the caller's transaction; its id."""
    values = {"created_at": utcnow(), "muted": False, "state": "ok", **values}
    return bind.execute(sa.insert(AlertRule).values(**values).returning(AlertRule.id)).scalar_one()


def rules(engine: sa.Engine, *, owner_user_id: int | None = None, customer_id: str | None = None,
          include_muted: bool = True) -> list[dict]:
    """Rules by id; only those on `customer_id` and owned by `owner_user_id` when given."""
    query = sa.select(AlertRule.__table__).order_by(AlertRule.id)
    if owner_user_id is not None:
        query = query.where(AlertRule.owner_user_id == owner_user_id)
    if customer_id is not None:
        query = query.where(AlertRule.customer_id == customer_id)
    if not include_muted:
        query = query.where(AlertRule.muted.is_(False))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def rule(engine: sa.Engine, rule_id: int) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(AlertRule.__table__).where(AlertRule.id == rule_id)).first()
    return dict(row._mapping) if row else None


def remove_rule(bind: sa.Connection, rule_id: int) -> bool:
    """Delete a rule and its delivery log; False when there was none."""
    bind.execute(sa.delete(AlertDelivery).where(AlertDelivery.rule_id == rule_id))
    return bind.execute(sa.delete(AlertRule).where(AlertRule.id == rule_id)).rowcount == 1


def update_rule(bind: sa.Connection, rule_id: int, **values) -> bool:
    """Change what a rule watches (values already validated); its state and delivery log stay."""
    return bind.execute(sa.update(AlertRule).where(AlertRule.id == rule_id).values(**values)).rowcount == 1


def set_muted(bind: sa.Connection, rule_id: int, muted: bool) -> bool:
    return bind.execute(sa.update(AlertRule).where(AlertRule.id == rule_id).values(muted=muted)).rowcount == 1


def note_value(engine: sa.Engine, rule_id: int, value: float | None, at: dt.datetime) -> None:
    """An evaluation that changed nothing: remember the value and when."""
    with engine.begin() as conn:
        conn.execute(sa.update(AlertRule).where(AlertRule.id == rule_id).values(last_value=value, last_evaluated_at=at))


def change_state(engine: sa.Engine, rule_id: int, *, seen: str, new: str, value: float | None, at: dt.datetime,
                 deliveries: Sequence[dict]) -> bool:
    """Move a rule from state `seen` to `new` and enqueue `deliveries` ({state, destination, payload}), in
    one transaction. False (nothing written) when the rule is no longer in `seen`: another run got there first."""
    with engine.begin() as conn:
        moved = conn.execute(
            sa.update(AlertRule).where(AlertRule.id == rule_id, AlertRule.state == seen)
            .values(state=new, state_changed_at=at, last_value=value, last_evaluated_at=at)
        ).rowcount
        if moved != 1:
            return False
        if deliveries:
            conn.execute(sa.insert(AlertDelivery), [
                {"rule_id": rule_id, "state": d["state"], "destination": d["destination"],
                 "payload": json.dumps(d["payload"], ensure_ascii=False, sort_keys=True), "attempts": 0,
                 "status": "pending", "next_attempt_at": at, "created_at": at} for d in deliveries])
    return True


# ---------------------------------------------------------------- deliveries


def enqueue(engine: sa.Engine, rule_id: int, *, state: str, destination: str, payload: dict, at: dt.datetime) -> int:
    """One delivery outside a change of state (a "send test")."""
    with engine.begin() as conn:
        return conn.execute(sa.insert(AlertDelivery).values(
            rule_id=rule_id, state=state, destination=destination, attempts=0, status="pending", next_attempt_at=at,
            created_at=at, payload=json.dumps(payload, ensure_ascii=False, sort_keys=True)).returning(AlertDelivery.id)).scalar_one()


def due(engine: sa.Engine, now: dt.datetime, limit: int = 100) -> list[dict]:
    """Pending deliveries whose next attempt is due, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(AlertDelivery.__table__)
            .where(AlertDelivery.status == "pending", AlertDelivery.next_attempt_at <= now)
            .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id).limit(limit))
        return [dict(r._mapping) for r in rows]


def claim(engine: sa.Engine, delivery: dict, now: dt.datetime) -> bool:
    """Take the next attempt of a due delivery: counts it and leases it for CLAIM_LEASE. False when another
    worker took it (its attempt count moved on) or it is no longer pending."""
    with engine.begin() as conn:
        return conn.execute(
            sa.update(AlertDelivery)
            .where(AlertDelivery.id == delivery["id"], AlertDelivery.status == "pending",
                   AlertDelivery.attempts == delivery["attempts"])
            .values(attempts=delivery["attempts"] + 1, next_attempt_at=now + CLAIM_LEASE)
        ).rowcount == 1


def finish_attempt(engine: sa.Engine, delivery_id: int, *, error: str | None, now: dt.datetime,
                   retry_at: dt.datetime | None) -> None:
    """Record how the claimed attempt went: sent (error None), to retry at `retry_at`, or failed for good."""
    if error is None:
        values = {"status": "sent", "sent_at": now, "last_error": None, "next_attempt_at": None}
    elif retry_at is not None:
        values = {"last_error": error[:2000], "next_attempt_at": retry_at}
    else:
        values = {"status": "failed", "last_error": error[:2000], "next_attempt_at": None}
    with engine.begin() as conn:
        conn.execute(sa.update(AlertDelivery).where(AlertDelivery.id == delivery_id).values(**values))


def deliveries(engine: sa.Engine, *, rule_ids: Sequence[int] | None = None, limit: int = 200) -> list[dict]:
    """The delivery log, newest first (only of `rule_ids` when given)."""
    query = sa.select(AlertDelivery.__table__).order_by(AlertDelivery.created_at.desc(), AlertDelivery.id.desc()).limit(limit)
    if rule_ids is not None:
        query = query.where(AlertDelivery.rule_id.in_(list(rule_ids)))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
