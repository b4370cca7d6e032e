"""Issue #14, "First impression": another role's page URL gets our refusal (not Streamlit's "Page not found"),
no list of page file names while the demo loads, and a Log out button in the sidebar's user menu."""
from __future__ import annotations

import polars as pl
import pytest
from streamlit.proto.Metric_pb2 import Metric
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

import ui.session
from core.auth import sessions
from core.domain import config
from core.domain.scope import ROLES
from core.present.cards import NO_PREVIOUS, Card
from core.storage import models
from tests.apptest_helpers import TEST_COOKIE_KEY, login_as, new_app, refused, showing_login_form
from ui import nav, wayfinding
from ui.guard import IDENTITY_KEY, REFUSAL
from ui.session import LOGOUT_HELP

FORBIDDEN = [pytest.param(role, spec, id=f"{role}-{spec.url_path}") for role in ROLES for spec in nav.PAGES
             if role not in spec.roles]


def open_url(at, url_path: str):
    """Open /<url_path> as a browser's address bar does: by the page's URL, not its file."""
    at._page_hash = calc_hash(url_path)  # st.Page's script hash is the hash of its url_path
    return at.run()


@pytest.mark.parametrize("role, spec", FORBIDDEN)
def test_url_of_a_page_the_role_may_not_open_shows_our_refusal(seeded_app, role, spec):
    at = open_url(login_as(seeded_app, role), spec.url_path)
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [REFUSAL]
    assert [t.value for t in at.title] == []  # neither the page nor the home page Streamlit would fall back to


@pytest.mark.parametrize("role", ROLES)
def test_url_of_a_page_the_role_may_open_still_opens_it(seeded_app, role):
    spec = nav.specs_for(role)[-1]
    at = open_url(login_as(seeded_app, role), spec.url_path)
    assert not refused(at)
    assert [t.value for t in at.title] == [spec.title]


@pytest.mark.parametrize("role", ROLES)
def test_the_url_of_a_roles_first_page_opens_it_with_the_links_query(seeded_app, role):
    first = nav.specs_for(role)[0]  # served at "/", but links (an alert's, a bookmark) name /my-dashboard
    at = login_as(seeded_app, role)
    at.query_params["window"] = "24h"
    at = open_url(at, first.url_path)
    assert not at.exception and not refused(at)
    assert [t.value for t in at.title] == [first.title]
    assert at.query_params["window"] == "24h"


def test_a_refused_url_never_registers_the_page_file_for_the_role(seeded_app):
    at = login_as(seeded_app, "customer")
    registered = {info["url_pathname"]: info.get("script_path") for info in at._registered_pages.values()}
    assert [registered["team"], registered["data"], registered["overview"]] == ["", "", ""]  # stand-ins: no file
    # Every URL is known (no "Page not found"), plus the first page's internal one (it is served at "/").
    assert len(at._registered_pages) == len(nav.PAGES) + 1


@pytest.fixture
def demo_app(tmp_path, monkeypatch):
    """Demo mode on an empty database file of its own, with a small demo."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setattr(config, "DEFAULT_DATABASE_URL", url)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CLIENTELE_COOKIE_KEY", TEST_COOKIE_KEY)
    monkeypatch.setenv("CLIENTELE_DEMO_REQUESTS", "300")
    models.init_db(models.get_engine())
    yield url
    models.engine_for(url).dispose()


def test_while_the_demo_loads_the_navigation_lists_no_page_files(demo_app, monkeypatch):
    seen = []
    real = ui.session.ensure_demo_data

    def watch(engine):
        # What Streamlit's menu holds when the (slow) bootstrap starts: page files would be listed by name.
        seen.append(get_script_run_ctx().pages_manager.get_pages())
        real(engine)

    monkeypatch.setattr(ui.session, "ensure_demo_data", watch)
    at = new_app().run()
    assert not at.exception, [e.value for e in at.exception]
    assert showing_login_form(at)  # the demo loaded
    assert seen
    assert [info["script_path"] for info in seen[0].values() if info.get("script_path")] == []


@pytest.mark.parametrize("role", ROLES)
def test_sidebar_has_a_log_out_button_that_says_it_ends_the_session_everywhere(seeded_app, role):
    at = login_as(seeded_app, role)
    buttons = [b for b in at.sidebar.button if b.label == "Log out"]
    assert [b.help for b in buttons] == [LOGOUT_HELP]
    assert LOGOUT_HELP == "Ends this session and signs you out everywhere (every browser and device)"


def test_log_out_in_the_sidebar_ends_every_session_of_the_user(seeded_app):
    other = login_as(seeded_app, "member")
    at = login_as(seeded_app, "member")
    other_started_at = other.session_state[IDENTITY_KEY]["started_at"]
    next(b for b in at.sidebar.button if b.label == "Log out").click()
    at.run()
    assert [s.value for s in at.success] == ["You are logged out."]
    assert sessions.session_user(models.get_engine(), other_started_at, user_id=seeded_app.user_ids["member"]) is None
    other.run()
    assert showing_login_form(other)


def _drawn_metric(card):
    def script(card):
        from ui.dashboard import card as draw
        draw(card)
    at = AppTest.from_function(script, args=(card,)).run()
    assert not at.exception
    return at.metric[0].proto


def test_a_card_without_a_prior_period_shows_its_note_without_an_arrow():
    # "↑ no prior period" read as a rise.
    drawn = _drawn_metric(Card("Requests", "9", NO_PREVIOUS, "off"))
    assert (drawn.delta, drawn.direction) == (NO_PREVIOUS, Metric.MetricDirection.NONE)


def test_a_changed_card_keeps_its_arrow():
    drawn = _drawn_metric(Card("Requests", "9", "+20.0%", "normal"))
    assert drawn.direction == Metric.MetricDirection.UP


# ---------------------------------------------------------------- quick customer search, breadcrumbs


def _search(at, text: str):
    at.text_input(key=wayfinding.SEARCH_KEY).input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("role", ["admin", "member"])
def test_the_sidebar_search_opens_the_profile_of_a_customer_id(seeded_app, role):
    at = _search(login_as(seeded_app, role), "cust_b")
    assert [t.value for t in at.title] == ["Beta LLC"]
    assert at.text_input(key=wayfinding.SEARCH_KEY).value == ""  # ready for the next search


def test_the_sidebar_search_opens_the_one_customer_whose_name_matches(seeded_app):
    at = _search(login_as(seeded_app, "admin"), "carol")
    assert [t.value for t in at.title] == ["Carol Co"]


def test_a_search_matching_several_customers_lists_them_on_the_profile_page(seeded_app):
    at = _search(login_as(seeded_app, "admin"), "cust_")
    assert [t.value for t in at.title] == ["Customer profile"]
    assert at.text_input(key="profile_find").value == "cust_"
    assert sorted(pl.from_pandas(at.dataframe[0].value).get_column("Customer ID").to_list()) == ["cust_a", "cust_b", "cust_c"]
    _search(at, "l")  # a second search in the same session is not hidden by the first one's text
    assert at.text_input(key="profile_find").value == "l"


def test_a_customer_has_no_customer_search(seeded_app):
    at = login_as(seeded_app, "customer")
    assert wayfinding.SEARCH_KEY not in [t.key for t in at.text_input]


def test_a_profile_opened_from_an_api_has_breadcrumbs_back_to_its_customers(seeded_app):
    at = login_as(seeded_app, "admin")
    at.switch_page("pages/customer_profile.py")
    at.query_params["customer"], at.query_params["api"] = "cust_a", str(seeded_app.api_ids["orders"])
    at.run()
    links = [(link.proto.label, link.proto.page) for link in at.get("page_link")]
    assert [label for label, _page in links][:2] == ["Customers", "Orders API"]
    assert {"Alpha Inc"} <= {c.value for c in at.caption}
