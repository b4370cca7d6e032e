"""Password login with lockout counted in the database, and password changes (which count toward it too).
Every login, failed login, lockout and password change is written to the audit log (core.storage.audit)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.auth.errors import AuthError
from core.auth.passwords import check_password_policy, dummy_hash, hash_password, prepare_password, verify_password
from core.auth.users import USER_COLUMNS, CurrentUser, get_user, normalize_email, to_user, user_target
from core.domain import config
from core.storage import audit, models
from core.storage.audit import Actor
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
    ever checked per lock period. Returns the user's row (with password_hash, failed_logins and
    locked_until: set when this attempt locked the account), or None when there is no such user or the
    account is locked. A success resets the count (`_attempt_succeeded`).
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
        .returning(*USER_COLUMNS, User.password_hash, User.failed_logins, User.locked_until)
    ).first()


def _attempt_succeeded(conn: sa.Connection, user_id: int, **values) -> None:
    conn.execute(sa.update(User).where(User.id == user_id).values(failed_logins=0, locked_until=None, **values))


def _record_wrong_password(engine: sa.Engine, action: str, row, actor: Actor, now: dt.datetime) -> None:
    """A wrong password on the account of `row`, and the lockout when this attempt took it."""
    with engine.begin() as conn:
        audit.record(conn, action, actor=actor, target=user_target(row.email), detail={"reason": "wrong_password"}, at=now)
        if row.locked_until is not None:
            audit.record(conn, "login.lockout", actor=actor, target=user_target(row.email), at=now, detail={
                "failed_attempts": row.failed_logins, "locked_until": row.locked_until.isoformat()})


def _refusal_reason(engine: sa.Engine, where: sa.ColumnElement[bool]) -> str:
    """Why _reserve_attempt found nothing: the account is locked, or there is no such account."""
    with engine.connect() as conn:
        return "locked" if conn.scalar(sa.select(User.id).where(where)) is not None else "unknown_user"


def authenticate(engine: sa.Engine, email: str, password: str, *, now: dt.datetime | None = None,
                 source: str | None = None) -> CurrentUser:
    """The user whose email and password these are, or AuthError(login_failed_message()).

    Every attempt is counted in the database before the password is checked; the attempt reaching the
    threshold locks the account for lockout_minutes, even when guesses arrive in parallel.
    Unknown emails, wrong passwords and locked accounts get the same answer and the same bcrypt work.
    `source`: where the attempt came from (client IP), for the audit log, which records every attempt.
    """
    now = now or utcnow()
    failed = AuthError(login_failed_message())
    visitor = Actor.anonymous(source)
    try:
        email = normalize_email(email)
    except AuthError:
        verify_password(password, dummy_hash())
        # Not what was typed: a password typed into the email field must not end up in the log.
        audit.record(engine, "login.failure", actor=visitor, detail={"reason": "invalid_email"}, at=now)
        raise failed from None
    with engine.begin() as conn:
        row = _reserve_attempt(conn, User.email == email, now)
    if row is None:
        verify_password(password, dummy_hash())
        audit.record(engine, "login.failure", actor=visitor, target=user_target(email), at=now,
                     detail={"reason": _refusal_reason(engine, User.email == email)})
        raise failed
    if not verify_password(password, row.password_hash):
        _record_wrong_password(engine, "login.failure", row, visitor, now)
        raise failed  # the attempt was counted (and the lock taken) before the check
    with engine.begin() as conn:
        _attempt_succeeded(conn, row.id, last_login_at=now)
        audit.record(conn, "login.success", actor=Actor.user(row.id, row.email, source), target=user_target(row.email),
                     detail={"method": "password"}, at=now)
    return to_user(row)


# A session resumed by cookie this soon after the user's last login entry from the same address (a reload, another
# tab: each is a new Streamlit session) is not logged again; one from another address always is.
COOKIE_LOGIN_QUIET = dt.timedelta(minutes=30)


def record_login(engine: sa.Engine, user_id: int, *, now: dt.datetime | None = None, method: str = "cookie",
                 source: str | None = None) -> None:
    """A session started without a password (`method`: "cookie", "setup" for the first Admin): still a login,
    and in the audit log as one, except a cookie's within COOKIE_LOGIN_QUIET of the user's last login entry from the
    same source. `source`: where it came from (client IP)."""
    now = now or utcnow()
    with engine.begin() as conn:
        email = conn.execute(sa.update(User).where(User.id == user_id).values(last_login_at=now).returning(User.email)).scalar()
        if email is None:
            return
        actor = Actor.user(user_id, email, source)
        if method == "cookie" and audit.recorded_since(conn, "login.success", actor, now - COOKIE_LOGIN_QUIET):
            return
        audit.record(conn, "login.success", actor=actor, target=user_target(email), detail={"method": method}, at=now)


def change_password(engine: sa.Engine, user_id: int, current_password: str, new_password: str, *,
                    now: dt.datetime | None = None, source: str | None = None) -> dt.datetime:
    """Set a new password after checking the current one; revokes earlier cookies. Returns the revocation time.

    A wrong current password counts toward the lockout like a failed login (same counter), so a
    session left open cannot be used to guess the password. `source`: where the request came from
    (client IP), for the audit log, which records the change and every wrong current password.
    """
    now = now or utcnow()
    check_password_policy(new_password)
    if prepare_password(new_password) == prepare_password(current_password):
        raise AuthError("The new password is the same as the current one.")
    with engine.begin() as conn:
        row = _reserve_attempt(conn, User.id == user_id, now)
    if row is None:
        user = get_user(engine, user_id)
        if user is None:
            raise AuthError("Your account no longer exists.")
        audit.record(engine, "password.change_failure", actor=Actor.user(user.id, user.email, source),
                     target=user_target(user.email), detail={"reason": "locked"}, at=now)
        raise AuthError(f"Too many wrong passwords: your account is locked for up to "
                        f"{config.settings().lockout_minutes} minutes. Try again later.")
    actor = Actor.user(row.id, row.email, source)
    if not verify_password(current_password, row.password_hash):
        _record_wrong_password(engine, "password.change_failure", row, actor, now)
        raise AuthError("The current password is not correct.")
    return _set_password(engine, user_id, new_password, actor=actor, now=now)


def _set_password(engine: sa.Engine, user_id: int, password: str, *, actor: Actor,
                  now: dt.datetime | None = None) -> dt.datetime:
    password_hash = hash_password(password)
    now = now or utcnow()
    with engine.begin() as conn:
        email = conn.execute(
            sa.update(User).where(User.id == user_id)
            .values(password_hash=password_hash, valid_after=now, failed_logins=0, locked_until=None)
            .returning(User.email)
        ).scalar()
        if email is not None:
            audit.record(conn, "password.change", actor=actor, target=user_target(email), at=now)
    return now
