"""Password policy, hashing and checking (bcrypt over a SHA-256 pre-hash, so any passphrase length works)."""
from __future__ import annotations

import base64
import hashlib
import secrets
from functools import lru_cache

import bcrypt

from core.auth.errors import AuthError

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024


def prepare_password(password: str | None) -> str:
    # The login form strips surrounding spaces before we see the password; do the same everywhere.
    return (password or "").strip()


def check_password_policy(password: str | None) -> str:
    """The password as it will be stored (surrounding spaces removed), or AuthError saying what is wrong."""
    value = prepare_password(password)
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
    value = prepare_password(password)
    if not password_hash or len(value) > MAX_PASSWORD_CHARS:
        return False
    try:
        return bcrypt.checkpw(_prehash(value), password_hash.encode("ascii"))
    except ValueError:
        return False


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    return bcrypt.hashpw(_prehash(secrets.token_urlsafe(16)), bcrypt.gensalt()).decode("ascii")
