"""Password login with lockout counted in the database, and password changes (which count toward it too)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.auth.errors import AuthError
from core.auth.passwords import check_password_policy, dummy_hash, hash_password, prepare_password, verify_password
from core.auth.users import USER_COLUMNS, CurrentUser, get_user, normalize_email, to_user
from core.domain import config
from core.storage import models
from core.storage.models import User, utcnow


def login_failed_message() -> str:
    """The one answer to every failed login: never says whether the email exists or is locked."""
    s = config.settings()
    return (
        f"Incorrect email or password. After {s.lockout_threshold} failed attempts an account is "
        f"locked for {s.lockout_minutes} minutes."
    )


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
        .returning(*USER_COLUMNS, User.password_hash)
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
        verify_password(password, dummy_hash())
        raise failed from None
    with engine.begin() as conn:
        row = _reserve_attempt(conn, User.email == email, now)
    if row is None:
        verify_password(password, dummy_hash())
        raise failed
    if not verify_password(password, row.password_hash):
        raise failed  # the attempt was counted (and the lock taken) before the check
    with engine.begin() as conn:
        _attempt_succeeded(conn, row.id, last_login_at=now)
    return to_user(row)


def record_login(engine: sa.Engine, user_id: int, *, now: dt.datetime | None = None) -> None:
    """A session started without a password (cookie, invite, reset): still a login."""
    with engine.begin() as conn:
        conn.execute(sa.update(User).where(User.id == user_id).values(last_login_at=now or utcnow()))


def change_password(engine: sa.Engine, user_id: int, current_password: str, new_password: str, *,
                    now: dt.datetime | None = None) -> dt.datetime:
    """Set a new password after checking the current one; revokes earlier cookies. Returns the revocation time.

    A wrong current password counts toward the lockout like a failed login (same counter), so a
    session left open cannot be used to guess the password.
    """
    now = now or utcnow()
    check_password_policy(new_password)
    if prepare_password(new_password) == prepare_password(current_password):
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
