"""What every module of core.api_docs shares: the spec shown for an API (DocSpec), the error an upload
is refused with (SpecError), and the few names of an OpenAPI document they all read or write."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.domain.errors import ClienteleError

MAX_SPEC_DEPTH = 200
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_EXAMPLE_KEY = "x-clientele-example"


class SpecError(ClienteleError, ValueError):
    """An uploaded spec was refused; the message says why, in words for the person who uploaded it."""


@dataclass(frozen=True)
class DocSpec:
    """The spec to show for an API. `spec` is shared with the cache: read it, do not modify it."""

    spec: dict
    source: str  # "uploaded" | "inferred"
    updated_at: dt.datetime
