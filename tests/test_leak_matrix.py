"""Customer isolation under attack, through the real app (AppTest): two customers alternating in one process
(shared caches), tampered links, switching users in one session, downloads, and `stats --as-customer`."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from core.auth import users
from core.storage import models, store
from core.storage.models import Request
from tests.apptest_helpers import PASSWORD, ROOT, login, login_as, new_app
from tests.factories import NOW, make_request
from tests.page_checks import errors, read_csv, rendered_text
from ui import nav

CUSTOMER_PAGES = [spec.path for spec in nav.specs_for("customer")]
CAROL = {"email": "carol@example.com", "name": "Carla Carol"}
WINDOWS = ("24h", "7d", "30d", "all")

# Strings that must never reach a customer's browser: the other customers' IDs and names, the other
# customer's login, values from others' requests, and what only others did (seed_small: cust_b alone hit
# /missing, cust_c alone sent a POST; cust_a alone called /boom and, with cust_b, the Orders API, which cust_c
# never used; the `carol` fixture adds a PATCH .../refund of cust_a on the Billing API, the API both share).
FORBIDDEN = {
    "cust_a": ("cust_b", "Beta LLC", "cust_c", "Carol Co", "/missing", "POST", CAROL["email"], CAROL["name"]),
    "cust_c": ("cust_a", "Alpha Inc", "cust_b", "Beta LLC", "Orders API", "/orders", "/boom", "/missing", "/refund",
               "PATCH", "customer@example.com", "Cy Customer", "ALPHA-REFUND-VALUE"),
}
# The API docs list every operation of an API the customer uses, with schemas from all its traffic (issue #10):
# there, and only there, an operation only others called may show; never a value from their requests.
DOCS_MAY_SHOW = {"cust_a": ("POST",), "cust_c": ("/refund", "PATCH")}
DOCS_PAGE = "pages/api_docs.py"
# "Total requests" each customer must see with the `carol` fixture, counted by hand (NOW = 12:00):
# cust_a: Orders 1 h, 2 h, 30 h ago; Billing 6 h and 10 days ago. cust_c: Billing 7 h and 8 h ago.
# The workspace figures these must never be: Orders 5 (24h) / 6, Billing 3 (24h, 7d) / 4, all APIs 8 / 9 / 10.
OWN_TOTALS = {
    "cust_a": {"all": {"24h": 3, "7d": 4, "30d": 5, "all": 5}, "orders": {"24h": 2, "7d": 3, "30d": 3, "all": 3},
               "billing": {"24h": 1, "7d": 1, "30d": 2, "all": 2}},
    "cust_c": {"all": dict.fromkeys(WINDOWS, 2), "billing": dict.fromkeys(WINDOWS, 2)},
}


@pytest.fixture
def carol(seeded_app):
    """A second customer user, bound to cust_c (only on the Billing API); and a Billing request only cust_a
    made, so that a docs or metrics cache shared between the two customers shows on cust_c's pages."""
    engine = models.get_engine()
    store.write_requests(engine, [(seeded_app.api_ids["billing"], make_request(
        customer_id="cust_a", timestamp=NOW - dt.timedelta(days=10), method="PATCH", endpoint="/invoices/{id}/refund",
        url="https://api.example.com/invoices/7/refund", response_body={"refund": "ALPHA-REFUND-VALUE"}))])
    return users.create_user(engine, email=CAROL["email"], name=CAROL["name"], password=PASSWORD,
                            role="customer", customer_id="cust_c")


def _login_customer(seeded_app, customer_id: str):
    if customer_id == "cust_a":
        return login_as(seeded_app, "customer")
    at = login(new_app(), CAROL["email"])
    assert not at.exception, [e.value for e in at.exception]
    return at


def _visit(at, path: str, **params):
    at.query_params.clear()
    at.query_params.update({k: str(v) for k, v in params.items()})
    at.switch_page(path).run()
    assert not at.exception, (path, params, [e.value for e in at.exception])
    return at


def _page_text(at) -> str:
    # Without the URL: a tampered link's own value (e.g. ?customer=cust_b) is what the visitor typed.
    return rendered_text(at).replace(repr(dict(at.query_params)), "")


def _forbidden(customer_id: str, path: str | None = None) -> tuple[str, ...]:
    allowed = DOCS_MAY_SHOW[customer_id] if path == DOCS_PAGE else ()
    return tuple(s for s in FORBIDDEN[customer_id] if s not in allowed)


def _leaks(at, customer_id: str, path: str | None = None) -> list[str]:
    text = _page_text(at)
    return [s for s in _forbidden(customer_id, path) if s in text]


def _request_id(customer_id: str, endpoint: str) -> int:
    with models.get_engine().connect() as conn:
        return conn.execute(sa.select(Request.id).where(Request.customer_id == customer_id,
                                                        Request.endpoint == endpoint)).scalars().one()


def _total_card(at) -> str | None:
    return next((m.value for m in at.metric if m.label == "Total requests"), None)


def test_two_customers_alternating_in_one_process_see_only_their_own_data_and_totals(seeded_app, carol):
    sessions = {"cust_a": _login_customer(seeded_app, "cust_a"), "cust_c": _login_customer(seeded_app, "cust_c")}
    found = []
    for customer_id in ("cust_a", "cust_c", "cust_a", "cust_c"):
        at = sessions[customer_id]
        apis = {"all": "all", **{name: seeded_app.api_ids[name] for name in OWN_TOTALS[customer_id] if name != "all"}}
        for path in CUSTOMER_PAGES:
            if path == "pages/account.py":
                visits = [{}]
            elif path == "pages/api_docs.py":
                visits = [{"api": api} for name, api in apis.items() if name != "all"]
            else:
                visits = [{"api": api, "window": w} for api in apis.values() for w in WINDOWS]
            for params in visits:
                _visit(at, path, **params)
                found += [(customer_id, path, params, s) for s in _leaks(at, customer_id, path)]
                if path in ("pages/my_dashboard.py", "pages/my_requests.py"):
                    name = next(n for n, a in apis.items() if a == params["api"])
                    own = OWN_TOTALS[customer_id][name][params["window"]]
                    shown = (_total_card(at) if path == "pages/my_dashboard.py" else
                             next((b.label for b in at.button if b.label.startswith("Prepare CSV")), None))
                    expected = (str(own) if path == "pages/my_dashboard.py" else
                                f"Prepare CSV of all {own} filtered requests")
                    if shown != expected:
                        found.append((customer_id, path, params, f"shows {shown!r}, expected {expected!r}"))
    assert found == []


@pytest.mark.parametrize("path", CUSTOMER_PAGES)
def test_link_naming_another_customer_shows_none_of_its_data_and_reads_like_an_unknown_id(seeded_app, path):
    other = _page_text(_visit(_login_customer(seeded_app, "cust_a"), path, customer="cust_b"))
    unknown = _page_text(_visit(_login_customer(seeded_app, "cust_a"), path, customer="cust_zz"))
    unknown = unknown.replace("cust_zz", "cust_b")
    assert [s for s in _forbidden("cust_a", path) if s in other] == []
    assert other == unknown


@pytest.mark.parametrize("path", CUSTOMER_PAGES)
def test_link_naming_an_api_the_customer_never_used_shows_none_of_its_data_and_reads_like_an_unknown_api(
        seeded_app, carol, path):
    at = _login_customer(seeded_app, "cust_c")
    orders = seeded_app.api_ids["orders"]
    _visit(at, path, api=orders)
    assert _leaks(at, "cust_c", path) == []
    shown = errors(at)
    missing = [e.replace("999999", str(orders)) for e in errors(_visit(at, path, api=999999))]
    assert shown == missing


@pytest.mark.parametrize("path", CUSTOMER_PAGES)
def test_link_naming_another_customers_request_shows_none_of_it_and_reads_like_an_unknown_id(seeded_app, path):
    at = _login_customer(seeded_app, "cust_a")
    theirs = _request_id("cust_b", "/missing")
    _visit(at, path, request=theirs, window="all")
    assert _leaks(at, "cust_a", path) == []
    shown = errors(at)
    missing = [e.replace("999999", str(theirs)) for e in errors(_visit(at, path, request=999999, window="all"))]
    assert shown == missing


def test_link_naming_the_customers_own_request_opens_its_details(seeded_app):
    # The control for the test above: ?request= does open a request the customer may see.
    at = _login_customer(seeded_app, "cust_a")
    _visit(at, "pages/my_requests.py", request=_request_id("cust_a", "/boom"), window="all")
    assert "https://api.example.com/boom" in _page_text(at)
    assert any(":red-badge[500]" in md.value for md in at.markdown)  # the status badge of the request's dialog


def test_next_customer_logged_in_after_log_out_in_the_same_session_sees_nothing_of_the_first(seeded_app, carol):
    at = _login_customer(seeded_app, "cust_a")
    # Leave choices behind in the session: an API only the first customer uses, and one of their requests.
    for path in CUSTOMER_PAGES:
        _visit(at, path, api=seeded_app.api_ids["orders"], window="all", request=_request_id("cust_a", "/boom"))
    _visit(at, "pages/account.py")
    next(b for b in at.button if b.label == "Log out").click().run()
    login(at, CAROL["email"])
    assert not at.exception, [e.value for e in at.exception]
    found = [("landing", s) for s in _leaks(at, "cust_c")]
    for path in CUSTOMER_PAGES:
        at.switch_page(path).run()  # with whatever URL the first customer left behind
        found += [(path, "left URL", s) for s in _leaks(at, "cust_c", path)]
        _visit(at, path)
        found += [(path, "bare URL", s) for s in _leaks(at, "cust_c", path)]
    assert found == []
    assert _total_card(_visit(at, "pages/my_dashboard.py", window="all")) == "2"


@pytest.mark.parametrize("customer_id", ["cust_a", "cust_c"])
def test_every_download_a_customer_can_trigger_holds_only_their_rows(seeded_app, carol, downloads, customer_id):
    at = _login_customer(seeded_app, customer_id)
    apis = [seeded_app.api_ids[name] for name in OWN_TOTALS[customer_id] if name != "all"]
    for path in CUSTOMER_PAGES:
        for api in ["all", *apis]:
            _visit(at, path, api=api, window="all")
            for button in [b for b in at.button if b.label.startswith("Prepare CSV")]:
                button.click().run()
    assert {"my-requests.csv", "my-requests-page-1.csv"} <= set(downloads)
    assert any(name.endswith("-openapi.json") for name in downloads)
    leaked = [(name, s) for name, data in downloads.items()
              for s in _forbidden(customer_id, DOCS_PAGE if name.endswith(("-openapi.json", "-openapi.yaml")) else None)
              if s.encode() in data]
    assert leaked == []
    # The last "Prepare CSV" was on the customer's last API; each of their requests is one row.
    assert read_csv(downloads["my-requests.csv"]).height == OWN_TOTALS[customer_id]["billing"]["all"]


def test_a_customer_bound_to_the_id_star_sees_nothing_of_other_customers_after_the_workspace_filled_the_caches(seeded_app):
    engine = models.get_engine()
    orders = seeded_app.api_ids["orders"]
    store.write_requests(engine, [
        (orders, make_request(customer_id="*", timestamp=NOW - dt.timedelta(hours=2), response_body={"owner": "star"})),
        (orders, make_request(customer_id="cust_b", timestamp=NOW - dt.timedelta(hours=1), url="https://api.example.com/orders/55501",
                              response_body={"owner": "BETA-OWNER-VALUE"})),
    ])
    users.create_user(engine, email="star@example.com", name="Star", password=PASSWORD, role="customer", customer_id="*")
    admin = login_as(seeded_app, "admin")
    for path in [spec.path for spec in nav.specs_for("admin")]:  # the workspace's views, cached first
        _visit(admin, path, api=orders, window="all")
    assert "BETA-OWNER-VALUE" in _page_text(_visit(admin, DOCS_PAGE, api=orders))
    star = login(new_app(), "star@example.com")
    assert not star.exception, [e.value for e in star.exception]
    forbidden = ("cust_a", "Alpha Inc", "cust_b", "Beta LLC", "cust_c", "Carol Co", "BETA-OWNER-VALUE", "55501")
    found = []
    for path in CUSTOMER_PAGES:
        for params in ({"api": orders, "window": "all"}, {"api": orders, "window": "24h"}):
            text = _page_text(_visit(star, path, **params))
            found += [(path, params["window"], s) for s in forbidden if s in text]
    assert found == []
    assert _total_card(_visit(star, "pages/my_dashboard.py", api=orders, window="all")) == "1"


def _rule(name: str, api: int, customer_id: str, notify: str, *, owner: int | None = None) -> dict:
    from core.alerts import rules
    from core.domain.scope import Scope
    from core.storage import alerts as stored
    from core.storage.audit import CLI

    spec = rules.RuleSpec(name=name, api=api, metric="error_rate", comparison="above", threshold=1, window="1h",
                          notify=[notify], customer_id=customer_id)
    scope = Scope.customer(customer_id) if owner else Scope.workspace()
    rule = rules.add(models.get_engine(), spec, scope=scope, actor=CLI, owner_user_id=owner)
    stored.enqueue(models.get_engine(), rule["id"], state="firing", destination=notify, at=models.utcnow(),
                   payload={"metric": "error_rate", "value": 50.0, "customer_id": customer_id})
    return rule


def test_alert_rules_and_deliveries_of_others_never_reach_a_customer_nor_yield_to_their_ids(seeded_app, carol):
    from core.alerts import rules
    from core.domain.scope import Scope
    from core.storage.audit import CLI

    billing, orders = seeded_app.api_ids["billing"], seeded_app.api_ids["orders"]
    carols = _rule("CAROL-OWN-RULE", billing, "cust_c", "https://hooks.carol.example/x", owner=carol)
    _rule("WATCH-BETA", orders, "cust_b", "beta-oncall@example.com")
    _rule("WORKSPACE-ON-ALPHA", orders, "cust_a", "alpha-am@example.com")
    mine = _rule("ALPHA-OWN-RULE", orders, "cust_a", "https://hooks.alpha.example/x", owner=seeded_app.user_ids["customer"])
    others = {"cust_a": ("CAROL-OWN-RULE", "hooks.carol", "WATCH-BETA", "beta-oncall", "WORKSPACE-ON-ALPHA", "alpha-am"),
              "cust_c": ("ALPHA-OWN-RULE", "hooks.alpha", "WATCH-BETA", "beta-oncall", "WORKSPACE-ON-ALPHA", "alpha-am")}
    found = []
    for customer_id in ("cust_a", "cust_c"):
        at = _login_customer(seeded_app, customer_id)
        for path in CUSTOMER_PAGES:
            text = _page_text(_visit(at, path, api="all", window="all"))
            found += [(customer_id, path, s) for s in others[customer_id] + _forbidden(customer_id, path) if s in text]
        own = "ALPHA-OWN-RULE" if customer_id == "cust_a" else "CAROL-OWN-RULE"
        assert own in _page_text(_visit(at, "pages/alerts.py"))
    assert found == []
    # Another customer's rule id reads exactly like an id that does not exist, for every action.
    engine, scope, owner = models.get_engine(), Scope.customer("cust_a"), seeded_app.user_ids["customer"]
    spec = rules.spec_of(mine)
    attempts = [lambda rule_id: rules.own(engine, rule_id, scope, owner),
                lambda rule_id: rules.mute(engine, rule_id, True, scope=scope, actor=CLI, owner_user_id=owner),
                lambda rule_id: rules.edit(engine, rule_id, spec, scope=scope, actor=CLI, owner_user_id=owner),
                lambda rule_id: rules.remove(engine, rule_id, scope=scope, actor=CLI, owner_user_id=owner)]
    for rule_id in (carols["id"], 999999):
        for attempt in attempts:
            with pytest.raises(LookupError, match=f"^No alert rule {rule_id}.$"):
                attempt(rule_id)
    assert [d["destination"] for d in rules.visible_deliveries(engine, scope, owner_user_id=owner)] == [
        "https://hooks.alpha.example/x"]
    assert rules.visible_deliveries(engine, scope) == []  # no user: nothing
    assert rules.own(engine, carols["id"], Scope.customer("cust_c"), carol)["name"] == "CAROL-OWN-RULE"


def _stats(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", "stats", *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def test_stats_as_a_customer_prints_only_that_customers_numbers(seeded_app):
    done = _stats("--json", "--as-customer", "cust_a", "--window", "all")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [s for s in ("cust_b", "cust_c", "Beta LLC", "Carol Co") if s in done.stdout] == []
    assert "customers" not in data and "widgets" not in data
    assert data["overview"]["total_requests"] == 4


def test_usage_as_a_customer_prints_only_that_customers_rows(seeded_app, carol):
    done = subprocess.run([sys.executable, "-m", "core", "usage", "--month", NOW.strftime("%Y-%m"), "--json",
                           "--as-customer", "cust_c"], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert {r["customer_id"] for r in rows} == {"cust_c"} and sum(r["requests"] for r in rows) == 2
    assert [s for s in _forbidden("cust_c") if s in done.stdout] == []


def test_stats_as_a_customer_refuses_an_api_they_never_used_like_an_unknown_one(seeded_app):
    orders = seeded_app.api_ids["orders"]
    done = _stats("--json", "--as-customer", "cust_c", "--api", str(orders))
    unknown = _stats("--json", "--as-customer", "cust_c", "--api", "999999")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == unknown.stderr.replace("999999", str(orders))
    assert "Orders API" not in done.stderr
