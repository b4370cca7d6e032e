"""Dtypes shared by the frames of every layer: times are UTC microseconds inside, converted only for display."""
from __future__ import annotations

import polars as pl

UTC_US = pl.Datetime("us", "UTC")
