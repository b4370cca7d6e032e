"""Customer profiles, notes, favorites, dashboard widget switches and the customer picker."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.domain.scope import Scope, ScopeError
from core.storage import store
from core.storage.customers import (
    WIDGETS,
    customer_info,
    favorites,
    get_widget_prefs,
    known_customers,
    set_description,
    set_favorite,
    set_widget_prefs,
)
from core.storage.models import User
from tests.factories import NOW, make_request, seed_small

WORKSPACE = Scope.workspace()
MEMBER = Scope.workspace("member")


def at(hours: int) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours)


@pytest.fixture
def apis(engine) -> dict:
    return seed_small(engine)


def make_user(engine, email: str) -> int:
    with engine.begin() as conn:
        return conn.execute(
            sa.insert(User).values(email=email, name=email.split("@")[0], password_hash="x", role="member").returning(User.id)
        ).scalar_one()


# ---------------------------------------------------------------- profile


def test_profile_shows_name_attributes_first_and_last_seen_and_apis(engine, apis):
    info = customer_info(engine, WORKSPACE, "cust_a")
    assert (info["customer_id"], info["display_name"], info["name"]) == ("cust_a", "Alpha Inc", "Alpha Inc")
    assert info["attributes"] == {"Plan": "Pro"}
    assert (info["first_seen"], info["last_seen"]) == (at(30), at(1))
    assert info["apis"] == [
        {"api_id": apis["billing"], "name": "Billing API", "first_seen": at(6), "last_seen": at(6)},
        {"api_id": apis["orders"], "name": "Orders API", "first_seen": at(30), "last_seen": at(1)},
    ]


def test_profile_name_falls_back_to_the_id(engine, apis):
    store.write_requests(engine, [(apis["orders"], make_request(customer_id="cust_plain", timestamp=at(9)))])
    info = customer_info(engine, WORKSPACE, "cust_plain")
    assert (info["display_name"], info["name"]) == (None, "cust_plain")


def test_unknown_customer_is_not_found(engine, apis):
    with pytest.raises(store.NotFound, match="^No customer with ID 'nope'.$"):
        customer_info(engine, WORKSPACE, "nope")


def test_customer_reads_their_own_profile_without_the_workspace_notes(engine, apis):
    set_description(engine, WORKSPACE, "cust_a", "Renewal due in March.", "admin@example.com")
    info = customer_info(engine, Scope.customer("cust_a"), "cust_a")
    assert (info["customer_id"], info["name"]) == ("cust_a", "Alpha Inc")
    assert (info["description"], info["description_updated_by"], info["description_updated_at"]) == (None, None, None)


def test_another_customers_profile_looks_exactly_like_an_unknown_one(engine, apis):
    with pytest.raises(store.NotFound) as other:
        customer_info(engine, Scope.customer("cust_a"), "cust_b")
    with pytest.raises(store.NotFound) as unknown:
        customer_info(engine, Scope.customer("cust_a"), "cust_zz")
    assert (str(other.value), str(unknown.value)) == ("No customer with ID 'cust_b'.", "No customer with ID 'cust_zz'.")


# ---------------------------------------------------------------- notes


def test_description_is_kept_with_who_and_when(engine, apis):
    when = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone.utc)
    set_description(engine, MEMBER, "cust_b", "Pilot customer; call before changes.", "pm@example.com", now=when)
    info = customer_info(engine, WORKSPACE, "cust_b")
    assert (info["description"], info["description_updated_by"], info["description_updated_at"]) == (
        "Pilot customer; call before changes.", "pm@example.com", when,
    )


def test_a_later_description_replaces_the_earlier_one(engine, apis):
    set_description(engine, WORKSPACE, "cust_b", "first", "a@example.com")
    set_description(engine, WORKSPACE, "cust_b", "second", "b@example.com")
    info = customer_info(engine, WORKSPACE, "cust_b")
    assert (info["description"], info["description_updated_by"]) == ("second", "b@example.com")


def test_blank_description_clears_the_notes(engine, apis):
    set_description(engine, WORKSPACE, "cust_b", "something", "a@example.com")
    set_description(engine, WORKSPACE, "cust_b", "   ", "b@example.com")
    assert customer_info(engine, WORKSPACE, "cust_b")["description"] is None


def test_description_of_exactly_5000_characters_is_kept(engine, apis):
    set_description(engine, WORKSPACE, "cust_b", "é" * 5000, "a@example.com")
    assert customer_info(engine, WORKSPACE, "cust_b")["description"] == "é" * 5000


def test_description_over_5000_characters_is_refused_with_a_reason(engine, apis):
    with pytest.raises(ValueError, match="^Notes are limited to 5,000 characters; this text has 5,001.$"):
        set_description(engine, WORKSPACE, "cust_b", "x" * 5001, "a@example.com")
    assert customer_info(engine, WORKSPACE, "cust_b")["description"] is None


def test_customers_cannot_write_notes(engine, apis):
    with pytest.raises(ScopeError, match="^Customer notes are not available to customer accounts.$"):
        set_description(engine, Scope.customer("cust_a"), "cust_a", "hello", "a@example.com")


def test_description_of_an_unknown_customer_is_not_found(engine, apis):
    with pytest.raises(store.NotFound, match="^No customer with ID 'ghost'.$"):
        set_description(engine, WORKSPACE, "ghost", "hello", "a@example.com")


# ---------------------------------------------------------------- favorites


def test_favorites_are_remembered_in_the_order_marked(engine, apis):
    user = make_user(engine, "pm@example.com")
    set_favorite(engine, user, "cust_c", True)
    set_favorite(engine, user, "cust_a", True)
    assert favorites(engine, user) == ["cust_c", "cust_a"]


def test_marking_a_favorite_twice_keeps_one(engine, apis):
    user = make_user(engine, "pm@example.com")
    set_favorite(engine, user, "cust_a", True)
    set_favorite(engine, user, "cust_a", True)
    assert favorites(engine, user) == ["cust_a"]


def test_unmarking_removes_a_favorite(engine, apis):
    user = make_user(engine, "pm@example.com")
    set_favorite(engine, user, "cust_a", True)
    set_favorite(engine, user, "cust_b", True)
    set_favorite(engine, user, "cust_a", False)
    assert favorites(engine, user) == ["cust_b"]


def test_favorites_belong_to_one_user(engine, apis):
    alice, bob = make_user(engine, "alice@example.com"), make_user(engine, "bob@example.com")
    set_favorite(engine, alice, "cust_a", True)
    assert (favorites(engine, alice), favorites(engine, bob)) == (["cust_a"], [])


def test_favorite_of_an_unknown_customer_is_not_found(engine, apis):
    user = make_user(engine, "pm@example.com")
    with pytest.raises(store.NotFound, match="^No customer with ID 'ghost'.$"):
        set_favorite(engine, user, "ghost", True)


def test_favorite_of_an_unknown_user_is_not_found(engine, apis):
    with pytest.raises(store.NotFound, match="^No user with id 999.$"):
        set_favorite(engine, 999, "cust_a", True)


# ---------------------------------------------------------------- dashboard widgets


def test_widgets_are_the_seven_dashboard_widgets_in_order(engine):
    assert [key for key, _title in WIDGETS] == [
        "new_customers", "active_customers", "top_customer", "avg_requests_per_customer",
        "recent_customers", "favorite_customers", "top_customers_list",
    ]


def test_every_widget_is_shown_until_switched_off(engine):
    user = make_user(engine, "pm@example.com")
    assert get_widget_prefs(engine, user) == {key: True for key, _title in WIDGETS}


def test_switched_off_widgets_stay_off(engine):
    user = make_user(engine, "pm@example.com")
    set_widget_prefs(engine, user, {"top_customer": False, "favorite_customers": False})
    prefs = get_widget_prefs(engine, user)
    assert [key for key, shown in prefs.items() if not shown] == ["top_customer", "favorite_customers"]


def test_widget_switches_can_be_turned_back_on_one_at_a_time(engine):
    user = make_user(engine, "pm@example.com")
    set_widget_prefs(engine, user, {"top_customer": False, "new_customers": False})
    set_widget_prefs(engine, user, {"top_customer": True})
    prefs = get_widget_prefs(engine, user)
    assert [key for key, shown in prefs.items() if not shown] == ["new_customers"]


def test_widget_switches_belong_to_one_user(engine):
    alice, bob = make_user(engine, "alice@example.com"), make_user(engine, "bob@example.com")
    set_widget_prefs(engine, alice, {"top_customer": False})
    assert get_widget_prefs(engine, bob)["top_customer"] is True


def test_unknown_widget_is_refused_with_a_reason(engine):
    user = make_user(engine, "pm@example.com")
    with pytest.raises(ValueError, match="^Unknown dashboard widget 'weather'"):
        set_widget_prefs(engine, user, {"weather": False})


def test_widget_switch_must_be_on_or_off(engine):
    user = make_user(engine, "pm@example.com")
    with pytest.raises(ValueError, match="^The widget 'top_customer' can only be switched on"):
        set_widget_prefs(engine, user, {"top_customer": "no"})


def test_widget_switches_of_an_unknown_user_are_refused(engine):
    with pytest.raises(store.NotFound, match="^No user with id 999.$"):
        set_widget_prefs(engine, 999, {"top_customer": False})


# ---------------------------------------------------------------- picker


def test_picker_lists_customers_most_recently_active_first(engine, apis):
    assert [c["customer_id"] for c in known_customers(engine, WORKSPACE)] == ["cust_a", "cust_b", "cust_c"]


def test_picker_searches_ids_and_display_names(engine, apis):
    found = known_customers(engine, WORKSPACE, "carol")
    assert found == [{"customer_id": "cust_c", "display_name": "Carol Co", "last_seen": at(7)}]


def test_picker_search_takes_underscore_literally(engine, apis):
    store.write_requests(engine, [(apis["orders"], make_request(customer_id="custXb", timestamp=at(0)))])
    assert [c["customer_id"] for c in known_customers(engine, WORKSPACE, "cust_")] == ["cust_a", "cust_b", "cust_c"]


def test_picker_stops_at_the_limit(engine, apis):
    assert [c["customer_id"] for c in known_customers(engine, WORKSPACE, limit=2)] == ["cust_a", "cust_b"]


def test_picker_is_refused_to_customers(engine, apis):
    with pytest.raises(ScopeError, match="^Customer lists are not available to customer accounts.$"):
        known_customers(engine, Scope.customer("cust_a"))
