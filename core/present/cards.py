"""Metric cards (one st.metric each) and the texts around them: how a window compares with the period
before, changes in percentage points, numbers as shown."""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

from core.analytics import customers as mc
from core.analytics.metrics import Overview
from core.domain.timewindow import Window
from core.present import fmt


@dataclass(frozen=True)
class Card:
    """One st.metric: label, value and delta as text; delta_color "inverse" when a rise is bad
    (errors, latency), "off" when it is neither good nor bad; chart: a sparkline's values."""

    label: str
    value: str
    delta: str | None = None
    delta_color: str = "normal"
    help: str | None = None
    chart: tuple[float, ...] | None = None
    is_name: bool = False  # the value is a name: shown whole (wrapped), never cut to fit

    @property
    def unchanged(self) -> bool:
        """Whether the delta is a change that rounds to zero ("0.0%", "0.0 pp"): shown grey, without an arrow."""
        return is_zero_change(self.delta)

    @property
    def arrowless(self) -> bool:
        """Whether the delta goes without an arrow: no change once rounded, or a note (NO_PREVIOUS), not a change."""
        return self.unchanged or self.delta == NO_PREVIOUS


def period_text(length: dt.timedelta) -> str:
    """A window's length as people say it: "5 hours", "24 hours", "7 days", "1 day 6 hours", and to the minute
    for a range brushed or typed to the minute: "1 minute", "2 hours 30 minutes" (never "0 hours")."""
    minutes = max(round(length.total_seconds() / 60), 1)
    hours, mins = divmod(minutes, 60)
    days, rest = divmod(hours, 24)
    unit = lambda n, word: f"{n:,} {word}" + ("" if n == 1 else "s")  # noqa: E731
    if days == 1 and rest == 0 and mins == 0:
        return "24 hours"
    parts = [unit(n, word) for n, word in ((days, "day"), (rest, "hour"), (mins, "minute")) if n]
    return " ".join(parts)


# Short enough for a card five to a row at 1366 px; the window note says why (comparison_text).
NO_PREVIOUS = "no prior period"


def comparison_text(window: Window, covered: bool = True) -> str:
    """What the deltas of a window compare with: "changes compare with the 7 days before"; All Time has
    nothing before it, and a period before the first recorded request is not there to compare with. A preset
    names its nominal length (Window.period, what the previous period is moved back by): 7D at 12:39 is the
    "7 days", not the "6 days 23 hours 39 minutes" its whole-hour start leaves."""
    if window.preset == "all":
        return "All Time has no earlier period to compare with"
    if not covered:
        return f"no changes shown: the data does not reach back over the whole {period_text(window.period)} before"
    return f"changes compare with the {period_text(window.period)} before"


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def points_text(current, previous) -> str | None:
    """The change of a percentage in percentage points: 2.5 vs 2.0 → "+0.5 pp"; None when either is missing."""
    if _missing(current) or _missing(previous):
        return None
    return fmt.signed(current - previous, " pp")


def number(x, digits: int = 1) -> str:
    """A number with thousands separators and `digits` decimals: 1234.56 → "1,234.6"."""
    if _missing(x):
        return fmt.MISSING
    return f"{x:,.{digits}f}"


def is_zero_change(text: str | None) -> bool:
    """Whether a delta text ("0.0%", "0.0 pp", "+20.0%") says no change once rounded."""
    if not text:
        return False
    number_part = text.removesuffix("%").removesuffix("pp").strip().lstrip("+-").replace(",", "")
    try:
        return float(number_part) == 0
    except ValueError:
        return False


def card_delta(text: str | None, color: str, covered: bool) -> tuple[str | None, str]:
    """A card's delta text and colour; without a full previous period, a grey note instead of a number
    (half a period before would make any change look big); no change (rounded) is neither good nor bad: grey."""
    if not covered:
        return NO_PREVIOUS, "off"
    return text, "off" if is_zero_change(text) else color


def count_card(label: str, delta: mc.Delta, *, inverse: bool = False, help: str | None = None,
                chart: Iterable[int] | None = None, covered: bool = True) -> Card:
    text, color = card_delta(fmt.delta_text(delta.current, delta.previous), "inverse" if inverse else "normal", covered)
    return Card(label, fmt.count(delta.current), text, color, help, tuple(chart) if chart is not None else None)


def ms_card(label: str, current, previous, help: str | None = None, covered: bool = True) -> Card:
    return Card(label, fmt.ms(current), *card_delta(fmt.delta_text(current, previous), "inverse", covered), help)


def pct_card(label: str, current, previous, *, inverse: bool = False, help: str | None = None,
              covered: bool = True) -> Card:
    return Card(label, fmt.pct(current), *card_delta(points_text(current, previous), "inverse" if inverse else "normal", covered),
                help)


def overview_cards(ov: Overview, covered: bool = True) -> list[Card]:
    """Total and failed requests, average size and load time, p50/p95/p99, each against the period before
    (when the data covers it: `covered`, see metrics.covers_previous)."""
    cur, prev, c = ov.current, ov.previous, covered
    return [
        count_card("Total requests", mc.Delta(cur.total_requests, prev.total_requests), covered=c),
        count_card("Failed requests", mc.Delta(cur.failed_requests, prev.failed_requests), inverse=True,
                    help="Responses with status 400 or above.", covered=c),
        Card("Average response size", fmt.size(cur.avg_response_size_bytes),
             *card_delta(fmt.delta_text(cur.avg_response_size_bytes, prev.avg_response_size_bytes), "off", c)),
        ms_card("Average load time", cur.avg_load_time_ms, prev.avg_load_time_ms, covered=c),
        ms_card("p50 load time", cur.p50_load_time_ms, prev.p50_load_time_ms, "Half of the requests were faster.", c),
        ms_card("p95 load time", cur.p95_load_time_ms, prev.p95_load_time_ms, "95 of 100 requests were faster.", c),
        ms_card("p99 load time", cur.p99_load_time_ms, prev.p99_load_time_ms, "99 of 100 requests were faster.", c),
    ]
