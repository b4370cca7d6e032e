"""People page (Admin) through AppTest, and its one-time links: roles read capitalised, empty cells read
"–", the invite form starts empty after an invite, removal preselects nobody, an unseen customer ID
needs a confirmation, and links point at the address the Admin is browsing (issue #14)."""
from __future__ import annotations

import pytest

from core.auth import links
from core.auth.errors import AuthError
from core.present.people import users_table
from core.storage import models, store
from tests.apptest_helpers import login_as
from tests.factories import NOW, make_request
from tests.page_checks import form_widgets


def _people(seeded):
    at = login_as(seeded, "admin")
    return at.switch_page("pages/people.py").run()


def _invite(at, email: str, role: str, customer_id: str | None = None, *, unseen_ok: bool = False, new_id: str | None = None):
    form = form_widgets(at, "invite")
    form["Email"].input(email)
    form["Role"].select(role)
    if customer_id:
        form["Customer ID"].select(customer_id)
    if new_id:
        form["New customer ID"].input(new_id)
    if unseen_ok:
        form["No requests with this ID yet — invite anyway"].check()
    form["Create invitation"].click()
    return at.run()


def test_users_table_shows_roles_capitalised_and_dashes_for_empty_cells(seeded_app):
    at = _people(seeded_app)
    shown = at.dataframe[0].value.sort_values("Email")
    assert list(shown["Role"]) == ["Admin", "Customer", "Member"]
    assert list(shown["Group"]) == ["–", "Alpha", "–"]


def test_users_table_capitalises_a_stored_role_and_dashes_empty_cells():
    table = users_table([{"email": "a@example.com", "name": "A", "role": "member", "customer_id": None, "group": None,
                          "last_login_at": None, "locked_until": None}], "UTC")
    assert table.row(0)[2:5] == ("Member", "–", "–")


def test_the_invite_form_is_empty_again_after_an_invite(seeded_app):
    at = _invite(_people(seeded_app), "dora@example.com", "member")
    assert not at.error
    form = form_widgets(at, "invite")
    assert (form["Email"].value, form["Role"].value) == ("", None)


def test_a_refused_invite_keeps_what_was_typed(seeded_app):
    at = _invite(_people(seeded_app), "member@example.com", "member")
    assert [e.value for e in at.error] == ["member@example.com already has an account."]
    assert form_widgets(at, "invite")["Email"].value == "member@example.com"


def test_remove_a_user_preselects_nobody(seeded_app):
    at = _people(seeded_app)
    assert form_widgets(at, "remove")["User"].value is None


def test_remove_without_picking_a_user_says_so(seeded_app):
    at = _people(seeded_app)
    form = form_widgets(at, "remove")
    next(w for label, w in form.items() if label.startswith("Yes, remove")).check()
    form["Remove user"].click()
    at.run()
    assert [e.value for e in at.error] == ["Pick a user."]


def test_no_people_form_preselects_a_user_or_a_role(seeded_app):
    # The invite form offered Admin, and Change a role and Password reset the first user listed (often yourself)
    # with Admin as the new role: one careless click invited an Admin or changed your own role.
    at = _people(seeded_app)
    assert form_widgets(at, "invite")["Role"].value is None
    change = form_widgets(at, "change_role")
    assert (change["User"].value, change["New role"].value) == (None, None)
    assert form_widgets(at, "reset")["User"].value is None


@pytest.mark.parametrize(("form", "wanted"), [("invite", "Pick a role."), ("change_role", "Pick a user."), ("reset", "Pick a user.")])
def test_a_form_sent_without_its_choices_says_what_to_pick_and_changes_nothing(seeded_app, form, wanted):
    at = _people(seeded_app)
    widgets = form_widgets(at, form)
    if form == "invite":
        widgets["Email"].input("eve@example.com")
    next(w for label, w in widgets.items() if label in ("Create invitation", "Change role", "Create reset link")).click()
    at.run()
    assert [e.value for e in at.error] == [wanted]
    assert links.pending_invites(models.get_engine()) == []


def test_the_invite_form_asks_to_confirm_an_unseen_customer_id(seeded_app):
    at = _invite(_people(seeded_app), "zed@example.com", "customer", new_id="cust_typo")
    assert [e.value for e in at.error][0].startswith("No requests with customer ID 'cust_typo' have been recorded yet")
    assert links.pending_invites(models.get_engine()) == []
    at = _invite(at, "zed@example.com", "customer", new_id="cust_typo", unseen_ok=True)
    assert not at.error
    assert [p["customer_id"] for p in links.pending_invites(models.get_engine())] == ["cust_typo"]


def test_the_known_customer_list_takes_no_typed_entries_a_new_id_has_its_own_box(seeded_app):
    """The list of known customers accepts no new entries (it would offer the text being typed first, and Enter
    would take half an ID as a new one, issue #14): a new ID goes in the box beside it."""
    form = form_widgets(_people(seeded_app), "invite")
    assert form["Customer ID"].proto.accept_new_options is False
    assert form["Customer ID"].value is None and form["New customer ID"].value == ""


def test_a_typed_id_of_a_known_customer_needs_no_confirmation(seeded_app):
    at = _invite(_people(seeded_app), "dora@example.com", "customer", new_id=" cust_b ")
    assert not at.error
    assert [p["customer_id"] for p in links.pending_invites(models.get_engine())] == ["cust_b"]


def test_a_picked_and_a_different_typed_customer_id_are_refused(seeded_app):
    at = _invite(_people(seeded_app), "dora@example.com", "customer", "cust_b", new_id="cust_c")
    assert [e.value for e in at.error] == ["Pick a known customer or type a new customer ID, not both."]
    assert links.pending_invites(models.get_engine()) == []


def test_picked_customer_takes_the_list_or_the_box():
    from core.present.people import picked_customer

    assert picked_customer(None, None) is None
    assert picked_customer(None, "  ") is None
    assert picked_customer("cust_b", None) == "cust_b"
    assert picked_customer(None, " cust_new ") == "cust_new"
    assert picked_customer("cust_b", "cust_b") == "cust_b"
    with pytest.raises(ValueError, match="not both"):
        picked_customer("cust_b", "cust_c")


def test_an_unseen_customer_id_is_refused_without_the_confirmation(engine):
    with pytest.raises(AuthError, match="No requests with customer ID 'cust_typo' have been recorded yet"):
        links.create_invite(engine, email="zed@example.com", role="customer", customer_id="cust_typo", now=NOW,
                            unseen_customer_ok=False)
    assert links.pending_invites(engine, now=NOW) == []


def test_an_unseen_customer_id_is_invited_with_the_confirmation(engine):
    links.create_invite(engine, email="zed@example.com", role="customer", customer_id="cust_new", now=NOW,
                        unseen_customer_ok=True)
    assert [p["customer_id"] for p in links.pending_invites(engine, now=NOW)] == ["cust_new"]


def test_a_seen_customer_id_needs_no_confirmation(engine):
    api_id = store.create_api(engine, "Orders API", api_key="orders-key")["api_id"]
    store.write_requests(engine, [(api_id, make_request(customer_id="cust_seen"))])
    links.create_invite(engine, email="zed@example.com", role="customer", customer_id="cust_seen", now=NOW,
                        unseen_customer_ok=False)
    assert [p["customer_id"] for p in links.pending_invites(engine, now=NOW)] == ["cust_seen"]


def test_inviting_a_known_customer_needs_no_confirmation(seeded_app):
    at = _invite(_people(seeded_app), "dora@example.com", "customer", "cust_b")
    assert not at.error
    assert [p["customer_id"] for p in links.pending_invites(models.get_engine())] == ["cust_b"]


# ---------------------------------------------------------------- where links point


def test_browsing_base_url_reads_host_and_forwarded_proto():
    assert links.browsing_base_url({"Host": "clientele.example.com", "X-Forwarded-Proto": "https"}) == (
        "https://clientele.example.com")
    assert links.browsing_base_url({"host": "10.0.0.5:8501"}) == "http://10.0.0.5:8501"


def test_browsing_base_url_ignores_a_host_that_is_not_a_host():
    assert links.browsing_base_url({"Host": "evil.example.com/phish?x="}) is None
    assert links.browsing_base_url({}) is None


def test_invite_link_uses_the_browsed_address_when_no_base_url_is_set(engine, monkeypatch):
    monkeypatch.delenv("CLIENTELE_BASE_URL", raising=False)
    link = links.create_invite(engine, email="new@example.com", role="member", now=NOW,
                               browsing="https://clientele.example.com").link
    assert link.startswith("https://clientele.example.com/?invite=")


def test_configured_base_url_wins_over_the_browsed_address(engine, monkeypatch):
    monkeypatch.setenv("CLIENTELE_BASE_URL", "https://links.example.org/")
    link = links.create_invite(engine, email="new@example.com", role="member", now=NOW,
                               browsing="http://10.0.0.5:8501").link
    assert link.startswith("https://links.example.org/?invite=")


@pytest.mark.parametrize("browsing", [None])
def test_without_either_links_point_at_localhost(engine, monkeypatch, browsing):
    monkeypatch.delenv("CLIENTELE_BASE_URL", raising=False)
    link = links.create_invite(engine, email="new@example.com", role="member", now=NOW, browsing=browsing).link
    assert link.startswith("http://localhost:8501/?invite=")
