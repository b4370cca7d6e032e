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
    def length(self) -> dt.timedelta:
        return self.end - self.start

    @property
    def bucket_delta(self) -> dt.timedelta:
        return dict(_BUCKETS)[self.bucket]

    def previous(self) -> "Window":
        """The period of equal length just before this one (for deltas)."""
        return Window(self.start - self.length, self.start, self.bucket, self.preset)

    def contains(self, ts: dt.datetime) -> bool:
        return self.start <= ts < self.end


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
    """A preset window ending at `now`. All Time starts at `data_start` (the first request), or now - 1h,
    and ends at the later of now and just after `data_end` (the newest request): an imported request
    dated in the future is still counted."""
    preset = preset.lower()
    if preset not in PRESETS:
        raise WindowError(f"Unknown time window {preset!r}; choose one of {', '.join(PRESET_LABELS[p] for p in PRESETS)}.")
    now = now.astimezone(UTC)
    length = PRESETS[preset]
    if length is None:
        start = (data_start or now - dt.timedelta(hours=1)).astimezone(UTC)
        start = min(start, now - dt.timedelta(hours=1))
        end = now
        if data_end is not None and data_end.astimezone(UTC) >= now:
            # The end is exclusive: the next whole second after the newest request.
            end = data_end.astimezone(UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
        return Window(start, end, _all_time_bucket(end - start), "all")
    return Window(now - length, now, bucket_for(length), preset)


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
