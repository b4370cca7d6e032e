"""Plain-text email through the SMTP server of CLIENTELE_SMTP_URL (invitation and reset links)."""
from __future__ import annotations

import smtplib
import urllib.parse
from email.message import EmailMessage

from core.auth.errors import AuthError
from core.domain import config


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
