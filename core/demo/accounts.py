"""The demo accounts (admin, member, and logins for the two busiest customers) and the bootstrap that
fills an empty database with demo traffic and those accounts."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.demo.population import Customer, customer_profile
from core.demo.writer import DemoError, generate, now_minute
from core.storage import audit, models
from core.storage.models import Request, Setting

DEMO_SEED = 7
DEMO_DAYS = 45


def _account_customer(rank: int) -> Customer:
    return customer_profile(DEMO_SEED, rank)


_TOP = _account_customer(0)
_SECOND = _account_customer(1)

DEMO_ACCOUNTS: list[dict] = [
    {"email": "admin@demo.clientele", "name": "Ada Admin", "password": "orbit-lantern-meadow-42", "role": "admin",
     "customer_id": None, "group": None},
    {"email": "member@demo.clientele", "name": "Max Member", "password": "harbor-violet-summit-17", "role": "member",
     "customer_id": None, "group": None},
    {"email": "owner@top-customer.demo", "name": f"Olivia ({_TOP.name})", "password": "maple-circuit-river-63",
     "role": "customer", "customer_id": _TOP.customer_id, "group": f"{_TOP.name} team"},
    {"email": "dev@top-customer.demo", "name": f"Dev ({_TOP.name})", "password": "amber-falcon-delta-91",
     "role": "customer", "customer_id": _TOP.customer_id, "group": f"{_TOP.name} team"},
    {"email": "owner@second-customer.demo", "name": f"Sam ({_SECOND.name})", "password": "copper-willow-frost-28",
     "role": "customer", "customer_id": _SECOND.customer_id, "group": f"{_SECOND.name} team"},
]


def demo_accounts(engine: sa.Engine) -> list[dict]:
    """DEMO_ACCOUNTS when this database was bootstrapped as a demo; otherwise [] (never shown in production)."""
    with engine.connect() as conn:
        marker = conn.scalar(sa.select(Setting.value).where(Setting.key == "demo"))
    if not marker:
        return []
    return [dict(a) for a in DEMO_ACCOUNTS]


def _has_requests(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return conn.scalar(sa.select(Request.id).limit(1)) is not None


def bootstrap(engine: sa.Engine, *, requests: int, now: dt.datetime | None = None, progress=None) -> dict:
    """On an empty database: generate demo traffic (seed 7, 45 days) and create the demo accounts.
    Returns the generator's summary, or {"skipped": True} when there already are requests."""
    from core.auth import users

    if _has_requests(engine):
        return {"skipped": True}
    now = now or now_minute()
    try:
        summary = generate(engine, requests=requests, days=DEMO_DAYS, seed=DEMO_SEED, now=now, progress=progress)
    except (DemoError, ValueError):
        if _has_requests(engine):  # another process bootstrapped at the same moment
            return {"skipped": True}
        raise
    with engine.connect() as conn:
        taken = set(conn.scalars(sa.select(models.User.email)))
    for account in DEMO_ACCOUNTS:
        if account["email"] in taken:
            continue
        users.create_user(
            engine, email=account["email"], name=account["name"], password=account["password"],
            role=account["role"], customer_id=account["customer_id"], group=account["group"],
            actor=audit.Actor(name="demo", source="system"),
        )
    marker = {"accounts": [a["email"] for a in DEMO_ACCOUNTS], "generated_at": now.isoformat()}
    with engine.begin() as conn:
        conn.execute(sa.delete(Setting).where(Setting.key == "demo"))
        conn.execute(sa.insert(Setting).values(key="demo", value=marker))
    return summary
