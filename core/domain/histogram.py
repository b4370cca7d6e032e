"""Load-time percentiles from mergeable log-bucketed histograms (the DDSketch mapping, fixed bins).

A load time v > MIN_MS falls in bin b, the least b with v <= γ^b, which holds (γ^(b-1), γ^b]; the bin stands for
2γ^b / (γ + 1), within ALPHA (1 %) of every value in it. Times at or below MIN_MS (0, negative clocks)
share ZERO_BIN, which stands for 0 (so do NaN and infinity, which no SDK should send). A histogram is
a list of (bin, count) pairs, so merging any set of
rollup rows is one sum of exploded lists into (group, bin) cells, and a percentile is read off the cumulative
counts: vectorised (Polars, NumPy), with no Python loop per bucket or per row.

Percentiles interpolate linearly between the two ranked values around q·(n−1), like Polars'
quantile(q, "linear") on the raw values. Each ranked value is replaced by its bin's value (within
ALPHA), and a convex combination of values each within ALPHA is itself within ALPHA of the exact
interpolation: p50/p95/p99 are within 1 % of the exact numbers, whatever the window or the merge.
"""
from __future__ import annotations

import bisect
import math

import numpy as np
import polars as pl

from core.domain.frames import group_ids

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


def bin_values(bins: np.ndarray) -> np.ndarray:
    """The load time (ms) each bin stands for. In NumPy, whose exp gives the same float for a value in an array
    of any length (Polars' does not for a single value), so a group's percentile is the same merged or alone."""
    return np.where(bins == ZERO_BIN, 0.0, 2.0 * np.exp(bins.astype(np.float64) * _LOG_GAMMA) / (GAMMA + 1))


def quantiles(frame: pl.DataFrame | pl.LazyFrame, by: list[str], qs: dict[str, float], *,
              bins_col: str = "load_bins", counts_col: str = "load_counts",
              groups: tuple[pl.DataFrame, np.ndarray] | None = None) -> pl.DataFrame:
    """One row per group of `by` (one row in all when by is empty): a column per name in qs with that
    quantile of the merged histograms (None for a group without counts). groups: group_ids(frame, by), when
    the caller has them already.

    Every (group, bin) pair is a cell of one flat array, group after group, bins ascending: the counts are
    summed into it (np.bincount, or a sort where groups × bins would be too many cells), so one cumulative
    sum over the whole array ranks every group at once, and a rank is found with one binary search."""
    src = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    keys, gid = groups or (group_ids(src, by) if by else (pl.DataFrame({"_all": [0]}), np.zeros(src.height, dtype=np.int64)))
    n_groups = keys.height
    bins, counts = src.get_column(bins_col), src.get_column(counts_col)
    low, width = _bin_range(bins)
    if n_groups * width <= _DENSE_CELLS:
        # Summed chunk of rows by chunk: the flat arrays of one chunk (int64, one per bin counted) are the memory this
        # takes, not those of every row (every API's month at 10 million requests holds about 6 million bins).
        sums = np.zeros(n_groups * width)
        for at in range(0, src.height, _CHUNK_ROWS):
            n = min(_CHUNK_ROWS, src.height - at)
            cell, weights = _cells(bins.slice(at, n), counts.slice(at, n), gid[at:at + n] if n_groups > 1 else None, low, width)
            sums += np.bincount(cell, weights=weights, minlength=n_groups * width)
        cum, cells = np.cumsum(sums), None  # position = cell
    else:
        cell, weights = _cells(bins, counts, gid if n_groups > 1 else None, low, width)
        order = np.argsort(cell, kind="stable")
        cells, cum = cell[order], np.cumsum(weights[order].astype(np.float64))
    firsts = np.arange(n_groups, dtype=np.int64) * width
    lo_pos, hi_pos = (firsts, firsts + width) if cells is None else (np.searchsorted(cells, firsts), np.searchsorted(cells, firsts + width))

    def upto(pos: np.ndarray) -> np.ndarray:  # the counts of every cell before each position
        return np.where(pos > 0, cum[np.maximum(pos - 1, 0)], 0.0) if cum.size else np.zeros(len(pos))

    before = upto(lo_pos)
    n = upto(hi_pos) - before
    empty = n == 0
    out = []
    for name, q in qs.items():
        rank = q * (n - 1)
        lo, hi = np.floor(rank), np.ceil(rank)
        frac = rank - lo
        values = [bin_values(_cell_bins(np.searchsorted(cum, before + r, side="right"), cells, width, low)) for r in (lo, hi)]
        value = values[0] * (1 - frac) + values[1] * frac
        value[empty] = np.nan  # no counts: no quantile (None; a bin's value is never NaN)
        out.append(pl.Series(name, value, dtype=pl.Float64).fill_nan(None))
    result = keys.with_columns(out)
    return result if by else result.drop("_all")


def _bin_range(bins: pl.Series) -> tuple[int, int]:
    """(low, width): the least real bin of these histograms, and the slots a group needs (slot 0 holds ZERO_BIN,
    slot 1 + k bin low + k). Read off the bins alone (two bytes each)."""
    flat = bins.explode(empty_as_null=False, keep_nulls=False).drop_nulls().to_numpy()
    real = flat[flat != ZERO_BIN]
    if not real.size:
        return 0, 1
    low = int(real.min())
    return low, int(real.max()) - low + 2


def _cells(bins: pl.Series, counts: pl.Series, gid: np.ndarray | None, low: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(cell, count) of every (group, bin) of these histograms: cell = group × width + slot, built in place (each
    temporary array of a page's half a million bins costs its page faults)."""
    g, flat_bins, flat_counts = _flat(bins, counts, gid)
    cell = flat_bins.astype(np.int64)
    cell -= low - 1
    is_zero = flat_bins == ZERO_BIN
    if is_zero.any():
        cell[is_zero] = 0
    if g is not None:  # more than one group
        g *= width
        cell += g
    return cell, flat_counts


def _flat(bins: pl.Series, counts: pl.Series, gid: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Every (group, bin, count) of these histograms (list columns), as three flat arrays; the group array is
    the caller's to change (None without gid: one group)."""
    flat_bins = bins.explode(empty_as_null=False, keep_nulls=False)
    flat_counts = counts.explode(empty_as_null=False, keep_nulls=False)
    g = None if gid is None else np.repeat(gid.astype(np.int64, copy=False), bins.list.len().fill_null(0).to_numpy())
    if flat_bins.null_count():  # a null inside a histogram: not a bin (none is written so)
        keep = flat_bins.is_not_null().to_numpy()
        g, flat_bins, flat_counts = None if g is None else g[keep], flat_bins.filter(keep), flat_counts.filter(keep)
    return g, flat_bins.to_numpy(), flat_counts.to_numpy()


_CHUNK_ROWS = 500_000  # histograms (rows) flattened at a time where the cells are few enough to sum densely
_DENSE_CELLS = 4_000_000  # groups × bins up to this are summed into one dense array (32 MB); beyond, sorted


def _cell_bins(positions: np.ndarray, cells: np.ndarray | None, width: int, low: int) -> np.ndarray:
    """The bin of each array position (quantiles' flat cells)."""
    if cells is not None and len(cells) == 0:  # no counts at all: every group's quantile is None anyway
        return np.full(len(positions), ZERO_BIN)
    slot = (positions if cells is None else cells[np.minimum(positions, len(cells) - 1)]) % width
    return np.where(slot == 0, ZERO_BIN, slot - 1 + low)


def exact_linear(values: pl.Series, q: float) -> float | None:
    """The exact quantile the histograms approximate (tests compare against it)."""
    return values.cast(pl.Float64).quantile(q, "linear")


def merged(bins: pl.Series, counts: pl.Series, gid: np.ndarray, n_groups: int) -> pl.DataFrame:
    """Each group's histogram: the histograms of its rows (list columns of bins and counts; gid: each row's group,
    0 … n_groups-1) summed. One row per group, in group order: load_bins ascending, load_counts (empty lists for a
    group without counts). The same cells quantiles() sums, sorted rather than summed into a dense array (a
    dashboard's day × customer groups times their bins would be too many cells)."""
    low, width = _bin_range(bins)
    cell, weights = _cells(bins, counts, gid if n_groups > 1 else None, low, width)
    order = np.argsort(cell)
    cell, weights = cell[order], weights[order]
    del order
    firsts = np.flatnonzero(np.diff(cell, prepend=-1)) if cell.size else np.zeros(0, dtype=np.int64)
    sums = np.add.reduceat(weights, firsts).astype(np.int64) if cell.size else np.zeros(0, dtype=np.int64)
    group, slot = np.divmod(cell[firsts], width)
    lists = (
        pl.DataFrame({"group": group, "load_bins": pl.Series(np.where(slot == 0, ZERO_BIN, slot - 1 + low), dtype=BIN_DTYPE),
                      "load_counts": sums})
        .group_by("group", maintain_order=True).agg("load_bins", "load_counts")  # groups ascending, as the cells
    )
    if lists.height == n_groups:  # every group has counts: row i is group i
        return lists.drop("group")
    return (
        pl.DataFrame({"group": np.arange(n_groups, dtype=np.int64)}).join(lists, on="group", how="left", maintain_order="left")
        .select(pl.col("load_bins").fill_null(pl.lit([], pl.List(BIN_DTYPE))),
                pl.col("load_counts").fill_null(pl.lit([], pl.List(pl.Int64))))
    )
