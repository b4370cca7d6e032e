"""core.domain.frames: group numbers and per-group sums in NumPy agree with Polars' group_by on every key kind."""
from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain.frames import dense_numbers, group_ids, sums_by

rows = st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]), st.sampled_from([-3, 0, 7, None]),
                          st.sampled_from(["x", "y", None]), st.integers(0, 2**40)), max_size=40)


def frame_of(data: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(data, schema={"c": pl.Categorical(), "i": pl.Int32, "s": pl.String, "n": pl.Int64}, orient="row")


@settings(max_examples=60, deadline=None)
@given(data=rows, by=st.sampled_from([["c"], ["i"], ["s"], ["c", "i"], ["s", "c", "i"]]))
def test_sums_by_equal_polars_group_by_sums_with_nulls_as_a_group(data, by):
    frame = frame_of(data)
    expected = frame.group_by(by).agg(pl.col("n").sum()).sort(by, nulls_last=True)
    assert sums_by(frame, by, ["n"]).sort(by, nulls_last=True).equals(expected)


@settings(max_examples=60, deadline=None)
@given(data=rows)
def test_each_row_gets_the_number_of_its_group_and_each_group_one_row(data):
    frame = frame_of(data)
    groups, gid = group_ids(frame, ["c", "s"])
    assert groups.height == frame.select("c", "s").unique().height
    assert sorted(set(gid.tolist())) == list(range(groups.height))
    for row, g in zip(frame.select("c", "s").iter_rows(), gid.tolist()):
        assert groups.row(g) == row


def test_far_apart_values_are_numbered_by_a_sort_and_close_ones_by_a_bitmap_alike():
    spread = np.array([10**15, 5, 10**15, -(10**12), 5])
    assert dense_numbers(spread)[0].tolist() == [2, 1, 2, 0, 1] and dense_numbers(spread)[1] == 3
    assert dense_numbers(np.array([7, 3, 7, 4]))[0].tolist() == [2, 0, 2, 1]
    assert dense_numbers(np.array([], dtype=np.int64))[1] == 0
