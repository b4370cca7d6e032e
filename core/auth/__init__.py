"""Users, roles, passwords, lockout, cookie revocation, invitations and password resets.

The security lives here and in the database; streamlit-authenticator only draws the login form.
"""
from __future__ import annotations

import base64
import datetime as dt
import getpass
import hashlib
import re
import secrets
import smtplib
import sys
import urllib.parse
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import lru_cache

import bcrypt
import jwt
import polars as pl
import sqlalchemy as sa

from core.domain import config
from core.domain.scope import ROLES
from core.storage import models
from core.storage.models import Customer, Invitation, Setting, User, utcnow

COOKIE_NAME = "clientele_auth"
COOKIE_EXPIRY_DAYS = 7
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
# Clocks of app servers behind one database drift a little; a cookie "issued" further in the future is forged.
_COOKIE_CLOCK_SKEW = dt.timedelta(minutes=5)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class AuthError(Exception):
    """Something a user did cannot be accepted; the message is written for them."""


def login_failed_message() -> str:
    """The one answer to every failed login: never says whether the email exists or is locked."""
    s = config.settings()
    return (
        f"Incorrect email or password. After {s.lockout_threshold} failed attempts an account is "
        f"locked for {s.lockout_minutes} minutes."
    )


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


@dataclass(frozen=True)
class LinkResult:
    """A one-time link for the Admin: emailed when SMTP is configured, otherwise to copy."""

    link: str
    email: str
    expires_at: dt.datetime
    emailed: bool
    email_error: str | None = None


# ---------------------------------------------------------------- passwords


def normalize_email(email: str | None) -> str:
    value = (email or "").strip().lower()
    if not value:
        raise AuthError("Enter an email address.")
    if len(value) > 320 or not _EMAIL.match(value):
        raise AuthError(f"{value[:80]!r} is not a valid email address.")
    return value


def _prepare_password(password: str | None) -> str:
    # The login form strips surrounding spaces before we see the password; do the same everywhere.
    return (password or "").strip()


def check_password_policy(password: str | None) -> str:
    """The password as it will be stored (surrounding spaces removed), or AuthError saying what is wrong."""
    value = _prepare_password(password)
    if len(value) > MAX_PASSWORD_CHARS:
        raise AuthError(f"Passwords are at most {MAX_PASSWORD_CHARS} characters.")
    if len(value) < MIN_PASSWORD_CHARS:
        raise AuthError(f"Passwords need at least {MIN_PASSWORD_CHARS} characters; a few words make a good one.")
    if len(set(value)) == 1:
        raise AuthError("A password cannot be one character repeated.")
    return value


def _prehash(password: str) -> bytes:
    # bcrypt reads at most 72 bytes (bcrypt 5 refuses more); SHA-256 then base64 admits any passphrase
    # and keeps NUL bytes out of bcrypt's input.
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(password: str) -> str:
    """A bcrypt hash of the password; refuses passwords outside the policy."""
    value = check_password_policy(password)
    return bcrypt.hashpw(_prehash(value), bcrypt.gensalt()).decode("ascii")


def verify_password(password: str | None, password_hash: str | None) -> bool:
    value = _prepare_password(password)
    if not password_hash or len(value) > MAX_PASSWORD_CHARS:
        return False
    try:
        return bcrypt.checkpw(_prehash(value), password_hash.encode("ascii"))
    except ValueError:
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return bcrypt.hashpw(_prehash(secrets.token_urlsafe(16)), bcrypt.gensalt()).decode("ascii")


# ---------------------------------------------------------------- users


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _check_role(role: str, customer_id: str | None, group: str | None) -> None:
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


def _resolve_group(conn: sa.Connection, group: str | None, customer_id: str | None,
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


def _to_user(row) -> CurrentUser:
    return CurrentUser(id=row.id, email=row.email, name=row.name, role=row.role, customer_id=row.customer_id,
                       group=row.group_name, epoch=row.session_epoch)


def create_user(engine: sa.Engine, *, email: str, name: str, password: str, role: str,
                customer_id: str | None = None, group: str | None = None) -> int:
    """Create a user and return its id; AuthError when the input is refused."""
    email = normalize_email(email)
    name = _clean(name) or email.split("@")[0]
    if len(name) > 200:
        raise AuthError("Names are at most 200 characters.")
    customer_id, group = _clean(customer_id), _clean(group)
    password_hash = hash_password(password)
    try:
        with engine.begin() as conn:
            customer_id = _resolve_group(conn, group, customer_id) if role == "customer" else customer_id
            _check_role(role, customer_id, group)
            return _insert_user(conn, email, name, password_hash, role, customer_id, group)
    except sa.exc.IntegrityError as exc:
        raise AuthError(f"An account for {email} already exists.") from exc


def _insert_user(conn: sa.Connection, email: str, name: str, password_hash: str, role: str,
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


_USER_COLUMNS = (User.id, User.email, User.name, User.role, User.customer_id, User.group_name, User.session_epoch)


def get_user(engine: sa.Engine, user_id: int) -> CurrentUser | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(*_USER_COLUMNS).where(User.id == user_id)).first()
    return _to_user(row) if row else None


def get_user_by_email(engine: sa.Engine, email: str | None) -> CurrentUser | None:
    try:
        email = normalize_email(email)
    except AuthError:
        return None
    with engine.connect() as conn:
        row = conn.execute(sa.select(*_USER_COLUMNS).where(User.email == email)).first()
    return _to_user(row) if row else None


def list_users(engine: sa.Engine) -> list[dict]:
    """Every user for the People page: email, name, role, customer_id, group, last_login_at, locked_until."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(User.id, User.email, User.name, User.role, User.customer_id, User.group_name.label("group"),
                      User.last_login_at, User.locked_until).order_by(User.email)
        )
        return [dict(r._mapping) for r in rows]


_USERS_SCHEMA = {"Email": pl.String, "Name": pl.String, "Role": pl.String, "Customer ID": pl.String, "Group": pl.String,
                 "Last login": pl.Datetime("us", "UTC"), "Locked until": pl.Datetime("us", "UTC")}
_INVITES_SCHEMA = {"Email": pl.String, "Kind": pl.String, "Role": pl.String, "Customer ID": pl.String, "Group": pl.String,
                   "Invited by": pl.String, "Expires": pl.Datetime("us", "UTC")}


def users_table(users: list[dict], tz: str) -> pl.DataFrame:
    """One row per user, as the People page shows it (times in the viewer's time zone)."""
    rows = [(u["email"], u["name"], u["role"], u["customer_id"], u["group"], u["last_login_at"], u["locked_until"]) for u in users]
    frame = pl.DataFrame(rows, schema=_USERS_SCHEMA, orient="row")
    return frame.with_columns(pl.col("Last login", "Locked until").dt.convert_time_zone(tz))


def invites_table(invites: list[dict], tz: str) -> pl.DataFrame:
    """One row per pending invitation or reset link (times in the viewer's time zone)."""
    rows = [(i["email"], "password reset" if i["purpose"] == "reset" else "invitation", i["role"], i["customer_id"],
             i["group"], i["invited_by"], i["expires_at"]) for i in invites]
    frame = pl.DataFrame(rows, schema=_INVITES_SCHEMA, orient="row")
    return frame.with_columns(pl.col("Expires").dt.convert_time_zone(tz))


def has_users(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return conn.scalar(sa.select(User.id).limit(1)) is not None


def needs_first_admin(engine: sa.Engine) -> bool:
    """No account exists: the app offers to create the first Admin.

    In production (DATABASE_URL set) that is the first run; in demo mode the demo bootstrap creates
    accounts first, so this only remains true when the demo data came without them.
    """
    return not has_users(engine)


def create_first_admin(engine: sa.Engine, *, email: str, name: str, password: str) -> CurrentUser:
    """Create the first Admin, exactly once even if two people submit the form at the same moment."""
    email = normalize_email(email)
    password_hash = hash_password(password)
    name = _clean(name) or email.split("@")[0]
    try:
        with engine.begin() as conn:
            if conn.scalar(sa.select(User.id).limit(1)) is not None:
                raise AuthError("An account already exists: log in, or ask an Admin for an invitation.")
            # The primary key on settings.key makes a concurrent second attempt fail here.
            conn.execute(sa.insert(Setting).values(key="first_admin", value={"email": email, "at": utcnow().isoformat()}))
            user_id = _insert_user(conn, email, name, password_hash, "admin", None, None)
    except sa.exc.IntegrityError as exc:
        raise AuthError("An account already exists: log in, or ask an Admin for an invitation.") from exc
    return get_user(engine, user_id)


def _admin_count(conn: sa.Connection) -> int:
    return conn.scalar(sa.select(sa.func.count()).select_from(User).where(User.role == "admin"))


def update_role(engine: sa.Engine, user_id: int, role: str, *, customer_id: str | None = None,
                group: str | None = None) -> CurrentUser:
    """Change a user's role (and customer binding). Takes effect on the user's next page run."""
    customer_id, group = _clean(customer_id), _clean(group)
    with engine.begin() as conn:
        current = conn.execute(sa.select(User.role).where(User.id == user_id)).scalar_one_or_none()
        if current is None:
            raise AuthError("That user no longer exists.")
        if role == "customer":
            customer_id = _resolve_group(conn, group, customer_id, exclude_user_id=user_id)
        _check_role(role, customer_id, group)
        if current == "admin" and role != "admin" and _admin_count(conn) <= 1:
            raise AuthError("This is the only Admin; make someone else Admin first.")
        conn.execute(sa.update(User).where(User.id == user_id).values(role=role, customer_id=customer_id, group_name=group))
    return get_user(engine, user_id)


def remove_user(engine: sa.Engine, user_id: int, *, acting_user_id: int | None = None,
                now: dt.datetime | None = None) -> None:
    """Delete a user; their cookies and open sessions stop working on the next page run, and their pending
    invitation and reset links are withdrawn."""
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


# ---------------------------------------------------------------- login, lockout, revocation


def _reserve_attempt(conn: sa.Connection, where: sa.ColumnElement[bool], now: dt.datetime):
    """Count one password attempt on the user matching `where` before its bcrypt check, in one UPDATE.

    The UPDATE matches only an unlocked account, and the attempt that reaches the threshold locks it in
    the same statement: however many guesses arrive at once, at most `lockout_threshold` of them are
    ever checked per lock period. Returns the user's row (with password_hash), or None when there is no
    such user or the account is locked. A success resets the count (`_attempt_succeeded`).
    """
    s = config.settings()
    expired = sa.and_(User.locked_until.is_not(None), User.locked_until <= now)
    count = sa.case((expired, 0), else_=sa.func.coalesce(User.failed_logins, 0)) + 1
    lock_end = now + dt.timedelta(minutes=s.lockout_minutes)
    return conn.execute(
        sa.update(User)
        .where(where, sa.or_(User.locked_until.is_(None), User.locked_until <= now))
        .values(failed_logins=count,
                locked_until=sa.case((count >= s.lockout_threshold, sa.literal(lock_end, models.UTCDateTime)), else_=None))
        .returning(*_USER_COLUMNS, User.password_hash)
    ).first()


def _attempt_succeeded(conn: sa.Connection, user_id: int, **values) -> None:
    conn.execute(sa.update(User).where(User.id == user_id).values(failed_logins=0, locked_until=None, **values))


def authenticate(engine: sa.Engine, email: str, password: str, *, now: dt.datetime | None = None) -> CurrentUser:
    """The user whose email and password these are, or AuthError(login_failed_message()).

    Every attempt is counted in the database before the password is checked; the attempt reaching the
    threshold locks the account for lockout_minutes, even when guesses arrive in parallel.
    Unknown emails, wrong passwords and locked accounts get the same answer and the same bcrypt work.
    """
    now = now or utcnow()
    failed = AuthError(login_failed_message())
    try:
        email = normalize_email(email)
    except AuthError:
        verify_password(password, _dummy_hash())
        raise failed from None
    with engine.begin() as conn:
        row = _reserve_attempt(conn, User.email == email, now)
    if row is None:
        verify_password(password, _dummy_hash())
        raise failed
    if not verify_password(password, row.password_hash):
        raise failed  # the attempt was counted (and the lock taken) before the check
    with engine.begin() as conn:
        _attempt_succeeded(conn, row.id, last_login_at=now)
    return _to_user(row)


def record_login(engine: sa.Engine, user_id: int, *, now: dt.datetime | None = None) -> None:
    """A session started without a password (cookie, invite, reset): still a login."""
    with engine.begin() as conn:
        conn.execute(sa.update(User).where(User.id == user_id).values(last_login_at=now or utcnow()))


def revoke_sessions(engine: sa.Engine, user_id: int, *, now: dt.datetime | None = None) -> dt.datetime:
    """Refuse every cookie and session of the user started before now (logout, password change)."""
    now = now or utcnow()
    with engine.begin() as conn:
        conn.execute(sa.update(User).where(User.id == user_id).values(valid_after=now))
    return now


def session_user(engine: sa.Engine, started_at: dt.datetime | None, *, user_id: int | None = None,
                 email: str | None = None, epoch: str | None = None) -> CurrentUser | None:
    """The user of a session that started at `started_at`, as the database says now; None once the
    user is gone or has logged out or changed password since (their `valid_after` is later), or, when
    `epoch` is given, once the account row is not the one the session started with."""
    if started_at is None or (user_id is None and not email):
        return None
    where = User.id == user_id if user_id is not None else User.email == (email or "").strip().lower()
    with engine.connect() as conn:
        row = conn.execute(sa.select(*_USER_COLUMNS, User.valid_after).where(where)).first()
    if row is None or (row.valid_after is not None and started_at < row.valid_after):
        return None
    if epoch is not None and row.session_epoch != epoch:
        return None
    return _to_user(row)


def change_password(engine: sa.Engine, user_id: int, current_password: str, new_password: str, *,
                    now: dt.datetime | None = None) -> dt.datetime:
    """Set a new password after checking the current one; revokes earlier cookies. Returns the revocation time.

    A wrong current password counts toward the lockout like a failed login (same counter), so a
    session left open cannot be used to guess the password.
    """
    now = now or utcnow()
    check_password_policy(new_password)
    if _prepare_password(new_password) == _prepare_password(current_password):
        raise AuthError("The new password is the same as the current one.")
    with engine.begin() as conn:
        row = _reserve_attempt(conn, User.id == user_id, now)
    if row is None:
        if get_user(engine, user_id) is None:
            raise AuthError("Your account no longer exists.")
        raise AuthError(f"Too many wrong passwords: your account is locked for up to "
                        f"{config.settings().lockout_minutes} minutes. Try again later.")
    if not verify_password(current_password, row.password_hash):
        raise AuthError("The current password is not correct.")
    return _set_password(engine, user_id, new_password, now=now)


def _set_password(engine: sa.Engine, user_id: int, password: str, *, now: dt.datetime | None = None) -> dt.datetime:
    password_hash = hash_password(password)
    now = now or utcnow()
    with engine.begin() as conn:
        conn.execute(
            sa.update(User).where(User.id == user_id)
            .values(password_hash=password_hash, valid_after=now, failed_logins=0, locked_until=None)
        )
    return now


def cookie_token(user: CurrentUser, key: str, *, now: dt.datetime | None = None,
                 expiry_days: float = COOKIE_EXPIRY_DAYS) -> str:
    """The login cookie's JWT: the library's claims (username, exp_date) plus our own issue time and the
    account row it is for (user id and epoch).

    The issue time is a claim of its own rather than derived from exp_date, which the library computes
    from naive local time (off by an hour across a daylight-saving change: enough to revive a cookie
    that a logout revoked). The id and epoch make the cookie worthless once the account is removed, even
    if the same email is invited again.
    """
    now = now or utcnow()
    payload = {"username": user.email, "exp_date": (now + dt.timedelta(days=expiry_days)).timestamp(),
               "issued_at": now.timestamp(), "uid": user.id, "epoch": user.epoch}
    return jwt.encode(payload, key, algorithm="HS256")


def verify_cookie(engine: sa.Engine, token: str, key: str, *, now: dt.datetime | None = None) -> tuple[CurrentUser, dt.datetime]:
    """(user, issue time) of a login cookie, or AuthError: bad signature, expired, no issue time, issued
    before the user's last logout or password change, or for an account row that no longer exists
    (removed, even if its email was invited again)."""
    now = now or utcnow()
    expired = AuthError("Your login has expired; please log in again.")
    try:
        payload = jwt.decode(token, key, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise expired from None
    if not isinstance(payload, dict):
        raise expired
    username, exp, issued, uid, epoch = (payload.get(k) for k in ("username", "exp_date", "issued_at", "uid", "epoch"))
    if not isinstance(username, str) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (exp, issued)):
        raise expired
    if not isinstance(uid, int) or isinstance(uid, bool) or not isinstance(epoch, str) or not epoch:
        raise expired
    try:
        expires_at = dt.datetime.fromtimestamp(exp, dt.timezone.utc)
        issued_at = dt.datetime.fromtimestamp(issued, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise expired from None
    if expires_at <= now or issued_at > now + _COOKIE_CLOCK_SKEW:
        raise expired
    user = session_user(engine, issued_at, user_id=uid, epoch=epoch)
    if user is None or user.email != username:
        raise expired
    return user, issued_at


def credentials(engine: sa.Engine) -> dict:
    """streamlit-authenticator's credentials dict, built from the users table (it keeps nothing itself)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(User.email, User.name, User.password_hash, User.role, User.failed_logins))
        return {
            "usernames": {
                r.email: {"email": r.email, "name": r.name, "password": r.password_hash, "roles": [r.role],
                          "failed_login_attempts": r.failed_logins or 0, "logged_in": False}
                for r in rows
            }
        }


def customer_choices(engine: sa.Engine) -> list[tuple[str, str | None]]:
    """(customer_id, display_name) of every known customer, for picking one in an invite."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Customer.customer_id, Customer.display_name).order_by(Customer.customer_id))
        return [(r.customer_id, r.display_name) for r in rows]


# ---------------------------------------------------------------- invitations and resets


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _link(purpose: str, token: str) -> str:
    return f"{config.settings().base_url}/?{purpose}={token}"


def create_invite(engine: sa.Engine, *, email: str, role: str, customer_id: str | None = None,
                  group: str | None = None, invited_by: str | None = None, now: dt.datetime | None = None) -> LinkResult:
    """A one-time invite link (an earlier pending invite to the same email stops working), emailed if SMTP is set."""
    email = normalize_email(email)
    customer_id, group = _clean(customer_id), _clean(group)
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    expires_at = now + dt.timedelta(hours=config.settings().invite_ttl_hours)
    with engine.begin() as conn:
        if role == "customer":
            customer_id = _resolve_group(conn, group, customer_id)
        _check_role(role, customer_id, group)
        if conn.scalar(sa.select(User.id).where(User.email == email)) is not None:
            raise AuthError(f"{email} already has an account.")
        _revoke_pending(conn, email, "invite", now)
        conn.execute(sa.insert(Invitation).values(
            token_hash=_token_hash(token), purpose="invite", email=email, role=role, customer_id=customer_id,
            group_name=group, invited_by=invited_by, created_at=now, expires_at=expires_at,
        ))
    link = _link("invite", token)
    return _deliver(email, link, expires_at, subject="You are invited to Clientele",
                    body=f"You have been invited to Clientele as {role}.\n\nSet your password here (the link works once, "
                         f"until {expires_at:%Y-%m-%d %H:%M} UTC):\n\n{link}\n")


def create_reset(engine: sa.Engine, user_id: int, *, invited_by: str | None = None,
                 now: dt.datetime | None = None) -> LinkResult:
    """A one-time password-reset link for a user, issued by an Admin (there is no self-service reset)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    expires_at = now + dt.timedelta(hours=config.settings().invite_ttl_hours)
    with engine.begin() as conn:
        row = conn.execute(sa.select(User.email, User.role).where(User.id == user_id)).first()
        if row is None:
            raise AuthError("That user no longer exists.")
        _revoke_pending(conn, row.email, "reset", now)
        conn.execute(sa.insert(Invitation).values(
            token_hash=_token_hash(token), purpose="reset", email=row.email, user_id=user_id, role=row.role,
            invited_by=invited_by, created_at=now, expires_at=expires_at,
        ))
    link = _link("reset", token)
    return _deliver(row.email, link, expires_at, subject="Reset your Clientele password",
                    body=f"An Admin created a password-reset link for your Clientele account. It works once, until "
                         f"{expires_at:%Y-%m-%d %H:%M} UTC:\n\n{link}\n\nIf you did not ask for it, tell your Admin.\n")


def _revoke_pending(conn: sa.Connection, email: str, purpose: str, now: dt.datetime) -> None:
    conn.execute(
        sa.update(Invitation)
        .where(Invitation.email == email, Invitation.purpose == purpose, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def pending_invites(engine: sa.Engine, *, now: dt.datetime | None = None) -> list[dict]:
    """Invites and resets not yet used, revoked or expired: id, purpose, email, role, customer_id, group, invited_by, expires_at."""
    now = now or utcnow()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(Invitation.id, Invitation.purpose, Invitation.email, Invitation.role, Invitation.customer_id,
                      Invitation.group_name.label("group"), Invitation.invited_by, Invitation.expires_at)
            .where(Invitation.used_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > now)
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        )
        return [dict(r._mapping) for r in rows]


def revoke_invite(engine: sa.Engine, invite_id: int, *, now: dt.datetime | None = None) -> None:
    with engine.begin() as conn:
        done = conn.execute(
            sa.update(Invitation).where(Invitation.id == invite_id, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
            .values(revoked_at=now or utcnow())
        ).rowcount
    if not done:
        raise AuthError("That link was already used or revoked.")


@dataclass(frozen=True)
class PendingLink:
    """What a valid link grants, to show on its form before the invitee commits."""

    purpose: str
    email: str
    role: str


def check_link(engine: sa.Engine, token: str | None, purpose: str, *, now: dt.datetime | None = None) -> PendingLink:
    """The invitation behind a link, or AuthError saying why the link does not work."""
    with engine.connect() as conn:
        row = _live_link(conn, token, purpose, now or utcnow())
    return PendingLink(purpose=row.purpose, email=row.email, role=row.role)


def _live_link(conn: sa.Connection, token: str | None, purpose: str, now: dt.datetime):
    what = "invitation" if purpose == "invite" else "password-reset link"
    if not token or len(token) > 200:
        raise AuthError(f"This {what} is not valid. Ask an Admin for a new one.")
    inv = conn.execute(
        sa.select(Invitation.id, Invitation.purpose, Invitation.email, Invitation.user_id, Invitation.role,
                  Invitation.customer_id, Invitation.group_name, Invitation.used_at, Invitation.revoked_at,
                  Invitation.expires_at)
        .where(Invitation.token_hash == _token_hash(token), Invitation.purpose == purpose)
    ).first()
    if inv is None:
        raise AuthError(f"This {what} is not valid. Ask an Admin for a new one.")
    if inv.used_at is not None:
        raise AuthError(f"This {what} has already been used. Log in, or ask an Admin for a new one.")
    if inv.revoked_at is not None:
        raise AuthError(f"This {what} was withdrawn. Ask an Admin for a new one.")
    if inv.expires_at <= now:
        raise AuthError(f"This {what} has expired. Ask an Admin for a new one.")
    return inv


def _use_link(conn: sa.Connection, inv_id: int, now: dt.datetime) -> None:
    # Guarded update: of two simultaneous acceptances only one changes the row.
    done = conn.execute(
        sa.update(Invitation).where(Invitation.id == inv_id, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if not done:
        raise AuthError("This link has already been used. Log in, or ask an Admin for a new one.")


def accept_invite(engine: sa.Engine, token: str, *, name: str, password: str, now: dt.datetime | None = None) -> CurrentUser:
    """Create the invited account with the chosen name and password; the link then stops working."""
    now = now or utcnow()
    display = _clean(name)
    if display and len(display) > 200:
        raise AuthError("Names are at most 200 characters.")
    password_hash = hash_password(password)
    try:
        with engine.begin() as conn:
            inv = _live_link(conn, token, "invite", now)
            _use_link(conn, inv.id, now)
            user_id = _insert_user(conn, inv.email, display or inv.email.split("@")[0], password_hash, inv.role,
                                   inv.customer_id, inv.group_name)
            conn.execute(sa.update(User).where(User.id == user_id).values(last_login_at=now))
    except sa.exc.IntegrityError as exc:
        raise AuthError("An account for this email already exists: log in instead.") from exc
    return get_user(engine, user_id)


def accept_reset(engine: sa.Engine, token: str, *, password: str, now: dt.datetime | None = None) -> CurrentUser:
    """Set a new password from a reset link; earlier cookies and sessions of the user stop working."""
    now = now or utcnow()
    password_hash = hash_password(password)
    with engine.begin() as conn:
        inv = _live_link(conn, token, "reset", now)
        # The account the link was made for: never another account that now holds the same email.
        user_id = None if inv.user_id is None else conn.scalar(
            sa.select(User.id).where(User.id == inv.user_id, User.email == inv.email))
        if user_id is None:
            raise AuthError("The account of this link no longer exists.")
        _use_link(conn, inv.id, now)
        conn.execute(
            sa.update(User).where(User.id == user_id)
            .values(password_hash=password_hash, valid_after=now, failed_logins=0, locked_until=None, last_login_at=now)
        )
    return get_user(engine, user_id)


def _deliver(email: str, link: str, expires_at: dt.datetime, *, subject: str, body: str) -> LinkResult:
    smtp_url = config.settings().smtp_url
    if not smtp_url:
        return LinkResult(link=link, email=email, expires_at=expires_at, emailed=False)
    try:
        send_email(smtp_url, to=email, subject=subject, body=body)
    except (OSError, smtplib.SMTPException, AuthError) as exc:
        return LinkResult(link=link, email=email, expires_at=expires_at, emailed=False,
                          email_error=f"The email to {email} could not be sent ({exc}); copy the link instead.")
    return LinkResult(link=link, email=email, expires_at=expires_at, emailed=True)


def send_email(smtp_url: str, *, to: str, subject: str, body: str) -> None:
    """Send a plain-text email through smtp://user:pass@host:port (smtps:// for TLS from the start)."""
    url = urllib.parse.urlsplit(smtp_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise AuthError("CLIENTELE_SMTP_URL must look like smtp://user:password@host:port.")
    msg = EmailMessage()
    msg["From"] = config.settings().smtp_from
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    port = url.port or (465 if url.scheme == "smtps" else 25)
    smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with smtp_class(url.hostname, port, timeout=15) as smtp:
        if url.scheme == "smtp":
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
        if url.username:
            smtp.login(urllib.parse.unquote(url.username), urllib.parse.unquote(url.password or ""))
        smtp.send_message(msg)


# ---------------------------------------------------------------- command line


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
                              customer_id=args.customer_id, group=getattr(args, "group", None))
    except (AuthError, config.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"User {normalize_email(args.email)} ({args.role}) created with id {user_id}.")
    return 0


def cli_invite(args) -> int:
    """`python -m core invite EMAIL --role R [--customer-id ID] [--group G]`: prints the one-time link."""
    try:
        result = create_invite(models.get_engine(), email=args.email, role=args.role, customer_id=args.customer_id,
                               group=args.group, invited_by="command line")
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
