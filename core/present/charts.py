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
from core.domain.timewindow import current_now
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
        """The value axis: number_format without trailing zeros ("4,000" and "2.5", not "4,000.0" and "2.5"; tooltips
        keep the decimal)."""
        return alt.Axis(format=self.number_format.replace("f", "~f"), **({"tickMinStep": 1} if self.whole else {}),
                        **options)


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


def _time_x(column: str, tz: str | None, step: dt.timedelta | None = None, starts: Sequence[dt.datetime] = (), *,
            bars: bool = False) -> alt.X:
    """The time axis. Daily buckets start with the window (e.g. at 14:00), so Vega's own ticks would fall
    on those hours and read "02 PM" under every day: with daily buckets, one tick per day names the day. Weekly
    buckets (`starts`, as drawn) get a tick each, named by the date the bucket starts, under its bar's middle with
    `bars`: Vega's own ticks read "Tue 08", "Sat 12" … between them."""
    axis = alt.Axis(labelOverlap=True)
    if step is not None and dt.timedelta(days=1) <= step < dt.timedelta(days=7):
        axis = alt.Axis(labelOverlap=True, tickCount={"interval": "day", "step": 1}, format="%b %d")
    elif step is not None and step >= dt.timedelta(days=7) and starts:
        shift = step / 2 if bars else dt.timedelta(0)
        ticks = [alt.DateTime(year=t.year, month=t.month, date=t.day, hours=t.hour, minutes=t.minute, utc=True)
                 for t in (start + shift for start in starts)]
        label = f"utcFormat(datum.value - {shift / dt.timedelta(milliseconds=1):.0f}, '%b %d')"
        axis = alt.Axis(labelOverlap=True, values=ticks, labelExpr=label)
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
SERIES_COLORS = {
    "OK": "#94a3b8", "4xx": "#f59e0b", "5xx": "#dc2626",
    # Load-time lines: the average in the accent colour, percentiles from light (typical) to dark (the tail).
    "Average": "#4f5bd5", "p50": "#7dd3c0", "p95": "#f59e0b", "p99": "#b91c1c",
}
# The load-time chart's lines: overview_series' columns and their legend labels.
LOAD_TIME_LINES = {"avg_load_time_ms": "Average", "p50_load_time_ms": "p50", "p95_load_time_ms": "p95", "p99_load_time_ms": "p99"}
PARTIAL_NOTE = "so far: this bucket is not over yet"
PARTIAL_LABEL = "so far"
# A partial bucket that is over (a range ending in the past cuts it, or starting inside it): its label and notes.
CUT_NOTE = "partial: the time range ends inside this bucket"
START_NOTE = "partial: the time range starts inside this bucket"
CUT_LABEL = "partial"
CROSSHAIR_COLOR = "#64748b"


def _long(data: pl.DataFrame, x: str, columns: dict[str, str], u: _Unit, partial_at: list, head_at: list) -> pl.DataFrame:
    """One row per bucket and series: x, series label, drawn value, partial (the bucket is partly outside the
    window), tail (the last partial bucket or the one just before it) and head (the first bucket, when the window
    starts inside it, and the one after it): the stretches a line draws dashed."""
    complete = [b for b in data.get_column(x).to_list() if b not in partial_at]
    ends = [b for b in partial_at if b not in head_at]
    tail = (complete[-1:] + ends) if ends else []
    head = (head_at + complete[:1]) if head_at else []
    return data.unpivot(index=x, on=list(columns), variable_name="series", value_name="value").with_columns(
        (pl.col("value").cast(pl.Float64) / u.divisor).alias("value"),
        pl.col("series").replace_strict(columns, return_dtype=pl.String),
        pl.col(x).is_in(partial_at).alias("partial"),
        pl.col(x).is_in(tail).alias("tail"),
        pl.col(x).is_in(head).alias("head"),
    )


def _hover_rows(data: pl.DataFrame, x: str, columns: dict[str, str], u: _Unit, notes: dict) -> pl.DataFrame:
    """One row per bucket: every series' drawn value (fields s0, s1, … in the order of columns) and the note
    of a partial bucket ({local bucket start: note}), for the crosshair's tooltip."""
    note = pl.lit("")
    for at, text in notes.items():
        note = pl.when(pl.col(x) == at).then(pl.lit(text)).otherwise(note)
    return data.select(
        x, *[(pl.col(c).cast(pl.Float64) / u.divisor).alias(f"s{i}") for i, c in enumerate(columns)], note.alias("note"),
    )


def time_series(frame: pl.DataFrame, y: str | dict[str, str], *, title: str, unit: str, tz: str | None,
                x: str = "bucket", kind: str = "line", label: str | None = None,
                height: int = DEFAULT_HEIGHT, partial: Sequence[dt.datetime] = (), now: dt.datetime | None = None) -> alt.LayerChart:
    """A line, area or bar chart over time: one column, or several {column: legend label} drawn in colours
    (areas and bars stack). `label` names the measure on the y axis (default: the title).

    Hovering anywhere over the chart shows a crosshair on the nearest bucket and one tooltip with the bucket's
    local time and every series' value. `partial`: UTC starts of buckets only partly inside the window
    (metrics.partial_buckets): drawn lighter (a dashed line into them) and labelled "so far", so their
    smaller numbers do not read as a drop; one that is over by `now` (default: the current time), cut by a range
    that ends in the past, is labelled "partial" instead, and so is the first one when the range starts inside it."""
    if kind not in ("line", "bar", "area"):
        raise ValueError("kind must be 'line', 'bar' or 'area'.")
    u = _unit(unit)
    columns = {y: label or title} if isinstance(y, str) else dict(y)
    labels = list(columns.values())
    data = local_times(frame.select(x, *columns), x, tz)
    partial_at = local_times(pl.DataFrame({x: list(partial)}, schema={x: UTC_US}), x, tz).get_column(x).to_list()
    step, now = _step(frame, x), now or current_now()
    # The first of several buckets, when partial, is cut by the window's start; any other by its end.
    first_bucket = frame.get_column(x).min() if frame.height > 1 else None
    starts = [b == first_bucket for b in partial]
    running = [not first and (step is None or b + step > now) for b, first in zip(partial, starts)]
    labels_at = [PARTIAL_LABEL if r else CUT_LABEL for r in running]
    notes = {at: START_NOTE if first else PARTIAL_NOTE if r else CUT_NOTE for at, first, r in zip(partial_at, starts, running)}
    long = _long(data, x, columns, u, partial_at, [at for at, first in zip(partial_at, starts) if first])
    measure = axis_title(label or title, unit)
    starts_drawn = data.get_column(x).to_list()
    x_enc = _time_x(x, tz, step, starts_drawn, bars=kind == "bar")
    y_enc = alt.Y("value:Q", title=measure, stack=True if kind != "line" else None, axis=u.axis())
    encoding: dict = {"x": x_enc, "y": y_enc}
    if len(columns) > 1:
        # Series with a meaning of their own keep their colour (5xx red, never a shade of 4xx).
        scale = (alt.Scale(domain=labels, range=[SERIES_COLORS[lb] for lb in labels])
                 if all(lb in SERIES_COLORS for lb in labels) else alt.Undefined)
        encoding["color"] = alt.Color("series:N", title=None, sort=labels, scale=scale, legend=alt.Legend(orient="top"))
    base = alt.Chart(long)
    complete = alt.datum.partial == False  # noqa: E712  (a Vega expression, not a Python comparison)
    # A bar spans its bucket, with a gap either side (on a time scale a bar is otherwise a thin mark at its start);
    # the crosshair and the partial buckets' labels stand at the bucket's middle.
    spans = _bucket_spans(x, step) if kind == "bar" else {}
    if kind == "bar":
        bar_x = {"x": _time_x("bar_start", tz, step, starts_drawn, bars=True), "x2": alt.X2("bar_end:T")}
        layers = [base.transform_calculate(**spans).mark_bar(orient="vertical").encode(
            **{**encoding, **bar_x}, opacity=alt.condition(complete, alt.value(1.0), alt.value(0.4)))]
    else:
        # The stretch into a partial bucket, one layer each end (one layer would join them across the chart).
        stretches = [base.transform_filter(getattr(alt.datum, flag)) for flag in ("tail", "head")
                     if long.get_column(flag).any()]
        if kind == "line":
            layers = [base.mark_line(interpolate="monotone").encode(**encoding).transform_filter(complete)]
            layers += [s.mark_line(interpolate="monotone", strokeDash=[4, 3]).encode(**encoding) for s in stretches]
        else:
            layers = [base.mark_area(opacity=0.7).encode(**encoding).transform_filter(complete)]
            layers += [s.mark_area(opacity=0.3).encode(**encoding) for s in stretches]
    hover = alt.selection_point(name="hover", fields=[x], nearest=True, on="pointerover", clear="pointerout",
                                empty=False)
    tips = [_time_tooltip(x)] + [alt.Tooltip(f"s{i}:Q", title=lb if len(labels) > 1 else measure,
                                             format=u.number_format) for i, lb in enumerate(labels)]
    if partial_at:
        tips.append(alt.Tooltip("note:N", title="Note"))
    def placed(chart: alt.Chart) -> alt.Chart:  # where the crosshair and the labels stand: a bar's middle, else its start
        return chart.transform_calculate(bar_middle=spans["bar_middle"]) if spans else chart

    x_at = _time_x("bar_middle", tz, step, starts_drawn, bars=True) if spans else x_enc
    # Named: Altair would number the view anew on every run, and Streamlit would then redraw the chart.
    layers.append(placed(alt.Chart(_hover_rows(data, x, columns, u, notes), name="crosshair")).mark_rule(
        color=CROSSHAIR_COLOR).encode(x=x_at, opacity=alt.condition(hover, alt.value(0.7), alt.value(0.0)),
                                      tooltip=tips).add_params(hover))
    # Each label inside the plot: left of the last bucket's start, right of the first's (left, it hid the axis);
    # centred over a bar.
    for align, dx, at_start in (("right", -3, False), ("left", 3, True)):
        marks = pl.DataFrame({x: [at for at, first in zip(partial_at, starts) if first == at_start],
                              "text": [text for text, first in zip(labels_at, starts) if first == at_start]},
                             schema={x: UTC_US, "text": pl.String})
        if marks.height:
            align, dx = ("center", 0) if spans else (align, dx)
            layers.append(placed(alt.Chart(marks)).mark_text(align=align, baseline="top", dx=dx, dy=2, color="#64748b",
                                                             fontStyle="italic").encode(x=x_at, y=alt.value(0), text="text:N"))
    return alt.layer(*layers, title=title, height=height)


BAR_GAP = 0.08  # of a bucket, either side of its bar


def _bucket_spans(x: str, step: dt.timedelta | None) -> dict[str, str]:
    """Vega expressions for where a bucket's bar starts and ends, and its middle (a bucket of an hour without a step)."""
    width = (step or dt.timedelta(hours=1)) / dt.timedelta(milliseconds=1)
    at = f"time(toDate(datum[{x!r}]))"
    return {"bar_start": f"{at} + {BAR_GAP * width:.0f}", "bar_end": f"{at} + {(1 - BAR_GAP) * width:.0f}",
            "bar_middle": f"{at} + {width / 2:.0f}"}


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


BRUSH = "brush"  # the volume chart's interval selection (its name in Streamlit's selection event)
VOLUME_LINES = {"ok": "OK", "status_4xx": "4xx", "status_5xx": "5xx"}


def volume_chart(series: pl.DataFrame, *, tz: str | None, partial: Sequence[dt.datetime] = (), height: int = 240) -> alt.LayerChart:
    """Stacked areas of requests per bucket (OK, 4xx, 5xx: series.volume_series) that can be brushed: dragging
    across it selects a time range (the BRUSH parameter), double-clicking clears it."""
    chart = time_series(series, VOLUME_LINES, title="Requests", unit="requests", tz=tz, kind="area", height=height,
                        partial=partial)
    brush = alt.selection_interval(name=BRUSH, encodings=["x"])
    chart.layer[0] = chart.layer[0].add_params(brush)
    return chart
