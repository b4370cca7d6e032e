"""core.present.charts: titles, units, tooltips and viewer-time conversion of the shared chart builders."""
import datetime as dt

import polars as pl
import pytest

from core.domain.frames import UTC_US
from core.domain.timewindow import window
from core.present import charts, series

UTC = dt.timezone.utc


def _series():
    return pl.DataFrame({
        "bucket": [dt.datetime(2026, 11, 25, h, tzinfo=UTC) for h in (10, 11, 12)],
        "requests": [4, 0, 7],
        "avg_response_size_bytes": [1024.0, 0.0, 3072.0],
        "status_4xx": [1, 0, 2],
        "status_5xx": [0, 0, 3],
    })


def _data(chart) -> list[dict]:
    spec = chart.to_dict()
    (rows,) = spec["datasets"].values()
    return rows


def _marks(spec: dict) -> list[dict]:
    """The series layers of a time chart: every layer but the crosshair and the "so far" label."""
    return [la for la in spec["layer"] if la.get("name") != "crosshair" and la["mark"]["type"] != "text"]


def _series_rows(chart) -> list[dict]:
    spec = chart.to_dict()
    return spec["datasets"][_marks(spec)[0]["data"]["name"]]


def _crosshair(spec: dict) -> dict:
    (layer,) = [la for la in spec["layer"] if la.get("name") == "crosshair"]
    return layer


def _layer_rows(spec: dict, layer: dict) -> list[dict]:
    return spec["datasets"][layer["data"]["name"]]


def test_time_series_has_title_and_axis_titles_with_units():
    spec = charts.time_series(_series(), "requests", title="Requests", unit="requests", tz="UTC").to_dict()
    (line,) = _marks(spec)
    assert spec["title"] == "Requests"
    assert line["encoding"]["x"]["title"] == "Time (UTC)"
    assert line["encoding"]["y"]["title"] == "Requests"
    assert line["mark"]["type"] == "line"


def test_time_series_shows_times_in_the_viewer_zone():
    chart = charts.time_series(_series(), "requests", title="Requests", unit="requests", tz="Europe/Berlin")
    assert [r["bucket"] for r in _series_rows(chart)] == [
        "2026-11-25T11:00:00+0000", "2026-11-25T12:00:00+0000", "2026-11-25T13:00:00+0000"]
    assert _marks(chart.to_dict())[0]["encoding"]["x"]["title"] == "Time (Europe/Berlin)"


def test_chart_times_are_tokyo_wall_clock_values_labelled_utc_so_the_browser_cannot_shift_them():
    # Streamlit moves zone-less datetimes by the browser's own offset: 10:00 UTC drawn in Tokyo read 18:00 + 9 h.
    frame = charts.local_times(_series(), "bucket", "Asia/Tokyo")
    assert frame.schema["bucket"] == pl.Datetime("us", "UTC")
    assert frame.get_column("bucket").to_list()[0] == dt.datetime(2026, 11, 25, 19, 0, tzinfo=UTC)


def test_time_series_draws_wall_clock_times_on_a_utc_scale():
    spec = charts.time_series(_series(), "requests", title="Requests", unit="requests", tz="Asia/Tokyo").to_dict()
    assert {str(la["encoding"]["x"]["scale"]) for la in spec["layer"]} == {"{'type': 'utc'}"}


def test_time_tooltip_formats_with_a_utc_time_unit_not_an_unknown_format_type():
    # formatType "utc" is no Vega-Lite format type: the tooltip read "Time NaN".
    spec = charts.time_series(_series(), "requests", title="Requests", unit="requests", tz="Asia/Tokyo").to_dict()
    tip = _crosshair(spec)["encoding"]["tooltip"][0]
    assert tip.get("formatType", "time") in ("time", "number")
    assert (tip["timeUnit"], tip["format"]) == ("utcyearmonthdatehoursminutes", "%Y-%m-%d %H:%M")


def test_every_time_chart_has_a_crosshair_on_the_nearest_bucket():
    spec = charts.time_series(_series(), "requests", title="Requests", unit="requests", tz="UTC").to_dict()
    rule = _crosshair(spec)
    (param,) = spec["params"]  # Altair lifts a layer's selection to the top, naming the layer it listens on
    assert (rule["mark"]["type"], param["views"]) == ("rule", ["crosshair"])
    assert (param["select"]["nearest"], param["select"]["on"], param["select"]["fields"]) == (True, "pointerover", ["bucket"])
    # Drawn only where the pointer is: invisible everywhere else.
    assert rule["encoding"]["opacity"] == {"condition": {"param": param["name"], "value": 0.7, "empty": False}, "value": 0.0}


def test_the_crosshair_tooltip_shows_the_local_time_and_every_series_value():
    spec = charts.time_series(_series(), {"status_4xx": "4xx", "status_5xx": "5xx"}, title="Failed requests",
                              label="Requests", unit="requests", tz="Asia/Tokyo", kind="area").to_dict()
    rule = _crosshair(spec)
    assert [(t["title"], t["field"]) for t in rule["encoding"]["tooltip"]] == [("Time", "bucket"), ("4xx", "s0"), ("5xx", "s1")]
    # One row per bucket holding both values, at Tokyo's wall-clock time: 12:00 UTC is 21:00 there.
    assert _layer_rows(spec, rule)[2] == {"bucket": "2026-11-25T21:00:00+0000", "s0": 2.0, "s1": 3.0, "note": ""}


def test_partial_bucket_is_dashed_labelled_so_far_and_noted_in_the_tooltip():
    chart = charts.time_series(_series(), "requests", title="Requests", unit="requests", tz="Asia/Tokyo",
                               partial=[dt.datetime(2026, 11, 25, 12, tzinfo=UTC)], now=dt.datetime(2026, 11, 25, 12, 37, tzinfo=UTC))
    spec = chart.to_dict()
    solid, dashed = _marks(spec)
    assert (solid["transform"], solid["mark"].get("strokeDash")) == ([{"filter": "(datum.partial === false)"}], None)
    assert (dashed["transform"], dashed["mark"]["strokeDash"]) == ([{"filter": "datum.tail"}], [4, 3])
    # The dashed stretch runs from the last whole bucket (20:00 Tokyo) into the partial one (21:00).
    assert [(r["bucket"], r["partial"], r["tail"]) for r in _series_rows(chart)] == [
        ("2026-11-25T19:00:00+0000", False, False), ("2026-11-25T20:00:00+0000", False, True),
        ("2026-11-25T21:00:00+0000", True, True)]
    (label,) = [la for la in spec["layer"] if la["mark"]["type"] == "text"]
    assert _layer_rows(spec, label) == [{"bucket": "2026-11-25T21:00:00+0000", "text": charts.PARTIAL_LABEL}]
    notes = [r["note"] for r in _layer_rows(spec, _crosshair(spec))]
    assert notes == ["", "", charts.PARTIAL_NOTE]
    assert [t["title"] for t in _crosshair(spec)["encoding"]["tooltip"]] == ["Time", "Requests", "Note"]


def test_a_partial_bucket_that_is_over_reads_partial_not_so_far():
    """A range that ends in the past (a brushed or typed one) cuts its last bucket: that bucket is partial, but it
    is not "so far" (before, it said "this bucket is not over yet" about last week)."""
    spec = charts.time_series(_series(), "requests", title="Requests", unit="requests", tz="Asia/Tokyo",
                              partial=[dt.datetime(2026, 11, 25, 12, tzinfo=UTC)],
                              now=dt.datetime(2026, 11, 25, 13, 0, tzinfo=UTC)).to_dict()
    (label,) = [la for la in spec["layer"] if la["mark"]["type"] == "text"]
    assert _layer_rows(spec, label) == [{"bucket": "2026-11-25T21:00:00+0000", "text": charts.CUT_LABEL}]
    assert [r["note"] for r in _layer_rows(spec, _crosshair(spec))] == ["", "", charts.CUT_NOTE]


def test_a_range_starting_inside_its_first_bucket_draws_that_bucket_partial_too():
    """A range brushed to the minute starts inside its first (hourly) bucket: that bucket is partial as well, with
    its own dashed stretch (one dashed line from the first bucket to the last would cross the chart) and note."""
    chart = charts.time_series(_series(), "requests", title="Requests", unit="requests", tz="Asia/Tokyo",
                               partial=[dt.datetime(2026, 11, 25, 10, tzinfo=UTC), dt.datetime(2026, 11, 25, 12, tzinfo=UTC)],
                               now=dt.datetime(2026, 11, 26, 9, tzinfo=UTC))
    spec = chart.to_dict()
    solid, *dashed = _marks(spec)
    assert [(d["transform"], d["mark"]["strokeDash"]) for d in dashed] == [
        ([{"filter": "datum.tail"}], [4, 3]), ([{"filter": "datum.head"}], [4, 3])]
    assert [(r["bucket"], r["partial"], r["tail"], r["head"]) for r in _series_rows(chart)] == [
        ("2026-11-25T19:00:00+0000", True, False, True), ("2026-11-25T20:00:00+0000", False, True, True),
        ("2026-11-25T21:00:00+0000", True, True, False)]
    # Each label inside the plot: the last bucket's left of its start, the first bucket's right of it.
    labels = [la for la in spec["layer"] if la["mark"]["type"] == "text"]
    assert [(la["mark"]["align"], _layer_rows(spec, la)) for la in labels] == [
        ("right", [{"bucket": "2026-11-25T21:00:00+0000", "text": charts.CUT_LABEL}]),
        ("left", [{"bucket": "2026-11-25T19:00:00+0000", "text": charts.CUT_LABEL}])]
    assert [r["note"] for r in _layer_rows(spec, _crosshair(spec))] == [charts.START_NOTE, "", charts.CUT_NOTE]


def test_partial_bars_are_drawn_paler():
    spec = charts.time_series(_series(), {"status_4xx": "4xx", "status_5xx": "5xx"}, title="Failed requests",
                              label="Requests", unit="requests", tz="UTC", kind="bar",
                              partial=[dt.datetime(2026, 11, 25, 12, tzinfo=UTC)]).to_dict()
    (bars,) = _marks(spec)
    assert bars["encoding"]["opacity"] == {"condition": {"test": "(datum.partial === false)", "value": 1.0}, "value": 0.4}


def test_without_partial_buckets_nothing_is_marked():
    spec = charts.time_series(_series(), "requests", title="Requests", unit="requests", tz="UTC", kind="area").to_dict()
    assert len(_marks(spec)) == 1
    assert not [la for la in spec["layer"] if la["mark"]["type"] == "text"]
    assert [t["title"] for t in _crosshair(spec)["encoding"]["tooltip"]] == ["Time", "Requests"]


def test_daily_buckets_get_one_tick_per_day_labelled_with_the_date():
    # Daily buckets start with the window (here 12:00): Vega's own ticks read "12 PM" under every day.
    days = pl.DataFrame({"bucket": [dt.datetime(2026, 11, d, 12, tzinfo=UTC) for d in (18, 19, 20)], "requests": [1, 2, 3]})
    spec = charts.time_series(days, "requests", title="Requests", unit="requests", tz="UTC").to_dict()
    axis = _marks(spec)[0]["encoding"]["x"]["axis"]
    assert (axis["tickCount"], axis["format"]) == ({"interval": "day", "step": 1}, "%b %d")


def _offsets_ms(layer: dict) -> dict[str, int]:
    """What each calculated field of a layer adds to its bucket's start (`time(toDate(datum['bucket'])) + N`)."""
    return {t["as"]: int(t["calculate"].rsplit("+", 1)[1]) for t in layer.get("transform", []) if "calculate" in t}


def test_a_bar_spans_its_bucket_with_a_gap_either_side_and_the_crosshair_stands_at_its_middle():
    # Drawn at its start alone, a bar on a time scale was a thin mark (the weekly new vs returning bars: 5 px wide).
    spec = charts.time_series(_series(), {"status_4xx": "4xx", "status_5xx": "5xx"}, title="Failed requests",
                              label="Requests", unit="requests", tz="UTC", kind="bar").to_dict()
    (bars,) = _marks(spec)
    hour_ms = 3_600_000
    assert (bars["encoding"]["x"]["field"], bars["encoding"]["x2"]["field"]) == ("bar_start", "bar_end")
    assert bars["mark"]["orient"] == "vertical" and bars["encoding"]["y"]["stack"] is True
    spans = _offsets_ms(bars)
    assert 0 < spans["bar_start"] < spans["bar_end"] < hour_ms
    assert spans["bar_start"] == hour_ms - spans["bar_end"]  # the same gap either side
    assert spans["bar_middle"] == hour_ms // 2
    crosshair = _crosshair(spec)
    assert crosshair["encoding"]["x"]["field"] == "bar_middle" and _offsets_ms(crosshair) == {"bar_middle": hour_ms // 2}


def test_weekly_bars_are_named_by_the_day_each_week_starts_under_their_middle():
    # Vega's own ticks read "Tue 08", "Sat 12", "Wed 16", "Sep 20" … between the weeks.
    weeks = pl.DataFrame({"bucket": [dt.datetime(2026, 11, 2, tzinfo=UTC) + dt.timedelta(weeks=i) for i in range(3)],
                          "new_customers": [1, 2, 3], "returning_customers": [4, 5, 6]})
    spec = charts.time_series(weeks, {"new_customers": "New", "returning_customers": "Returning"}, title="Customers",
                              unit="customers", tz="Asia/Tokyo", kind="bar").to_dict()
    axis = _marks(spec)[0]["encoding"]["x"]["axis"]
    half_week_ms = 7 * 86_400_000 // 2
    # Monday 00:00 UTC is 09:00 in Tokyo; the middle of that week, 3.5 days later, is Thursday 21:00.
    assert [(v["month"], v["date"], v["hours"], v["utc"]) for v in axis["values"]] == [
        (11, 5, 21, True), (11, 12, 21, True), (11, 19, 21, True)]
    assert axis["labelExpr"] == f"utcFormat(datum.value - {half_week_ms}, '%b %d')"
    lines = charts.time_series(weeks, "new_customers", title="New", unit="customers", tz="UTC").to_dict()
    assert [v["date"] for v in _marks(lines)[0]["encoding"]["x"]["axis"]["values"]] == [2, 9, 16]  # a point: its start


def test_value_axes_drop_trailing_zeros_and_tooltips_keep_the_decimal():
    # A load-time axis read "0.0, 1,000.0, 2,000.0 …".
    spec = charts.time_series(_series(), {"requests": "Average"}, title="Load time", unit="ms", tz="UTC").to_dict()
    assert _marks(spec)[0]["encoding"]["y"]["axis"]["format"] == ",.1~f"
    assert _crosshair(spec)["encoding"]["tooltip"][1]["format"] == ",.1f"


def test_hourly_buckets_keep_vegas_own_ticks():
    spec = charts.time_series(_series(), "requests", title="Requests", unit="requests", tz="UTC").to_dict()
    assert "tickCount" not in _marks(spec)[0]["encoding"]["x"]["axis"]


def test_unknown_time_zone_falls_back_to_utc():
    chart = charts.time_series(_series(), "requests", title="Requests", unit="requests", tz="Nowhere/Land")
    assert _series_rows(chart)[0]["bucket"] == "2026-11-25T10:00:00+0000"


def test_sizes_are_drawn_in_kilobytes():
    chart = charts.time_series(_series(), "avg_response_size_bytes", title="Response size", unit="bytes", tz="UTC")
    assert [r["value"] for r in _series_rows(chart)] == [1.0, 0.0, 3.0]
    assert _marks(chart.to_dict())[0]["encoding"]["y"]["title"] == "Response size (KB)"
    assert [r["s0"] for r in _layer_rows(chart.to_dict(), _crosshair(chart.to_dict()))] == [1.0, 0.0, 3.0]


def test_tooltips_name_time_and_value_with_format():
    spec = charts.time_series(_series(), "requests", title="Load", label="Load time", unit="ms", tz="UTC").to_dict()
    tips = _crosshair(spec)["encoding"]["tooltip"]
    assert [t["title"] for t in tips] == ["Time", "Load time (ms)"]
    assert tips[1]["format"] == ",.1f"


def test_several_columns_become_coloured_stacked_series():
    chart = charts.time_series(_series(), {"status_4xx": "4xx", "status_5xx": "5xx"}, title="Errors",
                               label="Requests", unit="requests", tz="UTC", kind="bar")
    (bars,) = _marks(chart.to_dict())
    assert bars["mark"]["type"] == "bar"
    assert bars["encoding"]["color"]["field"] == "series"
    assert bars["encoding"]["y"]["stack"] is True
    rows = _series_rows(chart)
    assert len(rows) == 6
    assert sorted({r["series"] for r in rows}) == ["4xx", "5xx"]
    assert [r["value"] for r in rows if r["series"] == "5xx"] == [0.0, 0.0, 3.0]


def test_server_errors_are_red_and_client_errors_amber():
    chart = charts.time_series(_series(), {"status_4xx": "4xx", "status_5xx": "5xx"}, title="Failed requests",
                               label="Requests", unit="requests", tz="UTC", kind="bar")
    scale = _marks(chart.to_dict())[0]["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"])) == {"4xx": "#f59e0b", "5xx": "#dc2626"}


def test_series_without_a_fixed_colour_keep_the_default_palette():
    chart = charts.time_series(_series(), {"requests": "Requests", "status_4xx": "4xx"}, title="Mixed",
                               unit="requests", tz="UTC")
    assert "scale" not in _marks(chart.to_dict())[0]["encoding"]["color"]


def test_unknown_unit_is_refused():
    with pytest.raises(ValueError, match="Unknown chart unit"):
        charts.time_series(_series(), "requests", title="Requests", unit="parsecs", tz="UTC")


def test_bar_chart_sorts_biggest_first_and_labels_the_measure():
    frame = pl.DataFrame({"display_name": ["Acme", "Globex"], "requests": [3, 5], "customer_id": ["c1", "c2"]})
    chart = charts.bar_chart(frame, "display_name", "requests", title="Top customers", unit="requests",
                             category_title="Customer", tooltip={"customer_id": "Customer ID"})
    spec = chart.to_dict()
    assert spec["title"] == "Top customers"
    assert spec["encoding"]["y"]["sort"] == "-x"
    assert spec["encoding"]["x"]["title"] == "Requests"
    assert [t["title"] for t in spec["encoding"]["tooltip"]] == ["Customer", "Requests", "Customer ID"]
    assert _data(chart) == [{"display_name": "Acme", "requests": 3.0, "customer_id": "c1"},
                            {"display_name": "Globex", "requests": 5.0, "customer_id": "c2"}]


def test_heatmap_keeps_the_frame_order_of_rows_and_columns():
    frame = pl.DataFrame({
        "display_name": ["Zeta", "Zeta", "Alpha", "Alpha"],
        "endpoint": ["/b", "/a", "/b", "/a"],
        "requests": [9, 1, 4, 0],
    })
    chart = charts.heatmap(frame, x="endpoint", y="display_name", value="requests", title="Adoption",
                           x_title="Endpoint", y_title="Customer")
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "rect"
    assert spec["encoding"]["y"]["sort"] == ["Zeta", "Alpha"]
    assert spec["encoding"]["x"]["sort"] == ["/b", "/a"]
    assert spec["encoding"]["color"]["title"] == "Requests"
    assert [t["title"] for t in spec["encoding"]["tooltip"]] == ["Customer", "Endpoint", "Requests"]


def test_count_axes_have_no_ticks_between_whole_numbers():
    # A failed-requests chart peaking at 1 labelled its axis "0, 1, 1" (ticks at 0.5 rounded by ",.0f").
    counts = charts.time_series(_series(), "requests", title="Requests", unit="requests", tz="UTC").to_dict()
    times = charts.time_series(_series(), "requests", title="Load time", unit="ms", tz="UTC").to_dict()
    assert _marks(counts)[0]["encoding"]["y"]["axis"]["tickMinStep"] == 1
    assert "tickMinStep" not in _marks(times)[0]["encoding"]["y"]["axis"]


# ---------------------------------------------------------------- the brushable volume chart (#14)


def _wall_ms(text: str) -> int:
    """A wall-clock time as the chart's brush reports it: epoch ms of that time labelled UTC (charts.local_times)."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def test_a_brush_in_tokyo_wall_clock_time_narrows_the_window_to_those_utc_times():
    week = window("7d", dt.datetime(2026, 11, 25, 12, tzinfo=dt.timezone.utc))
    narrowed = series.brushed_window({"bucket": [_wall_ms("2026-11-21T09:00"), _wall_ms("2026-11-21T18:30")]}, week, "Asia/Tokyo")
    assert (narrowed.start, narrowed.end) == (dt.datetime(2026, 11, 21, 0, tzinfo=dt.timezone.utc),
                                              dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.timezone.utc))
    assert narrowed.preset == "custom" and narrowed.bucket == week.bucket


def test_a_brush_past_the_windows_edges_is_clipped_to_it_and_one_outside_is_no_brush():
    week = window("7d", dt.datetime(2026, 11, 25, 12, tzinfo=dt.timezone.utc))
    wide = series.brushed_window({"bucket": [_wall_ms("2026-11-01T00:00"), _wall_ms("2026-12-30T00:00")]}, week, "UTC")
    assert (wide.start, wide.end) == (week.start, week.end)
    assert series.brushed_window({"bucket": [_wall_ms("2026-10-01T00:00"), _wall_ms("2026-10-02T00:00")]}, week, "UTC") is None


@pytest.mark.parametrize("selection", [None, {}, {"bucket": []}, {"bucket": [1]}, {"bucket": ["x", "y"]}, {"bucket": [True, 5]}])
def test_no_brush_or_a_malformed_one_leaves_the_window_alone(selection):
    week = window("7d", dt.datetime(2026, 11, 25, 12, tzinfo=dt.timezone.utc))
    assert series.brushed_window(selection, week, "UTC") is None


def test_the_volume_chart_stacks_ok_4xx_and_5xx_and_offers_the_brush():
    week = window("24h", dt.datetime(2026, 11, 25, 12, tzinfo=dt.timezone.utc))
    frame = pl.DataFrame({"bucket": [week.start + dt.timedelta(hours=i) for i in range(24)], "ok": [5] * 24,
                          "status_4xx": [1] * 24, "status_5xx": [0] * 24}, schema_overrides={"bucket": UTC_US})
    spec = charts.volume_chart(frame, tz="UTC").to_dict()
    assert [p["name"] for p in spec["params"] if p["select"]["type"] == "interval"] == [charts.BRUSH]
    rows = next(iter(spec["datasets"].values()))
    assert {r["series"] for r in rows} == {"OK", "4xx", "5xx"}
