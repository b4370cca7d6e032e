"""The normalised request: one Treblle payload as every layer above sees it (ingest fills it, storage
writes it, enrichment adds device, country and threats)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

# A request answered with this status or above failed: counted as failed, grouped on the Errors page.
FAILED_STATUS = 400
# Threat levels of a request, lowest first (core.ingest.enrich assigns them; history filters by them).
THREAT_LEVELS = ("Low", "Medium", "High")


# Slots: 31 fields are past what an instance dict shares between instances (30), and a request is built,
# read and dropped once per payload.
@dataclass(slots=True)
class NormalizedRequest:
    api_key: str
    sdk_token: str | None
    timestamp: dt.datetime
    method: str
    url: str
    endpoint: str
    status: int
    load_time_ms: float
    response_size: int
    ip: str | None
    user_agent: str | None
    customer_id: str | None
    display_name: str | None
    customer_attributes: dict[str, Any]
    metadata_error: str | None
    request_headers: dict[str, Any]
    request_body: Any
    query: Any
    response_headers: dict[str, Any]
    response_body: Any
    errors: list[dict[str, Any]]
    server: dict[str, Any]
    sdk: str | None
    sdk_version: str | None
    # Seconds the SDK's clock was off (positive: ahead) when the collector stored the receive time
    # instead of the SDK's timestamp; None when the SDK's timestamp was believed.
    clock_skew_s: float | None = None
    # Why clock_skew_s is set: "clock" (no reading near the receive time: the receive time was stored) or
    # "zone" (the UTC reading was believed though server.timezone names another zone: the SDK mislabels
    # its timestamps, e.g. npm treblle's toISOString(); clock_skew_s is then how far the labelled reading is off).
    clock_fault: str | None = None
    # Filled by core.ingest.enrich.
    device: str = "unknown"
    ai_agent: str | None = None
    country: str | None = None
    threat_level: str = "Low"
    threat_reasons: list[str] = field(default_factory=list)
    # A failed request's reason as its response body tells it (core.domain.problems.body_message), when the SDK
    # reported no error message: "" when the body says nothing readable, None when not looked for.
    problem: str | None = None
