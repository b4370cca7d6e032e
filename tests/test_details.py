"""core.storage.details: request details packed (one zstd frame with the shipped dictionary), read back exactly,
on SQLite and PostgreSQL, next to rows stored before packing (migration 0007), whatever a stranger sent."""
from __future__ import annotations

import datetime as dt

import orjson
import pytest
import sqlalchemy as sa
import zstandard

from core.domain.scope import Scope
from core.storage import details, request_log, store
from core.storage.models import RequestDetail
from tests.factories import make_request

HOSTILE = {
    "request_headers": {"x-probe": "<" * 65536, "x-quote": "'\"`" * 1000, "x-sql": "' UNION SELECT password FROM users --" * 50},
    "request_body": {"big": 2**70, "negative": -(2**65), "float": 0.1, "nested": [[{"a": None}]], "text": "é日本\u2028\x7f"},
    "query": {"q": "1 UNION SELECT 1"},
    "response_headers": {},
    "response_body": "<html>" + "&lt;" * 10000,
    "server": None,
}


def test_packed_fields_come_back_exactly_even_hostile_and_huge_ones():
    blob = details.pack(HOSTILE)
    assert details.unpack(blob) == HOSTILE
    assert type(details.unpack(blob)["request_body"]["big"]) is int  # not a float: json wrote it, json reads it


def test_string_keys_are_written_as_before_and_other_keys_still_packed():
    fields = {"query": {"a": "1"}, "server": {"os": {"name": "linux"}}}
    assert details._json_bytes(fields) == b"o" + orjson.dumps(fields, option=orjson.OPT_NON_STR_KEYS)
    assert details.unpack(details.pack({"request_body": {1: "one", "two": 2}})) == {**dict.fromkeys(details.PACKED_FIELDS),
                                                                                  "request_body": {"1": "one", "two": 2}}


def test_a_frame_names_the_shipped_dictionary_and_is_far_smaller_than_its_json():
    fields = {name: getattr(make_request(), name) for name in details.PACKED_FIELDS}
    blob = details.pack(fields)
    assert zstandard.get_frame_parameters(blob).dict_id == details.DICTIONARY_ID
    assert zstandard.get_frame_parameters(blob).has_checksum  # read with a wrong dictionary, it fails, never decodes to garbage
    assert len(blob) < len(orjson.dumps(fields)) / 2


def test_a_frame_without_a_dictionary_is_read_and_an_unknown_dictionary_is_refused():
    plain = zstandard.ZstdCompressor().compress(b"o" + orjson.dumps({"query": {"a": "1"}}))
    assert details.unpack(plain) == {"query": {"a": "1"}}
    samples = [orjson.dumps({"n": n, "text": "x" * (n % 50)}) for n in range(2000)]
    other = zstandard.train_dictionary(1024, samples, dict_id=77)  # a dictionary this version does not ship
    foreign = zstandard.ZstdCompressor(dict_data=other).compress(b"o{}")
    assert zstandard.get_frame_parameters(foreign).dict_id == 77
    with pytest.raises(ValueError, match="dictionary 77"):
        details.unpack(foreign)


def test_new_rows_are_packed_and_leave_the_json_columns_empty(engine):
    api = store.create_api(engine, "Orders API", api_key="k")["api_id"]
    [rid] = store.write_requests(engine, [(api, make_request())])
    with engine.connect() as conn:
        row = conn.execute(sa.select(RequestDetail.__table__).where(RequestDetail.request_id == rid)).mappings().one()
    assert row["packed"] is not None
    assert all(row[name] is None for name in details.PACKED_FIELDS)
    shown = request_log.request_detail(engine, Scope.workspace(), rid)
    r = make_request()
    assert (shown["request_headers"], shown["request_body"], shown["response_body"], shown["server"]) == (
        r.request_headers, r.request_body, r.response_body, r.server)


def test_a_row_stored_before_packing_reads_as_before(engine):
    """Migration 0007 rewrites nothing: a row of the JSON columns (packed NULL) shows the same details."""
    api = store.create_api(engine, "Orders API", api_key="k")["api_id"]
    [rid] = store.write_requests(engine, [(api, make_request(timestamp=dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)))])
    r = make_request()
    legacy = {name: getattr(r, name) for name in details.PACKED_FIELDS}
    with engine.begin() as conn:
        conn.execute(sa.update(RequestDetail).where(RequestDetail.request_id == rid).values(packed=None, **legacy))
    shown = request_log.request_detail(engine, Scope.workspace(), rid)
    assert {name: shown[name] for name in details.PACKED_FIELDS} == legacy
