"""The command line: `python -m core …` (see DESIGN.md "Command line"). All commands read DATABASE_URL."""
from __future__ import annotations

import argparse
import json
import sys

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
    d.set_defaults(func=cmd_demo)

    i = sub.add_parser("ingest", help="import payload files (.json, .ndjson, .gz)")
    i.add_argument("files", nargs="+")
    i.add_argument("--api-key", default=None, help="attribute every payload to this API key")
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

    r = sub.add_parser("prune", help="delete requests and rejected payloads older than an age")
    r.add_argument("--older-than", required=True, help="age such as 30d or 12h")
    r.add_argument("--batch-rows", type=int, default=5000, help="rows deleted per transaction")
    r.set_defaults(func=cmd_prune)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)

