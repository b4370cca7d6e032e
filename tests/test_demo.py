"""Demo traffic: deterministic, realistic in shape, stored through the real ingest path; CLI and bootstrap."""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import uuid
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from core import demo
from core.cli import main as cli
from core.demo import accounts, catalogue, population, writer
from core.demo.cli import parse_now
from core.demo.traffic import bucket_payloads, make_world
from core.ingest.pipeline import prepare
from core.storage import models, store
from core.storage.models import Api, Customer, Request, RequestDetail, Setting
from tests import conftest
from tests.factories import detail_rows

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
SHAPE_REQUESTS = 5000


# ---------------------------------------------------------------- helpers


@contextlib.contextmanager
def _database(backend: str, directory):
    """An empty initialised database like conftest's, for fixtures wider than one test."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / f'demo-{uuid.uuid4().hex[:8]}.db'}"
        engine = models.make_engine(url)
        models.init_db(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(conftest._pg_url_with_schema("public"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = models.make_engine(conftest._pg_url_with_schema(schema))
    models.init_db(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _digest(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*Request.__table__.c).order_by(Request.id)).all()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _scalar(engine: sa.Engine, query):
    with engine.connect() as conn:
        return conn.scalar(query)


def _count(engine: sa.Engine, *where) -> int:
    return _scalar(engine, sa.select(sa.func.count()).select_from(Request).where(*where))


@pytest.fixture(scope="module", params=conftest.BACKENDS)
def shaped(request, tmp_path_factory):
    """One 5,000-request demo per backend, shared by the read-only shape tests."""
    calls = []
    with _database(request.param, tmp_path_factory.mktemp("demo")) as engine:
        summary = demo.generate(
            engine, requests=SHAPE_REQUESTS, days=45, seed=7, now=NOW, progress=lambda done, total: calls.append((done, total))
        )
        yield engine, summary, calls


@pytest.fixture
def other_engine(db_url, tmp_path):
    """A second empty database on the same backend as `engine`."""
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    with _database(backend, tmp_path) as engine:
        yield engine


# ---------------------------------------------------------------- determinism


def test_the_same_inputs_store_identical_requests(engine, other_engine):
    demo.generate(engine, requests=1500, days=10, seed=3, now=NOW)
    demo.generate(other_engine, requests=1500, days=10, seed=3, now=NOW)
    assert _digest(engine) == _digest(other_engine)


def test_another_seed_stores_other_requests(engine, other_engine):
    demo.generate(engine, requests=1500, days=10, seed=3, now=NOW)
    demo.generate(other_engine, requests=1500, days=10, seed=4, now=NOW)
    assert _digest(engine) != _digest(other_engine)


def test_worker_processes_store_the_same_rows_as_one_process(sqlite_engine, tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "BATCH_SIZE", 400)  # 2,000 requests → five batches shared by two workers
    demo.generate(sqlite_engine, requests=2000, days=5, seed=9, now=NOW, workers=1)
    with _database("sqlite", tmp_path) as parallel:
        demo.generate(parallel, requests=2000, days=5, seed=9, now=NOW, workers=2)
        assert _digest(parallel) == _digest(sqlite_engine)


def test_worker_processes_report_progress_up_to_the_total(sqlite_engine, monkeypatch):
    monkeypatch.setattr(writer, "BATCH_SIZE", 400)
    calls = []
    demo.generate(sqlite_engine, requests=2000, days=5, seed=9, now=NOW, workers=2, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (2000, 2000)


def test_a_failing_worker_process_stops_the_demo_with_its_reason(sqlite_engine, monkeypatch):
    monkeypatch.setattr(writer, "BATCH_SIZE", 400)

    def broken_write(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writer.store, "write_requests", broken_write)
    with pytest.raises(demo.DemoError, match="disk full"):
        demo.generate(sqlite_engine, requests=2000, days=5, seed=9, now=NOW, workers=2)


def _all_rows_digest(engine: sa.Engine) -> str:
    """Every table a write touches, in a fixed order (ids included): two writes that store the same give the same."""
    tables = ("requests", "request_details", "customers", "customer_apis", "rollup_hours", "rollup_load_bins", "rollup_state")
    with engine.connect() as conn:
        # Columns named, in the models' order: a migrated schema may hold them in another.
        rows = [conn.execute(sa.select(*table.c).order_by(*table.primary_key.columns)).all()
                for table in (models.Base.metadata.tables[name] for name in tables)]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_rows_built_ahead_store_exactly_what_the_requests_themselves_store(db_url, tmp_path):
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    with _database(backend, tmp_path) as direct, _database(backend, tmp_path) as ahead:
        world = make_world(5, 600, 3, NOW, writer._ensure_apis(direct))
        writer._ensure_apis(ahead)
        items = [prepare(p, world.api_ids) for b in range(len(world.buckets)) for p in bucket_payloads(world, b)]
        received = NOW - dt.timedelta(minutes=5)
        store.write_requests(direct, items, received_at=received)
        store.write_requests(ahead, store.request_rows(items, backend, received_at=received))
        assert _all_rows_digest(direct) == _all_rows_digest(ahead)


def test_the_demo_writes_a_sqlite_file_without_waiting_for_the_disk(sqlite_engine):
    loading = writer._loading_engine(sqlite_engine)
    try:
        with loading.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 0  # OFF
    finally:
        loading.dispose()
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # the app's NORMAL, untouched


def test_the_demo_writes_postgresql_through_the_engine_it_was_given(engine):
    if engine.dialect.name == "sqlite":
        pytest.skip("PostgreSQL only")
    assert writer._loading_engine(engine) is engine


def test_customer_ids_do_not_depend_on_how_many_customers_there_are():
    assert population.customer_profile(7, 1).customer_id == population.customer_profile(7, 1).customer_id
    assert population.customer_profile(7, 1).customer_id != population.customer_profile(7, 2).customer_id


# ---------------------------------------------------------------- shape of the traffic


def test_the_summary_counts_what_was_stored(shaped):
    engine, summary, _calls = shaped
    assert (summary["apis"], summary["customers"], summary["requests"]) == (4, 83, 5000)
    assert _count(engine) == 5000


def test_progress_reports_the_final_count(shaped):
    _engine, _summary, calls = shaped
    assert calls[-1] == (5000, 5000)


def test_every_request_falls_in_the_window_before_now(shaped):
    engine, _summary, _calls = shaped
    with engine.connect() as conn:
        first, last = conn.execute(sa.select(sa.func.min(Request.timestamp), sa.func.max(Request.timestamp))).one()
    assert first >= NOW - dt.timedelta(days=45)
    assert last < NOW


def test_four_apis_all_receive_traffic(shaped):
    engine, _summary, _calls = shaped
    with engine.connect() as conn:
        per_api = dict(conn.execute(sa.select(Api.name, sa.func.count()).join(Request, Request.api_id == Api.id).group_by(Api.name)).all())
    assert sorted(per_api) == ["Auth API", "Catalog API", "Orders API", "Payments API"]
    assert min(per_api.values()) > 300


def test_every_customer_has_traffic(shaped):
    engine, _summary, _calls = shaped
    customers = _scalar(engine, sa.select(sa.func.count()).select_from(Customer))
    with_traffic = _scalar(engine, sa.select(sa.func.count(sa.distinct(Request.customer_id))))
    assert customers == with_traffic == 83


def test_usage_is_skewed_towards_the_top_customers(shaped):
    engine, _summary, _calls = shaped
    with engine.connect() as conn:
        counts = sorted(conn.scalars(
            sa.select(sa.func.count()).select_from(Request).where(Request.customer_id.is_not(None)).group_by(Request.customer_id)
        ), reverse=True)
    top_one_percent = max(1, len(counts) // 100)
    assert sum(counts[:top_one_percent]) > 0.15 * 5000


def test_about_a_tenth_of_requests_are_unattributed(shaped):
    engine, _summary, _calls = shaped
    share = _count(engine, Request.customer_id.is_(None)) / 5000
    assert 0.06 < share < 0.14


def test_client_errors_are_a_few_percent_and_server_errors_exist(shaped):
    engine, _summary, _calls = shaped
    client_errors = _count(engine, Request.status.between(400, 499)) / 5000
    assert 0.03 <= client_errors <= 0.065
    assert _count(engine, Request.status >= 500) > 0


def test_ai_agents_and_bots_are_a_few_percent(shaped):
    engine, _summary, _calls = shaped
    ai = _count(engine, Request.ai_agent.is_not(None))
    assert 0.01 < ai / 5000 < 0.04
    assert _count(engine, Request.ai_agent.in_(["GPTBot", "ClaudeBot", "PerplexityBot"])) > 0
    assert _count(engine, Request.device == "bot") > ai  # search crawlers and scanners are bots too


def test_scanners_with_injection_probes_raise_high_threats(shaped):
    engine, _summary, _calls = shaped
    assert _count(engine, Request.threat_level == "High", Request.user_agent.in_(catalogue.UA_SCANNERS)) > 0


def test_legacy_customers_calling_over_plain_http_raise_high_threats(shaped):
    engine, _summary, _calls = shaped
    assert _count(engine, Request.threat_level == "High", Request.url.startswith("http://"), Request.customer_id.is_not(None)) > 0


def test_nearly_all_traffic_is_low_threat(shaped):
    engine, _summary, _calls = shaped
    assert _count(engine, Request.threat_level == "Low") > 0.97 * 5000


def test_every_demo_ip_is_public_and_placed_in_a_country(shaped):
    engine, _summary, _calls = shaped
    assert _count(engine, Request.country.is_(None)) == 0
    assert _scalar(engine, sa.select(sa.func.count(sa.distinct(Request.country)))) >= 20


def test_devices_span_browsers_phones_tablets_servers_and_bots(shaped):
    engine, _summary, _calls = shaped
    with engine.connect() as conn:
        devices = set(conn.scalars(sa.select(Request.device).distinct()))
    assert devices == {"desktop", "mobile", "tablet", "server", "bot"}


def test_slow_endpoints_are_slow_and_fast_ones_fast(shaped):
    engine, _summary, _calls = shaped
    with engine.connect() as conn:
        avg = dict(conn.execute(sa.select(Request.endpoint, sa.func.avg(Request.load_time_ms)).group_by(Request.endpoint)).all())
    assert avg["/api/v1/reports/sales"] > 1000
    assert avg["/v1/prices/{id}"] < 100


def test_afternoons_utc_are_busier_than_nights(shaped):
    engine, _summary, _calls = shaped
    with engine.connect() as conn:
        stamps = conn.scalars(sa.select(Request.timestamp)).all()
    afternoon = sum(1 for t in stamps if 12 <= t.hour < 18)
    night = sum(1 for t in stamps if 0 <= t.hour < 6)
    assert afternoon > 2 * night


def test_customer_ids_arrive_in_metadata_request_headers_and_response_headers(shaped):
    engine, _summary, _calls = shaped
    with engine.connect() as conn:
        attributed = sa.select(Request.id).where(Request.customer_id.is_not(None))
        rows = [(d["request_headers"], d["response_headers"]) for d in detail_rows(conn, RequestDetail.request_id.in_(attributed))]
    metadata = sum(1 for req, _resp in rows if "treblle-metadata" in req)
    request_header = sum(1 for req, _resp in rows if "treblle-user-id" in req)
    response_only = sum(1 for req, resp in rows if not {"treblle-metadata", "treblle-user-id"} & set(req) and resp)
    assert metadata > len(rows) / 2
    assert request_header > 0
    assert response_only > 0


def test_customers_carry_company_names_and_plans(shaped):
    engine, _summary, _calls = shaped
    with engine.connect() as conn:
        customers = conn.execute(sa.select(Customer.customer_id, Customer.display_name, Customer.attributes)).all()
    assert all(c.customer_id.startswith("cus_") for c in customers)
    named = [c for c in customers if c.display_name]
    assert len(named) > len(customers) / 2
    assert {c.attributes["Plan"] for c in named} <= {"Free", "Starter", "Pro", "Enterprise"}


def test_passwords_cards_and_authorization_are_stored_masked(shaped):
    engine, _summary, _calls = shaped
    with engine.connect() as conn:
        rows = [(d["request_headers"], d["request_body"]) for d in detail_rows(conn)]
    blob = orjson.dumps([list(r) for r in rows]).decode()
    assert '"password":"' in blob and '"card_number":"' in blob
    assert "4242 4242" not in blob and "sk_live_" not in blob
    for headers, body in rows:
        if "authorization" in headers:
            assert headers["authorization"].startswith("Bearer *")
        if isinstance(body, dict) and "password" in body:
            assert set(body["password"]) == {"*"}


def test_sdk_flavours_alternate_between_django_node_and_laravel(shaped):
    engine, _summary, _calls = shaped
    with engine.connect() as conn:
        sdks = dict(conn.execute(sa.select(RequestDetail.sdk, sa.func.count()).group_by(RequestDetail.sdk)).all())
    assert set(sdks) == {"django", "node", "laravel"}


# ---------------------------------------------------------------- refusing and appending


def test_a_second_run_is_refused_while_demo_requests_exist(engine):
    demo.generate(engine, requests=200, days=3, seed=1, now=NOW)
    with pytest.raises(demo.DemoError, match="--append"):
        demo.generate(engine, requests=200, days=3, seed=1, now=NOW)


def test_append_adds_to_existing_demo_requests(engine):
    demo.generate(engine, requests=200, days=3, seed=1, now=NOW)
    demo.generate(engine, requests=300, days=3, seed=2, now=NOW, append=True)
    assert _count(engine) == 500


@pytest.mark.parametrize(("requests", "days"), [(0, 3), (100, 0)])
def test_nonsense_sizes_are_refused_with_a_message(engine, requests, days):
    with pytest.raises(demo.DemoError, match="at least 1"):
        demo.generate(engine, requests=requests, days=days, seed=1, now=NOW)


# ---------------------------------------------------------------- command line


def _cli(monkeypatch, tmp_path, *args) -> int:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    return cli(["demo", "--requests", "300", "--days", "3", "--no-progress", "--now", "2026-03-01T12:00", *args])


def test_the_cli_loads_demo_data_and_prints_a_summary(monkeypatch, tmp_path, capsys):
    assert _cli(monkeypatch, tmp_path) == 0
    assert "300 requests" in capsys.readouterr().out


def test_the_cli_refuses_a_second_load_with_exit_2(monkeypatch, tmp_path, capsys):
    _cli(monkeypatch, tmp_path)
    assert _cli(monkeypatch, tmp_path) == 2
    assert "--append" in capsys.readouterr().err


def test_the_cli_appends_when_asked(monkeypatch, tmp_path, capsys):
    _cli(monkeypatch, tmp_path)
    assert _cli(monkeypatch, tmp_path, "--append", "--seed", "8") == 0
    assert _count(models.engine_for(f"sqlite:///{tmp_path / 'cli.db'}")) == 600


def test_the_cli_refuses_a_bad_now_with_exit_2(monkeypatch, tmp_path, capsys):
    assert _cli(monkeypatch, tmp_path, "--now", "yesterday") == 2
    assert "not an ISO time" in capsys.readouterr().err


def test_now_is_read_as_utc_and_truncated_to_the_minute():
    assert parse_now("2026-03-01T12:34:56+02:00") == dt.datetime(2026, 3, 1, 10, 34, tzinfo=dt.timezone.utc)


# ---------------------------------------------------------------- bootstrap and demo accounts


def test_demo_accounts_are_hidden_outside_demo_mode(engine):
    assert accounts.demo_accounts(engine) == []


def test_bootstrap_fills_an_empty_database_and_creates_the_accounts(engine):
    summary = accounts.bootstrap(engine, requests=600, now=NOW)
    assert summary["requests"] == 600
    with engine.connect() as conn:
        emails = set(conn.scalars(sa.select(models.User.email)))
        marker = conn.scalar(sa.select(Setting.value).where(Setting.key == "demo"))
    assert emails == {a["email"] for a in accounts.DEMO_ACCOUNTS}
    assert marker["accounts"] == [a["email"] for a in accounts.DEMO_ACCOUNTS]
    assert [a["email"] for a in accounts.demo_accounts(engine)] == [a["email"] for a in accounts.DEMO_ACCOUNTS]


def test_bootstrap_leaves_a_database_with_requests_alone(engine):
    demo.generate(engine, requests=100, days=2, seed=1, now=NOW)
    assert accounts.bootstrap(engine, requests=600, now=NOW) == {"skipped": True}
    assert _count(engine) == 100


def test_demo_customer_logins_belong_to_the_two_busiest_customers(engine):
    accounts.bootstrap(engine, requests=3000, now=NOW)
    with engine.connect() as conn:
        busiest = conn.scalars(
            sa.select(Request.customer_id).where(Request.customer_id.is_not(None))
            .group_by(Request.customer_id).order_by(sa.func.count().desc()).limit(2)
        ).all()
    customer_accounts = [a for a in accounts.DEMO_ACCOUNTS if a["role"] == "customer"]
    assert {a["customer_id"] for a in customer_accounts} == set(busiest)


def test_the_first_customer_has_two_logins_in_one_group():
    first = accounts.DEMO_ACCOUNTS[2]["customer_id"]
    logins = [a for a in accounts.DEMO_ACCOUNTS if a["customer_id"] == first]
    assert len(logins) == 2 and logins[0]["group"] == logins[1]["group"]


def test_there_is_one_admin_and_one_member_account():
    roles = [a["role"] for a in accounts.DEMO_ACCOUNTS]
    assert (roles.count("admin"), roles.count("member"), roles.count("customer")) == (1, 1, 3)


# ---------------------------------------------------------------- first start (#14: the login within seconds)


def _content(engine: sa.Engine) -> list[tuple]:
    """Every stored request without its id (a first start writes them in another order)."""
    columns = [c for c in Request.__table__.c if c.name not in ("id", "received_at")]
    with engine.connect() as conn:
        return sorted((tuple(r) for r in conn.execute(sa.select(*columns)).all()), key=repr)


def _rollups(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted((tuple(r) for r in conn.execute(sa.select(*models.RollupHour.__table__.c)).all()), key=repr)


def test_a_first_start_and_its_background_part_store_exactly_the_demo(engine, other_engine):
    accounts.bootstrap(engine, requests=3000, now=NOW)
    recent = accounts.first_start(other_engine, requests=3000, now=NOW)
    older = accounts.finish_first_start(other_engine, workers=2)
    assert recent["requests"] + older["requests"] == 3000
    assert _content(other_engine) == _content(engine)
    assert _rollups(other_engine) == _rollups(engine)
    assert accounts.loading(other_engine) is None


def test_a_first_start_writes_the_last_days_and_the_accounts_and_says_the_rest_is_loading(engine):
    summary = accounts.first_start(engine, requests=3000, now=NOW)
    since = NOW - dt.timedelta(days=accounts.RECENT_DAYS)
    assert 0 < summary["requests"] < 3000
    assert _count(engine) == _count(engine, Request.timestamp >= since) == summary["requests"]
    assert [a["email"] for a in accounts.demo_accounts(engine)] == [a["email"] for a in accounts.DEMO_ACCOUNTS]
    assert accounts.loading(engine) == (summary["requests"], 3000)
    assert accounts.first_start(engine, requests=3000, now=NOW) == {"skipped": True}


def test_finishing_a_first_start_that_never_began_is_refused(engine):
    accounts.bootstrap(engine, requests=300, now=NOW)
    with pytest.raises(writer.DemoError, match="no demo first start to finish"):
        accounts.finish_first_start(engine)
    assert _count(engine) == 300


def test_a_failed_background_part_is_recorded_for_the_app_to_show(engine, monkeypatch):
    accounts.first_start(engine, requests=600, now=NOW)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(accounts, "generate", broken)
    with pytest.raises(OSError):
        accounts.finish_first_start(engine)
    assert accounts.loading(engine) is None
    assert accounts.demo_marker(engine)["failed"] == "OSError: disk full"


def test_a_background_part_killed_midway_goes_on_where_it_stopped_and_stores_exactly_the_demo(engine, other_engine, monkeypatch):
    accounts.bootstrap(engine, requests=3000, now=NOW)
    recent = accounts.first_start(other_engine, requests=3000, now=NOW)["requests"]
    monkeypatch.setattr(writer, "BATCH_SIZE", 400)  # several batches in the older days

    def killed(done, total):
        raise KeyboardInterrupt  # as a kill after the first batch committed: nothing recorded, still "loading"

    with pytest.raises(KeyboardInterrupt):
        accounts.finish_first_start(other_engine, progress=killed)
    partial = _count(other_engine)
    assert recent < partial < 3000 and accounts.loading(other_engine) == (partial, 3000)
    assert accounts.loader_stopped(other_engine)

    accounts.finish_first_start(other_engine, workers=2)

    assert _content(other_engine) == _content(engine)  # no hour twice, none missing
    assert _rollups(other_engine) == _rollups(engine)
    assert accounts.loading(other_engine) is None and not accounts.loader_stopped(other_engine)


def test_a_second_loader_while_one_runs_stops_and_leaves_the_marker_alone(sqlite_engine):
    accounts.first_start(sqlite_engine, requests=600, now=NOW)
    with accounts._loader_lock(sqlite_engine) as mine:  # the running loader's
        assert mine and not accounts.loader_stopped(sqlite_engine)
        with pytest.raises(writer.DemoError, match="another process"):
            accounts.finish_first_start(sqlite_engine)
    assert "failed" not in accounts.demo_marker(sqlite_engine)
    assert accounts.loader_stopped(sqlite_engine)  # its lock went with it


def test_a_stopped_loader_is_started_again_once_and_a_running_one_is_left_alone(sqlite_engine, monkeypatch):
    accounts.first_start(sqlite_engine, requests=600, now=NOW)
    started = []
    monkeypatch.setattr(accounts, "finish_in_background", lambda engine: started.append(engine) or "loader")
    with accounts._loader_lock(sqlite_engine):
        assert accounts.resume_first_start(sqlite_engine) is None
    assert accounts.resume_first_start(sqlite_engine) == "loader" and len(started) == 1
    import subprocess
    import sys

    waiting = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    monkeypatch.setattr(accounts, "BACKGROUND", [waiting])  # started by this process, not yet holding the lock
    try:
        assert accounts.resume_first_start(sqlite_engine) is None and len(started) == 1
    finally:
        waiting.kill()
        waiting.wait()


def test_the_first_start_command_makes_the_login_work_and_loads_the_rest_in_the_background(tmp_path):
    # Demo mode means the embedded database under the checkout's data/: run a copy of the package.
    import shutil
    import subprocess
    import sys
    import time

    root = tmp_path / "checkout"
    shutil.copytree(Path(__file__).resolve().parent.parent / "core", root / "core", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH")}
    env |= {"CLIENTELE_DEMO_REQUESTS": "2000", "CLIENTELE_NOW": NOW.isoformat()}
    done = subprocess.run([sys.executable, "-m", "core", "demo", "--first-start"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "the demo accounts are ready" in done.stdout
    engine = models.make_engine(f"sqlite:///{root / 'data' / 'clientele.db'}")
    try:
        assert len(accounts.demo_accounts(engine)) == len(accounts.DEMO_ACCOUNTS)
        deadline = time.monotonic() + 120
        while accounts.loading(engine) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert accounts.loading(engine) is None
        assert "failed" not in accounts.demo_marker(engine)
        assert _count(engine) == 2000
        again = subprocess.run([sys.executable, "-m", "core", "demo", "--first-start"], cwd=root, env=env,
                               capture_output=True, text=True, timeout=120)
        assert (again.returncode, again.stdout.strip()) == (0, "The demo database is set up already.")
    finally:
        engine.dispose()


def _loader_pids(root: Path) -> list[int]:
    """The `--finish-first-start` processes running in `root` (the first start's detached loader)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and b"--finish-first-start" in (entry / "cmdline").read_bytes()
                    and Path(os.readlink(entry / "cwd")) == root):
                pids.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return pids


def test_a_first_start_whose_loader_is_killed_loads_the_rest_at_the_next_start(tmp_path):
    # The loader runs detached in its own session: a reboot or an OOM kill takes it and its workers mid-way.
    import shutil
    import signal
    import subprocess
    import sys
    import time

    root = tmp_path / "checkout"
    shutil.copytree(Path(__file__).resolve().parent.parent / "core", root / "core", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH")}
    env |= {"CLIENTELE_DEMO_REQUESTS": "60000", "CLIENTELE_NOW": NOW.isoformat()}

    def first_start() -> str:
        done = subprocess.run([sys.executable, "-m", "core", "demo", "--first-start"], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    first_start()
    engine = models.make_engine(f"sqlite:///{root / 'data' / 'clientele.db'}")
    try:
        recent = _count(engine)
        deadline = time.monotonic() + 60
        while _count(engine) == recent and time.monotonic() < deadline:  # until its first batch is in
            time.sleep(0.02)
        loaders = _loader_pids(root)  # the loader and its forked write workers: one process group
        assert loaders and len({os.getpgid(pid) for pid in loaders}) == 1
        os.killpg(os.getpgid(loaders[0]), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _loader_pids(root) and time.monotonic() < deadline:
            time.sleep(0.05)
        partial = _count(engine)
        assert recent < partial < 60000 and accounts.loading(engine) == (partial, 60000)

        assert "load again in the background" in first_start()
        deadline = time.monotonic() + 180
        while accounts.loading(engine) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert accounts.loading(engine) is None and "failed" not in accounts.demo_marker(engine)
        assert _count(engine) == 60000
        assert first_start().strip() == "The demo database is set up already."
    finally:
        engine.dispose()
