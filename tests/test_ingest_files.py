"""Import of payload files: .json (one payload or a list), .ndjson, gzipped; bad entries reported with
where they are, good ones kept. Runs on SQLite and, with TEST_DATABASE_URL, PostgreSQL."""
from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
import sqlalchemy as sa

from core.ingest.errors import PayloadError
from core.ingest.files import import_bytes, import_paths
from core.storage import store
from core.storage.models import RejectedPayload, Request
from tests.conftest import fixture_payload

DJANGO = "django-01-get-treblle-user-id.json"
NODE = "treblle-node-1.5.2-post-json-user-id-and-metadata.json"


@pytest.fixture
def api(engine):
    """The API the captured payloads name (project_id "test-api-key")."""
    return store.create_api(engine, "Captured", api_key="test-api-key")["api_id"]


def _stored(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(Request.customer_id, Request.status).order_by(Request.id))]


def _rejected_sources(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(RejectedPayload.source).order_by(RejectedPayload.id)).scalars())


def _line(name: str) -> bytes:
    return json.dumps(fixture_payload(name)).encode()


def test_json_file_with_one_payload_is_imported(engine, api):
    report = import_bytes(engine, [("one.json", _line(DJANGO))])
    assert (report.accepted, report.rejected) == (1, [])
    assert _stored(engine) == [("cust_42", 200)]


def test_json_file_with_a_list_imports_each_payload(engine, api):
    data = json.dumps([fixture_payload(DJANGO), fixture_payload("django-04-500-unhandled-exception.json")]).encode()
    report = import_bytes(engine, [("two.json", data)])
    assert report.accepted == 2
    assert _stored(engine) == [("cust_42", 200), ("cust_7", 500)]


def test_json_list_reports_a_bad_entry_by_index_and_keeps_the_others(engine, api):
    bad = fixture_payload(DJANGO)
    del bad["data"]["response"]["code"]
    data = json.dumps([fixture_payload(DJANGO), bad, fixture_payload(NODE)]).encode()
    report = import_bytes(engine, [("mixed.json", data)])
    assert report.accepted == 2
    assert [(r.source, r.reason) for r in report.rejected] == [("mixed.json[1]", "data.response.code: missing; the HTTP status code is required")]
    assert _stored(engine) == [("cust_42", 200), ("cust_42", 201)]


def test_ndjson_bad_lines_are_reported_with_line_numbers_and_good_lines_kept(engine, api):
    data = b"\n".join([_line(DJANGO), b"{not json", b"", _line(NODE), b'{"api_key": "test-api-key"}'])
    report = import_bytes(engine, [("traffic.ndjson", data)])
    assert report.accepted == 2
    assert [r.source for r in report.rejected] == ["traffic.ndjson:2", "traffic.ndjson:5"]
    assert report.rejected[0].reason.startswith("line: not valid JSON")
    assert report.rejected[1].reason == "data: missing; a Treblle payload has data.request and data.response"
    assert len(_stored(engine)) == 2


def test_rejections_are_stored_for_admins(engine, api):
    import_bytes(engine, [("traffic.ndjson", b"\n".join([_line(DJANGO), b"[1, 2]"]))])
    assert _rejected_sources(engine) == ["file traffic.ndjson:2"]


def test_gzipped_ndjson_is_imported(engine, api):
    data = gzip.compress(b"\n".join([_line(DJANGO), _line(NODE)]))
    report = import_bytes(engine, [("traffic.ndjson.gz", data)])
    assert (report.accepted, report.rejected) == (2, [])


def test_gzipped_json_list_is_imported(engine, api):
    data = gzip.compress(json.dumps([fixture_payload(DJANGO), fixture_payload(NODE)]).encode())
    assert import_bytes(engine, [("traffic.json.gz", data)]).accepted == 2


def test_corrupt_gzip_file_is_reported_as_one_rejection(engine, api):
    report = import_bytes(engine, [("broken.json.gz", b"\x1f\x8b\x08\x00garbage")])
    assert report.accepted == 0
    assert [r.source for r in report.rejected] == ["broken.json.gz"]
    assert report.rejected[0].reason.startswith("file: not a readable gzip file")


def test_invalid_json_file_suggests_ndjson(engine, api):
    report = import_bytes(engine, [("bad.json", b'{"a": 1}\n{"b": 2}')])
    assert "for one payload per line use .ndjson" in report.rejected[0].reason


def test_payload_of_unknown_api_is_rejected(engine, api):
    other = fixture_payload(DJANGO)
    other["project_id"] = "nobody"
    report = import_bytes(engine, [("x.json", json.dumps(other).encode())])
    assert report.rejected[0].reason.startswith("api_key: no API with key 'nobody'")


def test_api_key_option_attributes_every_payload_to_that_api(engine, api):
    other_api = store.create_api(engine, "Other", api_key="other-key")["api_id"]
    other = fixture_payload(DJANGO)
    other["project_id"] = "nobody"
    report = import_bytes(engine, [("x.json", json.dumps(other).encode())], api_key="other-key")
    assert report.accepted == 1
    with engine.connect() as conn:
        assert conn.scalar(sa.select(Request.api_id)) == other_api


def test_unknown_api_key_option_is_an_error_before_anything_is_read(engine, api):
    with pytest.raises(PayloadError, match="no API with key 'nope'"):
        import_bytes(engine, [("x.json", _line(DJANGO))], api_key="nope")


def test_import_paths_reads_files_from_disk(engine, api, tmp_path):
    path = tmp_path / "traffic.ndjson"
    path.write_bytes(b"\n".join([_line(DJANGO), _line(NODE)]))
    assert import_paths(engine, [str(path)]).accepted == 2


def test_import_paths_names_a_missing_file(engine, api, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        import_paths(engine, [str(tmp_path / "missing.json")])


# ---------------------------------------------------------------- which zone a timestamp is in


def _in_new_york(name: str) -> bytes:
    """A captured payload whose host said America/New_York, sent at 09:00:05 on its clock."""
    payload = fixture_payload(name)
    payload["data"]["server"]["timezone"] = "America/New_York"
    payload["data"]["request"]["timestamp"] = "2026-11-25 09:00:05"
    return json.dumps(payload).encode()


def _timestamps(engine) -> list:
    with engine.connect() as conn:
        return [t.replace(tzinfo=None) for t in conn.execute(sa.select(Request.timestamp).order_by(Request.id)).scalars()]


def test_import_reads_django_as_new_york_time_and_node_as_utc(engine, api):
    import_bytes(engine, [("two.ndjson", _in_new_york(DJANGO) + b"\n" + _in_new_york(NODE))])
    assert _timestamps(engine) == [dt.datetime(2026, 11, 25, 14, 0, 5), dt.datetime(2026, 11, 25, 9, 0, 5)]


@pytest.mark.parametrize("mode, expected", [("utc", [dt.datetime(2026, 11, 25, 9, 0, 5)] * 2),
                                             ("local", [dt.datetime(2026, 11, 25, 14, 0, 5)] * 2)])
def test_import_timestamps_option_reads_every_sdk_one_way(engine, api, mode, expected):
    import_bytes(engine, [("two.ndjson", _in_new_york(DJANGO) + b"\n" + _in_new_york(NODE))], timestamps=mode)
    assert _timestamps(engine) == expected


def test_import_refuses_an_unknown_timestamps_option(engine, api):
    with pytest.raises(PayloadError) as err:
        import_bytes(engine, [("one.json", _line(DJANGO))], timestamps="cet")
    assert str(err.value) == "--timestamps: choose one of auto, utc, local, not 'cet'"
