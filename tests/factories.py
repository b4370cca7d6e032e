"""Small, explicit test data: build NormalizedRequests by hand and store them."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.domain.record import NormalizedRequest
from core.storage import details, store
from core.storage.models import RequestDetail

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def make_request(**overrides) -> NormalizedRequest:
    """A plausible, enriched request; override any field."""
    values = dict(
        api_key="k", sdk_token=None, timestamp=NOW - dt.timedelta(hours=1), method="GET",
        url="https://api.example.com/orders/1", endpoint="/orders/{id}", status=200, load_time_ms=100.0,
        response_size=1000, ip="8.8.8.8", user_agent="Mozilla/5.0", customer_id="cust_a", display_name=None,
        customer_attributes={}, metadata_error=None, request_headers={"authorization": "Bearer ****"},
        request_body=None, query={}, response_headers={}, response_body={"ok": True}, errors=[], server={},
        sdk="django", sdk_version="20", device="desktop", ai_agent=None, country="US", threat_level="Low",
    )
    values.update(overrides)
    return NormalizedRequest(**values)


def seed_small(engine) -> dict:
    """Two APIs, three customers (one only on API 2), one unattributed request. Returns ids.

    Orders API:   cust_a ×3 (one 500), cust_b ×2 (one 404), unattributed ×1
    Billing API:  cust_a ×1, cust_c ×2 (display name "Carol Co")
    """
    orders = store.create_api(engine, "Orders API", api_key="orders-key", sdk_token="orders-token")
    billing = store.create_api(engine, "Billing API", api_key="billing-key", sdk_token="billing-token")
    o, b = orders["api_id"], billing["api_id"]
    h = lambda n: NOW - dt.timedelta(hours=n)  # noqa: E731
    rows = [
        (o, make_request(customer_id="cust_a", display_name="Alpha Inc", customer_attributes={"Plan": "Pro"}, timestamp=h(1))),
        (o, make_request(customer_id="cust_a", timestamp=h(2), load_time_ms=300.0)),
        (o, make_request(customer_id="cust_a", timestamp=h(30), status=500, endpoint="/boom", url="https://api.example.com/boom")),
        (o, make_request(customer_id="cust_b", display_name="Beta LLC", timestamp=h(3), response_size=3000)),
        (o, make_request(customer_id="cust_b", timestamp=h(5), status=404, endpoint="/missing", url="https://api.example.com/missing")),
        (o, make_request(customer_id=None, timestamp=h(4))),
        (b, make_request(customer_id="cust_a", timestamp=h(6), endpoint="/invoices", url="https://api.example.com/invoices")),
        (b, make_request(customer_id="cust_c", display_name="Carol Co", timestamp=h(7), endpoint="/invoices", url="https://api.example.com/invoices")),
        (b, make_request(customer_id="cust_c", timestamp=h(8), method="POST", endpoint="/invoices", url="https://api.example.com/invoices", status=201)),
    ]
    store.write_requests(engine, rows)
    return {"orders": o, "billing": b}


def detail_rows(conn, *where) -> list[dict]:
    """request_details rows as a reader sees them: every column, the packed fields unpacked (core.storage.details)
    in place of the `packed` bytes (a secret in them would be invisible in the compressed form)."""
    rows = conn.execute(sa.select(RequestDetail.__table__).where(*where).order_by(RequestDetail.request_id)).mappings()
    return [{**{k: v for k, v in r.items() if k != "packed"}, **details.unpacked(r)} for r in rows]
