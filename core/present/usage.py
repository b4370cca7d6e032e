"""Usage for billing: one UTC calendar month of requests and failed requests per customer × API × endpoint ×
method, for the Usage page, its CSV and `python -m core usage`. The numbers come from
core.storage.usage.usage_counts only (raw rows today, rollups later)."""
from __future__ import annotations

import datetime as dt
import re

import polars as pl
import sqlalchemy as sa

from core.domain.errors import ClienteleError
from core.domain.record import FAILED_STATUS
from core.domain.scope import Scope
from core.present import fmt
from core.storage import cache, customers
from core.storage.usage import usage_counts

UTC = dt.timezone.utc
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
MAX_MONTHS = 120  # months offered by the picker, newest first
# Display columns of the Usage table and its CSV.
CUSTOMER, CUSTOMER_ID, API, API_ID, ENDPOINT, METHOD, REQUESTS, FAILED = (
    "Customer", "Customer ID", "API", "API ID", "Endpoint", "Method", "Requests", "Failed requests")
UNATTRIBUTED = "(no customer)"
# On the page: widths (px) that fit the page at 1366 px together (core.present.tables.TABLE_WIDTH_PX); the API ID
# is in the CSV only (the API's name is beside it).
WIDTHS = {CUSTOMER: 150, CUSTOMER_ID: 155, API: 100, ENDPOINT: 165, METHOD: 80, REQUESTS: 90, FAILED: 125}


def shown_columns(columns: list[str]) -> list[str]:
    """The columns of usage_rows the page shows (in order): all but the API ID."""
    return [c for c in columns if c in WIDTHS]


class UsageError(ClienteleError, ValueError):
    """A month the user asked for makes no sense; the message says what to write instead."""


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    """'YYYY-MM' as [first instant of the month, first instant of the next month), in UTC."""
    match = _MONTH.match((month or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise UsageError(f"{month!r} is not a month; write it as YYYY-MM, e.g. 2026-11.")
    year, number = int(match.group(1)), int(match.group(2))
    start = dt.datetime(year, number, 1, tzinfo=UTC)
    end = dt.datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def month_of(ts: dt.datetime) -> str:
    """The UTC calendar month of an instant, as 'YYYY-MM'."""
    return ts.astimezone(UTC).strftime("%Y-%m")


def usage_table(engine: sa.Engine, scope: Scope, month: str, api_id: int | None = None,
                customer_id: str | None = None) -> pl.DataFrame:
    """One row per customer × API × endpoint × method with requests in the UTC month `month` ('YYYY-MM'):
    customer_id (null: attributed to nobody), api_id, endpoint, method, requests, failed_requests
    (status >= FAILED_STATUS, as on the dashboard). Exact.

    A customer_id that does not exist raises NotFound; for a Customer scope so does every ID but their own,
    with the same message (an ID of someone else reads like an unknown one).
    """
    start, end = month_bounds(month)
    if customer_id is not None:
        customers.customer_info(engine, scope, customer_id)  # NotFound: unknown, or not the Customer's own
    return usage_counts(engine, scope, start, end, failed_status=FAILED_STATUS, api_id=api_id, customer_id=customer_id)


def month_choices(engine: sa.Engine, scope: Scope, now: dt.datetime, api_id: int | None = None) -> list[str]:
    """The months to offer, newest first: from the month of the scope's newest request (or now, if later)
    back to the month of its first request (at most MAX_MONTHS)."""
    first, newest = cache.data_span(engine, scope, api_id)
    last = max(now, newest) if newest is not None else now
    start = first or now
    months, year, number = [], last.astimezone(UTC).year, last.astimezone(UTC).month
    while len(months) < MAX_MONTHS:
        months.append(f"{year:04d}-{number:02d}")
        if (year, number) <= (start.astimezone(UTC).year, start.astimezone(UTC).month):
            break
        year, number = (year, number - 1) if number > 1 else (year - 1, 12)
    return months


def month_label(month: str) -> str:
    """'2026-11' as 'November 2026'."""
    start, _ = month_bounds(month)
    return start.strftime("%B %Y")


def usage_rows(table: pl.DataFrame, apis: pl.DataFrame, names: pl.DataFrame, *, show_customer: bool = True) -> pl.DataFrame:
    """usage_table rows as shown and downloaded: customer (display name, else ID), customer ID, API name, API ID,
    endpoint, method, requests, failed requests. `apis`: api_id, name; `names`: customer_id, display_name.
    Without show_customer (a Customer's own usage) the two customer columns are left out."""
    named = (
        table.join(apis.select(pl.col("api_id").cast(pl.Int64), pl.col("name").alias("api_name")), on="api_id", how="left")
        .join(names.select(pl.col("customer_id").cast(pl.String), pl.col("display_name").cast(pl.String)),
              on="customer_id", how="left")
    )
    frame = named.select(
        pl.coalesce("display_name", "customer_id").fill_null(UNATTRIBUTED).alias(CUSTOMER),
        pl.col("customer_id").fill_null(fmt.MISSING).alias(CUSTOMER_ID),
        pl.col("api_name").fill_null(fmt.MISSING).alias(API),
        pl.col("api_id").alias(API_ID),
        pl.col("endpoint").alias(ENDPOINT),
        pl.col("method").alias(METHOD),
        pl.col("requests").alias(REQUESTS),
        pl.col("failed_requests").alias(FAILED),
    )
    return frame if show_customer else frame.drop(CUSTOMER, CUSTOMER_ID)


def usage_json(month: str, table: pl.DataFrame) -> dict:
    """What `usage --json` prints: {"month", "start", "end", "rows": [{customer_id, api_id, endpoint, method,
    requests, failed_requests}]}, times in ISO UTC."""
    start, end = month_bounds(month)
    iso = lambda ts: ts.isoformat().replace("+00:00", "Z")  # noqa: E731
    return {"month": month, "start": iso(start), "end": iso(end), "rows": table.select(list(table.columns)).to_dicts()}


def usage_totals(table: pl.DataFrame) -> dict:
    """Sums of a usage_table: requests, failed_requests, rows."""
    return {"requests": int(table.get_column("requests").sum()), "failed_requests": int(table.get_column("failed_requests").sum()),
            "rows": table.height}
