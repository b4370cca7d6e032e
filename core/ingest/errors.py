"""Why a payload is not stored: refused as data (PayloadError), refused by the collector with an HTTP
status (Rejected), or not storable now (DatabaseUnavailable)."""
from __future__ import annotations

from core.domain.errors import ClienteleError


class PayloadError(ClienteleError, ValueError):
    """A payload we cannot accept. `field` is a dotted path into the payload."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class PayloadTooLarge(PayloadError):
    """The payload (after decompression) is over the configured size limit."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached or written; the SDK should retry later."""


class Rejected(ClienteleError):
    """A payload we refuse, with the HTTP status and the reason sent back."""

    def __init__(self, status: int, reason: str, field: str = "", api_id: int | None = None, raw: bytes | None = None, size: int | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.field = field
        self.api_id = api_id
        # Set when the body was not read whole (too large): what was read and the size seen.
        self.raw = raw
        self.size = size
