"""`python -m core stats --json`: the numbers, the customer view, errors, and SQLite = PostgreSQL byte for byte."""
from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from core.analytics import stats
from core.cli import main as cli
from core.domain.scope import Scope
from core.storage import models, store
from tests.conftest import PG_URL, _pg_url_with_schema
from tests.factories import NOW, make_request, seed_small

NOW_ISO = "2026-11-25T12:00:00Z"


pytestmark = pytest.mark.usefixtures("fresh_cache")  # tests/conftest.py


@pytest.fixture
def seeded(engine, db_url, monkeypatch):
    """seed_small (see tests/factories.py) behind DATABASE_URL."""
    seed_small(engine)
    monkeypatch.setenv("DATABASE_URL", db_url)
    yield engine
    # The command line keeps one engine per URL (models.engine_for); close its pool with the database.
    models.engine_for(db_url).dispose()
    models.engine_for.cache_clear()


def run(capsys, *args) -> tuple[int, dict | None, str]:
    code = cli(["stats", "--now", NOW_ISO, *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in args else None), err


def test_stats_json_gives_the_24h_overview_of_an_api(seeded, capsys):
    # Orders API, last 24h: cust_a at 1h (100 ms) and 2h (300 ms), cust_b at 3h (3000 bytes) and 5h (404),
    # one unattributed at 4h.
    code, data, _ = run(capsys, "--api", "Orders API", "--window", "24h", "--json")
    ov = data["overview"]
    assert (code, ov["total_requests"], ov["failed_requests"], ov["avg_load_time_ms"], ov["avg_response_size"]) == (0, 5, 1, 140.0, 1400.0)


def test_stats_json_lists_customers_with_shares(seeded, capsys):
    _, data, _ = run(capsys, "--api", "Orders API", "--window", "24h", "--json")
    assert [(c["display_name"], c["requests"], c["share_pct"], c["last_active"]) for c in data["customers"]] == [
        ("Alpha Inc", 2, 40.0, "2026-11-25T11:00:00Z"), ("Beta LLC", 2, 40.0, "2026-11-25T09:00:00Z")]


def test_stats_json_widgets_use_first_seen_on_the_api(seeded, capsys):
    # cust_a first called Orders 30h ago (previous period); cust_b 5h ago (new).
    _, data, _ = run(capsys, "--api", "Orders API", "--window", "24h", "--json")
    w = data["widgets"]
    assert (w["new_customers"], w["new_customers_prev"], w["active_customers"], w["active_customers_prev"],
            w["avg_requests_per_customer"], w["top_customer"]["customer_id"]) == (1, 1, 2, 1, 2.0, "cust_a")


def test_stats_json_window_and_series_are_hourly_for_24h(seeded, capsys):
    _, data, _ = run(capsys, "--window", "24h", "--json")
    assert (data["window"]["start"], data["window"]["bucket"], len(data["series"]), data["series"][-1]["requests"]) == (
        "2026-11-24T12:00:00Z", "1h", 24, 1)


def test_stats_as_customer_shows_only_their_numbers_and_apis(seeded, capsys):
    code, data, _ = run(capsys, "--as-customer", "cust_b", "--window", "24h", "--json")
    assert (code, sorted(data), data["overview"]["total_requests"], [a["name"] for a in data["apis"]]) == (
        0, ["api", "apis", "overview", "series", "window"], 2, ["Orders API"])


def test_stats_as_customer_never_prints_another_customer(seeded, capsys):
    code = cli(["stats", "--now", NOW_ISO, "--as-customer", "cust_c", "--window", "all", "--json"])
    out = capsys.readouterr().out
    assert code == 0 and not any(other in out for other in ("cust_a", "cust_b", "Alpha", "Beta", "Orders API"))


def test_stats_refuses_an_api_the_customer_never_used(seeded, capsys):
    code, _, err = run(capsys, "--as-customer", "cust_b", "--api", "Billing API", "--json")
    assert (code, "among the APIs of your account" in err) == (2, True)


def test_stats_refuses_an_unknown_api(seeded, capsys):
    code, _, err = run(capsys, "--api", "Nope", "--json")
    assert (code, "No API 'Nope'" in err) == (2, True)


def test_stats_refuses_an_unknown_customer(seeded, capsys):
    code, _, err = run(capsys, "--as-customer", "nobody", "--json")
    assert (code, "No requests from customer 'nobody'" in err) == (2, True)


def test_stats_refuses_a_bad_now(seeded, capsys):
    code = cli(["stats", "--now", "yesterday", "--json"])
    assert (code, "not an ISO time" in capsys.readouterr().err) == (2, True)


def test_stats_without_json_prints_a_readable_summary(seeded, capsys):
    code = cli(["stats", "--now", NOW_ISO, "--api", "Orders API", "--window", "24h"])
    out = capsys.readouterr().out
    assert (code, "requests 5" in out, "top customer Alpha Inc" in out) == (0, True, True)


def test_stats_all_time_starts_at_the_first_request(seeded, capsys):
    _, data, _ = run(capsys, "--window", "all", "--json")
    assert (data["window"]["start"], data["overview"]["total_requests"]) == ("2026-11-24T06:00:00Z", 9)


def test_stats_all_time_counts_a_request_dated_in_the_future(seeded, capsys):
    api_id = store.api_by_key(seeded, "orders-key")["id"]
    store.write_requests(seeded, [(api_id, make_request(timestamp=NOW + dt.timedelta(days=2, minutes=30)))])
    _, data, _ = run(capsys, "--window", "all", "--json")
    assert (data["window"]["end"], data["overview"]["total_requests"]) == ("2026-11-27T12:30:01Z", 10)


def test_collect_as_customer_has_no_workspace_keys(seeded):
    data = stats.collect(seeded, Scope.customer("cust_a"), preset="7d", now=NOW)
    assert "customers" not in data and "widgets" not in data and data["overview"]["total_requests"] == 4


@pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
def test_stats_json_is_identical_on_sqlite_and_postgresql(sqlite_engine, tmp_path):
    import uuid

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_pg_url_with_schema("public"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    pg = models.make_engine(_pg_url_with_schema(schema))
    try:
        models.init_db(pg)
        outputs = []
        for eng in (sqlite_engine, pg):
            seed_small(eng)
            for scope, api, preset in [(Scope.workspace(), None, "30d"), (Scope.workspace(), "Orders API", "24h"),
                                       (Scope.customer("cust_a"), None, "7d"), (Scope.workspace(), "Billing API", "all")]:
                outputs.append(stats.to_json(stats.collect(eng, scope, api=api, preset=preset, now=NOW)))
        half = len(outputs) // 2
        assert outputs[:half] == outputs[half:]
    finally:
        pg.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
