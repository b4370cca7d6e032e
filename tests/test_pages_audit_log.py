"""Audit log page (Admin) through AppTest: an Admin sees who did what, newest first, in their time zone, filtered
by action, user and dates, and downloads it as CSV; Members and Customers are refused. And what people do in the
app reaches the log as them: logins and failures through the real form, logout, CSV downloads, notes, and the
Data page's API creation, token rotation, spec upload and file import."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from core.storage import audit, models, store
from core.storage.audit import Actor, AuditQuery
from tests.apptest_helpers import PASSWORD, login, login_as, new_app, refused, run_page_as
from tests.page_checks import errors, form_widgets, no_exception, open_page, read_csv, table

PAGE = "pages/audit_log.py"
UTC = dt.timezone.utc
# Later than the seeding's own entries (written at the real time), so these come first.
T0 = dt.datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
ANN = Actor.user(90, "ann@example.com", "203.0.113.9")
SPEC = json.dumps({"openapi": "3.1.0", "info": {"title": "Orders", "version": "1.0"}, "paths": {}}).encode()


def _engine(seeded):
    return models.engine_for(seeded.db_url)


@pytest.fixture
def logged(seeded_app):
    """The seeded app with three entries on two days (besides seeding's own user.create entries)."""
    engine = _engine(seeded_app)
    audit.record(engine, "login.failure", actor=Actor.anonymous("192.0.2.1"), target="user:ann@example.com",
                 detail={"reason": "wrong_password"}, at=T0 - dt.timedelta(days=1))
    audit.record(engine, "login.success", actor=ANN, target="user:ann@example.com", detail={"method": "password"}, at=T0)
    audit.record(engine, "user.role_change", actor=ANN, target="user:bob@example.com", at=T0 + dt.timedelta(hours=1))
    return seeded_app


def _entries(seeded, action: str) -> list[dict]:
    return audit.entries(_engine(seeded), AuditQuery(action=action))


def _shown(at) -> list[tuple]:
    return [tuple(r) for r in table(at).select("User", "Action", "Target").rows()]


def test_an_admin_sees_who_did_what_newest_first(logged):
    at = open_page(PAGE, logged, "admin")
    no_exception(at)
    assert _shown(at)[:3] == [("ann@example.com", "user.role_change", "user:bob@example.com"),
                              ("ann@example.com", "login.success", "user:ann@example.com"),
                              ("anonymous", "login.failure", "user:ann@example.com")]
    assert table(at).row(1, named=True)["From"] == "203.0.113.9"


def test_times_are_shown_in_the_viewers_zone(logged, monkeypatch):
    monkeypatch.setenv("CLIENTELE_TIMEZONE", "Asia/Tokyo")  # AppTest has no browser zone: the fallback applies
    at = open_page(PAGE, logged, "admin")
    shown = table(at).filter(table(at)["Action"] == "login.success")["Time"][0]
    assert shown.replace(tzinfo=None) == dt.datetime(2030, 1, 15, 21, 0)  # noon UTC is 21:00 in Tokyo


@pytest.mark.parametrize("role", ["member", "customer"])
def test_members_and_customers_are_refused(logged, role):
    at = run_page_as(PAGE, logged, role)
    assert refused(at)
    assert list(at.dataframe) == []


def test_the_page_is_not_in_a_members_navigation(logged):
    at = login_as(logged, "member")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)


def test_the_action_and_user_filters_narrow_the_list(logged):
    at = open_page(PAGE, logged, "admin")
    at.selectbox(key="audit_action").select("login.success").run()
    assert _shown(at) == [("ann@example.com", "login.success", "user:ann@example.com")]
    at.selectbox(key="audit_action").set_value(None)
    at.selectbox(key="audit_user").select("anonymous").run()
    assert _shown(at) == [("anonymous", "login.failure", "user:ann@example.com")]


def test_the_dates_filter_whole_days(logged):
    at = open_page(PAGE, logged, "admin")
    at.date_input(key="audit_from").set_value(dt.date(2030, 1, 14))
    at.date_input(key="audit_to").set_value(dt.date(2030, 1, 14)).run()
    assert _shown(at) == [("anonymous", "login.failure", "user:ann@example.com")]


def test_an_end_date_before_the_start_date_is_refused_in_words(logged):
    at = open_page(PAGE, logged, "admin")
    at.date_input(key="audit_from").set_value(dt.date(2030, 1, 15))
    at.date_input(key="audit_to").set_value(dt.date(2030, 1, 14)).run()
    assert errors(at) == ["The end date is before the start date."]
    assert list(at.dataframe) == []


def test_entries_come_in_pages_of_fifty(logged):
    for i in range(60):
        audit.record(_engine(logged), "data.export", actor=ANN, target=f"file:{i}.csv", at=T0 + dt.timedelta(days=1, minutes=i))
    at = open_page(PAGE, logged, "admin")
    at.selectbox(key="audit_action").select("data.export").run()
    assert table(at).height == 50 and table(at)["Target"][0] == "file:59.csv"
    at.number_input(key="audit_page").set_value(2).run()
    assert table(at)["Target"].to_list() == [f"file:{i}.csv" for i in range(9, -1, -1)]
    assert any(c.value.startswith("Entries 51–60 of 60, newest first") for c in at.caption)


def test_the_csv_holds_the_filtered_entries_and_downloading_it_is_recorded(logged, downloads):
    at = open_page(PAGE, logged, "admin")
    at.selectbox(key="audit_action").select("login.failure").run()
    csv = read_csv(downloads["audit-log.csv"])
    assert csv.select("User", "Action").rows() == [("anonymous", "login.failure")]
    next(b for b in at.download_button if b.label == "Download CSV").click().run()
    [export] = _entries(logged, "data.export")
    assert (export["actor_user_id"], export["actor_name"], export["target"], export["detail"]) == (
        logged.user_ids["admin"], "admin@example.com", "file:audit-log.csv", {"rows": 1})


# ---------------------------------------------------------------- what the app records, as whom


def test_a_login_through_the_form_is_recorded_as_that_user(seeded_app):
    login_as(seeded_app, "member")
    [entry] = _entries(seeded_app, "login.success")
    assert (entry["actor_user_id"], entry["actor_name"], entry["detail"]) == (
        seeded_app.user_ids["member"], "member@example.com", {"method": "password"})


def test_a_wrong_password_through_the_form_is_recorded_as_an_anonymous_failure(seeded_app):
    login(new_app(), seeded_app.email("member"), "not the password at all")
    [entry] = _entries(seeded_app, "login.failure")
    assert (entry["actor_name"], entry["target"], entry["detail"]) == ("anonymous", "user:member@example.com", {"reason": "wrong_password"})
    assert _entries(seeded_app, "login.success") == []


def test_logging_out_is_recorded(seeded_app):
    at = login_as(seeded_app, "customer")
    next(b for b in at.button if b.label == "Log out").click().run()
    [entry] = _entries(seeded_app, "logout")
    assert (entry["actor_user_id"], entry["actor_name"]) == (seeded_app.user_ids["customer"], "customer@example.com")


def test_a_customers_csv_download_is_recorded_as_theirs(seeded_app):
    at = open_page("pages/my_requests.py", seeded_app, "customer")
    at.download_button[0].click().run()
    [entry] = _entries(seeded_app, "data.export")
    assert (entry["actor_user_id"], entry["actor_name"]) == (seeded_app.user_ids["customer"], "customer@example.com")
    assert entry["target"].startswith("file:") and entry["detail"]["rows"] > 0


def test_saving_notes_is_recorded(seeded_app):
    at = open_page("pages/customer_profile.py", seeded_app, "member", customer="cust_a")
    at.text_area[0].input("Renewal due in March.")
    next(b for b in at.button if b.label == "Save notes").click().run()
    no_exception(at)
    [entry] = _entries(seeded_app, "note.save")
    assert (entry["actor_name"], entry["target"]) == ("member@example.com", "customer:cust_a")
    assert "Renewal" not in json.dumps(entry["detail"])


def test_the_data_pages_api_creation_token_rotation_spec_upload_and_import_are_recorded(seeded_app):
    at = open_page("pages/data_sources.py", seeded_app, "admin")
    next(t for t in at.text_input if t.label == "Name").input("Shipping API")
    at = next(b for b in at.button if b.label == "Create API").click().run()
    orders = seeded_app.api_ids["orders"]
    at.selectbox(key="rotate_api").select(orders)
    next(c for c in at.checkbox if c.label.startswith("Revoke the current token")).check()
    at = next(b for b in at.button if b.label == "Rotate token").click().run()
    at.selectbox(key="spec_api").select(orders)
    next(u for u in at.file_uploader if u.label == "Spec file").set_value(("orders.json", SPEC, "application/json"))
    at = next(b for b in at.button if b.label == "Upload spec").click().run()
    next(u for u in at.file_uploader if u.label == "Payload files").set_value(("none.ndjson", b"", "application/octet-stream"))
    next(b for b in at.button if b.label == "Import").click().run()
    no_exception(at)
    done = audit.entries(_engine(seeded_app), AuditQuery(actor="admin@example.com"))[::-1]
    shipping = next(a["id"] for a in store.list_apis(_engine(seeded_app)) if a["name"] == "Shipping API")
    assert [(e["action"], e["target"]) for e in done] == [
        ("api.create", f"api:{shipping}"), ("sdk_token.rotate", f"api:{orders}"), ("openapi.upload", f"api:{orders}"),
        ("data.import", "file:none.ndjson")]
    assert {e["actor_user_id"] for e in done} == {seeded_app.user_ids["admin"]}


def test_a_wrong_password_is_never_in_the_log(seeded_app):
    login(new_app(), seeded_app.email("admin"), "my secret guess 123")
    login(new_app(), seeded_app.email("admin"), PASSWORD)
    assert "my secret guess 123" not in str(audit.entries(_engine(seeded_app), AuditQuery()))


# ---------------------------------------------------------------- People and Account pages (after their actor hook)


def test_the_people_pages_invite_role_change_reset_revoke_and_removal_are_recorded_as_the_admin(seeded_app):
    at = open_page("pages/people.py", seeded_app, "admin")
    form = form_widgets(at, "invite")
    form["Email"].input("dora@example.com")
    form["Role"].select("member")
    form["Create invitation"].click()
    at.run()
    form = form_widgets(at, "revoke_invite")
    form["Revoke link"].click()
    at.run()
    form = form_widgets(at, "change_role")
    form["User"].select("member@example.com")
    form["New role"].select("admin")
    form["Change role"].click()
    at.run()
    form = form_widgets(at, "reset")
    form["User"].select("customer@example.com")
    form["Create reset link"].click()
    at.run()
    form = form_widgets(at, "remove")
    form["User"].select("customer@example.com")
    next(w for label, w in form.items() if label.startswith("Yes, remove")).check()
    form["Remove user"].click()
    at.run()
    no_exception(at)
    done = audit.entries(_engine(seeded_app), AuditQuery(actor="admin@example.com"))[::-1]
    assert [(e["action"], e["target"]) for e in done] == [
        ("user.invite", "user:dora@example.com"), ("user.invite_revoke", "user:dora@example.com"),
        ("user.role_change", "user:member@example.com"), ("password.reset_link", "user:customer@example.com"),
        ("user.remove", "user:customer@example.com")]
    assert {e["actor_user_id"] for e in done} == {seeded_app.user_ids["admin"]}


def test_a_password_change_on_the_account_page_is_recorded(seeded_app):
    at = open_page("pages/account.py", seeded_app, "member")
    fields = {t.label: t for t in at.text_input}
    fields["Current password"].input(PASSWORD)
    fields["New password"].input("a brand new passphrase")
    fields["Repeat the new password"].input("a brand new passphrase")
    next(b for b in at.button if b.label == "Change password").click().run()
    [entry] = _entries(seeded_app, "password.change")
    assert (entry["actor_user_id"], entry["actor_name"]) == (seeded_app.user_ids["member"], "member@example.com")
