"""Time windows: presets and custom ranges → [start, end) bounds and a chart bucket size.

"now" is always injected (tests, demo data and screenshots must not depend on the wall clock);
`current_now()` reads CLIENTELE_NOW when set, otherwise the clock.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.domain.errors import ClienteleError

UTC = dt.timezone.utc
PRESETS: dict[str, dt.timedelta | None] = {
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "14d": dt.timedelta(days=14),
    "30d": dt.timedelta(days=30),
    "all": None,
}
PRESET_LABELS = {"24h": "24H", "7d": "7D", "14d": "14D", "30d": "30D", "all": "All Time", "custom": "Custom"}
MAX_POINTS = 400
# Candidate buckets for All Time / long custom ranges, smallest first (Polars duration strings).
_BUCKETS = [("1h", dt.timedelta(hours=1)), ("6h", dt.timedelta(hours=6)), ("1d", dt.timedelta(days=1)),
            ("7d", dt.timedelta(days=7)), ("30d", dt.timedelta(days=30))]


class WindowError(ClienteleError, ValueError):
    """A window the user asked for makes no sense; the message says why."""


@dataclass(frozen=True)
class Window:
    start: dt.datetime  # inclusive, UTC
    end: dt.datetime  # exclusive, UTC
    bucket: str  # Polars duration string: "1h", "6h", "1d", …
    preset: str  # one of PRESETS or "custom"

    @property
    def label(self) -> str:
        return PRESET_LABELS[self.preset]

    @property
    def period(self) -> dt.timedelta:
        """A preset's nominal length (24 hours for 24H; the window, which starts on a whole hour, is up to
        an hour shorter), else the window's length: the previous period is the window moved back by it."""
        return PRESETS.get(self.preset) or self.length

    @property
    def length(self) -> dt.timedelta:
        return self.end - self.start

    @property
    def bucket_delta(self) -> dt.timedelta:
        return dict(_BUCKETS)[self.bucket]

    def previous(self) -> "Window":
        """The same span one period earlier (for deltas): for a preset, its nominal length earlier, so
        24H's previous period ends at this time yesterday; otherwise the equal length just before."""
        return Window(self.start - self.period, self.end - self.period, self.bucket, self.preset)

    def bucket_edges(self) -> list[dt.datetime]:
        """Where the chart buckets of this window start, and its end (the last bucket may reach past it)."""
        step = self.bucket_delta
        n = max(1, -(-(self.end - self.start) // step))
        return [self.start + k * step for k in range(n)] + [self.end]

    def cut_hours(self) -> list[dt.datetime]:
        """The hours that an edge of this window, of one of its buckets or of its previous period falls
        inside (not on their start): counts there come from the raw requests, everything else from the
        hourly rollups. For a preset, two hours (now, and now one period ago)."""
        prev = self.previous()
        edges = [*self.bucket_edges(), prev.start, prev.end]
        return sorted({floor_hour(e) for e in edges if floor_hour(e) != e})

    def contains(self, ts: dt.datetime) -> bool:
        return self.start <= ts < self.end


def floor_hour(ts: dt.datetime) -> dt.datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def ceil_hour(ts: dt.datetime) -> dt.datetime:
    floor = floor_hour(ts)
    return floor if floor == ts else floor + dt.timedelta(hours=1)


def current_now() -> dt.datetime:
    raw = os.environ.get("CLIENTELE_NOW")
    if raw:
        return parse_now(raw)
    return dt.datetime.now(UTC).replace(microsecond=0)


def parse_now(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise WindowError(f"{text!r} is not an ISO time such as 2026-11-25T12:00:00Z") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def bucket_for(length: dt.timedelta) -> str:
    """Hourly up to 72 hours, daily beyond; coarser when daily would exceed MAX_POINTS."""
    if length <= dt.timedelta(hours=72):
        return "1h"
    for name, size in _BUCKETS[2:]:
        if length / size <= MAX_POINTS:
            return name
    return _BUCKETS[-1][0]


def _all_time_bucket(length: dt.timedelta) -> str:
    for name, size in _BUCKETS:
        if length / size <= MAX_POINTS:
            return name
    return _BUCKETS[-1][0]


def window(preset: str, now: dt.datetime, *, data_start: dt.datetime | None = None,
           data_end: dt.datetime | None = None) -> Window:
    """A preset window ending at `now`, starting on a whole hour: 24H is the 23 hours before the current
    one and the current hour so far (its last bucket, marked partial), so every bucket is a whole number
    of clock hours and comes from the hourly rollups. All Time starts at the hour of `data_start` (the
    first request), or of now - 1h, and ends at the later of now and just after `data_end` (the newest
    request): an imported request dated in the future is still counted."""
    preset = preset.lower()
    if preset not in PRESETS:
        raise WindowError(f"Unknown time window {preset!r}; choose one of {', '.join(PRESET_LABELS[p] for p in PRESETS)}.")
    now = now.astimezone(UTC)
    length = PRESETS[preset]
    if length is None:
        start = (data_start or now - dt.timedelta(hours=1)).astimezone(UTC)
        start = floor_hour(min(start, now - dt.timedelta(hours=1)))
        end = now
        if data_end is not None and data_end.astimezone(UTC) >= now:
            # The end is exclusive: the next whole second after the newest request.
            end = data_end.astimezone(UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
        return Window(start, end, _all_time_bucket(end - start), "all")
    return Window(ceil_hour(now) - length, now, bucket_for(length), preset)


def custom(start_date: dt.date, end_date: dt.date, tz: str | None = None) -> Window:
    """Whole days from start_date to end_date, both included, in the viewer's time zone `tz` (an IANA
    name; UTC when missing or unknown): a day in Tokyo starts at 15:00 UTC the day before."""
    if end_date < start_date:
        raise WindowError("The end date is before the start date.")
    if (end_date - start_date).days > 3660:
        raise WindowError("Custom ranges are limited to ten years.")
    zone = _zone(tz)
    start = dt.datetime.combine(start_date, dt.time(), zone).astimezone(UTC)
    end = dt.datetime.combine(end_date + dt.timedelta(days=1), dt.time(), zone).astimezone(UTC)
    return Window(start, end, bucket_for(end - start), "custom")


def _zone(tz: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(tz) if tz else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
