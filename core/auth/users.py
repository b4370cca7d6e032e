"""Accounts: who exists, with which role and customer binding; creating, changing and removing them."""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa

from core.auth.errors import AuthError
from core.auth.passwords import hash_password
from core.domain.scope import ROLES
from core.storage import audit
from core.storage.audit import Actor
from core.storage.models import Customer, Invitation, Setting, User, utcnow

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True)
class CurrentUser:
    id: int
    email: str
    name: str
    role: str
    customer_id: str | None
    group: str | None
    # The account row's random epoch (users.session_epoch): cookies and sessions carry it with the id.
    epoch: str | None = field(default=None, repr=False)


def normalize_email(email: str | None) -> str:
    value = (email or "").strip().lower()
    if not value:
        raise AuthError("Enter an email address.")
    if len(value) > 320 or not _EMAIL.match(value):
        raise AuthError(f"{value[:80]!r} is not a valid email address.")
    return value


def user_target(email: str) -> str:
    """How the audit log names an account: "user:<email>" (the email it had then; ids are reused)."""
    return f"user:{email}"


def clean_text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def check_role(role: str, customer_id: str | None, group: str | None) -> None:
    if role not in ROLES:
        raise AuthError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
    if role == "customer" and not customer_id:
        raise AuthError("A customer account needs the customer ID it may see.")
    if role != "customer" and customer_id:
        raise AuthError("Only customer accounts are bound to a customer ID; clear it or choose the customer role.")
    if role != "customer" and group:
        raise AuthError("Groups are for customer accounts; clear it or choose the customer role.")
    if customer_id and len(customer_id) > 255:
        raise AuthError("Customer IDs are at most 255 characters.")
    if group and len(group) > 200:
        raise AuthError("Group names are at most 200 characters.")


def resolve_group(conn: sa.Connection, group: str | None, customer_id: str | None,
                   exclude_user_id: int | None = None) -> str | None:
    """A group shares one customer ID: the ID of its existing members, which a new member must match."""
    if not group:
        return customer_id
    members = sa.select(User.customer_id).where(User.group_name == group, User.customer_id.is_not(None))
    if exclude_user_id is not None:
        members = members.where(User.id != exclude_user_id)
    bound = conn.scalar(members.limit(1))
    if bound is None:
        bound = conn.scalar(
            sa.select(Invitation.customer_id)
            .where(Invitation.group_name == group, Invitation.customer_id.is_not(None), Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
            .limit(1)
        )
    if bound is not None and customer_id and customer_id != bound:
        raise AuthError(f"Group {group!r} already belongs to customer ID {bound!r}.")
    return customer_id or bound


def to_user(row) -> CurrentUser:
    return CurrentUser(id=row.id, email=row.email, name=row.name, role=row.role, customer_id=row.customer_id,
                       group=row.group_name, epoch=row.session_epoch)


def create_user(engine: sa.Engine, *, email: str, name: str, password: str, role: str,
                customer_id: str | None = None, group: str | None = None, actor: Actor | None = None) -> int:
    """Create a user and return its id; AuthError when the input is refused. `actor`: who creates it (audit log)."""
    email = normalize_email(email)
    name = clean_text(name) or email.split("@")[0]
    if len(name) > 200:
        raise AuthError("Names are at most 200 characters.")
    customer_id, group = clean_text(customer_id), clean_text(group)
    password_hash = hash_password(password)
    try:
        with engine.begin() as conn:
            customer_id = resolve_group(conn, group, customer_id) if role == "customer" else customer_id
            check_role(role, customer_id, group)
            user_id = insert_user(conn, email, name, password_hash, role, customer_id, group)
            audit.record(conn, "user.create", actor=actor, target=user_target(email),
                         detail={"role": role, "customer_id": customer_id, "group": group})
            return user_id
    except sa.exc.IntegrityError as exc:
        raise AuthError(f"An account for {email} already exists.") from exc


def insert_user(conn: sa.Connection, email: str, name: str, password_hash: str, role: str,
                 customer_id: str | None, group: str | None) -> int:
    # Callers turn the IntegrityError of a concurrent insert of the same email into the same message.
    if conn.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise AuthError(f"An account for {email} already exists.")
    return conn.execute(
        sa.insert(User)
        .values(email=email, name=name, password_hash=password_hash, role=role, customer_id=customer_id,
                group_name=group, created_at=utcnow(), failed_logins=0, session_epoch=secrets.token_hex(16))
        .returning(User.id)
    ).scalar_one()


USER_COLUMNS = (User.id, User.email, User.name, User.role, User.customer_id, User.group_name, User.session_epoch)


def get_user(engine: sa.Engine, user_id: int) -> CurrentUser | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(*USER_COLUMNS).where(User.id == user_id)).first()
    return to_user(row) if row else None


def get_user_by_email(engine: sa.Engine, email: str | None) -> CurrentUser | None:
    try:
        email = normalize_email(email)
    except AuthError:
        return None
    with engine.connect() as conn:
        row = conn.execute(sa.select(*USER_COLUMNS).where(User.email == email)).first()
    return to_user(row) if row else None


def list_users(engine: sa.Engine) -> list[dict]:
    """Every user for the People page: email, name, role, customer_id, group, last_login_at, locked_until."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(User.id, User.email, User.name, User.role, User.customer_id, User.group_name.label("group"),
                      User.last_login_at, User.locked_until).order_by(User.email)
        )
        return [dict(r._mapping) for r in rows]


def customer_choices(engine: sa.Engine) -> list[tuple[str, str | None]]:
    """(customer_id, display_name) of every known customer, for picking one in an invite."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Customer.customer_id, Customer.display_name).order_by(Customer.customer_id))
        return [(r.customer_id, r.display_name) for r in rows]


def has_users(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return conn.scalar(sa.select(User.id).limit(1)) is not None


def needs_first_admin(engine: sa.Engine) -> bool:
    """No account exists: the app offers to create the first Admin.

    In production (DATABASE_URL set) that is the first run; in demo mode the demo bootstrap creates
    accounts first, so this only remains true when the demo data came without them.
    """
    return not has_users(engine)


def create_first_admin(engine: sa.Engine, *, email: str, name: str, password: str, source: str | None = None) -> CurrentUser:
    """Create the first Admin, exactly once even if two people submit the form at the same moment.
    `source`: where the form was sent from (audit log)."""
    email = normalize_email(email)
    password_hash = hash_password(password)
    name = clean_text(name) or email.split("@")[0]
    try:
        with engine.begin() as conn:
            if conn.scalar(sa.select(User.id).limit(1)) is not None:
                raise AuthError("An account already exists: log in, or ask an Admin for an invitation.")
            # The primary key on settings.key makes a concurrent second attempt fail here.
            conn.execute(sa.insert(Setting).values(key="first_admin", value={"email": email, "at": utcnow().isoformat()}))
            user_id = insert_user(conn, email, name, password_hash, "admin", None, None)
            audit.record(conn, "user.create", actor=Actor.user(user_id, email, source), target=user_target(email),
                         detail={"role": "admin", "first_admin": True})
    except sa.exc.IntegrityError as exc:
        raise AuthError("An account already exists: log in, or ask an Admin for an invitation.") from exc
    return get_user(engine, user_id)


def _admin_count(conn: sa.Connection) -> int:
    return conn.scalar(sa.select(sa.func.count()).select_from(User).where(User.role == "admin"))


def update_role(engine: sa.Engine, user_id: int, role: str, *, customer_id: str | None = None,
                group: str | None = None, actor: Actor | None = None) -> CurrentUser:
    """Change a user's role (and customer binding). Takes effect on the user's next page run.
    `actor`: who changes it (audit log)."""
    customer_id, group = clean_text(customer_id), clean_text(group)
    with engine.begin() as conn:
        row = conn.execute(sa.select(User.role, User.customer_id, User.group_name, User.email).where(User.id == user_id)).first()
        if row is None:
            raise AuthError("That user no longer exists.")
        current = row.role
        if role == "customer":
            customer_id = resolve_group(conn, group, customer_id, exclude_user_id=user_id)
        check_role(role, customer_id, group)
        if current == "admin" and role != "admin" and _admin_count(conn) <= 1:
            raise AuthError("This is the only Admin; make someone else Admin first.")
        conn.execute(sa.update(User).where(User.id == user_id).values(role=role, customer_id=customer_id, group_name=group))
        audit.record(conn, "user.role_change", actor=actor, target=user_target(row.email), detail={
            "from": {"role": current, "customer_id": row.customer_id, "group": row.group_name},
            "to": {"role": role, "customer_id": customer_id, "group": group}})
    return get_user(engine, user_id)


def remove_user(engine: sa.Engine, user_id: int, *, acting_user_id: int | None = None,
                now: dt.datetime | None = None, actor: Actor | None = None) -> None:
    """Delete a user; their cookies and open sessions stop working on the next page run, and their pending
    invitation and reset links are withdrawn. `actor`: who removes them (audit log)."""
    if acting_user_id is not None and acting_user_id == user_id:
        raise AuthError("You cannot remove your own account.")
    with engine.begin() as conn:
        row = conn.execute(sa.select(User.role, User.email).where(User.id == user_id)).first()
        if row is None:
            raise AuthError("That user no longer exists.")
        if row.role == "admin" and _admin_count(conn) <= 1:
            raise AuthError("This is the only Admin; make someone else Admin first.")
        conn.execute(
            sa.update(Invitation)
            .where(sa.or_(Invitation.user_id == user_id, Invitation.email == row.email),
                   Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
            .values(revoked_at=now or utcnow())
        )
        conn.execute(sa.delete(User).where(User.id == user_id))
        audit.record(conn, "user.remove", actor=actor, target=user_target(row.email), detail={"role": row.role}, at=now)
