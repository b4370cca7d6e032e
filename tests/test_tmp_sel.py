from tests.apptest_helpers import seeded_app
from tests.page_checks import open_page, table
__all__=["seeded_app"]
def test_sel(seeded_app):
    at = open_page("pages/request_log.py", seeded_app, "admin")
    key = at.dataframe[0].key
    print("KEY", key)
    at.session_state[key] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    print([ (m.label, m.value) for m in at.metric], at.text_input(key="requests_request").value, table(at)["Request ID"].to_list()[:3])
    assert not at.exception, [e.value for e in at.exception]
