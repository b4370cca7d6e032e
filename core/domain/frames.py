"""Dtypes shared by the frames of every layer (times are UTC microseconds inside, converted only for display), and
group numbers for sums per group in NumPy."""
from __future__ import annotations

import numpy as np
import polars as pl

UTC_US = pl.Datetime("us", "UTC")


def group_ids(src: pl.DataFrame, by: list[str]) -> tuple[pl.DataFrame, np.ndarray]:
    """The groups of `by` (one column or more; one row each, nulls a group too) and each row's group number
    (0 … groups-1): what a NumPy sum per group (np.bincount) needs, without hashing every row as a group_by would."""
    gid, groups = None, 0
    for k in by:  # a categorical's codes, an integer as it is, a string's code in a categorical; null a code too
        column = src.get_column(k)
        if column.dtype == pl.String:
            column = column.cast(pl.Categorical)
        physical = column.to_physical().cast(pl.Int64)
        if physical.null_count():
            top = physical.max()
            physical = physical.fill_null(top + 1 if isinstance(top, int) else 0)
        codes, n = dense_numbers(physical.to_numpy())
        gid, groups = (codes, n) if gid is None else dense_numbers(gid * n + codes)
    assert gid is not None, "group_ids needs one column or more"
    first = np.empty(groups, dtype=np.int64)
    first[gid] = np.arange(src.height)  # any row of a group names it
    return src.select(by).gather(first), gid


def sums_by(frame: pl.DataFrame, by: list[str], columns: list[str]) -> pl.DataFrame:
    """One row per group of `by` (nulls a group too): each integer column summed, as group_by(by).agg(sum) gives
    (exact below 2^53), in one np.bincount per column."""
    keys, gid = group_ids(frame, by)
    return keys.with_columns(
        pl.Series(c, np.bincount(gid, weights=frame.get_column(c).fill_null(0).to_numpy(), minlength=keys.height))
        .cast(frame.schema[c]) for c in columns
    )


def dense_numbers(values: np.ndarray) -> tuple[np.ndarray, int]:
    """values renumbered 0 … n-1 (equal values, equal numbers), and n. Nulls (NaN) count as one value."""
    if values.dtype.kind == "f":  # a null integer key comes out of Polars as NaN
        values = np.where(np.isnan(values), np.nanmin(values, initial=0) - 1, values).astype(np.int64)
    values = values.astype(np.int64, copy=False)
    if values.size == 0:
        return values, 0
    low, high = int(values.min()), int(values.max())
    if high - low > 4 * values.size + 1_000_000:  # sparse: sort
        uniques, inverse = np.unique(values, return_inverse=True)
        return inverse.astype(np.int64), len(uniques)
    offsets = values - low  # computed once: a page's million keys make each temporary array cost
    seen = np.zeros(high - low + 1, dtype=bool)
    seen[offsets] = True
    number = np.cumsum(seen, dtype=np.int64)
    number -= 1
    return number[offsets], int(number[-1]) + 1
