"""Customer profile: one customer across every API, the page model and its cards."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from core.analytics import customers as mc
from core.analytics import metrics
from core.domain.scope import Scope, require_workspace
from core.domain.timewindow import Window
from core.present.cards import Card, count_card, ms_card, pct_card
from core.present.page_data import api_names, data_covers_previous, scoped_rows
from core.present.series import endpoint_activity
from core.storage import cache


@dataclass(frozen=True)
class ProfilePage:
    """One customer's numbers across every API (mc.Profile) and when they call which endpoint."""

    profile: mc.Profile
    endpoint_activity: pl.DataFrame
    share_label: str = "Share of all requests"  # or "Share of this API" when opened from an API
    covered: bool = True  # the workspace's data covers the period before the window (deltas shown)
    partial_buckets: tuple[dt.datetime, ...] = ()


def profile_page(engine: sa.Engine, scope: Scope, customer_id: str, window: Window, api_id: int | None = None) -> ProfilePage:
    """api_id: the API the profile was opened from: its share is then the share of that API's requests,
    the same number as on that API's Customers list; every other number covers every API."""
    require_workspace(scope, "Customer profiles")
    mine = scoped_rows(engine, scope, window, customer_id=customer_id, summed="operation-bucket")
    everyone = scoped_rows(engine, scope, window, api_id=api_id, histograms=False)  # only counted
    apis = api_names(engine, scope)
    profile = mc.customer_profile(mine, window, scope, customer_id, all_requests=mc.request_counts(everyone, window, scope),
                                  names=cache.customers_frame(engine, scope), apis=apis, share_api_id=api_id)
    # "this API": a card in a row of five cuts a longer label; the page names the API beside the cards.
    label = "Share of all requests" if api_id is None else "Share of this API"
    return ProfilePage(profile, endpoint_activity(mine, window, Scope.customer(customer_id)), label,
                       data_covers_previous(engine, scope, window), tuple(metrics.partial_buckets(window)))


def profile_cards(page: ProfilePage) -> list[Card]:
    p, c = page.profile, page.covered
    cur, prev = p.current, p.previous
    return [
        count_card("Total requests", mc.Delta(cur.total_requests, prev.total_requests), covered=c),
        # No help icon: it would cut the label in a row of five cards at 1366 px.
        pct_card(page.share_label, p.share_pct, p.share_pct_prev, covered=c),
        count_card("Failed requests", mc.Delta(cur.failed_requests, prev.failed_requests), inverse=True,
                    help="Responses with status 400 or above.", covered=c),
        ms_card("Average load time", cur.avg_load_time_ms, prev.avg_load_time_ms, covered=c),
        ms_card("p95 load time", cur.p95_load_time_ms, prev.p95_load_time_ms, "95 of 100 requests were faster.", c),
    ]
