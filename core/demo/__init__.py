"""Deterministic, realistic demo traffic: Treblle-format payloads pushed through the real ingest path
(normalise → enrich → store), plus the demo accounts the app offers in demo mode.

catalogue   the demo APIs and endpoints, incidents, user agents, scanner probes
population  countries, company names, customer profiles and their active spans; seeded-random helpers
payloads    each endpoint's request variants and the Treblle payload of one request
traffic     the world fixed before any request, and each hour bucket's payloads
writer      generate(): the demo APIs, then the traffic written in batches, in one process or forked workers
accounts    the demo accounts and bootstrap() for an empty database
cli         `python -m core demo`
"""
from core.demo.writer import DemoError, generate

__all__ = ["DemoError", "generate"]
