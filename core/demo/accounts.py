"""The demo accounts (admin, member, and logins for the two busiest customers) and the bootstrap that
fills an empty database with demo traffic and those accounts."""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from core.demo.population import Customer, customer_profile
from core.demo.traffic import BUCKET_SECONDS
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
     "role": "customer", "customer_id": _TOP.customer_id, "group": f"{_TOP.name} team", "customer_name": _TOP.name},
    {"email": "dev@top-customer.demo", "name": f"Dev ({_TOP.name})", "password": "amber-falcon-delta-91",
     "role": "customer", "customer_id": _TOP.customer_id, "group": f"{_TOP.name} team", "customer_name": _TOP.name},
    {"email": "owner@second-customer.demo", "name": f"Sam ({_SECOND.name})", "password": "copper-willow-frost-28",
     "role": "customer", "customer_id": _SECOND.customer_id, "group": f"{_SECOND.name} team",
     "customer_name": _SECOND.name},
]


def demo_marker(engine: sa.Engine) -> dict | None:
    """The "demo" setting a bootstrap leaves: {accounts, generated_at, requests, loading[, failed]}."""
    with engine.connect() as conn:
        return conn.scalar(sa.select(Setting.value).where(Setting.key == "demo"))


def demo_accounts(engine: sa.Engine) -> list[dict]:
    """DEMO_ACCOUNTS when this database was bootstrapped as a demo; otherwise [] (never shown in production)."""
    if not demo_marker(engine):
        return []
    return [dict(a) for a in DEMO_ACCOUNTS]


def loading(engine: sa.Engine) -> tuple[int, int] | None:
    """(requests stored, the demo's size) while a first start's older days are still loading, else None."""
    marker = demo_marker(engine)
    if not marker or not marker.get("loading"):
        return None
    with engine.connect() as conn:
        stored = conn.scalar(sa.select(sa.func.count()).select_from(Request)) or 0
    return stored, int(marker.get("requests") or stored)


def _has_requests(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return conn.scalar(sa.select(Request.id).limit(1)) is not None


def bootstrap(engine: sa.Engine, *, requests: int, now: dt.datetime | None = None, progress=None) -> dict:
    """On an empty database: generate demo traffic (seed 7, 45 days) and create the demo accounts.
    Returns the generator's summary, or {"skipped": True} when there already are requests."""
    if _has_requests(engine):
        return {"skipped": True}
    now = now or now_minute()
    try:
        summary = generate(engine, requests=requests, days=DEMO_DAYS, seed=DEMO_SEED, now=now, progress=progress)
    except (DemoError, ValueError):
        if _has_requests(engine):  # another process bootstrapped at the same moment
            return {"skipped": True}
        raise
    _create_accounts(engine)
    _mark(engine, now, requests, loading=False)
    return summary


# A first start writes the newest RECENT_DAYS, then the accounts: the login works within seconds, on
# dashboards that already show the last days, while a background process writes the older days.
RECENT_DAYS = 3


def first_start(engine: sa.Engine, *, requests: int, now: dt.datetime | None = None, progress=None) -> dict:
    """On an empty database: the demo's last RECENT_DAYS (newest hours first), then the demo accounts; the
    marker says the older days are loading (finish_first_start writes them). {"skipped": True} when the
    database already has requests."""
    if _has_requests(engine):
        return {"skipped": True}
    now = now or now_minute()
    try:
        summary = generate(engine, requests=requests, days=DEMO_DAYS, seed=DEMO_SEED, now=now, progress=progress,
                           since=now - dt.timedelta(days=RECENT_DAYS), newest_first=True)
    except (DemoError, ValueError):
        if _has_requests(engine):
            return {"skipped": True}
        raise
    _create_accounts(engine)
    _mark(engine, now, requests, loading=True)
    return summary


def finish_first_start(engine: sa.Engine, *, workers: int = 1, progress=None) -> dict:
    """The older days of a first start (newest first, `workers` processes), then the marker says done; a
    failure is recorded in the marker (the app shows it) and raised. A run that was killed is resumed: the
    batches it committed (whole hours, the newest first) stay, and the older hours are written. One run at a
    time: DemoError when another holds the loader's lock."""
    marker = demo_marker(engine)
    if not marker or not marker.get("loading"):
        raise DemoError("There is no demo first start to finish (the demo marker does not say it is loading).")
    now = dt.datetime.fromisoformat(marker["generated_at"])
    with _loader_lock(engine) as mine:
        if not mine:
            raise DemoError("The demo's older days are being loaded by another process already.")
        before = _not_written_before(engine, now, now - dt.timedelta(days=RECENT_DAYS))
        try:
            summary = generate(engine, requests=int(marker["requests"]), days=DEMO_DAYS, seed=DEMO_SEED, now=now,
                               progress=progress, append=True, workers=workers, before=before, newest_first=True)
        except Exception as exc:
            _mark(engine, now, int(marker["requests"]), loading=False, failed=f"{type(exc).__name__}: {exc}")
            raise
        _mark(engine, now, int(marker["requests"]), loading=False)
    return summary


def _not_written_before(engine: sa.Engine, now: dt.datetime, before: dt.datetime) -> dt.datetime:
    """Where the older days' loading goes on from: `before`, or the start of the demo's hour bucket holding the
    oldest request written before it by an earlier run. Its batches are whole buckets, committed one by one in
    order from the newest, so the buckets from there to `before` are complete and every older one is empty."""
    with engine.connect() as conn:
        oldest = conn.scalar(sa.select(sa.func.min(Request.timestamp)).where(Request.timestamp < before))
    if oldest is None:
        return before
    origin = now - dt.timedelta(days=DEMO_DAYS)  # where the demo's buckets start (core.demo.traffic.make_world)
    return origin + dt.timedelta(seconds=(oldest - origin).total_seconds() // BUCKET_SECONDS * BUCKET_SECONDS)


@contextlib.contextmanager
def _loader_lock(engine: sa.Engine) -> Iterator[bool]:
    """An exclusive lock on `<database file>.demo-loader.lock` for this process's life in the block (the
    system drops it when the process dies, killed or not); yields whether it was free. Only for a SQLite
    file: the first start is the embedded database's."""
    path = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not path or path == ":memory:":
        yield True
        return
    with open(f"{path}.demo-loader.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def loader_stopped(engine: sa.Engine) -> bool:
    """A first start's older days are marked loading, but no process is loading them (it was killed, or the
    machine restarted): resume_first_start should start one again."""
    if not (demo_marker(engine) or {}).get("loading"):  # the marker alone: loading() also counts every request
        return False
    with _loader_lock(engine) as free:
        return free


def resume_first_start(engine: sa.Engine) -> subprocess.Popen | None:
    """Start the older days' loader again when it stopped before finishing (the app and `--first-start` call this);
    None when nothing needs it, or when this process started one that has not taken the lock yet."""
    if any(process.poll() is None for process in BACKGROUND) or not loader_stopped(engine):
        return None
    return finish_in_background(engine)


def finish_in_background(engine: sa.Engine) -> subprocess.Popen:
    """`python -m core demo --finish-first-start` on this engine's database, in its own process (forked
    write workers are safe there, not in a threaded app server), detached: it outlives a closed terminal tab."""
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    process = subprocess.Popen([sys.executable, "-m", "core", "demo", "--finish-first-start", "--no-progress"],
                               cwd=_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    BACKGROUND.append(process)  # held (and reaped) by this process while it lives
    return process


_ROOT = Path(__file__).resolve().parent.parent.parent  # where `python -m core` runs
BACKGROUND: list[subprocess.Popen] = []  # the finish_in_background processes this process started


def _create_accounts(engine: sa.Engine) -> None:
    from core.auth import users

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


def _mark(engine: sa.Engine, now: dt.datetime, requests: int, *, loading: bool, failed: str | None = None) -> None:
    marker = {"accounts": [a["email"] for a in DEMO_ACCOUNTS], "generated_at": now.isoformat(), "requests": requests,
              "loading": loading}
    if failed:
        marker["failed"] = failed
    with engine.begin() as conn:
        conn.execute(sa.delete(Setting).where(Setting.key == "demo"))
        conn.execute(sa.insert(Setting).values(key="demo", value=marker))
