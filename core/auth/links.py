"""One-time links: invitations (a new account) and password resets (Admin-issued), emailed or to copy.
Making, revoking and using a link is written to the audit log (core.storage.audit); the link itself never is."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from core.auth.errors import AuthError
from core.auth.mail import send_email
from core.auth.passwords import hash_password
from core.auth.users import CurrentUser, check_role, clean_text, get_user, insert_user, normalize_email, resolve_group, user_target
from core.domain import config
from core.storage import audit
from core.storage.audit import Actor
from core.storage.models import Customer, Invitation, User, utcnow


@dataclass(frozen=True)
class LinkResult:
    """A one-time link for the Admin: emailed when SMTP is configured, otherwise to copy."""

    link: str
    email: str
    expires_at: dt.datetime
    emailed: bool
    email_error: str | None = None


@dataclass(frozen=True)
class PendingLink:
    """What a valid link grants, to show on its form before the invitee commits."""

    purpose: str
    email: str
    role: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def browsing_base_url(headers: Mapping[str, str]) -> str | None:
    """The address the Admin is browsing, from the request's headers (Host, X-Forwarded-Proto):
    "https://clientele.example.com"; None without a usable Host."""
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    host = lower.get("x-forwarded-host", lower.get("host", "")).split(",")[0].strip()
    if not _HOST.fullmatch(host):
        return None
    proto = lower.get("x-forwarded-proto", "http").split(",")[0].strip().lower()
    return f"{proto if proto in ('http', 'https') else 'http'}://{host}"


def link_base_url(browsing: str | None = None) -> str:
    """Where one-time links point: CLIENTELE_BASE_URL when set, else the address the Admin is browsing
    (browsing_base_url), else the default (http://localhost:8501)."""
    if (os.environ.get("CLIENTELE_BASE_URL") or "").strip() or not browsing:
        return config.settings().base_url
    return browsing.rstrip("/")


def _link(purpose: str, token: str, browsing: str | None = None) -> str:
    return f"{link_base_url(browsing)}/?{purpose}={token}"


def _check_seen_customer(conn: sa.Connection, customer_id: str | None) -> None:
    if customer_id and conn.scalar(sa.select(Customer.customer_id).where(Customer.customer_id == customer_id)) is None:
        raise AuthError(f"No requests with customer ID {customer_id!r} have been recorded yet. Check the ID, or confirm "
                        "that you want to invite anyway.")


def create_invite(engine: sa.Engine, *, email: str, role: str, customer_id: str | None = None,
                  group: str | None = None, invited_by: str | None = None, now: dt.datetime | None = None,
                  unseen_customer_ok: bool = True, browsing: str | None = None, actor: Actor | None = None) -> LinkResult:
    """A one-time invite link (an earlier pending invite to the same email stops working), emailed if SMTP is set.
    unseen_customer_ok=False refuses a Customer whose ID no request carried yet (a typo, most likely);
    browsing: the address the Admin is browsing, for the link when CLIENTELE_BASE_URL is unset;
    actor: who invites (audit log)."""
    email = normalize_email(email)
    customer_id, group = clean_text(customer_id), clean_text(group)
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    expires_at = now + dt.timedelta(hours=config.settings().invite_ttl_hours)
    with engine.begin() as conn:
        if role == "customer":
            customer_id = resolve_group(conn, group, customer_id)
        check_role(role, customer_id, group)
        if role == "customer" and not unseen_customer_ok:
            _check_seen_customer(conn, customer_id)
        if conn.scalar(sa.select(User.id).where(User.email == email)) is not None:
            raise AuthError(f"{email} already has an account.")
        _revoke_pending(conn, email, "invite", now)
        conn.execute(sa.insert(Invitation).values(
            token_hash=_token_hash(token), purpose="invite", email=email, role=role, customer_id=customer_id,
            group_name=group, invited_by=invited_by, created_at=now, expires_at=expires_at,
        ))
        audit.record(conn, "user.invite", actor=actor, target=user_target(email), at=now, detail={
            "role": role, "customer_id": customer_id, "group": group, "expires_at": expires_at.isoformat()})
    link = _link("invite", token, browsing)
    return _deliver(email, link, expires_at, subject="You are invited to Clientele",
                    body=f"You have been invited to Clientele as {role.capitalize()}.\n\nSet your password here (the link works once, "
                         f"until {expires_at:%Y-%m-%d %H:%M} UTC):\n\n{link}\n")


def create_reset(engine: sa.Engine, user_id: int, *, invited_by: str | None = None,
                 now: dt.datetime | None = None, browsing: str | None = None, actor: Actor | None = None) -> LinkResult:
    """A one-time password-reset link for a user, issued by an Admin (there is no self-service reset).
    actor: who issues it (audit log)."""
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
        audit.record(conn, "password.reset_link", actor=actor, target=user_target(row.email), at=now,
                     detail={"expires_at": expires_at.isoformat()})
    link = _link("reset", token, browsing)
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


def revoke_invite(engine: sa.Engine, invite_id: int, *, now: dt.datetime | None = None, actor: Actor | None = None) -> None:
    """Withdraw a pending invitation or reset link; actor: who withdraws it (audit log)."""
    with engine.begin() as conn:
        revoked = conn.execute(
            sa.update(Invitation).where(Invitation.id == invite_id, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
            .values(revoked_at=now or utcnow()).returning(Invitation.email, Invitation.purpose)
        ).first()
        if revoked is not None:
            audit.record(conn, "user.invite_revoke", actor=actor, target=user_target(revoked.email), at=now,
                         detail={"purpose": revoked.purpose})
    if revoked is None:
        raise AuthError("That link was already used or revoked.")


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


def accept_invite(engine: sa.Engine, token: str, *, name: str, password: str, now: dt.datetime | None = None,
                  source: str | None = None) -> CurrentUser:
    """Create the invited account with the chosen name and password; the link then stops working.
    source: where the form was sent from (client IP), for the audit log."""
    now = now or utcnow()
    display = clean_text(name)
    if display and len(display) > 200:
        raise AuthError("Names are at most 200 characters.")
    password_hash = hash_password(password)
    try:
        with engine.begin() as conn:
            inv = _live_link(conn, token, "invite", now)
            _use_link(conn, inv.id, now)
            user_id = insert_user(conn, inv.email, display or inv.email.split("@")[0], password_hash, inv.role,
                                   inv.customer_id, inv.group_name)
            conn.execute(sa.update(User).where(User.id == user_id).values(last_login_at=now))
            audit.record(conn, "user.invite_accept", actor=Actor.user(user_id, inv.email, source), target=user_target(inv.email),
                         at=now, detail={"role": inv.role, "customer_id": inv.customer_id, "group": inv.group_name})
    except sa.exc.IntegrityError as exc:
        raise AuthError("An account for this email already exists: log in instead.") from exc
    return get_user(engine, user_id)


def accept_reset(engine: sa.Engine, token: str, *, password: str, now: dt.datetime | None = None,
                 source: str | None = None) -> CurrentUser:
    """Set a new password from a reset link; earlier cookies and sessions of the user stop working.
    source: where the form was sent from (client IP), for the audit log."""
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
        audit.record(conn, "password.reset", actor=Actor.user(user_id, inv.email, source), target=user_target(inv.email), at=now)
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
