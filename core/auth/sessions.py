"""Sessions and login cookies: the cookie's token, its server-side check, and revocation.

We own the login cookie rather than streamlit-authenticator: the library's cookie token carries only
`username` and `exp_date`, with no public way to add claims, and a revocable cookie needs its own issue
time (checked against the user's last logout or password change) and the account row it was issued for
(id and epoch). ui/cookie.py sets and deletes it in the browser; every check is here.
"""
from __future__ import annotations

import datetime as dt

import jwt
import sqlalchemy as sa

from core.auth.errors import AuthError
from core.auth.users import USER_COLUMNS, CurrentUser, to_user, user_target
from core.storage import audit
from core.storage.audit import Actor
from core.storage.models import User, utcnow

COOKIE_NAME = "clientele_auth"
COOKIE_EXPIRY_DAYS = 7
# Clocks of app servers behind one database drift a little; a cookie "issued" further in the future is forged.
_COOKIE_CLOCK_SKEW = dt.timedelta(minutes=5)


def revoke_sessions(engine: sa.Engine, user_id: int, *, now: dt.datetime | None = None,
                    source: str | None = None) -> dt.datetime:
    """Log the user out everywhere: refuse every cookie and session of theirs started before now. Recorded in
    the audit log as a logout from `source` (the client IP of the browser that asked)."""
    now = now or utcnow()
    with engine.begin() as conn:
        email = conn.execute(sa.update(User).where(User.id == user_id).values(valid_after=now).returning(User.email)).scalar()
        if email is not None:
            audit.record(conn, "logout", actor=Actor.user(user_id, email, source), target=user_target(email), at=now)
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
        row = conn.execute(sa.select(*USER_COLUMNS, User.valid_after).where(where)).first()
    if row is None or (row.valid_after is not None and started_at < row.valid_after):
        return None
    if epoch is not None and row.session_epoch != epoch:
        return None
    return to_user(row)


def cookie_token(user: CurrentUser, key: str, *, now: dt.datetime | None = None,
                 expiry_days: float = COOKIE_EXPIRY_DAYS) -> str:
    """The login cookie's JWT: username and exp_date (the claims of streamlit-authenticator's cookie, which
    this one replaced; cookies set before still verify) plus its issue time and the account row it is for
    (user id and epoch).

    The issue time is a claim of its own rather than derived from exp_date, which the library computed
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
