"""Customer and workspace numbers in Polars: customer list, dashboard widgets, top customers, API
headlines, customer profile, going-quiet customers, new vs returning, endpoint adoption.

Pure functions on facts like core.analytics.metrics. Everything here compares customers or counts them, so each
function refuses a Customer scope (require_workspace). Requests without a customer ID count in
totals and shares' denominators, never as a customer. "New" uses first-seen frames built from all
requests (first_seen()), never from the window.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from core.analytics import metrics
from core.analytics.metrics import Totals, bucket_index, bucket_starts, endpoint_breakdown, in_window, request_count, request_series, totals
from core.analytics.per_customer import by_requests, first_seen_for, per_customer, per_customer_counts, sparklines, with_names
from core.domain import facts, histogram
from core.domain.facts import as_facts
from core.domain.facts import first_seen as first_seen  # the one definition, kept with the facts it reads
from core.domain.frames import UTC_US, group_ids
from core.domain.scope import Scope, require_workspace
from core.domain.timewindow import Window

FIRST_SEEN_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {"customer_id": pl.String, "api_id": pl.Int32, "first_seen": UTC_US}


@dataclass(frozen=True)
class Delta:
    """A number in the window and in the period just before it."""

    current: float | int | None
    previous: float | int | None

    @property
    def change_pct(self) -> float | None:
        if self.current is None or not self.previous:
            return None
        return (self.current - self.previous) * 100.0 / self.previous

    def to_dict(self) -> dict:
        return {"current": self.current, "previous": self.previous, "change_pct": self.change_pct}


# ---------------------------------------------------------------- shares


def share_pct(part, whole: float | None):
    """part as a percentage of whole (a customer's requests of all requests of the same view and
    window), for a number or a Polars expression; None when whole is 0. The one definition of a
    share: the Customers list, the top customers and a customer's profile all use it."""
    if not whole:
        return None if not isinstance(part, pl.Expr) else pl.lit(None, pl.Float64)
    return part * 100.0 / whole


# ---------------------------------------------------------------- customer list


CUSTOMER_LIST_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "customer_id": pl.String, "display_name": pl.String, "requests": pl.Int64, "share_pct": pl.Float64,
    "last_active": UTC_US, "failed_requests": pl.Int64, "error_rate_pct": pl.Float64,
    "avg_load_time_ms": pl.Float64, "p95_load_time_ms": pl.Float64, "sparkline": pl.List(pl.Int64),
}


# The columns per-customer counts read: a window of rows not in time order (several APIs) copies only these.
_COUNTED = ("customer_id", "timestamp", "requests", "last_ts")


def customer_list(requests: pl.DataFrame, window: Window, scope: Scope, *, names: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per customer active in the window: requests, share_pct of all the frame's requests in
    the window, last_active, failed_requests, error_rate_pct, avg/p95 load time, and sparkline (request
    count per bucket of the window, zeros included); busiest first."""
    require_workspace(scope, "The customer list")
    current = in_window(as_facts(requests).select(
        "customer_id", "timestamp", "requests", "last_ts", "failed", "load_us", "load_bins", "load_counts"), window)
    total = request_count(current)
    stats = per_customer(
        current,
        pl.col("requests").sum().cast(pl.Int64),
        pl.col("last_ts").max().alias("last_active"),
        pl.col("failed").sum().cast(pl.Int64).alias("failed_requests"),
        facts.avg_load_ms(pl.col("load_us").sum(), pl.col("requests").sum()).alias("avg_load_time_ms"),
    )
    if stats.height == 0:
        return pl.DataFrame(schema=CUSTOMER_LIST_SCHEMA)
    groups = group_ids(current, ["customer_id"])  # for both: the unattributed rows are a group, dropped by the joins
    p95 = histogram.quantiles(current, ["customer_id"], {"p95_load_time_ms": 0.95}, groups=groups)
    stats = (
        stats.join(p95.with_columns(pl.col("customer_id").cast(pl.String)), on="customer_id", how="left")
        .join(sparklines(current, window, groups), on="customer_id", how="left")
    )
    out = (
        stats.with_columns(
            pl.col("sparkline").cast(pl.List(pl.Int64)),
            share_pct(pl.col("requests"), total).alias("share_pct"),
            (pl.col("failed_requests") * 100.0 / pl.col("requests")).alias("error_rate_pct"),
        )
    )
    return by_requests(with_names(names, out)).select(list(CUSTOMER_LIST_SCHEMA))


# ---------------------------------------------------------------- widgets


def new_customers(first_seen_frame: pl.DataFrame, window: Window, scope: Scope, *, api_id: int | None = None) -> Delta:
    """Customers whose first request ever (to this API, or to any API when api_id is None) falls in
    the window, and in the previous period."""
    require_workspace(scope, "Customer counts")
    firsts = first_seen_for(first_seen_frame, api_id).rename({"first_seen": "timestamp"})
    return Delta(in_window(firsts, window).height, in_window(firsts, window.previous()).height)


def previous_counts(requests: pl.DataFrame, window: Window) -> pl.DataFrame:
    """customer_id, requests: each customer's requests in the period before the window (Window.previous), which
    the widgets' deltas and "Going quiet" both compare with."""
    return per_customer_counts(in_window(as_facts(requests).select(_COUNTED), window.previous()))


@dataclass(frozen=True)
class _Counts:
    """Per-customer request counts of a window and of the period before it, computed once."""

    total: int
    now: pl.DataFrame  # customer_id, requests, last_active
    before: pl.DataFrame  # customer_id, requests

    @classmethod
    def of(cls, requests: pl.DataFrame, window: Window, customers: pl.DataFrame | None = None,
           before: pl.DataFrame | None = None) -> "_Counts":
        """customers: customer_list() of the same rows and window, and before: previous_counts() of them, when
        the page has them (each saves a pass)."""
        requests = as_facts(requests)
        if customers is not None:
            total = metrics.count_in(requests, window)
            now = customers.select("customer_id", "requests", "last_active")
        else:
            current = in_window(requests.select(_COUNTED), window)
            total = request_count(current)
            now = per_customer(current, pl.col("requests").sum().cast(pl.Int64), pl.col("last_ts").max().alias("last_active"))
        return cls(total, now, previous_counts(requests, window) if before is None else before)

    def active(self) -> Delta:
        return Delta(self.now.height, self.before.height)

    def average(self) -> Delta:
        avg = lambda f: f.get_column("requests").sum() / f.height if f.height else None  # noqa: E731
        return Delta(avg(self.now), avg(self.before))

    def top(self, names: pl.DataFrame | None, n: int) -> pl.DataFrame:
        counts = by_requests(self.now.select("customer_id", "requests")).head(n)
        if counts.height == 0:
            return pl.DataFrame(schema=TOP_SCHEMA)
        out = (
            counts.join(self.before.rename({"requests": "requests_prev"}), on="customer_id", how="left")
            .with_columns(pl.col("requests_prev").fill_null(0), share_pct(pl.col("requests"), self.total).alias("share_pct"))
            .with_row_index("rank", offset=1)
            .with_columns(pl.col("rank").cast(pl.Int64))
        )
        return with_names(names, out).select(list(TOP_SCHEMA))


def active_customers(requests: pl.DataFrame, window: Window, scope: Scope) -> Delta:
    """Customers with at least one request in the window, and in the previous period."""
    require_workspace(scope, "Customer counts")
    return _Counts.of(requests, window).active()


def active_and_top_customers(requests: pl.DataFrame, window: Window, scope: Scope, *, names: pl.DataFrame | None = None,
                             n: int = 10) -> tuple[Delta, pl.DataFrame]:
    """active_customers() and top_customers() of the same rows, counted once."""
    require_workspace(scope, "Customer counts")
    counts = _Counts.of(requests, window)
    return counts.active(), counts.top(names, n)


def avg_requests_per_customer(requests: pl.DataFrame, window: Window, scope: Scope) -> Delta:
    """Requests from customers divided by active customers (unattributed requests left out)."""
    require_workspace(scope, "Customer averages")
    return _Counts.of(requests, window).average()


TOP_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "rank": pl.Int64, "customer_id": pl.String, "display_name": pl.String, "requests": pl.Int64,
    "share_pct": pl.Float64, "requests_prev": pl.Int64,
}


def top_customers(requests: pl.DataFrame, window: Window, scope: Scope, *, names: pl.DataFrame | None = None, n: int = 10) -> pl.DataFrame:
    """One row per top customer in the window (at most n, busiest first): rank, requests, share_pct
    of all the frame's requests in the window, requests_prev (previous period)."""
    require_workspace(scope, "Top customers")
    return _Counts.of(requests, window).top(names, n)


def top_customer(requests: pl.DataFrame, window: Window, scope: Scope, *, names: pl.DataFrame | None = None) -> dict | None:
    """The busiest customer of the window: {customer_id, display_name, requests, share_pct,
    requests_prev}, or None when no customer was active."""
    require_workspace(scope, "The top customer")
    top = _Counts.of(requests, window).top(names, 1)
    return top.drop("rank").row(0, named=True) if top.height else None


RECENT_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {"customer_id": pl.String, "display_name": pl.String, "first_seen": UTC_US}


def recent_customers(first_seen_frame: pl.DataFrame, window: Window, scope: Scope, *, api_id: int | None = None,
                     names: pl.DataFrame | None = None, n: int = 10) -> pl.DataFrame:
    """One row per customer first seen in the window (to this API, or any API when api_id is None),
    most recent first, at most n."""
    require_workspace(scope, "The customers list")
    firsts = first_seen_for(first_seen_frame, api_id).rename({"first_seen": "timestamp"})
    recent = in_window(firsts, window).sort(["timestamp", "customer_id"], descending=[True, False]).head(n)
    return with_names(names, recent.rename({"timestamp": "first_seen"})).select(list(RECENT_SCHEMA))


FAVORITES_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "customer_id": pl.String, "display_name": pl.String, "requests": pl.Int64, "requests_prev": pl.Int64,
    "last_active": UTC_US,
}


def favorite_customers(requests: pl.DataFrame, window: Window, scope: Scope, favorite_ids: Iterable[str], *,
                       names: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per favorite customer (also when idle): requests in the window, requests_prev, and
    last_active in the window; busiest first."""
    require_workspace(scope, "Favorite customers")
    return _favorites(_Counts.of(requests, window), favorite_ids, names)


def _favorites(counts: "_Counts", favorite_ids: Iterable[str], names: pl.DataFrame | None) -> pl.DataFrame:
    ids = sorted({str(i) for i in favorite_ids})
    if not ids:
        return pl.DataFrame(schema=FAVORITES_SCHEMA)
    mine = pl.col("customer_id").is_in(ids)
    out = (
        pl.DataFrame({"customer_id": ids}, schema={"customer_id": pl.String})
        .join(counts.now.filter(mine), on="customer_id", how="left")
        .join(counts.before.filter(mine).rename({"requests": "requests_prev"}), on="customer_id", how="left")
        .with_columns(pl.col("requests").fill_null(0), pl.col("requests_prev").fill_null(0))
    )
    return by_requests(with_names(names, out)).select(list(FAVORITES_SCHEMA))


@dataclass(frozen=True)
class Widgets:
    """Every Customer Dashboard widget for one view (an API, or all APIs) and window."""

    new_customers: Delta
    active_customers: Delta
    top_customer: dict | None
    avg_requests_per_customer: Delta
    recent_customers: pl.DataFrame
    favorite_customers: pl.DataFrame
    top_customers: pl.DataFrame = field(repr=False)


def widgets(requests: pl.DataFrame, first_seen_frame: pl.DataFrame, window: Window, scope: Scope, *,
            api_id: int | None = None, names: pl.DataFrame | None = None, favorite_ids: Iterable[str] = (),
            top_n: int = 10, customers: pl.DataFrame | None = None, before: pl.DataFrame | None = None) -> Widgets:
    """All dashboard widgets. requests: the view's rows (one API, or all), covering at least the
    window and the period before it; first_seen_frame: from all requests (first_seen());
    customers: customer_list() of the same rows and window, and before: previous_counts() of them, if the page
    already has them."""
    require_workspace(scope, "Dashboard widgets")
    counts = _Counts.of(requests, window, customers, before)
    top = counts.top(names, top_n)
    return Widgets(
        new_customers=new_customers(first_seen_frame, window, scope, api_id=api_id),
        active_customers=counts.active(),
        top_customer=top.drop("rank").row(0, named=True) if top.height else None,
        avg_requests_per_customer=counts.average(),
        recent_customers=recent_customers(first_seen_frame, window, scope, api_id=api_id, names=names),
        favorite_customers=_favorites(counts, favorite_ids, names),
        top_customers=top,
    )


# ---------------------------------------------------------------- workspace home


API_HEADLINE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "api_id": pl.Int32, "name": pl.String, "requests": pl.Int64, "requests_prev": pl.Int64,
    "failed_pct": pl.Float64, "failed_pct_prev": pl.Float64, "p95_load_time_ms": pl.Float64,
    "p95_load_time_ms_prev": pl.Float64, "active_customers": pl.Int64, "active_customers_prev": pl.Int64,
}


def api_headlines(requests: pl.DataFrame, window: Window, scope: Scope, apis: pl.DataFrame) -> pl.DataFrame:
    """One row per API (apis: api_id, name; idle APIs included): requests, failed_pct,
    p95_load_time_ms, active_customers, each with its previous-period value; by name."""
    require_workspace(scope, "API headline numbers")

    # Only what is read: over every API the rows are not in time order, and taking a window of them copies each column.
    requests = as_facts(requests).select("api_id", "customer_id", "timestamp", "requests", "failed", "load_bins", "load_counts")

    def per_api(frame: pl.DataFrame, suffix: str) -> pl.DataFrame:
        sums = frame.group_by("api_id").agg(
            pl.col("requests").sum().cast(pl.Int64).alias("requests" + suffix),
            (pl.col("failed").sum() * 100.0 / pl.col("requests").sum()).alias("failed_pct" + suffix),
            pl.col("customer_id").drop_nulls().n_unique().cast(pl.Int64).alias("active_customers" + suffix),
        )
        return sums.join(histogram.quantiles(frame, ["api_id"], {"p95_load_time_ms" + suffix: 0.95}), on="api_id", how="left")

    base = apis.select(pl.col("api_id").cast(pl.Int32), pl.col("name").cast(pl.String))
    out = (
        base.join(per_api(in_window(requests, window), ""), on="api_id", how="left")
        .join(per_api(in_window(requests, window.previous()), "_prev"), on="api_id", how="left")
        .with_columns(pl.col(c).fill_null(0) for c in ("requests", "requests_prev", "active_customers", "active_customers_prev"))
    )
    return out.select(list(API_HEADLINE_SCHEMA)).sort("name", "api_id")


# ---------------------------------------------------------------- customer profile


@dataclass(frozen=True)
class Profile:
    """One customer across every API: totals now and before, share of requests (of every API, or of
    share_api_id's requests when the profile was opened from that API), request series, endpoint
    breakdown and the APIs they used."""

    customer_id: str
    display_name: str
    current: Totals
    previous: Totals
    share_pct: float | None
    share_pct_prev: float | None
    series: pl.DataFrame
    endpoints: pl.DataFrame
    apis_used: pl.DataFrame
    share_api_id: int | None = None


def customer_profile(requests: pl.DataFrame, window: Window, scope: Scope, customer_id: str, *, all_requests: Delta,
                     names: pl.DataFrame | None = None, apis: pl.DataFrame | None = None,
                     share_api_id: int | None = None) -> Profile:
    """requests: the customer's rows on every API (others' rows are ignored); all_requests: how many
    requests every customer and unattributed caller made in the window and the period before, on
    share_api_id's API when given, else on every API (the share's denominator); apis (api_id, name)
    labels apis_used."""
    require_workspace(scope, "Customer profiles")
    requests = as_facts(requests)
    is_mine = pl.col("customer_id") == customer_id
    # A page passes only this customer's rows: then use them as they are (a filter would copy them
    # and lose the time order that makes the windows below binary searches).
    all_mine = requests.select(is_mine.sum()).item() == requests.height
    mine = requests if all_mine else requests.filter(is_mine)
    mine_now, mine_before = in_window(mine, window), in_window(mine, window.previous())
    used = (
        mine_now.group_by("api_id")
        .agg(pl.col("requests").sum().cast(pl.Int64), pl.col("last_ts").max().alias("last_active"))
        .with_columns(pl.col("api_id").cast(pl.Int32))
    )
    if apis is not None:
        used = used.join(apis.select(pl.col("api_id").cast(pl.Int32), pl.col("name").cast(pl.String)), on="api_id", how="left")
    else:
        used = used.with_columns(pl.col("api_id").cast(pl.String).alias("name"))
    label = with_names(names, pl.DataFrame({"customer_id": [customer_id]}, schema={"customer_id": pl.String}))
    on_api = (lambda f: f) if share_api_id is None else (lambda f: f.filter(pl.col("api_id") == share_api_id))  # noqa: E731
    return Profile(
        customer_id=customer_id,
        display_name=label.get_column("display_name")[0],
        current=totals(mine_now),
        previous=totals(mine_before),
        share_pct=share_pct(request_count(on_api(mine_now)), all_requests.current),
        share_pct_prev=share_pct(request_count(on_api(mine_before)), all_requests.previous),
        series=request_series(mine, window, Scope.customer(customer_id)),
        endpoints=endpoint_breakdown(mine, window, Scope.customer(customer_id)),
        apis_used=used.select("api_id", "name", "requests", "last_active").sort(["requests", "api_id"], descending=[True, False]),
        share_api_id=share_api_id,
    )


def request_counts(requests: pl.DataFrame, window: Window, scope: Scope) -> Delta:
    """How many requests (attributed or not) the frame holds in the window and the period before."""
    require_workspace(scope, "Workspace totals")
    requests = as_facts(requests)
    return Delta(*metrics.counts_in(requests, [window, window.previous()]))


# ---------------------------------------------------------------- customer health


QUIET_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "customer_id": pl.String, "display_name": pl.String, "requests_prev": pl.Int64, "requests": pl.Int64,
    "requests_lost": pl.Int64, "change_pct": pl.Float64, "last_active": UTC_US,
}
QUIET_DROP_PCT, QUIET_MIN_REQUESTS = 80.0, 20  # one request before and none now is noise, not a warning


def going_quiet(requests: pl.DataFrame, window: Window, scope: Scope, *, names: pl.DataFrame | None = None,
                drop_pct: float = QUIET_DROP_PCT, min_prev_requests: int = QUIET_MIN_REQUESTS,
                customers: pl.DataFrame | None = None, before: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per customer with at least min_prev_requests in the previous period whose requests fell
    by at least drop_pct (silent counts as -100%): requests_prev, requests, requests_lost, change_pct,
    last_active (any time before the window end); most requests lost first. customers: customer_list() of the
    same rows and window, and before: previous_counts() of them, when the page has them (each saves a pass)."""
    require_workspace(scope, "Going-quiet customers")
    requests = as_facts(requests)
    if before is None:
        before = previous_counts(requests, window)
    prev = before.select("customer_id", pl.col("requests").alias("requests_prev")).filter(
        pl.col("requests_prev") >= max(1, min_prev_requests))
    if prev.height == 0:
        return pl.DataFrame(schema=QUIET_SCHEMA)
    if customers is None:
        customers = per_customer(in_window(requests.select(_COUNTED), window), pl.col("requests").sum().cast(pl.Int64),
                                  pl.col("last_ts").max().alias("last_active"))
    quiet = (
        prev.join(customers.select("customer_id", "requests", "last_active"), on="customer_id", how="left")
        .with_columns(pl.col("requests").fill_null(0))
        .with_columns((pl.col("requests_prev") - pl.col("requests")).alias("requests_lost"),
                      ((pl.col("requests") - pl.col("requests_prev")) * 100.0 / pl.col("requests_prev")).alias("change_pct"))
        .filter(pl.col("change_pct") <= -drop_pct)
    )
    # Silent in the window: last active at their last request before it, which falls in or after the period
    # before (they called in it), so only those rows of only these customers are read.
    silent = quiet.filter(pl.col("last_active").is_null()).get_column("customer_id")
    if silent.len():
        since = metrics.in_window(requests.select(_COUNTED), Window(window.previous().start, window.start, window.bucket, window.preset))
        last_before = per_customer(
            since.filter(pl.col("customer_id").is_in(silent.implode())),
            pl.col("last_ts").max().alias("_last_before"))
        quiet = quiet.join(last_before, on="customer_id", how="left").with_columns(
            pl.coalesce("last_active", "_last_before").alias("last_active"))
    out = quiet.sort(["requests_lost", "customer_id"], descending=[True, False])
    return with_names(names, out).select(list(QUIET_SCHEMA))


def new_vs_returning(requests: pl.DataFrame, first_seen_frame: pl.DataFrame, window: Window, scope: Scope, *,
                     api_id: int | None = None) -> pl.DataFrame:
    """One row per bucket of the window: new_customers (first request ever, to this API or any API
    when api_id is None, falls in the bucket) and returning_customers (active in the bucket, first
    seen before it)."""
    require_workspace(scope, "New and returning customers")
    requests = as_facts(requests)
    firsts = first_seen_for(first_seen_frame, api_id)
    active = per_customer(in_window(requests.select(_COUNTED), window),
                          by=(bucket_index(window).alias("bucket_index"),)).select("customer_id", "bucket_index")
    firsts_in = in_window(firsts.rename({"first_seen": "timestamp"}), window).select(
        "customer_id", bucket_index(window).alias("first_bucket")
    )
    tagged = active.join(firsts_in, on="customer_id", how="left").with_columns(
        (pl.col("first_bucket") == pl.col("bucket_index")).fill_null(False).alias("is_new")
    )
    per = tagged.group_by("bucket_index").agg(
        pl.col("is_new").sum().cast(pl.Int64).alias("new_customers"),
        (~pl.col("is_new")).sum().cast(pl.Int64).alias("returning_customers"),
    )
    return (
        bucket_starts(window)
        .join(per, on="bucket_index", how="left")
        .with_columns(pl.col("new_customers").fill_null(0), pl.col("returning_customers").fill_null(0))
        .drop("bucket_index")
        .sort("bucket")
    )


ADOPTION_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "customer_id": pl.String, "display_name": pl.String, "endpoint": pl.String, "requests": pl.Int64,
}


def adoption_matrix(requests: pl.DataFrame, window: Window, scope: Scope, *, names: pl.DataFrame | None = None,
                    top_customers_n: int = 10, top_endpoints_n: int = 10, customers: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per (top customer, top endpoint) cell, zeros included: requests of that customer to
    that endpoint in the window. Top = most requests from customers in the window. customers: customer_list()
    of the same rows and window, when the page has it (busiest first already: saves a pass)."""
    require_workspace(scope, "The adoption matrix")
    current = in_window(as_facts(requests).select("customer_id", "endpoint", "requests", "timestamp"), window)
    listed = by_requests(per_customer_counts(current)) if customers is None else customers.select("customer_id", "requests")
    top_c = listed.head(top_customers_n)
    if top_c.height == 0:
        return pl.DataFrame(schema=ADOPTION_SCHEMA)
    top_e = (
        current.group_by("endpoint").agg(pl.col("requests").filter(pl.col("customer_id").is_not_null()).sum())
        .filter(pl.col("requests") > 0).with_columns(pl.col("endpoint").cast(pl.String))
        .sort(["requests", "endpoint"], descending=[True, False]).head(top_endpoints_n)
    )
    # Only the top customers' rows are split by endpoint.
    cells = per_customer_counts(current.filter(pl.col("customer_id").is_in(top_c.get_column("customer_id").implode())),
                                 by=("endpoint",)).with_columns(pl.col("endpoint").cast(pl.String))
    grid = (
        top_c.select("customer_id", pl.col("requests").alias("_c")).with_row_index("_ci")
        .join(top_e.select("endpoint", pl.col("requests").alias("_e")).with_row_index("_ei"), how="cross")
        .join(cells, on=["customer_id", "endpoint"], how="left")
        .with_columns(pl.col("requests").fill_null(0))
        .sort("_ci", "_ei")
    )
    return with_names(names, grid).select(list(ADOPTION_SCHEMA))
