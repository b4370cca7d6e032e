"""core.storage.cache.snapshot on SQLite and PostgreSQL: a process that starts again takes the settled rollups from
the snapshot the last full load left on disk, with the same facts a full load reads, and only while the snapshot is
still true of the database. Each full load here runs the bulk load's child process (BULK_MIN_ROWS lowered)."""
from __future__ import annotations

import datetime as dt
import stat

import polars as pl
import pytest
import sqlalchemy as sa

from core.storage import cache, rollups, store
from core.storage.cache import reader, snapshot
from core.storage.cache.entry import entry_for
from tests.factories import make_request

pytestmark = pytest.mark.usefixtures("fresh_cache")  # tests/conftest.py
UTC = dt.timezone.utc
HOUR = dt.timedelta(hours=1)
TOP = rollups.settled_before()  # every hour before it is settled


@pytest.fixture
def snapshots(monkeypatch, tmp_path):
    monkeypatch.setenv("CLIENTELE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(reader, "BULK_MIN_ROWS", 1)  # the bulk load (the one that leaves files) on a small database
    return tmp_path / "cache"


@pytest.fixture
def traffic(engine):
    """Requests of three customers over the 40 settled hours before TOP, and two in the current hours."""
    api = store.create_api(engine, "Orders API", api_key="orders-key", sdk_token="orders-token")["api_id"]
    store.write_requests(engine, [
        (api, make_request(customer_id=f"cust_{'abc'[h % 3]}", timestamp=TOP - (h + 0.5) * HOUR, status=200 + 100 * (h % 4 == 0),
                           load_time_ms=10.0 + h))
        for h in range(40)
    ] + [(api, make_request(customer_id="cust_a", timestamp=TOP + HOUR * k)) for k in (0.2, 1.2)])
    return api


def _started(engine) -> pl.DataFrame:
    """The settled rollups a process that starts now holds (as a new process would load them), in a fixed order."""
    cache.invalidate()
    cache.refresh(engine)
    frame = entry_for(engine).held.main.frame
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String)).sort("api_id", "timestamp", "customer_id", "endpoint", "method")


def _from_snapshot(engine) -> int:
    return cache.stats(engine)["snapshots"]


def test_a_restart_takes_the_settled_rollups_from_the_snapshot_with_the_same_facts(engine, snapshots, traffic):
    # Every start read every rollup row again: about 20-35 s at 10 million requests.
    loaded = _started(engine)
    assert _from_snapshot(engine) == 0 and loaded.height > 0
    assert (snapshots / snapshot.directory(engine).name / "current").is_file()
    again = _started(engine)
    assert _from_snapshot(engine) == 1
    assert again.equals(loaded)


def test_hours_settled_since_the_snapshot_are_read_from_sql_and_added(engine, snapshots, traffic, monkeypatch):
    monkeypatch.setattr(rollups, "settled_before", lambda now=None: TOP - 10 * HOUR)
    _started(engine)  # the snapshot holds the hours before TOP - 10 h
    monkeypatch.setattr(rollups, "settled_before", lambda now=None: TOP)
    with_gap = _started(engine)
    assert _from_snapshot(engine) == 1
    monkeypatch.setenv("CLIENTELE_CACHE_DIR", "off")
    assert with_gap.equals(_started(engine))  # a full load, without any snapshot


def test_a_snapshot_is_not_used_once_settled_hours_were_written_or_its_rows_differ(engine, snapshots, traffic):
    before = _started(engine)
    # An import into a settled hour moves the rollup epoch: the snapshot no longer holds what the database does.
    store.write_requests(engine, [(traffic, make_request(customer_id="cust_z", timestamp=TOP - 20.5 * HOUR))])
    imported = _started(engine)
    assert _from_snapshot(engine) == 0
    assert imported.height == before.height + 1 and "cust_z" in imported.get_column("customer_id").to_list()
    # Rows gone without the epoch moving (a backup restored, another database at the same address): not used either.
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM rollup_hours WHERE customer_id = 'cust_z'"))
    restored = _started(engine)
    assert _from_snapshot(engine) == 0
    assert restored.equals(before)


def test_a_snapshot_that_cannot_be_read_is_a_full_load(engine, snapshots, traffic):
    loaded = _started(engine)
    home = snapshot.directory(engine)
    (home / (home / "current").read_text() / "facts.parquet").write_bytes(b"not parquet")
    assert _started(engine).equals(loaded)
    assert _from_snapshot(engine) == 0
    assert _started(engine).equals(loaded) and _from_snapshot(engine) == 1  # the full load published a new one


def test_snapshots_are_private_to_the_owner_and_none_are_kept_when_off(engine, snapshots, traffic, monkeypatch):
    _started(engine)
    home = snapshot.directory(engine)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert len([p for p in home.iterdir() if p.is_dir()]) == 1  # older ones removed
    _started(engine)
    assert len([p for p in home.iterdir() if p.is_dir()]) == 1
    monkeypatch.setenv("CLIENTELE_CACHE_DIR", "off")
    assert snapshot.directory(engine) is None
    _started(engine)
    assert _from_snapshot(engine) == 0
