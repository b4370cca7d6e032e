"""CSV downloads of any table: UTF-8 with BOM (Excel), ISO timestamps, safe against formula injection.

The frame passed in is already scoped by whoever built it; this module only encodes it.
"""
from __future__ import annotations

import re

import orjson
import polars as pl

BOM = "\ufeff".encode()
# A spreadsheet evaluates a cell starting with one of these as a formula (or DDE command).
FORMULA_PREFIX = r"^[=+\-@\t\r]"
# A spreadsheet that splits cells on another separator (";" in many locales, tabs, pipes, lines) would start
# a new cell after it: a trigger there, perhaps behind quotes, is a formula too (`acme;=2+5`).
_AFTER_SEPARATOR = r'([,;|\t\r\n])("*)([=+\-@])'
_AFTER_SEPARATOR_RE = re.compile(_AFTER_SEPARATOR)


def escape_cell(text: str) -> str:
    """The text a spreadsheet shows literally: an apostrophe before a formula trigger at the start of the
    cell or after a separator inside it."""
    text = _AFTER_SEPARATOR_RE.sub(r"\1\2'\3", text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _json_text(value) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _as_text(series: pl.Series) -> pl.Series:
    """The column as the strings (or numbers) a CSV cell holds."""
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime):
        fmt = "%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if dtype.time_zone else "")
        return series.dt.to_string(fmt)
    if dtype == pl.Date:
        return series.dt.to_string("%Y-%m-%d")
    if dtype == pl.Time:
        return series.dt.to_string("%H:%M:%S%.f")
    if isinstance(dtype, pl.Duration):
        return series.dt.total_microseconds().cast(pl.Float64) / 1000  # milliseconds, like load times
    if isinstance(dtype, (pl.List, pl.Array, pl.Struct, pl.Object)):
        return pl.Series(series.name, [_json_text(v) for v in series.to_list()], dtype=pl.String)
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        return series.cast(pl.String)
    if dtype == pl.Binary:
        return series.bin.encode("base64")
    return series


def to_csv(frame: pl.DataFrame) -> bytes:
    """The frame as CSV bytes, ready for st.download_button."""
    columns = []
    for name in frame.columns:
        series = _as_text(frame.get_column(name))
        if series.dtype == pl.String:
            series = series.str.replace_all(_AFTER_SEPARATOR, "${1}${2}'${3}").str.replace(FORMULA_PREFIX, "'$0")
        columns.append(series.rename(escape_cell(name)))
    # Every cell quoted: no reader has to guess where a cell with a separator in it ends.
    text = pl.DataFrame(columns).write_csv(include_header=True, quote_style="always")
    return BOM + text.encode("utf-8")
