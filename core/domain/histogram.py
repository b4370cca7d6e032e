"""Load-time percentiles from mergeable log-bucketed histograms (the DDSketch mapping, fixed bins).

A load time v > MIN_MS falls in bin b, the least b with v <= γ^b, which holds (γ^(b-1), γ^b]; the bin stands for
2γ^b / (γ + 1), within ALPHA (1 %) of every value in it. Times at or below MIN_MS (0, negative clocks)
share ZERO_BIN, which stands for 0 (so do NaN and infinity, which no SDK should send). A histogram is
a list of (bin, count) pairs, so merging any set of
rollup rows is one group-by sum over exploded lists, and a percentile is read off the cumulative
counts: vectorised in Polars, with no Python loop per bucket or per row.

Percentiles interpolate linearly between the two ranked values around q·(n−1), like Polars'
quantile(q, "linear") on the raw values. Each ranked value is replaced by its bin's value (within
ALPHA), and a convex combination of values each within ALPHA is itself within ALPHA of the exact
interpolation: p50/p95/p99 are within 1 % of the exact numbers, whatever the window or the merge.
"""
from __future__ import annotations

import bisect
import math

import polars as pl

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
MIN_MS = 1e-3  # below a microsecond a load time is a clock artefact: counted as 0
ZERO_BIN = -32768  # Int16's minimum; real bins run from about -345 (1 µs) to 1,500 (10^13 ms)
BIN_DTYPE = pl.Int16


# Bin k holds (γ^(k-1), γ^k]. The edges are computed once, here, and both binning paths compare a load
# time with them (a binary search): comparisons of the same floats agree everywhere, where two log
# implementations (Polars' and libm's) disagree on values next to an edge.
_K_MIN, _K_MAX = -350, 1600  # γ^-350 ≈ 0.9 µs, γ^1600 ≈ 8·10^13 ms; beyond the last edge: the last bin
_EDGES = [GAMMA ** k for k in range(_K_MIN, _K_MAX + 1)]
_EDGE_SERIES = pl.Series("edges", _EDGES, dtype=pl.Float64)


def _edge_index(values: pl.Series) -> pl.Series:
    return _EDGE_SERIES.search_sorted(values.cast(pl.Float64).fill_nan(0.0).fill_null(0.0), side="left").cast(pl.Int32) + _K_MIN


def bin_expr(load_ms: pl.Expr) -> pl.Expr:
    """The bin of each load time (ms): used by rebuilds, raw rows read for cut hours, and tests."""
    v = load_ms.cast(pl.Float64)
    return (
        pl.when(v.is_finite() & (v > MIN_MS))
        .then(v.map_batches(_edge_index, return_dtype=pl.Int32))
        .otherwise(ZERO_BIN)
        .cast(BIN_DTYPE)
    )


def bin_of(load_ms: float | None) -> int:
    """bin_expr for one value, without Polars: the collector's and the demo's writes summarise their batch in
    plain Python, because Polars' thread pool hangs in a process forked after it started (the demo's workers)."""
    if load_ms is None or not math.isfinite(load_ms) or load_ms <= MIN_MS:
        return ZERO_BIN
    return bisect.bisect_left(_EDGES, load_ms) + _K_MIN


def bins(load_ms: pl.Series) -> pl.Series:
    return pl.select(bin_expr(pl.lit(load_ms))).to_series()


def value_expr(bin_: pl.Expr) -> pl.Expr:
    """The load time (ms) a bin stands for."""
    b = bin_.cast(pl.Float64)
    return pl.when(bin_ == ZERO_BIN).then(0.0).otherwise(2.0 * (b * _LOG_GAMMA).exp() / (GAMMA + 1))


def merged(frame: pl.DataFrame | pl.LazyFrame, by: list[str], bins_col: str = "load_bins", counts_col: str = "load_counts") -> pl.LazyFrame:
    """One row per group of `by` and bin: count, summed over every row's histogram (list columns)."""
    return (
        frame.lazy()
        .select(*by, pl.col(bins_col).alias("_bin"), pl.col(counts_col).alias("_count"))
        .explode(["_bin", "_count"])
        .drop_nulls("_bin")
        .group_by(*by, "_bin")
        .agg(pl.col("_count").sum())
    )


def quantiles(frame: pl.DataFrame | pl.LazyFrame, by: list[str], qs: dict[str, float], *,
              bins_col: str = "load_bins", counts_col: str = "load_counts") -> pl.DataFrame:
    """One row per group of `by` (one row in all when by is empty): a column per name in qs with that
    quantile of the merged histograms (None for a group without counts)."""
    keys = by or ["_all"]
    src = frame.lazy() if by else frame.lazy().with_columns(pl.lit(0).alias("_all"))
    per = (
        merged(src, keys, bins_col, counts_col)
        .sort(*keys, "_bin")
        .with_columns(pl.col("_count").cum_sum().over(keys).alias("_cum"))
    )

    def at(rank: pl.Expr) -> pl.Expr:
        # The value of the item of 0-based rank `rank`: the first bin whose cumulative count exceeds it.
        return value_expr(pl.col("_bin").filter(pl.col("_cum") > rank).first())

    n = pl.col("_count").sum()
    aggs = []
    for name, q in qs.items():
        rank = q * (n - 1).cast(pl.Float64)
        lo, hi = rank.floor(), rank.ceil()
        frac = rank - lo
        aggs.append((at(lo) * (1 - frac) + at(hi) * frac).alias(name))
    out = per.group_by(keys).agg(*aggs, n.alias("_n")).collect()
    if by:  # a group whose histograms are all empty gets its row too (with None)
        out = src.select(keys).unique().collect().join(out, on=keys, how="left")
    out = out.with_columns(pl.when(pl.col("_n").fill_null(0) > 0).then(pl.col(name)).alias(name) for name in qs).drop("_n")
    if not by:
        if out.height == 0:
            return pl.DataFrame({name: [None] for name in qs}, schema={name: pl.Float64 for name in qs})
        return out.drop("_all")
    return out


def exact_linear(values: pl.Series, q: float) -> float | None:
    """The exact quantile the histograms approximate (tests compare against it)."""
    return values.cast(pl.Float64).quantile(q, "linear")
