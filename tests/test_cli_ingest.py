"""`python -m core ingest` and `python -m core apis add` as a user runs them: a subprocess with DATABASE_URL."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.storage import store
from core.storage.models import Request
from tests.conftest import fixture_payload

ROOT = Path(__file__).resolve().parent.parent


def _cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def captured_api(engine):
    store.create_api(engine, "Captured", api_key="test-api-key")


def _ndjson(tmp_path: Path, *lines: bytes) -> str:
    path = tmp_path / "traffic.ndjson"
    path.write_bytes(b"\n".join(lines))
    return str(path)


def _good() -> bytes:
    return json.dumps(fixture_payload("django-01-get-treblle-user-id.json")).encode()


def test_ingest_of_good_payloads_exits_0_and_counts_them(db_url, engine, captured_api, tmp_path):
    result = _cli(db_url, "ingest", _ndjson(tmp_path, _good(), _good()))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["accepted: 2", "rejected: 0"]
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Request)) == 2


def test_ingest_with_a_bad_line_exits_1_names_the_line_and_keeps_the_good_ones(db_url, engine, captured_api, tmp_path):
    result = _cli(db_url, "ingest", _ndjson(tmp_path, _good(), b"{oops", _good()))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == ["accepted: 2", "rejected: 1"]
    assert lines[2].startswith("  traffic.ndjson:2: line: not valid JSON")
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Request)) == 2


def test_ingest_of_a_missing_file_exits_2_with_a_message(db_url, engine, tmp_path):
    result = _cli(db_url, "ingest", str(tmp_path / "nope.ndjson"))
    assert result.returncode == 2
    assert "nope.ndjson: no such file" in result.stderr


def test_ingest_with_an_unknown_api_key_exits_2(db_url, engine, captured_api, tmp_path):
    result = _cli(db_url, "ingest", _ndjson(tmp_path, _good()), "--api-key", "missing-key")
    assert result.returncode == 2
    assert "no API with key 'missing-key'" in result.stderr


def test_apis_add_json_prints_api_id_api_key_and_sdk_token(db_url, engine):
    result = _cli(db_url, "apis", "add", "Payments", "--json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert sorted(created) == ["api_id", "api_key", "sdk_token"]
    assert store.api_keys(engine) == {created["api_key"]: created["api_id"]}
    assert store.valid_token_hashes(engine) == {store.token_hash(created["sdk_token"]): created["api_id"]}


def test_apis_add_of_a_taken_name_exits_2(db_url, engine):
    store.create_api(engine, "Payments")
    result = _cli(db_url, "apis", "add", "Payments", "--json")
    assert result.returncode == 2
    assert "already exists" in result.stderr


def test_ingested_payload_is_attributed_to_the_api_created_by_the_cli(db_url, engine, tmp_path):
    created = json.loads(_cli(db_url, "apis", "add", "Shop", "--json").stdout)
    payload = fixture_payload("django-02-post-json-user-id-and-metadata.json")
    payload["project_id"] = created["api_key"]
    result = _cli(db_url, "ingest", _ndjson(tmp_path, json.dumps(payload).encode()))
    assert result.returncode == 0, result.stdout + result.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.select(Request.api_id, Request.customer_id)).all() == [(created["api_id"], "cust_42")]


def test_ingest_timestamps_local_reads_a_node_payload_in_its_server_zone(db_url, engine, captured_api, tmp_path):
    payload = fixture_payload("treblle-node-1.5.2-post-json-user-id-and-metadata.json")
    payload["data"]["server"]["timezone"] = "Asia/Tokyo"
    payload["data"]["request"]["timestamp"] = "2026-11-25 23:00:05"
    path = _ndjson(tmp_path, json.dumps(payload).encode())
    assert _cli(db_url, "ingest", "--timestamps", "local", path).returncode == 0
    with engine.connect() as conn:
        stored = conn.scalar(sa.select(Request.timestamp))
    assert stored.replace(tzinfo=None).isoformat() == "2026-11-25T14:00:05"
