"""Enrichment at ingest: device, AI agent, country, threat level. (Being built: see issue 2.)"""
from __future__ import annotations

from core.ingest.normalize import NormalizedRequest


def enrich(request: NormalizedRequest) -> NormalizedRequest:
    return request
