"""Time windows: presets and custom ranges → [start, end) bounds and a chart bucket size.

"now" is always injected (tests, demo data and screenshots must not depend on the wall clock);
`current_now()` reads CLIENTELE_NOW when set, otherwise the clock. A custom window is whole days (`custom`)
or a range to the minute (`custom_range`, e.g. brushed on a chart); links carry either as ?from=&to=
(`parse_range`, `range_text`).
"""
from __future__ import annotations

import datetime as dt
import os
import re
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
MIN_RANGE = dt.timedelta(minutes=1)
MAX_RANGE = dt.timedelta(days=3661)  # ten years (of whole days, as `custom` allows)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
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

    @property
    def origin(self) -> dt.datetime:
        """Where bucket 0 starts: the window's start, or the whole hour before it for hourly buckets, so that a
        range starting inside an hour (brushed on a chart, or a day in a zone off UTC by half an hour) still
        has whole-hour buckets, read from the rollups; its first bucket then holds only part of an hour."""
        return floor_hour(self.start) if self.bucket == "1h" else self.start

    @property
    def bucket_count(self) -> int:
        """Buckets from the origin until the end (the last one may reach past it)."""
        return max(1, -(-(self.end - self.origin) // self.bucket_delta))

    def bucket_edges(self) -> list[dt.datetime]:
        """Where the chart buckets of this window start (the first at the window's start), and its end (the
        last bucket may reach past it)."""
        step, origin = self.bucket_delta, self.origin
        return [self.start] + [origin + k * step for k in range(1, self.bucket_count)] + [self.end]

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


def custom_range(start_local: dt.datetime, end_local: dt.datetime, tz: str | None = None) -> Window:
    """[start_local, end_local): wall-clock times in the viewer's zone `tz` (UTC when missing or unknown; an
    aware datetime is taken as it is), e.g. a range brushed on a chart. A time that happens twice (the hour
    repeated when clocks go back) is its first occurrence (fold=0, still summer time); a time that never
    happens (skipped when clocks go forward) is refused. From one minute to ten years long."""
    zone = _zone(tz)
    start, end = _utc_of(start_local, zone), _utc_of(end_local, zone)
    if end < start:
        raise WindowError("The end of the range is before its start.")
    if end - start < MIN_RANGE:
        raise WindowError("A time range must be at least one minute long.")
    if end - start > MAX_RANGE:
        raise WindowError("Custom ranges are limited to ten years.")
    return Window(start, end, bucket_for(end - start), "custom")


def parse_range(from_text: str | None, to_text: str | None, tz: str | None = None) -> Window:
    """A custom window as a link carries it (?from=&to=, wall-clock in the viewer's zone `tz`): two dates
    ("2026-11-20") are whole days, both included (`custom`); times to the minute ("2026-11-20T13:05") are
    a range with `to` excluded (`custom_range`); a date beside a time means the start of `from`'s day, the
    end of `to`'s day. WindowError, with a message for the reader, for anything else."""
    start, end = _parse_edge(from_text, "from"), _parse_edge(to_text, "to")
    if isinstance(start, dt.datetime) or isinstance(end, dt.datetime):
        if not isinstance(start, dt.datetime):
            start = dt.datetime.combine(start, dt.time())
        if not isinstance(end, dt.datetime):
            end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
        return custom_range(start, end, tz)
    return custom(start, end, tz)


def range_text(window: Window, tz: str | None = None) -> tuple[str, str]:
    """(from, to) of a custom window as parse_range reads them back in the zone `tz`: plain dates (`to`
    included) when both edges are local midnights, else wall-clock minutes (`to` excluded; an edge inside a
    minute is widened to the whole minute)."""
    zone = _zone(tz)
    start, end = window.start.astimezone(zone), window.end.astimezone(zone)
    if start.time() == dt.time() and end.time() == dt.time():
        return start.date().isoformat(), (end.date() - dt.timedelta(days=1)).isoformat()
    start = start.replace(second=0, microsecond=0)
    floor = end.replace(second=0, microsecond=0)
    end = floor if floor == end else (floor.astimezone(UTC) + dt.timedelta(minutes=1)).astimezone(zone)
    return start.strftime("%Y-%m-%dT%H:%M"), end.strftime("%Y-%m-%dT%H:%M")


def whole_days(window: Window, tz: str | None = None) -> tuple[dt.date, dt.date]:
    """The first and last day (in the zone `tz`) that the window touches."""
    zone = _zone(tz)
    return window.start.astimezone(zone).date(), (window.end - dt.timedelta(microseconds=1)).astimezone(zone).date()


def _parse_edge(text: str | None, name: str) -> dt.date | dt.datetime:
    text = (text or "").strip()
    if _MINUTE.fullmatch(text):
        try:
            return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M")
        except ValueError:
            pass
    elif _DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise WindowError(f"{name}={text!r} in the link is not a date (2026-11-20) or a time to the minute (2026-11-20T13:05).")


def _utc_of(wall: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """A wall-clock time in `zone` as UTC; fold=0 for a repeated time, WindowError for a skipped one."""
    if wall.tzinfo is not None:
        return wall.astimezone(UTC)
    utc = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != wall:
        raise WindowError(f"{wall:%Y-%m-%d %H:%M} does not exist in {zone}: the clocks skip that time when summer "
                          "time starts. Pick a time outside the skipped hour.")
    return utc


def _zone(tz: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(tz) if tz else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
