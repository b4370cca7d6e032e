"""When a request happened: reading an SDK's data.request.timestamp, and the collector's clock rule
(an SDK clock is believed only within CLOCK_TOLERANCE of the receive time)."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.ingest.errors import PayloadError
from core.ingest.fields import short

# At the collector an SDK timestamp is believed when one of its readings is this close to the receive time.
CLOCK_TOLERANCE = dt.timedelta(minutes=15)
TIMESTAMP_MODES = ("auto", "utc", "local")
# File imports have no receive time: the zone each SDK writes its timestamp in, measured with the real
# SDKs (npm `treblle`, `@treblle/express`: toISOString(); Django: datetime.now() in TIME_ZONE). Others: UTC.
SDK_TIMESTAMP_ZONES = {"node": "utc", "express": "utc", "js": "utc", "nestjs": "utc", "laravel": "utc", "php": "utc",
                       "django": "local"}
_TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")
_UTC_NAMES = frozenset({"UTC", "Etc/UTC"})  # what most SDKs send as server.timezone


def timestamp_zone(sdk: str | None) -> str:
    """'utc' or 'local': how a file import reads the timestamp of this SDK's payloads."""
    return SDK_TIMESTAMP_ZONES.get((sdk or "").strip().lower(), "utc")


def resolve_timestamp(value: Any, timezone: Any, sdk: str | None, received_at: dt.datetime | None,
                      mode: str) -> tuple[dt.datetime, float | None, str | None]:
    """(when the request happened in UTC, the SDK clock's skew in seconds, its fault: see NormalizedRequest)."""
    parsed = _parse_timestamp(value)
    if received_at is not None:
        return _at_receive(_readings(parsed, timezone), received_at.astimezone(dt.timezone.utc))
    if mode not in TIMESTAMP_MODES:
        raise ValueError(f"timestamps must be one of {', '.join(TIMESTAMP_MODES)}, not {mode!r}")
    zone = timestamp_zone(sdk) if mode == "auto" else mode
    if not 1990 <= parsed.year <= 2200:
        raise PayloadError("data.request.timestamp", f"year {parsed.year} is out of range")
    if parsed.tzinfo is not None:
        return parsed.astimezone(dt.timezone.utc), None, None
    # The reading _readings would pick: local time in `timezone` when asked for and known, else UTC.
    local = zone == "local" and isinstance(timezone, str) and timezone
    return parsed.replace(tzinfo=_zone(timezone) if local else dt.timezone.utc).astimezone(dt.timezone.utc), None, None


def _parse_timestamp(value: Any) -> dt.datetime:
    path = "data.request.timestamp"
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(path, "missing; expected \"YYYY-MM-DD HH:MM:SS\"")
    text = value.strip()
    try:
        # Reads the SDKs' "YYYY-MM-DD HH:MM:SS[.ffffff]" and ISO 8601, ~30x faster than strptime.
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = _strptime(text)
    if parsed is None:
        raise PayloadError(path, f"{short(text, 40)!r} is not a time; expected \"YYYY-MM-DD HH:MM:SS\"")
    return parsed


def _strptime(text: str) -> dt.datetime | None:
    """The lenient reading (e.g. hours without a leading zero) that fromisoformat refuses."""
    for fmt in _TS_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


@lru_cache(maxsize=256)
def _zone(name: str) -> dt.tzinfo:
    if name in _UTC_NAMES:
        return dt.timezone.utc  # the zone's one offset: no second reading to weigh (_readings), no tz database lookups
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return dt.timezone.utc


def _readings(parsed: dt.datetime, timezone: Any) -> list[dt.datetime]:
    """The instants a timestamp can mean: itself when it carries an offset; else UTC first, then local
    time in `timezone` (both sides of a repeated autumn hour)."""
    if parsed.tzinfo is not None:
        return [parsed]
    readings = [parsed.replace(tzinfo=dt.timezone.utc)]
    if isinstance(timezone, str) and timezone:
        zone = _zone(timezone)
        if zone is not dt.timezone.utc:
            readings += [parsed.replace(tzinfo=zone), parsed.replace(tzinfo=zone, fold=1)]
    return readings


def _at_receive(readings: list[dt.datetime], received_at: dt.datetime) -> tuple[dt.datetime, float | None, str | None]:
    """The reading closest to the receive time (the first on a tie) if within CLOCK_TOLERANCE; else
    the receive time and how far that closest reading was from it. A believed UTC reading of a
    timestamp labelled with a zone that reads differently is a mislabelled zone."""
    best, best_gap = readings[0], readings[0] - received_at
    for reading in readings[1:]:
        gap = reading - received_at
        if abs(gap) < abs(best_gap):
            best, best_gap = reading, gap
    if abs(best_gap) <= CLOCK_TOLERANCE:
        if best is readings[0] and len(readings) > 1 and abs(readings[1] - readings[0]) > CLOCK_TOLERANCE:
            return best.astimezone(dt.timezone.utc), (readings[1] - readings[0]).total_seconds(), "zone"
        return best.astimezone(dt.timezone.utc), None, None
    return received_at, best_gap.total_seconds(), "clock"
