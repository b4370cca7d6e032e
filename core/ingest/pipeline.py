"""The one path every payload takes: normalise → enrich → (batched) store. Used by the collector,
file import and the demo generator."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from core.domain.record import NormalizedRequest
from core.ingest import enrich
from core.ingest.errors import PayloadError
from core.ingest.normalize import normalize
from core.storage import store


class UnknownApi(PayloadError):
    pass


def prepare(payload, api_ids: dict[str, int], api_key_override: str | None = None, *,
            received_at: dt.datetime | None = None, timestamps: str = "auto") -> tuple[int, NormalizedRequest]:
    """Payload → (api_id, enriched request). Raises PayloadError (UnknownApi when the API is not known).
    received_at / timestamps: which reading of the SDK's timestamp to believe (see normalize)."""
    request = normalize(payload, received_at=received_at, timestamps=timestamps)
    key = api_key_override or request.api_key
    api_id = api_ids.get(key)
    if api_id is None:
        raise UnknownApi("api_key", f"no API with key {key[:40]!r}; create it with `python -m core apis add NAME`")
    enrich.enrich(request)
    return api_id, request


@dataclass
class Batch:
    """Accumulates accepted requests and rejections; flush() stores both."""

    engine: sa.Engine
    size: int = 2000
    accepted: list[tuple[int, NormalizedRequest]] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    stored: int = 0

    def add(self, item: tuple[int, NormalizedRequest]) -> None:
        self.accepted.append(item)
        if len(self.accepted) >= self.size:
            self.flush()

    def reject(self, source: str, reason: str, raw, api_id: int | None = None) -> None:
        self.rejected.append({"source": source, "reason": reason, "raw": raw, "api_id": api_id})

    def flush(self) -> None:
        if self.accepted:
            store.write_requests(self.engine, self.accepted)
            self.stored += len(self.accepted)
            self.accepted = []
        if self.rejected:
            store.reject_many(self.engine, self.rejected)
            self.rejected = []
