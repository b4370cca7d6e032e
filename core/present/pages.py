"""Page models of the dashboard pages (Home, Customers, Customer profile, My dashboard): one call gathers
every number a page shows, and the display helpers turn them into metric cards and tables as people read them.

Pages call e.g. `customers_page(engine, scope, api_id, window, favorite_ids)`, then render
`widget_cards(model.widgets)` and `customer_table(model.customers, tz, now)`; tests and benchmarks can call
the same functions. Workspace pages refuse a Customer scope; `my_dashboard` serves any scope.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from core.analytics import customers as mc
from core.analytics import metrics
from core.analytics.metrics import Overview, bucket_index, bucket_starts, in_window
from core.domain import config
from core.domain.scope import Scope, require_workspace
from core.domain.timewindow import Window
from core.present import fmt
from core.storage import cache

UTC_US = pl.Datetime("us", "UTC")
TOP_ENDPOINTS = 10
# Display column names shared by the customer tables (units in the names).
CUSTOMER, CUSTOMER_ID, REQUESTS, SHARE, CHANGE = "Customer", "Customer ID", "Requests", "Share (%)", "Change (%)"
LAST_ACTIVE, LAST_ACTIVE_AT, ERROR_RATE, P95, TREND = (
    "Last active", "Last active at", "Error rate (%)", "p95 load time (ms)", "Requests over time")


# ---------------------------------------------------------------- metric cards


@dataclass(frozen=True)
class Card:
    """One st.metric: label, value and delta as text; delta_color "inverse" when a rise is bad
    (errors, latency), "off" when it is neither good nor bad; chart: a sparkline's values."""

    label: str
    value: str
    delta: str | None = None
    delta_color: str = "normal"
    help: str | None = None
    chart: tuple[float, ...] | None = None
    is_name: bool = False  # the value is a name: shown whole (wrapped), never cut to fit


def period_text(length: dt.timedelta) -> str:
    """A window's length as people say it: "5 hours", "24 hours", "7 days", "1 day 6 hours" (whole hours)."""
    hours = round(length.total_seconds() / 3600)
    days, rest = divmod(hours, 24)
    unit = lambda n, word: f"{n:,} {word}" + ("" if n == 1 else "s")  # noqa: E731
    if days == 0:
        return unit(rest, "hour")
    if days == 1 and rest == 0:
        return "24 hours"
    return unit(days, "day") + (f" {unit(rest, 'hour')}" if rest else "")


NO_PREVIOUS = "no full previous period"


def comparison_text(window: Window, covered: bool = True) -> str:
    """What the deltas of a window compare with: "changes compare with the 7 days before"; All Time has
    nothing before it, and a period before the first recorded request is not there to compare with."""
    if window.preset == "all":
        return "All Time has no earlier period to compare with"
    if not covered:
        return f"no changes shown: the data does not reach back over the whole {period_text(window.length)} before"
    return f"changes compare with the {period_text(window.length)} before"


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def points_text(current, previous) -> str | None:
    """The change of a percentage in percentage points: 2.5 vs 2.0 → "+0.5 pp"; None when either is missing."""
    if _missing(current) or _missing(previous):
        return None
    return f"{current - previous:+,.1f} pp"


def number(x, digits: int = 1) -> str:
    """A number with thousands separators and `digits` decimals: 1234.56 → "1,234.6"."""
    if _missing(x):
        return fmt.MISSING
    return f"{x:,.{digits}f}"


def _delta(text: str | None, color: str, covered: bool) -> tuple[str | None, str]:
    """A card's delta text and colour; without a full previous period, a grey note instead of a number
    (half a period before would make any change look big)."""
    return (text, color) if covered else (NO_PREVIOUS, "off")


def _count_card(label: str, delta: mc.Delta, *, inverse: bool = False, help: str | None = None,
                chart: Iterable[int] | None = None, covered: bool = True) -> Card:
    text, color = _delta(fmt.delta_text(delta.current, delta.previous), "inverse" if inverse else "normal", covered)
    return Card(label, fmt.count(delta.current), text, color, help, tuple(chart) if chart is not None else None)


def _ms_card(label: str, current, previous, help: str | None = None, covered: bool = True) -> Card:
    return Card(label, fmt.ms(current), *_delta(fmt.delta_text(current, previous), "inverse", covered), help)


def _pct_card(label: str, current, previous, *, inverse: bool = False, help: str | None = None,
              covered: bool = True) -> Card:
    return Card(label, fmt.pct(current), *_delta(points_text(current, previous), "inverse" if inverse else "normal", covered),
                help)


def _pct(part, whole) -> float | None:
    return part * 100.0 / whole if whole else None


def overview_cards(ov: Overview, covered: bool = True) -> list[Card]:
    """Total and failed requests, average size and load time, p50/p95/p99, each against the period before
    (when the data covers it: `covered`, see metrics.covers_previous)."""
    cur, prev, c = ov.current, ov.previous, covered
    return [
        _count_card("Total requests", mc.Delta(cur.total_requests, prev.total_requests), covered=c),
        _count_card("Failed requests", mc.Delta(cur.failed_requests, prev.failed_requests), inverse=True,
                    help="Responses with status 400 or above.", covered=c),
        Card("Average response size", fmt.size(cur.avg_response_size_bytes),
             *_delta(fmt.delta_text(cur.avg_response_size_bytes, prev.avg_response_size_bytes), "off", c)),
        _ms_card("Average load time", cur.avg_load_time_ms, prev.avg_load_time_ms, covered=c),
        _ms_card("p50 load time", cur.p50_load_time_ms, prev.p50_load_time_ms, "Half of the requests were faster.", c),
        _ms_card("p95 load time", cur.p95_load_time_ms, prev.p95_load_time_ms, "95 of 100 requests were faster.", c),
        _ms_card("p99 load time", cur.p99_load_time_ms, prev.p99_load_time_ms, "99 of 100 requests were faster.", c),
    ]


# ---------------------------------------------------------------- display tables


def _local(column: str, tz: str, alias: str) -> pl.Expr:
    """A UTC datetime column as the viewer's wall-clock time (no zone), for tables and CSV."""
    return pl.col(column).dt.convert_time_zone(fmt.zone_name(tz)).dt.replace_time_zone(None).alias(alias)


def _ago(frame: pl.DataFrame, column: str, now: dt.datetime, alias: str) -> pl.Series:
    return pl.Series(alias, [fmt.ago(ts, now) for ts in frame.get_column(column).to_list()], dtype=pl.String)


def _change_pct(current: str, previous: str, covered: bool = True) -> pl.Expr:
    """Change from the previous period in percent, one decimal; null when there was nothing before, or
    when the data does not cover the whole previous period."""
    return (pl.when(pl.col(previous) > 0 if covered else pl.lit(False))
            .then((pl.col(current) - pl.col(previous)) * 100.0 / pl.col(previous))
            .otherwise(None).round(1))


def search_customers(frame: pl.DataFrame, text: str | None) -> pl.DataFrame:
    """The rows whose display_name or customer_id contains `text` (case-insensitive, taken literally)."""
    needle = (text or "").strip().lower()
    if not needle:
        return frame
    hit = lambda c: pl.col(c).cast(pl.String).str.to_lowercase().str.contains(needle, literal=True).fill_null(False)  # noqa: E731
    return frame.filter(hit("display_name") | hit("customer_id"))


def customer_table(customers: pl.DataFrame, tz: str, now: dt.datetime) -> pl.DataFrame:
    """mc.customer_list rows as shown: name, ID, requests, share to 0.1%, the request sparkline, last
    active ("3 h ago"), error rate to 0.1%, p95 to 0.1 ms, and the exact local time of the last request."""
    return customers.select(
        pl.col("display_name").alias(CUSTOMER),
        pl.col("customer_id").alias(CUSTOMER_ID),
        pl.col("requests").alias(REQUESTS),
        pl.col("share_pct").round(1).alias(SHARE),
        pl.col("sparkline").alias(TREND),
        _ago(customers, "last_active", now, LAST_ACTIVE),
        pl.col("error_rate_pct").round(1).alias(ERROR_RATE),
        pl.col("p95_load_time_ms").round(1).alias(P95),
        _local("last_active", tz, LAST_ACTIVE_AT),
    )


def top_table(top: pl.DataFrame, covered: bool = True) -> pl.DataFrame:
    """mc.top_customers rows as shown: rank, name, ID, requests, share and change vs the period before
    (none when the data does not cover that period)."""
    return top.select(
        pl.col("rank").alias("Rank"),
        pl.col("display_name").alias(CUSTOMER),
        pl.col("customer_id").alias(CUSTOMER_ID),
        pl.col("requests").alias(REQUESTS),
        pl.col("share_pct").round(1).alias(SHARE),
        _change_pct("requests", "requests_prev", covered).alias(CHANGE),
    )


def recent_table(recent: pl.DataFrame, tz: str, now: dt.datetime) -> pl.DataFrame:
    """mc.recent_customers rows as shown: name, ID, first seen ("2 d ago" and the exact local time)."""
    return recent.select(
        pl.col("display_name").alias(CUSTOMER),
        pl.col("customer_id").alias(CUSTOMER_ID),
        _ago(recent, "first_seen", now, "First seen"),
        _local("first_seen", tz, "First seen at"),
    )


def favorites_table(favorites: pl.DataFrame, now: dt.datetime, covered: bool = True) -> pl.DataFrame:
    """mc.favorite_customers rows as shown: name, ID, requests, change vs the period before (when covered),
    last active."""
    return favorites.select(
        pl.col("display_name").alias(CUSTOMER),
        pl.col("customer_id").alias(CUSTOMER_ID),
        pl.col("requests").alias(REQUESTS),
        _change_pct("requests", "requests_prev", covered).alias(CHANGE),
        pl.Series(LAST_ACTIVE, [fmt.ago(ts, now) if ts else "not in this window"
                                for ts in favorites.get_column("last_active").to_list()], dtype=pl.String),
    )


def quiet_table(quiet: pl.DataFrame, tz: str, now: dt.datetime) -> pl.DataFrame:
    """mc.going_quiet rows as shown: name, ID, requests before and now, requests lost, change, last active."""
    return quiet.select(
        pl.col("display_name").alias(CUSTOMER),
        pl.col("customer_id").alias(CUSTOMER_ID),
        pl.col("requests_prev").alias("Requests before"),
        pl.col("requests").alias("Requests now"),
        pl.col("requests_lost").alias("Requests lost"),
        pl.col("change_pct").round(1).alias(CHANGE),
        _ago(quiet, "last_active", now, LAST_ACTIVE),
        _local("last_active", tz, LAST_ACTIVE_AT),
    )


def endpoint_table(endpoints: pl.DataFrame) -> pl.DataFrame:
    """metrics.endpoint_breakdown rows as shown: method, endpoint, requests, failed, error rate, load times."""
    return endpoints.select(
        pl.col("method").alias("Method"),
        pl.col("endpoint").alias("Endpoint"),
        pl.col("requests").alias(REQUESTS),
        pl.col("failed_requests").alias("Failed"),
        pl.col("error_rate_pct").round(1).alias(ERROR_RATE),
        pl.col("avg_load_time_ms").round(1).alias("Average load time (ms)"),
        pl.col("p95_load_time_ms").round(1).alias(P95),
    )


def apis_used_table(apis_used: pl.DataFrame, tz: str, now: dt.datetime) -> pl.DataFrame:
    """Profile.apis_used rows as shown: API name, requests, last active."""
    return apis_used.select(
        pl.col("name").alias("API"),
        pl.col("requests").alias(REQUESTS),
        _ago(apis_used, "last_active", now, LAST_ACTIVE),
        _local("last_active", tz, LAST_ACTIVE_AT),
    )


def attributes_table(attributes: dict) -> pl.DataFrame:
    """A customer's metadata (e.g. Plan) as Attribute/Value text rows, by attribute name."""
    keys = sorted(attributes, key=str.lower)
    values = ["" if attributes[k] is None else str(attributes[k]) for k in keys]
    return pl.DataFrame({"Attribute": keys, "Value": values}, schema={"Attribute": pl.String, "Value": pl.String})


def chart_labels(frame: pl.DataFrame) -> pl.DataFrame:
    """frame with `label`: the display name, or "name (ID)" where two customers share a display name,
    so a chart never merges two customers into one bar or row."""
    shared = pl.col("customer_id").n_unique().over("display_name") > 1
    label = pl.when(shared & (pl.col("display_name") != pl.col("customer_id")))
    return frame.with_columns(
        label.then(pl.format("{} ({})", "display_name", "customer_id")).otherwise(pl.col("display_name")).alias("label"))


def known_table(known: list[dict], tz: str, now: dt.datetime) -> pl.DataFrame:
    """core.storage.customers.known_customers items as shown: name (else ID), ID, last active."""
    frame = pl.DataFrame(known, schema={"customer_id": pl.String, "display_name": pl.String, "last_seen": pl.Datetime("us")})
    frame = frame.with_columns(pl.col("last_seen").dt.replace_time_zone("UTC"))
    return frame.select(
        pl.coalesce("display_name", "customer_id").alias(CUSTOMER),
        pl.col("customer_id").alias(CUSTOMER_ID),
        pl.Series(LAST_ACTIVE, [fmt.ago(ts, now) for ts in frame.get_column("last_seen").to_list()], dtype=pl.String),
        _local("last_seen", tz, LAST_ACTIVE_AT),
    )


def top_chart_rows(top: pl.DataFrame) -> pl.DataFrame:
    """mc.top_customers rows for a bar chart: label (chart_labels), customer_id, requests, share to 0.1%."""
    return chart_labels(top).select("label", "customer_id", "requests", pl.col("share_pct").round(1).alias(SHARE))


# ---------------------------------------------------------------- series for charts


def chart_series(series: pl.DataFrame) -> pl.DataFrame:
    """metrics.overview_series with the averages of empty buckets set to null: a bucket without
    requests has no load time or size (a chart then shows a gap, not a drop to 0)."""
    empty = pl.col("requests") == 0
    return series.with_columns(
        pl.when(empty).then(None).otherwise(pl.col(c)).alias(c) for c in ("avg_load_time_ms", "avg_response_size_bytes"))


def api_sparklines(requests: pl.DataFrame, window: Window, scope: Scope) -> pl.DataFrame:
    """One row per API with requests in the frame: api_id, sparkline (requests per bucket of the
    window, zeros included, oldest first)."""
    require_workspace(scope, "API request series")
    buckets = bucket_starts(window).select("bucket_index")
    per = in_window(requests, window).group_by("api_id", bucket_index(window).alias("bucket_index")).agg(
        pl.len().cast(pl.Int64).alias("requests"))
    apis = requests.select(pl.col("api_id").cast(pl.Int32)).unique()
    return (
        apis.join(buckets, how="cross")
        .join(per.with_columns(pl.col("api_id").cast(pl.Int32)), on=["api_id", "bucket_index"], how="left")
        .with_columns(pl.col("requests").fill_null(0))
        .sort("api_id", "bucket_index")
        .group_by("api_id", maintain_order=True)
        .agg(pl.col("requests").alias("sparkline"))
    )


def endpoint_activity(requests: pl.DataFrame, window: Window, scope: Scope, *, top_n: int = TOP_ENDPOINTS) -> pl.DataFrame:
    """One row per (endpoint, bucket) for the top_n busiest endpoints of the window, zeros included:
    endpoint ("GET /orders"), bucket (UTC start), requests; busiest endpoint first, then by time."""
    metrics.check(requests, scope)
    current = in_window(requests, window).with_columns(
        pl.format("{} {}", pl.col("method").cast(pl.String), pl.col("endpoint").cast(pl.String)).alias("endpoint"))
    schema = {"endpoint": pl.String, "bucket": UTC_US, "requests": pl.Int64}
    if current.height == 0:
        return pl.DataFrame(schema=schema)
    top = (current.group_by("endpoint").agg(pl.len().alias("n"))
           .sort(["n", "endpoint"], descending=[True, False]).head(top_n).with_row_index("_rank"))
    per = current.group_by("endpoint", bucket_index(window).alias("bucket_index")).agg(pl.len().cast(pl.Int64).alias("requests"))
    return (
        top.join(bucket_starts(window), how="cross")
        .join(per, on=["endpoint", "bucket_index"], how="left")
        .with_columns(pl.col("requests").fill_null(0))
        .sort("_rank", "bucket")
        .select(list(schema))
    )


def activity_cells(activity: pl.DataFrame, window: Window, tz: str) -> pl.DataFrame:
    """endpoint_activity rows for a heatmap: endpoint, time (the bucket's local start as short text that
    stays unique in the window: "Nov 24" for buckets of whole local days, "Nov 24 14:00" when buckets
    are shorter or start at another hour (they start with the window), the year first when the window
    spans years), requests."""
    with_hour = window.bucket_delta < dt.timedelta(days=1) or window.start.astimezone(fmt.zone(tz)).time() != dt.time()
    day = "%b %d" if window.length <= dt.timedelta(days=360) else "%Y-%m-%d"
    pattern = f"{day} %H:%M" if with_hour else day
    return activity.select(
        "endpoint",
        pl.col("bucket").dt.convert_time_zone(fmt.zone_name(tz)).dt.strftime(pattern).alias("time"),
        "requests",
    )


# ---------------------------------------------------------------- page models


def data_version(engine: sa.Engine) -> str:
    """Changes whenever the cached request data does (new, deleted or reloaded rows): part of every
    page cache key, so a cached page never outlives the data it was computed from."""
    info = cache.stats(engine)
    return f"{info['rows']}:{info['watermark']}"


def _rows(engine: sa.Engine, scope: Scope, window: Window, **where) -> pl.DataFrame:
    """The scoped request rows of the window and the period before it (for deltas)."""
    return cache.requests_frame(engine, scope, window=metrics.span(window), columns=cache.METRIC_COLUMNS, **where)


def _apis(engine: sa.Engine, scope: Scope) -> pl.DataFrame:
    return pl.DataFrame(cache.visible_apis(engine, scope), schema={"api_id": pl.Int64, "name": pl.String})


def _covered(engine: sa.Engine, scope: Scope, window: Window, api_id: int | None = None) -> bool:
    """Whether the scope's data on this API (or every API) covers the whole period before the window."""
    return metrics.covers_previous(window, cache.data_start(engine, scope, api_id))


@dataclass(frozen=True)
class HomePage:
    """The workspace at a glance: totals, one row per API with its headline numbers and request
    sparkline (mc.API_HEADLINE_SCHEMA + sparkline), and the top customers across all APIs."""

    requests: mc.Delta
    failed_pct: mc.Delta
    active_customers: mc.Delta
    new_customers: mc.Delta
    apis: pl.DataFrame  # + covered: the API's data covers the period before the window
    top_customers: pl.DataFrame
    covered: bool = True  # the workspace's data covers the period before the window (deltas shown)


def home_page(engine: sa.Engine, scope: Scope, window: Window, *, top_n: int = 10) -> HomePage:
    require_workspace(scope, "The workspace home")
    rows = _rows(engine, scope, window)
    ov = metrics.overview(rows, window, scope)
    headlines = mc.api_headlines(rows, window, scope, _apis(engine, scope))
    spark = api_sparklines(rows, window, scope)
    empty = bucket_starts(window).height * [0]
    apis = headlines.join(spark, on="api_id", how="left").with_columns(
        pl.col("sparkline").fill_null(pl.lit(empty, dtype=pl.List(pl.Int64))))
    apis = apis.with_columns(pl.Series("covered", [_covered(engine, scope, window, int(a)) for a in apis.get_column("api_id")],
                                       dtype=pl.Boolean))
    return HomePage(
        requests=mc.Delta(ov.current.total_requests, ov.previous.total_requests),
        failed_pct=mc.Delta(_pct(ov.current.failed_requests, ov.current.total_requests),
                            _pct(ov.previous.failed_requests, ov.previous.total_requests)),
        active_customers=mc.active_customers(rows, window, scope),
        new_customers=mc.new_customers(cache.first_seen_frame(engine, scope), window, scope),
        apis=apis,
        top_customers=mc.top_customers(rows, window, scope, names=cache.customers_frame(engine, scope), n=top_n),
        covered=_covered(engine, scope, window),
    )


def home_cards(page: HomePage) -> list[Card]:
    c = page.covered
    return [
        _count_card("Requests", page.requests, help="Every request on every API, with or without a customer.", covered=c),
        _pct_card("Failed requests", page.failed_pct.current, page.failed_pct.previous, inverse=True,
                  help="Share of requests answered with status 400 or above.", covered=c),
        _count_card("Active customers", page.active_customers, help="Customers with at least one request in the window.",
                    covered=c),
        _count_card("New customers", page.new_customers, help="Customers whose first request ever falls in the window.",
                    covered=c),
    ]


def api_cards(row: dict) -> list[Card]:
    """The headline cards of one HomePage.apis row."""
    c = row.get("covered", True)
    return [
        _count_card("Requests", mc.Delta(row["requests"], row["requests_prev"]), chart=row["sparkline"], covered=c),
        _pct_card("Failed", row["failed_pct"], row["failed_pct_prev"], inverse=True,
                  help="Share of requests answered with status 400 or above.", covered=c),
        _ms_card("p95 load time", row["p95_load_time_ms"], row["p95_load_time_ms_prev"], "95 of 100 requests were faster.", c),
        _count_card("Active customers", mc.Delta(row["active_customers"], row["active_customers_prev"]), covered=c),
    ]


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
                   favorite_ids: Iterable[str] = (), *, quiet_min_requests: int | None = None) -> CustomersPage:
    """quiet_min_requests: the least requests before for "Going quiet" (default: CLIENTELE_QUIET_MIN_REQUESTS)."""
    require_workspace(scope, "The customer dashboard")
    if quiet_min_requests is None:
        quiet_min_requests = config.settings().quiet_min_requests
    rows = _rows(engine, scope, window, api_id=api_id)
    names = cache.customers_frame(engine, scope)
    listed = mc.customer_list(rows, window, scope, names=names)
    return CustomersPage(
        customers=listed,
        widgets=mc.widgets(rows, cache.first_seen_frame(engine, scope), window, scope, api_id=api_id, names=names,
                           favorite_ids=favorite_ids, customers=listed),
        going_quiet=mc.going_quiet(rows, window, scope, names=names, min_prev_requests=quiet_min_requests),
        adoption=mc.adoption_matrix(rows, window, scope, names=names),
        covered=_covered(engine, scope, window, api_id),
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
        "new_customers": _count_card("New Customers", w.new_customers, covered=covered,
                                     help="Customers whose first request to this API falls in the window."),
        "active_customers": _count_card("Active Customers", w.active_customers, covered=covered,
                                        help="Customers with at least one request in the window."),
        "top_customer": top_card,
        # Abbreviated, without a help icon: the full title is cut off in a card at 1366 px.
        "avg_requests_per_customer": Card("Avg. Requests per Customer", number(avg.current),
                                          *_delta(fmt.delta_text(avg.current, avg.previous), "normal", covered)),
    }


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
    mine = _rows(engine, scope, window, customer_id=customer_id)
    everyone = cache.requests_frame(engine, scope, api_id=api_id, window=metrics.span(window), columns=("api_id",))
    apis = _apis(engine, scope)
    profile = mc.customer_profile(mine, window, scope, customer_id, all_requests=mc.request_counts(everyone, window, scope),
                                  names=cache.customers_frame(engine, scope), apis=apis, share_api_id=api_id)
    # "this API": a card in a row of five cuts a longer label; the page names the API beside the cards.
    label = "Share of all requests" if api_id is None else "Share of this API"
    return ProfilePage(profile, endpoint_activity(mine, window, Scope.customer(customer_id)), label,
                       _covered(engine, scope, window), tuple(metrics.partial_buckets(window)))


def profile_cards(page: ProfilePage) -> list[Card]:
    p, c = page.profile, page.covered
    cur, prev = p.current, p.previous
    return [
        _count_card("Total requests", mc.Delta(cur.total_requests, prev.total_requests), covered=c),
        # No help icon: it would cut the label in a row of five cards at 1366 px.
        _pct_card(page.share_label, p.share_pct, p.share_pct_prev, covered=c),
        _count_card("Failed requests", mc.Delta(cur.failed_requests, prev.failed_requests), inverse=True,
                    help="Responses with status 400 or above.", covered=c),
        _ms_card("Average load time", cur.avg_load_time_ms, prev.avg_load_time_ms, covered=c),
        _ms_card("p95 load time", cur.p95_load_time_ms, prev.p95_load_time_ms, "95 of 100 requests were faster.", c),
    ]


@dataclass(frozen=True)
class MyDashboard:
    """A viewer's own traffic on one API (or all they may see): overview with deltas, per-bucket
    series (chart_series of metrics.overview_series) and endpoint breakdown."""

    overview: Overview
    series: pl.DataFrame
    endpoints: pl.DataFrame
    covered: bool = True  # the viewer's data covers the period before the window (deltas shown)
    partial_buckets: tuple[dt.datetime, ...] = ()  # metrics.partial_buckets: marked on the charts


def my_dashboard(engine: sa.Engine, scope: Scope, api_id: int | None, window: Window) -> MyDashboard:
    rows = _rows(engine, scope, window, api_id=api_id)
    return MyDashboard(
        overview=metrics.overview(rows, window, scope),
        series=chart_series(metrics.overview_series(rows, window, scope)),
        endpoints=metrics.endpoint_breakdown(rows, window, scope),
        covered=_covered(engine, scope, window, api_id),
        partial_buckets=tuple(metrics.partial_buckets(window)),
    )

