"""The account commands of `python -m core`: add a user, print an invitation link."""
from __future__ import annotations

import getpass
import sys

from core.auth.errors import AuthError
from core.auth.links import create_invite
from core.auth.users import create_user, normalize_email
from core.domain import config
from core.storage import audit, models


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def cli_users_add(args) -> int:
    """`python -m core users add EMAIL --role R [--customer-id ID] [--name N] [--group G]`, password on stdin."""
    try:
        password = _read_password()
        user_id = create_user(models.get_engine(), email=args.email, name=args.name, password=password, role=args.role,
                              customer_id=args.customer_id, group=getattr(args, "group", None), actor=audit.CLI)
    except (AuthError, config.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"User {normalize_email(args.email)} ({args.role}) created with id {user_id}.")
    return 0


def cli_invite(args) -> int:
    """`python -m core invite EMAIL --role R [--customer-id ID] [--group G]`: prints the one-time link."""
    try:
        result = create_invite(models.get_engine(), email=args.email, role=args.role, customer_id=args.customer_id,
                               group=args.group, invited_by="command line", actor=audit.CLI)
    except (AuthError, config.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.link)
    if result.emailed:
        print(f"Sent to {result.email}.", file=sys.stderr)
    elif result.email_error:
        print(result.email_error, file=sys.stderr)
    print(f"The link works once, until {result.expires_at:%Y-%m-%d %H:%M} UTC.", file=sys.stderr)
    return 0
