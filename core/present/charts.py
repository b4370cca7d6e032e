"""Altair chart builders shared by every page: Polars DataFrame in, titled chart with units and tooltips out.

Usage (a page then calls `st.altair_chart(chart)`):
    charts.time_series(series, "requests", title="Requests", unit="requests", tz=viewer_tz)
    charts.time_series(series, {"status_4xx": "4xx", "status_5xx": "5xx"}, title="Errors",
                       unit="requests", tz=viewer_tz, kind="bar")          # stacked bars, one colour each
    charts.bar_chart(top, "display_name", "requests", title="Top customers", unit="requests")
    charts.heatmap(cells, x="endpoint", y="display_name", value="requests", title="Endpoint adoption")
Units: "requests", "customers" (counts), "ms", "bytes" (drawn in KB), "%". Times are UTC inside; the
builders convert them to the viewer's zone (tz name, e.g. st.context.timezone) before drawing.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import altair as alt
import polars as pl

from core.domain.frames import UTC_US
from core.present import fmt

TIME_FORMAT = "%Y-%m-%d %H:%M"
TOOLTIP_TIME_UNIT = "utcyearmonthdatehoursminutes"
DEFAULT_HEIGHT = 260


@dataclass(frozen=True)
class _Unit:
    suffix: str  # shown in axis titles: "Load time (ms)"
    number_format: str  # d3 format of axis labels and tooltips
    divisor: float = 1.0  # raw value / divisor = drawn value
    whole: bool = False  # counts: no axis tick between whole numbers (a 0-1 axis read "0, 1, 1")

    def axis(self, **options) -> alt.Axis:
        return alt.Axis(format=self.number_format, **({"tickMinStep": 1} if self.whole else {}), **options)


UNITS = {
    "requests": _Unit("requests", ",.0f", whole=True),
    "customers": _Unit("customers", ",.0f", whole=True),
    "ms": _Unit("ms", ",.1f"),
    "bytes": _Unit("KB", ",.1f", 1024.0),
    "%": _Unit("%", ",.1f"),
}


def _unit(unit: str) -> _Unit:
    try:
        return UNITS[unit]
    except KeyError:
        raise ValueError(f"Unknown chart unit {unit!r}; use one of {', '.join(UNITS)}.") from None


def axis_title(label: str, unit: str) -> str:
    """The axis title with its unit: "Load time (ms)", "Response size (KB)"; a label that already is the
    unit ("Requests" for requests) stays alone rather than read "Requests (requests)"."""
    suffix = _unit(unit).suffix
    return label if label.lower() == suffix else f"{label} ({suffix})"


def _measure(label: str | None, unit: str, fallback: str) -> str:
    if label:
        return label
    return unit.capitalize() if unit in ("requests", "customers") else fallback


def _title(column: str, given: str | None) -> str:
    return given or column.replace("_", " ").capitalize()


def local_times(frame: pl.DataFrame, column: str, tz: str | None) -> pl.DataFrame:
    """`column` (UTC datetimes) as the viewer's wall-clock time, labelled UTC.

    Streamlit shifts zone-less datetimes by the browser's offset before Vega-Lite sees them, so naive
    wall-clock values would be drawn hours off (and an hour off around the browser's DST changes).
    Wall-clock values labelled UTC reach Vega-Lite unchanged, and every chart reads them on a UTC scale
    with UTC formats: what the viewer reads is exactly the wall-clock time computed here, whatever
    the browser's own zone.
    """
    col = pl.col(column)
    dtype = frame.schema[column]
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        col = col.dt.replace_time_zone("UTC")
    wall = col.dt.convert_time_zone(fmt.zone_name(tz)).dt.replace_time_zone(None).dt.replace_time_zone("UTC")
    return frame.with_columns(wall.alias(column))


def _time_x(column: str, tz: str | None, step: dt.timedelta | None = None) -> alt.X:
    """The time axis. Daily buckets start with the window (e.g. at 14:00), so Vega's own ticks would fall
    on those hours and read "02 PM" under every day: with daily buckets, one tick per day names the day."""
    axis = alt.Axis(labelOverlap=True)
    if step is not None and dt.timedelta(days=1) <= step < dt.timedelta(days=7):
        axis = alt.Axis(labelOverlap=True, tickCount={"interval": "day", "step": 1}, format="%b %d")
    return alt.X(f"{column}:T", title=f"Time ({fmt.zone_name(tz)})", scale=alt.Scale(type="utc"), axis=axis)


def _step(frame: pl.DataFrame, column: str) -> dt.timedelta | None:
    """The time between buckets (the smallest gap), or None for fewer than two."""
    gaps = frame.get_column(column).sort().diff().drop_nulls()
    return gaps.min() if gaps.len() else None


def _time_tooltip(column: str, title: str = "Time") -> alt.Tooltip:
    # A utc time unit makes Vega-Lite format with utcFormat. (formatType="utc" is not a Vega-Lite format
    # type: it drew "NaN".)
    return alt.Tooltip(f"{column}:T", title=title, timeUnit=TOOLTIP_TIME_UNIT, format=TIME_FORMAT)


# Fixed colours of series that mean something: client errors amber, server errors red.
SERIES_COLORS = {"4xx": "#f59e0b", "5xx": "#dc2626"}
PARTIAL_NOTE = "partial bucket: only part of it lies in the window"


def time_series(frame: pl.DataFrame, y: str | dict[str, str], *, title: str, unit: str, tz: str | None,
                x: str = "bucket", kind: str = "line", label: str | None = None,
                height: int = DEFAULT_HEIGHT, partial: Sequence[dt.datetime] = ()) -> alt.Chart | alt.LayerChart:
    """A line (or bar) chart over time: one column, or several {column: legend label} drawn in colours
    (bars stack). `label` names the measure on the y axis (default: the title). `partial`: UTC starts of
    buckets only partly inside the window (metrics.partial_buckets), each marked by a dashed rule, so
    their smaller numbers do not read as a drop."""
    if kind not in ("line", "bar", "area"):
        raise ValueError("kind must be 'line', 'bar' or 'area'.")
    u = _unit(unit)
    columns = {y: label or title} if isinstance(y, str) else dict(y)
    data = local_times(frame.select(x, *columns), x, tz)
    long = data.unpivot(index=x, on=list(columns), variable_name="series", value_name="value").with_columns(
        (pl.col("value").cast(pl.Float64) / u.divisor).alias("value"),
        pl.col("series").replace_strict(columns, return_dtype=pl.String),
    )
    measure = label or title
    base = alt.Chart(long, title=title, height=height) if not partial else alt.Chart(long)
    mark = {"line": base.mark_line(point=False, interpolate="monotone"), "bar": base.mark_bar(),
            "area": base.mark_area(opacity=0.7)}[kind]
    encoding = {
        "x": _time_x(x, tz, _step(frame, x)),
        "y": alt.Y("value:Q", title=axis_title(measure, unit), stack=True if kind != "line" else None,
                   axis=u.axis()),
        "tooltip": [_time_tooltip(x), alt.Tooltip("series:N", title="Series"),
                    alt.Tooltip("value:Q", title=axis_title(measure, unit), format=u.number_format)],
    }
    if len(columns) > 1:
        labels = list(columns.values())
        # Series with a meaning of their own keep their colour (5xx red, never a shade of 4xx).
        scale = (alt.Scale(domain=labels, range=[SERIES_COLORS[lb] for lb in labels])
                 if all(lb in SERIES_COLORS for lb in labels) else alt.Undefined)
        encoding["color"] = alt.Color("series:N", title=None, sort=labels, scale=scale,
                                      legend=alt.Legend(orient="top"))
    else:
        encoding["tooltip"].pop(1)
    chart = mark.encode(**encoding)
    if not partial:
        return chart
    marks = local_times(pl.DataFrame({x: list(partial)}, schema={x: UTC_US}), x, tz).with_columns(
        pl.lit(PARTIAL_NOTE).alias("note"))
    rule = alt.Chart(marks).mark_rule(strokeDash=[4, 4], color="#888888", strokeWidth=1.5).encode(
        x=alt.X(f"{x}:T"), tooltip=[_time_tooltip(x, "Bucket from"), alt.Tooltip("note:N", title="Note")])
    return alt.layer(chart, rule, title=title, height=height)


def bar_chart(frame: pl.DataFrame, category: str, value: str, *, title: str, unit: str,
              category_title: str | None = None, label: str | None = None, tooltip: dict[str, str] | None = None,
              horizontal: bool = True, sort: str = "value", height: int | None = None) -> alt.Chart:
    """A small bar chart of one value per category (biggest first when sort="value"; "category" keeps
    the frame's order). `tooltip` adds {column: title} lines as text."""
    u = _unit(unit)
    extra = dict(tooltip or {})
    data = frame.select(pl.col(category).cast(pl.String), (pl.col(value).cast(pl.Float64) / u.divisor).alias(value),
                        *[pl.col(c) for c in extra if c not in (category, value)])
    measure = _measure(label, unit, title)
    order = "-x" if horizontal else "-y"
    cat_sort = order if sort == "value" else None
    cat = alt.Y if horizontal else alt.X
    val = alt.X if horizontal else alt.Y
    tips = [alt.Tooltip(f"{category}:N", title=_title(category, category_title)),
            alt.Tooltip(f"{value}:Q", title=axis_title(measure, unit), format=u.number_format)]
    tips += [alt.Tooltip(f"{c}:N", title=t) for c, t in extra.items() if c not in (category, value)]
    if height is None:
        # Streamlit draws the whole chart (title and axes included) in `height` pixels.
        height = max(160, 24 * max(data.height, 1) + 100) if horizontal else DEFAULT_HEIGHT
    return alt.Chart(data, title=title, height=height).mark_bar().encode(
        cat(f"{category}:N", title=category_title, sort=cat_sort, axis=alt.Axis(labelLimit=220)),
        val(f"{value}:Q", title=axis_title(measure, unit), axis=u.axis()),
        tooltip=tips,
    )


def heatmap(frame: pl.DataFrame, *, x: str, y: str, value: str, title: str, unit: str = "requests",
            x_title: str | None = None, y_title: str | None = None, label: str | None = None) -> alt.Chart:
    """A grid of cells (e.g. customer × endpoint), coloured by value, each labelled in its tooltip.
    Rows and columns keep the frame's first-appearance order (sort the frame as you want them shown)."""
    u = _unit(unit)
    data = frame.select(pl.col(x).cast(pl.String), pl.col(y).cast(pl.String),
                        (pl.col(value).cast(pl.Float64) / u.divisor).alias(value))
    x_order = data.get_column(x).unique(maintain_order=True).to_list()
    y_order = data.get_column(y).unique(maintain_order=True).to_list()
    measure = _measure(label, unit, title)
    # The whole chart (title, rotated endpoint labels, rows) fits in `height` pixels in Streamlit.
    height = max(220, 26 * len(y_order) + 170)
    return alt.Chart(data, title=title, height=height).mark_rect().encode(
        # Rotated labels' boxes always "overlap" in Vega's check, which would hide every other column's name;
        # only many columns (e.g. 31 days) need thinning out.
        alt.X(f"{x}:N", title=x_title, sort=x_order,
              axis=alt.Axis(labelAngle=-35, labelLimit=180, labelOverlap=len(x_order) > 16 and "parity")),
        alt.Y(f"{y}:N", title=y_title, sort=y_order, axis=alt.Axis(labelLimit=200)),
        alt.Color(f"{value}:Q", title=axis_title(measure, unit), scale=alt.Scale(scheme="blues")),
        tooltip=[alt.Tooltip(f"{y}:N", title=_title(y, y_title)), alt.Tooltip(f"{x}:N", title=_title(x, x_title)),
                 alt.Tooltip(f"{value}:Q", title=axis_title(measure, unit), format=u.number_format)],
    )
