"""`python -m core alerts add|list|remove|mute|unmute|run` and `python -m core worker` (core.cli registers
them with add_parsers). Heavy modules are imported by the commands, so `--help` stays quick."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import signal
import sys
import threading

log = logging.getLogger("clientele.worker")


def _engine():
    from core.storage import models

    return models.get_engine()


def _jsonable(rule: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in rule.items()}


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def cmd_add(args) -> int:
    from core.alerts import rules
    from core.domain.scope import Scope
    from core.storage.audit import CLI

    spec = rules.RuleSpec(name=args.name, api=args.api, metric=args.metric,
                          comparison="above" if args.above is not None else "below",
                          threshold=args.above if args.above is not None else args.below, window=args.window,
                          notify=args.notify, customer_id=args.customer, segment=args.segment)
    try:
        rule = rules.add(_engine(), spec, scope=Scope.workspace(), actor=CLI)
    except (rules.AlertError, LookupError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(_jsonable(rule)))
    else:
        print(f"Alert rule {rule['id']} created: {rules.describe(rule)}; notifies {', '.join(rule['notify'])}.")
    return 0


def cmd_list(args) -> int:
    from core.alerts import rules
    from core.domain.scope import Scope

    found = rules.visible(_engine(), Scope.workspace())
    if args.json:
        print(json.dumps([_jsonable(r) for r in found]))
        return 0
    for r in found:
        flags = " (muted)" if r["muted"] else ""
        print(f"{r['id']:>4}  {r['state']:<6} {r['name']!r}{flags}: {rules.describe(r)} → {', '.join(r['notify'])}")
    if not found:
        print("No alert rules yet: add one with `python -m core alerts add`.")
    return 0


def cmd_remove(args) -> int:
    from core.alerts import rules
    from core.domain.scope import Scope
    from core.storage.audit import CLI

    try:
        rules.remove(_engine(), args.id, scope=Scope.workspace(), actor=CLI)
    except LookupError as exc:
        return _fail(str(exc))
    print(f"Alert rule {args.id} removed.")
    return 0


def cmd_mute(args) -> int:
    from core.alerts import rules
    from core.domain.scope import Scope
    from core.storage.audit import CLI

    try:
        rules.mute(_engine(), args.id, args.muted, scope=Scope.workspace(), actor=CLI)
    except LookupError as exc:
        return _fail(str(exc))
    print(f"Alert rule {args.id} {'muted' if args.muted else 'unmuted'}.")
    return 0


def run_once(engine, now: dt.datetime) -> dict:
    """One evaluation of every rule at `now`, then every delivery due by then."""
    from core.alerts import deliver, evaluate

    report = evaluate.evaluate(engine, now)
    sent = deliver.deliver_due(engine, now)
    return {"now": now.isoformat(), "evaluated": report.evaluated, "fired": report.fired, "resolved": report.resolved,
            "errors": report.errors, "sent": sent.sent, "retrying": sent.retrying, "failed": sent.failed}


def cmd_run(args) -> int:
    from core.domain.timewindow import WindowError, current_now, parse_now

    try:
        now = parse_now(args.now) if args.now else current_now()
    except WindowError as exc:
        return _fail(str(exc))
    result = run_once(_engine(), now)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['evaluated']} rule(s) evaluated at {result['now']}: {len(result['fired'])} firing, "
              f"{len(result['resolved'])} resolved; deliveries sent {result['sent']}, to retry {result['retrying']}, "
              f"failed {result['failed']}.")
        for error in result["errors"]:
            print(f"  {error}", file=sys.stderr)
    return 1 if result["errors"] else 0


def cmd_worker(args) -> int:
    """Every --interval seconds: evaluate the rules and send the due deliveries, until SIGTERM or SIGINT
    (the current round finishes first). Run exactly one worker per database."""
    from core.domain.timewindow import current_now

    if args.interval < 1:
        return _fail("--interval is a number of seconds, at least 1.")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    engine = _engine()
    log.info("alerts worker started (every %ss)", args.interval)
    while not stop.is_set():
        try:
            result = run_once(engine, current_now())
            log.info("round: %s", json.dumps(result))
        except Exception:  # noqa: BLE001 (a database hiccup must not end the worker; the next round retries)
            log.exception("alerts round failed")
        if args.once:
            break
        stop.wait(args.interval)
    log.info("alerts worker stopped")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from core.storage.alerts import METRICS, WINDOWS

    al = sub.add_parser("alerts", help="alert rules on an API, customer or segment, and their deliveries")
    asub = al.add_subparsers(dest="alerts_command", required=True)
    aa = asub.add_parser("add", help="add a rule")
    aa.add_argument("--name", required=True)
    aa.add_argument("--api", required=True, help="API id or name")
    who = aa.add_mutually_exclusive_group()
    who.add_argument("--customer", default=None, help="one customer ID")
    who.add_argument("--segment", default=None, help="customers with attribute KEY=VALUE (e.g. Plan=Pro)")
    aa.add_argument("--metric", required=True, choices=METRICS)
    when = aa.add_mutually_exclusive_group(required=True)
    when.add_argument("--above", type=float, default=None, help="fire when the value is above this")
    when.add_argument("--below", type=float, default=None, help="fire when the value is below this")
    aa.add_argument("--window", required=True, choices=list(WINDOWS))
    aa.add_argument("--notify", action="append", required=True, help="webhook URL or e-mail address (repeatable)")
    aa.add_argument("--json", action="store_true")
    aa.set_defaults(func=cmd_add)
    ls = asub.add_parser("list", help="list the rules and their state")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    rm = asub.add_parser("remove", help="remove a rule (and its delivery log)")
    rm.add_argument("id", type=int)
    rm.set_defaults(func=cmd_remove)
    for name, muted in (("mute", True), ("unmute", False)):
        mu = asub.add_parser(name, help=f"{name} a rule")
        mu.add_argument("id", type=int)
        mu.set_defaults(func=cmd_mute, muted=muted)
    rn = asub.add_parser("run", help="evaluate every rule once and send what is due")
    rn.add_argument("--now", default=None, help="ISO time to evaluate at (default: now)")
    rn.add_argument("--json", action="store_true")
    rn.set_defaults(func=cmd_run)

    wk = sub.add_parser("worker", help="evaluate alerts and send deliveries every minute (run exactly one)")
    wk.add_argument("--interval", type=int, default=60, help="seconds between rounds (default 60)")
    wk.add_argument("--once", action="store_true", help="one round, then exit")
    wk.set_defaults(func=cmd_worker)
