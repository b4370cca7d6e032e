"""core.domain.histogram: every bin stands for its values within ALPHA, clock artefacts count as 0, histograms
merge in any order, and percentiles read off them stay within 1 % of the exact linear quantiles."""
from __future__ import annotations

import math
import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import histogram
from core.domain.histogram import ALPHA, MIN_MS, ZERO_BIN

QS = {"p0": 0.0, "p25": 0.25, "p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "p100": 1.0}
# ALPHA is reached exactly at a bin's two edges; allow for the rounding of log() and exp() there.
TOLERANCE = ALPHA * (1 + 1e-9)

load_times = st.floats(min_value=MIN_MS, max_value=1e7, exclude_min=True, allow_nan=False, allow_infinity=False)


def stand_ins(values: list[float]) -> list[float]:
    """The load time each value's bin stands for."""
    series = histogram.bins(pl.Series(values, dtype=pl.Float64))
    return histogram.bin_values(series.to_numpy()).tolist()


def one_row(values: list[float]) -> dict:
    """A histogram (load_bins, load_counts) of these values, as a rollup row holds it."""
    counts = histogram.bins(pl.Series(values, dtype=pl.Float64)).value_counts(name="n").sort(pl.first())
    return {"load_bins": counts.to_series(0).to_list(), "load_counts": counts.get_column("n").to_list()}


def rows_frame(rows: list[dict], **extra: list) -> pl.DataFrame:
    return pl.DataFrame(
        {"load_bins": [r["load_bins"] for r in rows], "load_counts": [r["load_counts"] for r in rows], **extra},
        schema={"load_bins": pl.List(histogram.BIN_DTYPE), "load_counts": pl.List(pl.Int64),
                **{k: pl.String for k in extra}},
    )


def quantiles_of(rows: list[dict]) -> dict:
    return histogram.quantiles(rows_frame(rows), [], QS).row(0, named=True)


def exact_linear(values: list[float], q: float) -> float:
    """The linear quantile written out (numpy's and Polars' default "linear"), independent of the code under test."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


# ---------------------------------------------------------------- bins


@settings(max_examples=200, deadline=None)
@given(value=load_times)
def test_a_bin_stands_for_every_value_in_it_within_alpha(value):
    [stand_in] = stand_ins([value])
    assert abs(stand_in - value) <= TOLERANCE * value


def test_bins_stand_for_values_within_alpha_across_ten_decades():
    values = [10 ** (k / 100) for k in range(-299, 701)]  # 1.02e-3 .. 9.8e6 ms, 100 a decade
    errors = [abs(s - v) / v for s, v in zip(stand_ins(values), values)]
    assert max(errors) <= TOLERANCE


def test_values_on_both_edges_of_a_bin_are_within_alpha():
    # v = γ^b is the top of bin b, just above it is the bottom of bin b + 1: the worst cases either way.
    edges = [histogram.GAMMA ** b for b in range(-300, 1400, 37)]
    values = [v for e in edges for v in (e, math.nextafter(e, math.inf), math.nextafter(e, 0))]
    errors = [abs(s - v) / v for s, v in zip(stand_ins(values), values)]
    assert max(errors) <= TOLERANCE


def test_bins_grow_with_the_value():
    values = [10 ** (k / 50) for k in range(-149, 351)]
    assert histogram.bins(pl.Series(values)).is_sorted()


@pytest.mark.parametrize("value", [0.0, -0.0, -1.0, -1e9, 1e-9, 5e-4, MIN_MS, math.nan, math.inf, -math.inf])
def test_zero_negative_sub_microsecond_and_non_finite_times_go_to_the_zero_bin_worth_0(value):
    [b] = histogram.bins(pl.Series([value], dtype=pl.Float64)).to_list()
    assert (b, stand_ins([value])) == (ZERO_BIN, [0.0])


def test_a_null_load_time_goes_to_the_zero_bin():
    assert histogram.bins(pl.Series([None], dtype=pl.Float64)).to_list() == [ZERO_BIN]


def test_the_smallest_time_above_a_microsecond_has_a_bin_of_its_own():
    [b] = histogram.bins(pl.Series([math.nextafter(MIN_MS, math.inf)])).to_list()
    assert b != ZERO_BIN


# ---------------------------------------------------------------- merging


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(load_times, st.sampled_from([0.0, 5e-4])), min_size=1, max_size=80),
       cuts=st.lists(st.integers(0, 80), max_size=6), order=st.randoms(use_true_random=False))
def test_quantiles_of_merged_histograms_equal_those_of_one_combined_histogram_in_any_order(values, cuts, order):
    bounds = sorted({0, len(values), *(c for c in cuts if c < len(values))})
    parts = [one_row(values[a:b]) for a, b in zip(bounds, bounds[1:])]
    order.shuffle(parts)
    assert quantiles_of(parts) == quantiles_of([one_row(values)])


def test_merging_sums_the_counts_of_equal_bins():
    # 0, 10, 10, 10, 250: three of five in 10's bin, so p25 … p75 are all 10's stand-in.
    got = histogram.quantiles(rows_frame([one_row([10.0, 10.0, 250.0]), one_row([10.0, 0.0])]), [], {"p25": 0.25, "p75": 0.75})
    assert got.row(0) == (stand_ins([10.0])[0],) * 2


def test_quantiles_per_group_merge_only_that_groups_rows():
    rows = [one_row([1.0, 2.0]), one_row([500.0]), one_row([3.0]), one_row([700.0, 900.0])]
    out = histogram.quantiles(rows_frame(rows, g=["a", "b", "a", "b"]), ["g"], {"p50": 0.5}).sort("g")
    expected = [quantiles_of([rows[0], rows[2]])["p50"], quantiles_of([rows[1], rows[3]])["p50"]]
    assert out.get_column("p50").to_list() == expected


# ---------------------------------------------------------------- percentiles


@pytest.mark.parametrize("size", [1, 2, 3, 10, 1000])
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mu=st.floats(-2.0, 9.0), sigma=st.floats(0.05, 2.5))
def test_quantiles_are_within_one_percent_of_the_exact_linear_quantiles(size, seed, mu, sigma):
    rng = random.Random(seed)
    values = [rng.lognormvariate(mu, sigma) for _ in range(size)]
    values = [v for v in values if v > MIN_MS] or [1.0]  # e^(-2 - 2.5·6) can fall below a microsecond
    got = quantiles_of([one_row(values)])
    for name, q in QS.items():
        exact = exact_linear(values, q)
        assert abs(got[name] - exact) <= TOLERANCE * exact, (name, got[name], exact)


def test_a_single_value_is_every_quantile_within_alpha():
    got = quantiles_of([one_row([123.456])])
    assert all(abs(v - 123.456) <= TOLERANCE * 123.456 for v in got.values())


def test_quantiles_interpolate_between_the_two_ranked_values():
    # Two values, p50 sits half way between their bins' values.
    low, high = stand_ins([10.0, 1000.0])
    assert quantiles_of([one_row([10.0, 1000.0])])["p50"] == pytest.approx((low + high) / 2, rel=1e-12)


def test_times_that_count_as_zero_pull_the_low_percentiles_to_zero():
    got = quantiles_of([one_row([0.0, 0.0, 5e-4, 100.0])])
    assert (got["p0"], got["p50"], got["p100"]) == (0.0, 0.0, stand_ins([100.0])[0])


def test_no_values_give_no_quantiles():
    assert quantiles_of([]) == dict.fromkeys(QS)


def test_rows_with_empty_histograms_give_no_quantiles():
    assert quantiles_of([{"load_bins": [], "load_counts": []}]) == dict.fromkeys(QS)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]), st.integers(-1, 2),
                               st.lists(st.one_of(load_times, st.just(0.0)), max_size=6)), max_size=30))
def test_groups_too_many_for_one_dense_array_sorted_or_summed_a_few_rows_at_a_time_give_the_same_quantiles(rows):
    # Keys of every kind a page groups by: a categorical with nulls, an integer, a string; repeated values
    # give counts above 1.
    frame = pl.DataFrame(
        {"load_bins": [one_row(v)["load_bins"] for *_, v in rows], "load_counts": [one_row(v)["load_counts"] for *_, v in rows],
         "c": [c for c, *_ in rows], "i": [i for _, i, _ in rows], "s": [c for c, *_ in rows]},
        schema={"load_bins": pl.List(histogram.BIN_DTYPE), "load_counts": pl.List(pl.Int64), "c": pl.Categorical(),
                "i": pl.Int32, "s": pl.String},
    )
    keys = ["c", "i", "s"]
    dense = histogram.quantiles(frame, keys, QS).sort(keys)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(histogram, "_DENSE_CELLS", 0)
        assert histogram.quantiles(frame, keys, QS).sort(keys).equals(dense)
    whole = histogram.quantiles(frame, [], QS)
    with pytest.MonkeyPatch.context() as patch:  # the dense sums taken a few rows at a time
        patch.setattr(histogram, "_CHUNK_ROWS", 3)
        assert histogram.quantiles(frame, keys, QS).sort(keys).equals(dense)
        assert histogram.quantiles(frame, [], QS).equals(whole)
    for (c, i), part in frame.group_by("c", "i"):  # and each group's quantiles are those of its rows alone
        alone = histogram.quantiles(part, [], QS).row(0)
        assert dense.filter(pl.col("c").eq_missing(c) & (pl.col("i") == i)).drop(keys).row(0) == alone


def test_a_group_without_counts_gets_none():
    # The docstring: "one row per group of `by` … (None for a group without counts)".
    frame = rows_frame([one_row([5.0]), {"load_bins": [], "load_counts": []}], g=["a", "b"])
    out = histogram.quantiles(frame, ["g"], {"p50": 0.5}).sort("g")
    assert out.select("g", pl.col("p50").is_null()).rows() == [("a", False), ("b", True)]


def test_a_null_histogram_counts_as_an_empty_one_next_to_the_others():
    frame = rows_frame([one_row([5.0, 7.0]), {"load_bins": None, "load_counts": None}, one_row([9.0])], g=["a", "b", "a"])
    out = histogram.quantiles(frame, ["g"], {"p50": 0.5}).sort("g")
    assert out.get_column("p50").is_null().to_list() == [False, True]
    assert out.get_column("p50")[0] == histogram.quantiles(frame.filter(pl.col("g") == "a"), [], {"p50": 0.5}).item()


def test_the_plain_python_bin_equals_the_polars_bin_everywhere():
    # The collector and the demo's forked workers bin in plain Python (bin_of); rebuilds bin with Polars
    # (bin_expr). One differing bin would make a rebuild disagree with what ingest wrote.
    import math
    import random

    rng = random.Random(5)
    values = [0.0, -1.0, 1e-3, 1.0000001e-3, 1.0, math.nan, math.inf, 1e12]
    values += [rng.lognormvariate(3, 3) for _ in range(20000)]
    values += [histogram.GAMMA ** k for k in range(-340, 700)]  # the bin edges themselves
    values += [math.nextafter(histogram.GAMMA ** k, 0) for k in range(-340, 700)]
    expected = histogram.bins(pl.Series(values, dtype=pl.Float64)).to_list()
    assert [histogram.bin_of(v) for v in values] == expected
