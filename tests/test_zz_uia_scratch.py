from tests.apptest_helpers import seeded_app
from tests.page_checks import open_page
from tests.test_pages_my_dashboard import _chart_data, everything_shown
__all__ = ["seeded_app"]

def test_explore(seeded_app):
    at = open_page("pages/my_dashboard.py", seeded_app, "customer")
    d = _chart_data(at)
    print(len(d), d[:12])
    s = everything_shown(at)
    print("/orders/{id}" in s, "Orders API" in s, "Request ID" in s, "Billing API" in s)
