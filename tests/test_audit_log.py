"""The audit log (#13, part 5): entries are written with who, when, from where and what, secrets masked, only
ever added (prune is the one explicit removal); read back filtered, newest first, paged, in the viewer's zone,
by the page's model and `python -m core audit`; the migration adds the table to an existing database."""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from core.api_docs import upload
from core.api_docs.spec import SpecError
from core.cli import main as cli
from core.present import audit as audit_view
from core.storage import audit, models, store
from core.storage.audit import Actor, AuditError, AuditQuery
from tests.conftest import FIXTURES
from tests.databases import at_revision
from tests.page_checks import read_csv

ROOT = Path(__file__).resolve().parent.parent
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ANN = Actor.user(7, "ann@example.com", "203.0.113.9")
SPEC = '{"openapi": "3.1.0", "info": {"title": "Shop", "version": "1"}, "paths": {}}'


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def only_entry(engine) -> dict:
    [entry] = audit.entries(engine, AuditQuery())
    return entry


# ---------------------------------------------------------------- writing


def test_an_entry_keeps_who_when_from_where_and_what(engine):
    entry_id = audit.record(engine, "user.role_change", actor=ANN, target="user:bob@example.com",
                            detail={"from": "member", "to": "admin"}, at=T0)
    assert only_entry(engine) == {"id": entry_id, "at": T0, "actor_user_id": 7, "actor_name": "ann@example.com",
                                  "source": "203.0.113.9", "action": "user.role_change", "target": "user:bob@example.com",
                                  "detail": {"from": "member", "to": "admin"}}


def test_a_command_line_entry_says_cli_for_who_and_where(engine):
    audit.record(engine, "data.import", actor=audit.CLI, at=T0)
    entry = only_entry(engine)
    assert (entry["actor_user_id"], entry["actor_name"], entry["source"]) == (None, "cli", "cli")


def test_an_entry_without_an_actor_says_unknown_rather_than_nothing(engine):
    audit.record(engine, "user.remove", actor=None, target="user:bob@example.com")
    entry = only_entry(engine)
    assert (entry["actor_user_id"], entry["actor_name"], entry["source"]) == (None, "unknown", "unknown")


def test_secret_looking_details_are_masked_before_they_are_stored(engine):
    audit.record(engine, "sdk_token.rotate", actor=ANN, detail={"sdk_token": "s3cr3t-value", "password": "hunter2hunter2",
                                                                  "api": "Shop"})
    with engine.connect() as conn:
        stored = conn.scalar(sa.select(audit.AuditEntry.detail))
    assert "s3cr3t-value" not in stored and "hunter2hunter2" not in stored
    assert json.loads(stored)["api"] == "Shop"


def test_a_huge_detail_is_cut_to_a_small_json_object(engine):
    audit.record(engine, "data.import", actor=audit.CLI, detail={"files": ["x" * 100] * 500})
    with engine.connect() as conn:
        stored = conn.scalar(sa.select(audit.AuditEntry.detail))
    assert len(stored) <= audit.MAX_DETAIL_CHARS
    assert list(json.loads(stored)) == ["truncated"]


def test_long_names_and_targets_are_cut_to_their_columns(engine):
    audit.record(engine, "login.failure", actor=Actor.anonymous("x" * 500), target="user:" + "y" * 1000)
    entry = only_entry(engine)
    assert len(entry["source"]) == audit.MAX_SOURCE_CHARS and len(entry["target"]) == audit.MAX_TARGET_CHARS


@pytest.mark.parametrize("action", ["", "Login", "login success", "login.", "a" * 65, "drop table;"])
def test_an_action_that_is_not_dotted_lowercase_words_is_refused(engine, action):
    with pytest.raises(ValueError, match="dotted lowercase"):
        audit.record(engine, action, actor=ANN)


def test_an_entry_written_in_a_transaction_that_rolls_back_is_gone_with_it(engine):
    with pytest.raises(RuntimeError), engine.begin() as conn:
        audit.record(conn, "user.remove", actor=ANN)
        raise RuntimeError("the change failed")
    assert audit.entries(engine, AuditQuery()) == []


@pytest.mark.parametrize("headers, remote, expected", [
    ({"X-Forwarded-For": "203.0.113.9, 10.0.0.2"}, None, "203.0.113.9"),
    ({"x-forwarded-for": "203.0.113.9"}, "10.0.0.2", "203.0.113.9 via 10.0.0.2"),
    ({"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9", "203.0.113.9"),
    ({}, "2001:db8::1", "2001:db8::1"),
    ({"X-Forwarded-For": "<script>, 1.2.3.4"}, "10.0.0.2", "10.0.0.2"),
    ({}, None, "unknown"),
])
def test_the_source_is_the_forwarded_client_and_the_connection_when_they_differ(headers, remote, expected):
    assert audit.client_source(headers, remote) == expected


def test_nothing_but_the_retention_prune_updates_or_deletes_audit_entries():
    writes = re.compile(r"(update|delete)\(\s*(AuditEntry|audit\.AuditEntry)\b|(UPDATE|DELETE FROM)\s+audit_log", re.I)
    found = {p.relative_to(ROOT).as_posix(): len(writes.findall(p.read_text()))
             for d in ("core", "ui", "pages") for p in (ROOT / d).rglob("*.py") if writes.search(p.read_text())}
    assert found == {"core/storage/audit.py": 1}
    source = (ROOT / "core/storage/audit.py").read_text()
    assert "sa.update(" not in source and source.count("sa.delete(AuditEntry)") == 1
    assert "sa.delete(AuditEntry)" in source[source.index("def prune("):]


# ---------------------------------------------------------------- reading


@pytest.fixture
def log(engine):
    """Five entries over three days: two logins, a failure, a role change by the CLI, an export."""
    bob = Actor.user(8, "bob@example.com", "198.51.100.4")
    for action, actor, hours in [("login.success", ANN, -48), ("login.failure", Actor.anonymous("192.0.2.1"), -30),
                                 ("login.success", bob, -20), ("user.role_change", audit.CLI, -5), ("data.export", ANN, -1)]:
        audit.record(engine, action, actor=actor, at=at(hours))
    return engine


def actions_of(rows) -> list[str]:
    return [r["action"] for r in rows]


def test_entries_come_newest_first(log):
    assert actions_of(audit.entries(log, AuditQuery())) == [
        "data.export", "user.role_change", "login.success", "login.failure", "login.success"]


def test_entries_filter_by_action_user_and_time(log):
    assert [r["actor_name"] for r in audit.entries(log, AuditQuery(action="login.success"))] == ["bob@example.com", "ann@example.com"]
    assert actions_of(audit.entries(log, AuditQuery(actor="ann@example.com"))) == ["data.export", "login.success"]
    assert actions_of(audit.entries(log, AuditQuery(start=at(-30), end=at(-5)))) == ["login.success", "login.failure"]


def test_entries_page_by_limit_and_offset(log):
    assert actions_of(audit.entries(log, AuditQuery(), limit=2, offset=2)) == ["login.success", "login.failure"]
    assert audit.count(log, AuditQuery(action="login.success")) == 2


def test_the_filters_offer_the_actions_and_users_in_the_log(log):
    choices = audit_view.filter_choices(log)
    assert choices.actions == ["data.export", "login.failure", "login.success", "user.role_change"]
    assert choices.users == ["ann@example.com", "anonymous", "bob@example.com", "cli"]


def test_a_time_range_that_ends_before_it_starts_is_refused():
    with pytest.raises(AuditError, match="not after its start"):
        AuditQuery(start=T0, end=T0)


def test_dates_are_whole_days_in_the_viewers_zone():
    query = audit_view.query_for(from_date=dt.date(2026, 11, 24), to_date=dt.date(2026, 11, 24), tz="Asia/Tokyo")
    assert (query.start, query.end) == (dt.datetime(2026, 11, 23, 15, tzinfo=UTC), dt.datetime(2026, 11, 24, 15, tzinfo=UTC))


def test_an_open_date_range_has_no_bound_on_that_side():
    query = audit_view.query_for(action="logout", user="ann@example.com", from_date=dt.date(2026, 11, 24), tz="UTC")
    assert query == AuditQuery(action="logout", actor="ann@example.com", start=dt.datetime(2026, 11, 24, tzinfo=UTC), end=None)


def test_an_end_date_before_the_start_date_is_refused_in_words():
    with pytest.raises(AuditError, match="The end date is before the start date."):
        audit_view.query_for(from_date=dt.date(2026, 11, 24), to_date=dt.date(2026, 11, 23))


def test_the_table_shows_times_in_the_viewers_zone(log):
    table = audit_view.entries_table(audit.entries(log, AuditQuery(), limit=1), "Europe/Berlin")
    assert table.columns == ["Time", "User", "User ID", "From", "Action", "Target", "Details"]
    assert table["Time"].dtype == pl.Datetime("us", "Europe/Berlin")
    # 11:00 UTC is noon in Berlin in November (CET, UTC+1).
    assert table["Time"][0].replace(tzinfo=None) == dt.datetime(2026, 11, 25, 12, 0)
    assert table.row(0)[1:5] == ("ann@example.com", 7, "203.0.113.9", "data.export")


def test_the_page_shows_details_in_words_and_keeps_json_and_the_user_id_for_the_csv(engine):
    # The page showed the JSON text ({"method": "passwor…) in a column cut off at 1366 px, beside a User ID column.
    audit.record(engine, "user.invite", actor=ANN, target="user:cy@example.com", at=T0,
                 detail={"role": "customer", "customer_id": "acme", "new_customer_id": True, "apis": [1, 2], "group": None})
    page = audit_view.audit_page(engine, AuditQuery(), "UTC")
    assert page.table.columns == list(audit_view.WIDTHS) == ["Time", "User", "From", "Action", "Target", "Details"]
    assert page.table["Details"][0] == "apis: [1,2] · customer id: acme · new customer id: yes · role: customer"
    exported = audit_view.export_table(engine, AuditQuery(), "UTC")
    assert json.loads(exported["Details"][0]) == {"role": "customer", "customer_id": "acme", "new_customer_id": True, "apis": [1, 2],
                                                  "group": None}
    assert exported["User ID"][0] == 7


def test_a_page_past_the_last_shows_the_last_and_says_which_entries(log):
    page = audit_view.audit_page(log, AuditQuery(), "UTC", page=9, page_size=2)
    assert (page.page, page.pages, page.total) == (3, 3, 5)
    assert page.table["Action"].to_list() == ["login.success"]
    assert page.caption == "Entries 5–5 of 5, newest first"


def test_a_page_with_nothing_to_show_says_so(log):
    page = audit_view.audit_page(log, AuditQuery(action="logout"), "UTC")
    assert (page.total, page.pages, page.table.height, page.caption) == (0, 1, 0, "No entries match these filters.")


# ---------------------------------------------------------------- retention


def test_prune_deletes_only_entries_older_than_the_age_and_records_itself(log):
    assert audit.prune(log, dt.timedelta(days=30), actor=audit.CLI, now=at(24 * 30 - 25)) == 2
    rows = audit.entries(log, AuditQuery())
    assert actions_of(rows) == ["audit.prune", "data.export", "user.role_change", "login.success"]
    assert rows[0]["detail"]["deleted"] == 2 and rows[0]["actor_name"] == "cli"


def test_prune_keeps_at_least_thirty_days(log):
    with pytest.raises(AuditError, match="at least 30 days"):
        audit.prune(log, dt.timedelta(days=29), actor=audit.CLI)
    assert audit.count(log, AuditQuery()) == 5


# ---------------------------------------------------------------- OpenAPI uploads


def test_an_uploaded_spec_is_recorded_with_who_and_which_api(engine):
    api = store.create_api(engine, "Shop")
    upload.upload_spec(engine, api["api_id"], SPEC, "shop.json", actor=ANN)
    entry = only_entry(engine)
    assert (entry["action"], entry["actor_name"], entry["target"]) == ("openapi.upload", "ann@example.com", f"api:{api['api_id']}")
    assert entry["detail"] == {"api": "Shop", "filename": "shop.json", "bytes": len(SPEC), "openapi": "3.1.0", "title": "Shop"}


def test_a_refused_spec_records_nothing(engine):
    api = store.create_api(engine, "Shop")
    with pytest.raises(SpecError):
        upload.upload_spec(engine, api["api_id"], '{"swagger": "2.0"}', "old.json", actor=ANN)
    with pytest.raises(store.NotFound):
        upload.upload_spec(engine, api["api_id"] + 1, SPEC, "shop.json", actor=ANN)
    assert audit.entries(engine, AuditQuery()) == []


def test_removing_a_spec_is_recorded(engine):
    api = store.create_api(engine, "Shop")
    upload.upload_spec(engine, api["api_id"], SPEC, actor=ANN)
    upload.remove_spec(engine, api["api_id"], actor=ANN)
    assert actions_of(audit.entries(engine, AuditQuery())) == ["openapi.remove", "openapi.upload"]


# ---------------------------------------------------------------- command line


@pytest.fixture
def command_db(db_url, engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_url)
    yield engine
    models.engine_for(db_url).dispose()


def test_audit_list_json_filters_by_action_user_and_since(command_db, capsys):
    for action, actor, hours in [("login.success", ANN, -3), ("login.success", audit.CLI, -2), ("logout", ANN, -1)]:
        audit.record(command_db, action, actor=actor, at=at(hours))
    assert cli(["audit", "list", "--action", "login.success", "--user", "ann@example.com", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry | {"id": None} == {"id": None, "at": "2026-11-25T09:00:00+00:00", "user_id": 7, "user": "ann@example.com",
                                    "source": "203.0.113.9", "action": "login.success", "target": None, "detail": None}
    assert cli(["audit", "list", "--since", "2026-11-25T09:30:00Z", "--json"]) == 0
    assert [e["action"] for e in json.loads(capsys.readouterr().out)] == ["logout", "login.success"]


def test_audit_list_csv_neutralises_formula_triggers(command_db, capsys):
    audit.record(command_db, "data.import", actor=audit.CLI, target="=HYPERLINK(\"http://evil\")", at=T0)
    assert cli(["audit", "list", "--csv"]) == 0
    frame = read_csv(capsys.readouterr().out.encode())  # the BOM is bytes: stdout text holds it as one character
    assert frame["Target"].to_list() == ["'=HYPERLINK(\"http://evil\")"]
    assert frame["Time"].to_list() == ["2026-11-25T12:00:00+00:00"]


def test_audit_list_refuses_a_since_that_is_not_a_time(command_db, capsys):
    assert cli(["audit", "list", "--since", "last week"]) == 2
    assert "is not an ISO time" in capsys.readouterr().err


def test_audit_prune_refuses_less_than_thirty_days(command_db, capsys):
    assert cli(["audit", "prune", "--older-than", "7d"]) == 2
    assert "at least 30 days" in capsys.readouterr().err


def test_a_command_line_import_is_recorded_with_its_files_and_counts(command_db, capsys):
    api = store.create_api(command_db, "Shop")
    name = "treblle-node-1.5.2-post-json-user-id-and-metadata.json"
    assert cli(["ingest", str(FIXTURES / name), f"--api-key={api['api_key']}"]) == 0  # "=": a key may start with "-"
    entry = only_entry(command_db)
    assert (entry["action"], entry["actor_name"], entry["source"], entry["target"]) == ("data.import", "cli", "cli", f"file:{name}")
    assert entry["detail"] == {"via": "cli", "accepted": 1, "rejected": 0}


def test_creating_an_api_on_the_command_line_is_recorded_without_its_token(command_db, capsys):
    assert cli(["apis", "add", "Shop", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    entry = only_entry(command_db)
    assert (entry["action"], entry["target"], entry["detail"]) == ("api.create", f"api:{created['api_id']}", {"api": "Shop"})
    assert created["sdk_token"] not in json.dumps(entry, default=str)


# ---------------------------------------------------------------- migration


def test_the_models_metadata_holds_the_audit_log_whatever_is_imported_first():
    # Migration checks and `python -m core migrations new` compare migrations with models.Base.metadata: without the
    # table there, autogenerate would write a drop_table. A fresh interpreter imports only the models.
    done = subprocess.run([sys.executable, "-c", "from core.storage import models; print('audit_log' in models.Base.metadata.tables)"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True", done.stderr


def test_a_database_at_the_previous_revision_gains_the_audit_log(db_url):
    engine = at_revision(db_url, "0002")
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("audit_log")
    models.init_db(engine)
    audit.record(engine, "logout", actor=ANN, at=T0)
    assert actions_of(audit.entries(engine, AuditQuery())) == ["logout"]
    engine.dispose()
