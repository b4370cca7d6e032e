"""Settings from the environment (and .streamlit/secrets.toml), with embedded defaults."""
from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from core.domain.errors import ClienteleError

ROOT = Path(__file__).resolve().parents[2]  # the checkout: core/domain/config.py → ../..
DATA_DIR = ROOT / "data"
DEFAULT_DATABASE_URL = f"sqlite:///{DATA_DIR / 'clientele.db'}"

# streamlit-authenticator's documented default cookie key: anyone can forge cookies signed with it.
LIBRARY_DEFAULT_COOKIE_KEY = "some_signature_key"


class ConfigError(ClienteleError):
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


def _text(name: str, default: str) -> str:
    return _get(name) or default


def _number(name: str, default, parse, what: str):
    raw = _get(name)
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from exc


def _int(name: str, default: int) -> int:
    return _number(name, default, int, "a whole number")


def _float(name: str, default: float) -> float:
    return _number(name, default, float, "a number")


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
    quiet_min_requests: int = 20  # "Going quiet" ignores customers with fewer requests before
    collector_url: str = "http://127.0.0.1:8900"  # where Treblle SDKs send payloads (set-up instructions)
    # Collector against slow or flooding clients: see the README's configuration section.
    collector_read_timeout_s: float = 10.0
    collector_max_connections: int = 1000
    rejected_per_ip_per_minute: int = 60
    rejected_max_rows: int = 10_000
    rejected_max_days: int = 30
    # A PostgreSQL read replica for the dashboards' reads (rollups, cut hours, customers); None: DATABASE_URL.
    read_database_url: str | None = None
    # Where app processes keep a snapshot of the settled rollups (core.storage.cache.snapshot); None: none kept.
    cache_dir: Path | None = DATA_DIR / "cache"

    @property
    def is_embedded(self) -> bool:
        """True when running on the default SQLite file (demo mode)."""
        return self.database_url == DEFAULT_DATABASE_URL


def _cache_dir() -> Path | None:
    value = _text("CLIENTELE_CACHE_DIR", str(DATA_DIR / "cache"))
    return None if value.strip().lower() in ("off", "none", "0") else Path(value).expanduser()


def settings() -> Settings:
    return Settings(
        database_url=_text("DATABASE_URL", DEFAULT_DATABASE_URL),
        read_database_url=_get("CLIENTELE_READ_DATABASE_URL"),
        cache_dir=_cache_dir(),
        base_url=_text("CLIENTELE_BASE_URL", "http://localhost:8501").rstrip("/"),
        smtp_url=_get("CLIENTELE_SMTP_URL"),
        smtp_from=_text("CLIENTELE_SMTP_FROM", "clientele@localhost"),
        max_body_bytes=_int("CLIENTELE_MAX_BODY_BYTES", 2 * 1024 * 1024),
        max_decompressed_bytes=_int("CLIENTELE_MAX_DECOMPRESSED_BYTES", 8 * 1024 * 1024),
        rejected_raw_limit=_int("CLIENTELE_REJECTED_RAW_LIMIT", 16 * 1024),
        invite_ttl_hours=_int("CLIENTELE_INVITE_TTL_HOURS", 72),
        lockout_threshold=_int("CLIENTELE_LOCKOUT_THRESHOLD", 5),
        lockout_minutes=_int("CLIENTELE_LOCKOUT_MINUTES", 15),
        demo_requests=_int("CLIENTELE_DEMO_REQUESTS", 200_000),
        timezone=_text("CLIENTELE_TIMEZONE", "UTC"),
        quiet_min_requests=_int("CLIENTELE_QUIET_MIN_REQUESTS", 20),
        collector_url=_text("CLIENTELE_COLLECTOR_URL", "http://127.0.0.1:8900").rstrip("/"),
        collector_read_timeout_s=_float("CLIENTELE_COLLECTOR_READ_TIMEOUT_S", 10.0),
        collector_max_connections=_int("CLIENTELE_COLLECTOR_MAX_CONNECTIONS", 1000),
        rejected_per_ip_per_minute=_int("CLIENTELE_REJECTED_PER_IP_PER_MINUTE", 60),
        rejected_max_rows=_int("CLIENTELE_REJECTED_MAX_ROWS", 10_000),
        rejected_max_days=_int("CLIENTELE_REJECTED_MAX_DAYS", 30),
    )


def private_dir(path: Path) -> Path:
    """Create a directory (and missing parents) only its owner may enter; an existing one is left as it is."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)  # mkdir's mode passes through the umask
    return path


def private_file(path: Path) -> Path:
    """Create an empty file only its owner may read (0600) in a private directory, unless it exists already.

    The SQLite database holds password hashes and customer traffic: it must not start world-readable.
    """
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    return path


def masked_fields() -> tuple[str, ...]:
    """Extra names to mask in every payload (CLIENTELE_MASKED_FIELDS, comma-separated), on top of
    core.domain.masking.SENSITIVE_NAMES."""
    raw = _get("CLIENTELE_MASKED_FIELDS", "") or ""
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def cookie_key() -> str:
    """The secret that signs login cookies.

    From CLIENTELE_COOKIE_KEY or secrets.toml; for the embedded default, generated once into
    data/cookie_key (mode 0600). The library's public default key is refused.
    """
    key = _get("CLIENTELE_COOKIE_KEY")
    if key is None:
        path = DATA_DIR / "cookie_key"
        if not path.exists():
            private_dir(DATA_DIR)
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
