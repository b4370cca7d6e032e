"""Settings from the environment (and .streamlit/secrets.toml), with embedded defaults."""
from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
DEFAULT_DATABASE_URL = f"sqlite:///{DATA_DIR / 'clientele.db'}"

# streamlit-authenticator's documented default cookie key: anyone can forge cookies signed with it.
LIBRARY_DEFAULT_COOKIE_KEY = "some_signature_key"


class ConfigError(Exception):
    """A setting is missing or unsafe; the message says which and how to fix it."""


def _secrets() -> dict:
    path = ROOT / ".streamlit" / "secrets.toml"
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _get(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value not in (None, ""):
        return value
    value = _secrets().get(name)
    return str(value) if value not in (None, "") else default


def _int(name: str, default: int) -> int:
    raw = _get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    database_url: str
    base_url: str
    smtp_url: str | None
    smtp_from: str
    max_body_bytes: int
    max_decompressed_bytes: int
    rejected_raw_limit: int
    invite_ttl_hours: int
    lockout_threshold: int
    lockout_minutes: int
    demo_requests: int
    timezone: str
    collector_url: str = "http://127.0.0.1:8900"  # where Treblle SDKs send payloads (set-up instructions)

    @property
    def is_embedded(self) -> bool:
        """True when running on the default SQLite file (demo mode)."""
        return self.database_url == DEFAULT_DATABASE_URL


def settings() -> Settings:
    return Settings(
        database_url=_get("DATABASE_URL", DEFAULT_DATABASE_URL),
        base_url=_get("CLIENTELE_BASE_URL", "http://localhost:8501").rstrip("/"),
        smtp_url=_get("CLIENTELE_SMTP_URL"),
        smtp_from=_get("CLIENTELE_SMTP_FROM", "clientele@localhost"),
        max_body_bytes=_int("CLIENTELE_MAX_BODY_BYTES", 2 * 1024 * 1024),
        max_decompressed_bytes=_int("CLIENTELE_MAX_DECOMPRESSED_BYTES", 8 * 1024 * 1024),
        rejected_raw_limit=_int("CLIENTELE_REJECTED_RAW_LIMIT", 16 * 1024),
        invite_ttl_hours=_int("CLIENTELE_INVITE_TTL_HOURS", 72),
        lockout_threshold=_int("CLIENTELE_LOCKOUT_THRESHOLD", 5),
        lockout_minutes=_int("CLIENTELE_LOCKOUT_MINUTES", 15),
        demo_requests=_int("CLIENTELE_DEMO_REQUESTS", 200_000),
        timezone=_get("CLIENTELE_TIMEZONE", "UTC"),
        collector_url=_get("CLIENTELE_COLLECTOR_URL", "http://127.0.0.1:8900").rstrip("/"),
    )


def cookie_key() -> str:
    """The secret that signs login cookies.

    From CLIENTELE_COOKIE_KEY or secrets.toml; for the embedded default, generated once into
    data/cookie_key (mode 0600). The library's public default key is refused.
    """
    key = _get("CLIENTELE_COOKIE_KEY")
    if key is None:
        path = DATA_DIR / "cookie_key"
        if not path.exists():
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        key = path.read_text().strip()
    if key == LIBRARY_DEFAULT_COOKIE_KEY:
        raise ConfigError(
            "CLIENTELE_COOKIE_KEY is streamlit-authenticator's public default; anyone could forge a "
            "login cookie with it. Set it to at least 32 random bytes, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
        )
    if len(key) < 32:
        raise ConfigError("CLIENTELE_COOKIE_KEY must be at least 32 characters of random data.")
    return key
