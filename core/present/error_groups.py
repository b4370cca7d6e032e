"""Error groups as the Errors page, a customer profile section and a Customer's own view show them: the page
model (core.storage.error_groups → core.analytics.error_groups), the display table, and the link from a group
to its requests in the request history."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import polars as pl
import sqlalchemy as sa

from core.analytics.error_groups import error_groups
from core.domain.record import FAILED_STATUS
from core.domain.scope import Scope, require_workspace
from core.domain.timewindow import Window, range_text
from core.present import fmt
from core.present.tables import fitting_columns
from core.storage import customers
from core.storage.error_groups import MAX_ROWS, failed_requests

# Display columns (units in the names).
API, ENDPOINT, STATUS, ERROR_TYPE, MESSAGE, REQUESTS, CUSTOMERS, MOST_AFFECTED = (
    "API", "Endpoint", "Status", "Error type", "Message", "Failed requests", "Customers", "Most affected")
FIRST_SEEN, LAST_SEEN, TREND, METHODS, LINK = "First seen", "Last seen", "Trend", "Methods", "Requests"
# On screen (the CSV keeps groups_table's order): what went wrong first, the endpoint pinned; the columns that
# fit a 1366 px screen (core.present.tables.TABLE_WIDTH_PX) by PRIORITY, the rest behind the "Columns" chooser.
DISPLAY_ORDER = (ENDPOINT, STATUS, ERROR_TYPE, MESSAGE, REQUESTS, CUSTOMERS, MOST_AFFECTED, TREND, API, METHODS, FIRST_SEEN,
                 LAST_SEEN, LINK)
WIDTHS = {ENDPOINT: 170, STATUS: 72, ERROR_TYPE: 120, MESSAGE: 220, REQUESTS: 135, CUSTOMERS: 100, MOST_AFFECTED: 150,
          TREND: 140, API: 110, METHODS: 85, FIRST_SEEN: 150, LAST_SEEN: 150, LINK: 120}
PRIORITY = (ENDPOINT, STATUS, REQUESTS, MESSAGE, LINK, TREND, CUSTOMERS, ERROR_TYPE, LAST_SEEN, API, MOST_AFFECTED,
            FIRST_SEEN, METHODS)


@dataclass(frozen=True)
class ErrorGroupsPage:
    groups: pl.DataFrame  # core.analytics.error_groups.error_groups rows, largest first
    failed_requests: int  # failed requests the groups were built from
    truncated: bool  # more failed requests in the window: the groups cover the newest MAX_ROWS


def error_groups_page(engine: sa.Engine, scope: Scope, window: Window, api_id: int | None = None,
                      customer_id: str | None = None, *, limit: int = MAX_ROWS) -> ErrorGroupsPage:
    """The error groups of the scope's failed requests (status >= FAILED_STATUS) in the window, on one API or
    all, of one customer or all. A customer_id that does not exist raises NotFound; for a Customer scope so
    does every ID but their own, with the same message."""
    if customer_id is not None:
        customers.customer_info(engine, scope, customer_id)  # NotFound: unknown, or not the Customer's own
    failed = failed_requests(engine, scope, window, min_status=FAILED_STATUS, api_id=api_id, customer_id=customer_id,
                             limit=limit)
    return ErrorGroupsPage(error_groups(failed.rows, window, scope), failed.rows.height, failed.truncated)


def customer_error_groups(engine: sa.Engine, scope: Scope, customer_id: str, window: Window,
                          api_id: int | None = None) -> ErrorGroupsPage:
    """The error groups one customer hit (a customer profile section, Admin and Member)."""
    require_workspace(scope, "Customer profiles")
    return error_groups_page(engine, scope, window, api_id, customer_id)


def coverage_text(page: ErrorGroupsPage) -> str:
    """What the groups were built from: "3 groups from 42 failed requests", and the cap when it was reached."""
    groups = page.groups.height
    text = (f"{fmt.count(groups)} {'group' if groups == 1 else 'groups'} from {fmt.count(page.failed_requests)} failed "
            f"{'request' if page.failed_requests == 1 else 'requests'} (status 400 or above)")
    if page.truncated:
        text += (f"; more failed in this window, so the groups cover the newest {fmt.count(page.failed_requests)}: "
                 "pick one API or a shorter window for every one of them")
    return text


def history_link(base: str, window: Window, tz: str, *, api_id: int | None, status: int, endpoint: str,
                 extra: dict[str, str] | None = None) -> str:
    """A relative link to the request history page `base` (its url_path: "requests", "my-request-log", or
    "customer" with extra={"customer": ID}) filtered to one group's API, window, status and endpoint. A custom
    window carries its dates in the viewer's zone `tz`, as the page's time filter reads them."""
    params: dict[str, str] = dict(extra or {})
    params["api"] = "all" if api_id is None else str(api_id)
    params |= window_params(window, tz)
    params["status"] = str(status)
    params["endpoint"] = endpoint
    return f"{base}?{urlencode(params)}"


def window_params(window: Window, tz: str) -> dict[str, str]:
    """A window as the time filter reads it from a link: ?window=, and a custom window's dates (or, for a range
    brushed on a chart, its times to the minute) in the zone `tz`."""
    params = {"window": window.preset}
    if window.preset == "custom":
        params["from"], params["to"] = range_text(window, tz)
    return params


def groups_table(groups: pl.DataFrame, window: Window, tz: str, *, history_base: str, show_customers: bool = True,
                 extra: dict[str, str] | None = None) -> pl.DataFrame:
    """error_groups rows as shown: API, endpoint, status, error type, message, failed requests, (customers
    affected and the most affected), trend, methods, first and last seen in the viewer's zone, and the link to
    the group's requests. A Customer's own groups leave the two customer columns out."""
    zone = fmt.zone_name(tz)
    links = [history_link(history_base, window, tz, api_id=row["api_id"], status=row["status"], endpoint=row["endpoint"],
                          extra=extra)
             for row in groups.select("api_id", "status", "endpoint").iter_rows(named=True)]
    local = lambda c: pl.col(c).dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    frame = groups.select(
        pl.col("api_name").fill_null(fmt.MISSING).alias(API),
        pl.col("endpoint").alias(ENDPOINT),
        pl.col("status").alias(STATUS),
        pl.col("error_type").fill_null(fmt.MISSING).alias(ERROR_TYPE),
        pl.col("message").alias(MESSAGE),
        pl.col("requests").alias(REQUESTS),
        pl.col("customers").alias(CUSTOMERS),
        pl.col("top_customers").list.join(", ").alias(MOST_AFFECTED),
        pl.col("trend").alias(TREND),
        pl.col("methods").list.join(", ").alias(METHODS),
        local("first_seen").alias(FIRST_SEEN),
        local("last_seen").alias(LAST_SEEN),
        pl.Series(LINK, links, dtype=pl.String),
    ).with_columns(pl.when(pl.col(MOST_AFFECTED) == "").then(pl.lit(fmt.MISSING)).otherwise(pl.col(MOST_AFFECTED))
                   .alias(MOST_AFFECTED))
    return frame if show_customers else frame.drop(CUSTOMERS, MOST_AFFECTED)


def display_columns(table: pl.DataFrame) -> list[str]:
    """groups_table's columns in their on-screen order."""
    return [c for c in DISPLAY_ORDER if c in table.columns]


def default_columns(columns: list[str]) -> list[str]:
    """The columns shown before the viewer picks others: those that fit 1366 px, most wanted first."""
    return fitting_columns(columns, WIDTHS, PRIORITY)


def csv_rows(table: pl.DataFrame) -> pl.DataFrame:
    """The groups table as downloaded: the trend as one number per bucket joined by spaces, no link column."""
    return table.with_columns(pl.col(TREND).cast(pl.List(pl.String)).list.join(" ")).drop(LINK)
