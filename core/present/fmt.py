"""How numbers, sizes, durations and times read on every page (pure text formatting, no streamlit).

Usage: `fmt.count(12345)` → "12,345"; `fmt.ms(1234.5)` → "1.2 s"; `fmt.size(1536)` → "1.5 KB";
`fmt.pct(12.34)` → "12.3%"; `fmt.delta(120, 100)` → 20.0; `fmt.delta_text(120, 100)` → "+20.0%";
`fmt.ago(ts, now)` → "5 min ago"; `fmt.local_time(ts, "Europe/Berlin")` → "2026-11-25 13:05".
Missing values (None, NaN) read as MISSING everywhere.
"""
from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MISSING = "–"
_UTC = dt.timezone.utc
_SIZE_UNITS = ("KB", "MB", "GB", "TB")


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def count(n) -> str:
    """A count with thousands separators: 12345 → "12,345"."""
    if _missing(n):
        return MISSING
    return f"{round(n):,}"


def ms(x) -> str:
    """A duration given in milliseconds: 123.45 → "123.5 ms", 1234 → "1.2 s" (seconds from 1000 ms)."""
    if _missing(x):
        return MISSING
    if abs(x) >= 1000:
        return f"{x / 1000:,.1f} s"
    return f"{x:.1f} ms"


def size(n_bytes) -> str:
    """A size in bytes, base 1024: 512 → "512 B", 1536 → "1.5 KB", 3.4 MiB → "3.4 MB"."""
    if _missing(n_bytes):
        return MISSING
    value = float(n_bytes)
    if abs(value) < 1024:
        return f"{round(value):,} B"
    for unit in _SIZE_UNITS:
        value /= 1024
        # Round first so 1023.96 KB reads "1.0 MB", not "1024.0 KB".
        if abs(round(value, 1)) < 1024 or unit == _SIZE_UNITS[-1]:
            return f"{value:,.1f} {unit}"
    raise AssertionError("unreachable")


def pct(x) -> str:
    """A value already in percent (share_pct, error_rate_pct): 12.34 → "12.3%"."""
    if _missing(x):
        return MISSING
    return f"{x:,.1f}%"


def delta(cur, prev) -> float | None:
    """Change from prev to cur in percent (120 vs 100 → 20.0); None when there is nothing to compare
    with (prev missing or 0, or cur missing)."""
    if _missing(cur) or _missing(prev) or prev == 0:
        return None
    return (cur - prev) / abs(prev) * 100


def delta_text(cur, prev) -> str | None:
    """delta() as st.metric's delta text: "+20.0%", "-5.0%", or None (st.metric then shows none)."""
    change = delta(cur, prev)
    if change is None:
        return None
    return signed(change, "%")


def signed(change: float, unit: str) -> str:
    """A change with its sign and one decimal: "+20.0%", "-2.2 pp"; a change that rounds to zero has no sign
    ("0.0%", never "-0.0%" or "+0.0 pp": no change is neither up nor down)."""
    text = f"{change:,.1f}"
    if text.lstrip("-") == "0.0":
        return f"0.0{unit}"
    return f"{change:+,.1f}{unit}"


def _utc(ts: dt.datetime) -> dt.datetime:
    # Naive datetimes in this codebase are UTC (SQLite hands them back without a zone).
    return ts.replace(tzinfo=_UTC) if ts.tzinfo is None else ts


def ago(ts: dt.datetime | None, now: dt.datetime) -> str:
    """How long before `now` ts was: "just now", "5 min ago", "3 h ago", "2 d ago"; "never" for None."""
    if ts is None:
        return "never"
    seconds = (_utc(now) - _utc(ts)).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400):,} d ago"


def zone(tz: str | None) -> dt.tzinfo:
    """The time zone named tz (an IANA name such as "Europe/Berlin"), UTC when unknown or missing."""
    if not tz:
        return _UTC
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return _UTC


def zone_name(tz: str | None) -> str:
    """tz when it names a known time zone, else "UTC" (what charts and captions should say)."""
    return tz if tz and zone(tz) is not _UTC else "UTC"


def local_time(ts: dt.datetime | None, tz: str | None) -> str:
    """ts in the viewer's time zone, to the minute: "2026-11-25 13:05"."""
    if ts is None:
        return MISSING
    return _utc(ts).astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M")
