"""`python -m core demo`: the command that loads demo traffic, with its --now parsing."""
from __future__ import annotations

import datetime as dt
import os
import sys

from core.auth.users import has_users
from core.demo import accounts
from core.demo.writer import DemoError, generate, now_minute
from core.domain import config, timewindow
from core.storage import models


def parse_now(text: str | None) -> dt.datetime:
    """--now as an aware UTC datetime truncated to the minute; default: the current minute."""
    if not text:
        return now_minute()
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--now {text!r} is not an ISO time; use e.g. 2026-01-31T12:00 or 2026-01-31T12:00:00Z") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).replace(second=0, microsecond=0)


def main(args) -> int:
    """`python -m core demo`: exit 0 when loaded, 2 with a message when refused."""
    try:
        now = parse_now(args.now)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.first_start:  # ends at the dashboards' "now" (CLIENTELE_NOW when set), like the app's own first start
        return _first_start(now if args.now else timewindow.current_now().replace(second=0, microsecond=0))
    if args.finish_first_start:
        return _finish_first_start()
    engine = models.get_engine()
    bars = []  # the bar appears with the first batch, so a refusal prints only its message

    def progress(done: int, total: int) -> None:
        if not bars:
            from tqdm import tqdm

            bars.append(tqdm(total=total, unit="req", unit_scale=True, file=sys.stderr, desc="demo"))
        bars[0].update(done - bars[0].n)

    try:
        summary = generate(
            engine, requests=args.requests, days=args.days, seed=args.seed, now=now,
            progress=None if args.no_progress else progress, append=getattr(args, "append", False),
            workers=min(4, os.cpu_count() or 1),
        )
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        for bar in bars:
            bar.close()
    rate = summary["requests"] / summary["seconds"] if summary["seconds"] else 0
    print(
        f"Demo data: {summary['requests']:,} requests from {summary['customers']:,} customers on {summary['apis']} APIs, "
        f"{summary['days']} days ending {summary['now']} (seed {summary['seed']}), in {summary['seconds']} s ({rate:,.0f} req/s)."
    )
    return 0


def _first_start(now: dt.datetime) -> int:
    """The README's first command: on the embedded database, make the login work within seconds."""
    settings = config.settings()
    if not settings.is_embedded:
        print("DATABASE_URL is set: --first-start only fills the embedded demo database; nothing done.")
        return 0
    engine = models.get_engine()
    models.init_db(engine)
    if has_users(engine):
        if accounts.resume_first_start(engine):
            print("The demo's older days stopped loading before they were complete; they load again in the background.")
        else:
            print("The demo database is set up already.")
        return 0
    try:
        summary = accounts.first_start(engine, requests=settings.demo_requests, now=now)
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if summary.get("skipped"):
        print("The demo database holds requests already.")
        return 0
    accounts.finish_in_background(engine)
    print(f"Demo: the last {accounts.RECENT_DAYS} days ({summary['requests']:,} requests) and the demo accounts are ready "
          f"in {summary['seconds']} s; the older days of the {settings.demo_requests:,} requests load in the background.")
    return 0


def _finish_first_start() -> int:
    engine = models.get_engine()
    try:
        summary = accounts.finish_first_start(engine, workers=min(4, os.cpu_count() or 1))
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Demo: the older {summary['requests']:,} requests loaded in {summary['seconds']} s.")
    return 0
