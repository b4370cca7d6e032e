"""The one exception of core.auth: something a user did cannot be accepted."""
from __future__ import annotations

from core.domain.errors import ClienteleError


class AuthError(ClienteleError):
    """Something a user did cannot be accepted; the message is written for them."""
