"""The command line: `python -m core …` (see DESIGN.md "Command line"). All commands read DATABASE_URL."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.storage import migrations, models


def _engine():
    return models.get_engine()


def cmd_init(args) -> int:
    engine = models.make_engine()
    models.init_db(engine)
    print(f"Schema at revision {migrations.head()} on {engine.url.render_as_string(hide_password=True)}")
    return 0


def cmd_migrations_new(args) -> int:
    path = migrations.new_revision(args.message)
    print(f"Wrote {path}: review it, then run `python -m core init` to apply it.")
    return 0


def cmd_apis_add(args) -> int:
    from core.storage import store

    try:
        created = store.create_api(_engine(), args.name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _audit("api.create", target=f"api:{created['api_id']}", detail={"api": args.name.strip()})
    if args.json:
        print(json.dumps(created))
    else:
        print(f"API {args.name!r} created (id {created['api_id']}).")
        print(f"  api_key:   {created['api_key']}   (the API's identifier, TREBLLE API_KEY / project_id)")
        print(f"  sdk_token: {created['sdk_token']}   (the secret, TREBLLE SDK_TOKEN; shown only now)")
    return 0


def cmd_apis_list(args) -> int:
    from core.storage import store

    apis = store.list_apis(_engine())
    if args.json:
        print(json.dumps([{"api_id": a["id"], "name": a["name"], "api_key": a["api_key"]} for a in apis]))
    else:
        for a in apis:
            print(f"{a['id']:>4}  {a['name']:<30} {a['api_key']}")
        if not apis:
            print("No APIs yet: create one with `python -m core apis add NAME`.")
    return 0


def cmd_ingest(args) -> int:
    from core.ingest.errors import PayloadError
    from core.ingest.files import import_paths

    try:
        report = import_paths(_engine(), args.files, api_key=args.api_key, timestamps=args.timestamps)
    except (FileNotFoundError, PayloadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _audit("data.import", target="file:" + ", ".join(Path(f).name for f in args.files),
           detail={"via": "cli", "accepted": report.accepted, "rejected": len(report.rejected)})
    print(f"accepted: {report.accepted}")
    print(f"rejected: {len(report.rejected)}")
    for r in report.rejected:
        print(f"  {r.source}: {r.reason}")
    return 0 if report.ok else 1


def cmd_demo(args) -> int:
    from core.demo import cli as demo

    return demo.main(args)


def cmd_collector(args) -> int:
    from core.ingest import collector

    return collector.main(args)


def cmd_users_add(args) -> int:
    from core.auth.cli import cli_users_add

    return cli_users_add(args)


def cmd_invite(args) -> int:
    from core.auth.cli import cli_invite

    return cli_invite(args)


def cmd_stats(args) -> int:
    from core.analytics import stats

    return stats.main(args)


def cmd_prune(args) -> int:
    from core.storage import prune

    return prune.main(args)


def cmd_rollups_rebuild(args) -> int:
    """`python -m core rollups rebuild [--api ID]`: recompute the rollups from the raw rows."""
    from core.storage import rollups, store

    engine = _engine()
    api_id = None
    if args.api is not None:
        match = [a for a in store.list_apis(engine) if str(a["id"]) == args.api or a["name"] == args.api]
        if not match:
            print(f"error: no API {args.api!r}; `python -m core apis list` shows the APIs.", file=sys.stderr)
            return 2
        api_id = match[0]["id"]
    result = rollups.rebuild(engine, api_id)
    print(f"Rebuilt the rollups of {result['apis']} API(s) from {result['requests']:,} requests; "
          f"the workspace holds {result['rollup_rows']:,} rollup rows.")
    return 0


def cmd_usage(args) -> int:
    from core.domain.scope import Scope, ScopeError
    from core.present import export
    from core.present.usage import UsageError, usage_json, usage_table
    from core.storage.store import NotFound
    from core.storage.usage import visible_api

    engine = _engine()
    try:
        scope = Scope.customer(args.as_customer) if args.as_customer is not None else Scope.workspace()
        api_id = visible_api(engine, scope, args.api)["api_id"] if args.api is not None else None
        table = usage_table(engine, scope, args.month, api_id=api_id, customer_id=args.customer)
    except (UsageError, NotFound, LookupError, ScopeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.csv:
        sys.stdout.buffer.write(export.to_csv(table))
        sys.stdout.flush()
    else:
        print(json.dumps(usage_json(args.month.strip(), table), ensure_ascii=False))
    return 0


def _audit(action: str, **entry) -> None:
    from core.storage import audit

    audit.record(_engine(), action, actor=audit.CLI, **entry)


def cmd_audit_list(args) -> int:
    from core.domain.timewindow import WindowError, parse_now
    from core.present import audit as audit_view
    from core.present import export
    from core.storage import audit

    try:
        query = audit.AuditQuery(action=args.action, actor=args.user, start=parse_now(args.since) if args.since else None)
        rows = audit.entries(_engine(), query, limit=args.limit)
    except (WindowError, audit.AuditError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(audit_view.entries_json(rows), ensure_ascii=False))
    elif args.csv:
        sys.stdout.buffer.write(export.to_csv(audit_view.entries_table(rows, "UTC")))
        sys.stdout.flush()
    else:
        for line in audit_view.entries_text(rows):
            print(line)
        if not rows:
            print("No audit entries match.", file=sys.stderr)
    return 0


def cmd_audit_prune(args) -> int:
    from core.storage import audit
    from core.storage.prune import PruneError, parse_age

    try:
        deleted = audit.prune(_engine(), parse_age(args.older_than), actor=audit.CLI)
    except (PruneError, audit.AuditError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Deleted {deleted} audit entries older than {args.older_than} (the prune itself is recorded).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="Clientele command line")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create or migrate the schema").set_defaults(func=cmd_init)

    m = sub.add_parser("migrations", help="schema migrations (for developers)")
    msub = m.add_subparsers(dest="migrations_command", required=True)
    mn = msub.add_parser("new", help="write the next migration from the models' changes (Alembic autogenerate)")
    mn.add_argument("message")
    mn.set_defaults(func=cmd_migrations_new)

    d = sub.add_parser("demo", help="load deterministic demo traffic")
    d.add_argument("--requests", type=int, default=200_000)
    d.add_argument("--days", type=int, default=45)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--now", default=None, help="ISO time the traffic ends at (default: now, UTC)")
    d.add_argument("--no-progress", action="store_true")
    d.add_argument("--append", action="store_true", help="add to demo APIs that already hold requests")
    d.add_argument("--first-start", action="store_true",
                   help="demo mode only (no DATABASE_URL), on an empty database: the demo's last days and accounts now "
                        "(CLIENTELE_DEMO_REQUESTS in all), the older days in the background; nothing when set up already")
    d.add_argument("--finish-first-start", action="store_true", help=argparse.SUPPRESS)  # the background part
    d.set_defaults(func=cmd_demo)

    i = sub.add_parser("ingest", help="import payload files (.json, .ndjson, .gz)")
    i.add_argument("files", nargs="+")
    i.add_argument("--api-key", default=None, help="attribute every payload to this API key (write --api-key=KEY for a key that starts with '-')")
    i.add_argument("--timestamps", default="auto", choices=["auto", "utc", "local"],
                   help="the zone of data.request.timestamp: auto (per SDK: django local, others UTC), utc, or "
                        "local (in data.server.timezone)")
    i.set_defaults(func=cmd_ingest)

    c = sub.add_parser("collector", help="run the HTTP collector for Treblle SDKs")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, default=8900)
    c.add_argument("--workers", type=int, default=1)
    c.set_defaults(func=cmd_collector)

    a = sub.add_parser("apis", help="manage APIs")
    asub = a.add_subparsers(dest="apis_command", required=True)
    aa = asub.add_parser("add", help="create an API and print its api_key and sdk_token")
    aa.add_argument("name")
    aa.add_argument("--json", action="store_true")
    aa.set_defaults(func=cmd_apis_add)
    al = asub.add_parser("list", help="list APIs")
    al.add_argument("--json", action="store_true")
    al.set_defaults(func=cmd_apis_list)

    u = sub.add_parser("users", help="manage users")
    usub = u.add_subparsers(dest="users_command", required=True)
    ua = usub.add_parser("add", help="add a user (password read from stdin)")
    ua.add_argument("email")
    ua.add_argument("--role", required=True, choices=["admin", "member", "customer"])
    ua.add_argument("--customer-id", default=None)
    ua.add_argument("--name", default=None)
    ua.add_argument("--group", default=None)
    ua.set_defaults(func=cmd_users_add)

    v = sub.add_parser("invite", help="print a one-time invite link")
    v.add_argument("email")
    v.add_argument("--role", required=True, choices=["admin", "member", "customer"])
    v.add_argument("--customer-id", default=None)
    v.add_argument("--group", default=None)
    v.set_defaults(func=cmd_invite)

    s = sub.add_parser("stats", help="the numbers the dashboard shows")
    s.add_argument("--api", default=None, help="API id or name (default: all APIs)")
    s.add_argument("--window", default="30d", choices=["24h", "7d", "14d", "30d", "all"])
    s.add_argument("--as-customer", default=None)
    s.add_argument("--now", default=None)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_stats)

    us = sub.add_parser("usage", help="requests and failed requests per customer, API, endpoint and method in a UTC month")
    us.add_argument("--month", required=True, help="the UTC calendar month, YYYY-MM")
    us.add_argument("--api", default=None, help="API id or name (default: all APIs)")
    us.add_argument("--customer", default=None, help="one customer ID (default: every customer)")
    us.add_argument("--as-customer", default=None, help="print only what this customer may see")
    output = us.add_mutually_exclusive_group(required=True)
    output.add_argument("--json", action="store_true")
    output.add_argument("--csv", action="store_true")
    us.set_defaults(func=cmd_usage)

    au = sub.add_parser("audit", help="the audit log: who did what, when and from where")
    ausub = au.add_subparsers(dest="audit_command", required=True)
    al = ausub.add_parser("list", help="entries, newest first")
    al.add_argument("--action", default=None, help="one action, e.g. login.failure")
    al.add_argument("--user", default=None, help="who acted: an email, anonymous or cli")
    al.add_argument("--since", default=None, help="ISO time or date (UTC unless it names a zone)")
    al.add_argument("--limit", type=int, default=1000, help="at most this many entries (default 1000)")
    out = al.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true")
    al.set_defaults(func=cmd_audit_list)
    ap = ausub.add_parser("prune", help="delete audit entries older than an age (at least 30d); the prune is recorded")
    ap.add_argument("--older-than", required=True, help="age such as 365d")
    ap.set_defaults(func=cmd_audit_prune)

    ro = sub.add_parser("rollups", help="the pre-aggregated tables every dashboard number comes from")
    rosub = ro.add_subparsers(dest="rollups_command", required=True)
    rr = rosub.add_parser("rebuild", help="recompute them from the raw requests (those prune has kept)")
    rr.add_argument("--api", help="one API (id or name); default: every API")
    rr.set_defaults(func=cmd_rollups_rebuild)

    r = sub.add_parser("prune", help="delete requests and rejected payloads older than an age (the rollups stay)")
    r.add_argument("--older-than", required=True, help="age such as 30d or 12h")
    r.add_argument("--batch-rows", type=int, default=5000, help="rows deleted per transaction")
    r.set_defaults(func=cmd_prune)

    from core.alerts.cli import add_parsers as alerts_parsers  # alerts add|list|remove|mute|unmute|run, worker

    alerts_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)

