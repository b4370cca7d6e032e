"""`python -m core stats`: the numbers the dashboard shows, as deterministic JSON (or plain text).

With --as-customer it prints exactly what that customer may see: their own overview and series on
their APIs; no customer list, no widgets, no workspace totals or shares.
"""
from __future__ import annotations

import datetime as dt
import json
import sys

import polars as pl
import sqlalchemy as sa

from core.analytics import customers as metrics_customers
from core.analytics import metrics
from core.domain.errors import ClienteleError
from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import WindowError, current_now, parse_now, window
from core.storage import cache, models

FLOAT_DIGITS = 3


class StatsError(ClienteleError):
    """The command was asked for something that does not exist; the message says what."""


def _plain(value):
    """JSON-ready and stable across databases: rounded floats, ISO UTC times."""
    if isinstance(value, float):
        rounded = round(value, FLOAT_DIGITS)
        return 0.0 if rounded == 0 else rounded
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _rows(frame: pl.DataFrame) -> list[dict]:
    return [_plain(r) for r in frame.to_dicts()]


def _overview(ov: metrics.Overview) -> dict:
    def one(t: metrics.Totals) -> dict:
        d = t.to_dict()
        d["avg_response_size"] = d.pop("avg_response_size_bytes")
        return d

    return {**one(ov.current), "previous": one(ov.previous)}


def collect(engine: sa.Engine, scope: Scope, *, api: str | int | None = None, preset: str = "30d",
            now: dt.datetime | None = None) -> dict:
    """Everything `stats --json` prints, for this scope. Raises StatsError for unknown APIs/customers."""
    visible = cache.visible_apis(engine, scope)
    if scope.is_customer and not visible:
        raise StatsError(f"No requests from customer {scope.customer_id!r} on any API.")
    api_info = None
    if api is not None:
        try:
            api_info = cache.resolve_api(engine, scope, api)
        except LookupError as exc:
            raise StatsError(str(exc)) from None
    api_id = api_info["api_id"] if api_info else None
    now = now or current_now()
    first, newest = cache.data_span(engine, scope, api_id)
    win = window(preset, now, data_start=first, data_end=newest)
    rows = cache.facts_frame(engine, scope, win, api_id=api_id)
    out = {
        "window": {"preset": win.preset, "label": win.label, "start": win.start, "end": win.end, "bucket": win.bucket},
        "api": api_info,
        "apis": visible,
        "overview": _overview(metrics.overview(rows, win, scope)),
        "series": _rows(metrics.overview_series(rows, win, scope)),
    }
    if not scope.is_customer:
        names = cache.customers_frame(engine, scope)
        customers = metrics_customers.customer_list(rows, win, scope, names=names)
        w = metrics_customers.widgets(rows, cache.first_seen_frame(engine, scope), win, scope, api_id=api_id, names=names,
                                      customers=customers)
        out["customers"] = _rows(customers)
        out["widgets"] = {
            "new_customers": w.new_customers.current,
            "new_customers_prev": w.new_customers.previous,
            "active_customers": w.active_customers.current,
            "active_customers_prev": w.active_customers.previous,
            "top_customer": w.top_customer,
            "avg_requests_per_customer": w.avg_requests_per_customer.current,
            "avg_requests_per_customer_prev": w.avg_requests_per_customer.previous,
        }
    return _plain(out)


def to_json(data: dict) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def _text(data: dict) -> str:
    ov = data["overview"]
    w = data["window"]
    lines = [
        f"{data['api']['name'] if data['api'] else 'All APIs'} — {w['label']} ({w['start']} to {w['end']})",
        f"requests {ov['total_requests']:,} (before: {ov['previous']['total_requests']:,}), failed {ov['failed_requests']:,}",
        f"load time avg {ov['avg_load_time_ms']} ms, p50 {ov['p50_load_time_ms']}, p95 {ov['p95_load_time_ms']}, p99 {ov['p99_load_time_ms']}",
        f"average response size {ov['avg_response_size']} bytes",
    ]
    if "widgets" in data:
        wd = data["widgets"]
        top = wd["top_customer"]
        lines.append(f"active customers {wd['active_customers']}, new {wd['new_customers']}, "
                     f"avg requests per customer {wd['avg_requests_per_customer']}")
        if top:
            lines.append(f"top customer {top['display_name']} ({top['requests']:,} requests, {top['share_pct']}%)")
        for c in data["customers"][:20]:
            lines.append(f"  {c['display_name']:<40} {c['requests']:>10,} {c['share_pct']:>7}%  last {c['last_active']}")
    return "\n".join(lines)


def main(args) -> int:
    try:
        now = parse_now(args.now) if args.now else None
        scope = Scope.customer(args.as_customer) if args.as_customer is not None else Scope.workspace()
        data = collect(models.get_engine(), scope, api=args.api, preset=args.window, now=now)
    except (StatsError, WindowError, ScopeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(to_json(data) if args.json else _text(data))
    return 0
