"""Customers (the Customer Dashboard of one API): the page model, its number widgets and the going-quiet note."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from core.analytics import customers as mc
from core.domain import config
from core.domain.scope import Scope, require_workspace
from core.domain.timewindow import Window
from core.present import fmt
from core.present.cards import Card, card_delta, count_card, number
from core.present.page_data import data_covers_previous, scoped_rows
from core.present.segments import only_segment
from core.storage import cache


@dataclass(frozen=True)
class CustomersPage:
    """The Customer Dashboard of one API: the customer list (mc.customer_list), every widget, the
    customers going quiet and the customer × endpoint adoption grid."""

    customers: pl.DataFrame
    widgets: mc.Widgets
    going_quiet: pl.DataFrame
    adoption: pl.DataFrame
    covered: bool = True  # the API's data covers the period before the window (deltas shown)
    quiet_min_requests: int = mc.QUIET_MIN_REQUESTS


def customers_page(engine: sa.Engine, scope: Scope, api_id: int, window: Window,
                   favorite_ids: Iterable[str] = (), *, quiet_min_requests: int | None = None,
                   segment: str | None = None) -> CustomersPage:
    """quiet_min_requests: the least requests before for "Going quiet" (default: CLIENTELE_QUIET_MIN_REQUESTS).
    segment: a core.present.segments.segment_choices entry ("Plan = Pro"): every number then counts only the
    requests of the customers in it (shares are shares of the segment's requests)."""
    require_workspace(scope, "The customer dashboard")
    if quiet_min_requests is None:
        quiet_min_requests = config.settings().quiet_min_requests
    # The settled hours come summed: per customer and bucket for the per-customer numbers, per customer and endpoint
    # over the window for the adoption grid (cache.facts_frame's `summed`).
    rows, operations, first_seen = only_segment(
        engine, scope, segment, scoped_rows(engine, scope, window, api_id=api_id, summed="bucket"),
        scoped_rows(engine, scope, window, api_id=api_id, summed="operation-period", histograms=False),
        cache.first_seen_frame(engine, scope))
    names = cache.customers_frame(engine, scope)
    listed = mc.customer_list(rows, window, scope, names=names)
    before = mc.previous_counts(rows, window)
    return CustomersPage(
        customers=listed,
        widgets=mc.widgets(rows, first_seen, window, scope, api_id=api_id, names=names,
                           favorite_ids=favorite_ids, customers=listed, before=before),
        going_quiet=mc.going_quiet(rows, window, scope, names=names, min_prev_requests=quiet_min_requests,
                                   customers=listed, before=before),
        adoption=mc.adoption_matrix(operations, window, scope, names=names, customers=listed),
        covered=data_covers_previous(engine, scope, window, api_id),
        quiet_min_requests=quiet_min_requests,
    )


def quiet_text(page: CustomersPage) -> str:
    """What "Going quiet" lists, with the minimum it applies."""
    return (f"Customers with at least {fmt.count(page.quiet_min_requests)} requests in the previous period whose "
            f"requests fell by {mc.QUIET_DROP_PCT:.0f}% or more in this one; most requests lost first.")


def widget_cards(w: mc.Widgets, covered: bool = True) -> dict[str, Card]:
    """The four number widgets of the Customer Dashboard, by core.storage.customers.WIDGETS key."""
    top = w.top_customer
    if top is None:
        top_card = Card("Top Customer", fmt.MISSING, help="Nobody was active in this window.")
    else:
        top_card = Card("Top Customer", top["display_name"],
                        f"{fmt.count(top['requests'])} requests · {fmt.pct(top['share_pct'])} of this API's",
                        "off", help=f"Customer ID: {top['customer_id']}", is_name=True)
    avg = w.avg_requests_per_customer
    return {
        "new_customers": count_card("New Customers", w.new_customers, covered=covered,
                                     help="Customers whose first request to this API falls in the window."),
        "active_customers": count_card("Active Customers", w.active_customers, covered=covered,
                                        help="Customers with at least one request in the window."),
        "top_customer": top_card,
        # Abbreviated, without a help icon: the full title is cut off in a card at 1366 px.
        "avg_requests_per_customer": Card("Avg. Requests per Customer", number(avg.current),
                                          *card_delta(fmt.delta_text(avg.current, avg.previous), "normal", covered)),
    }
