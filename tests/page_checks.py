"""Helpers for page tests (AppTest): open a page as a role with URL parameters, read everything it
rendered as text (for "a Customer never sees X" checks), read tables, and capture download bytes."""
from __future__ import annotations

import datetime as dt
import io
import re

import polars as pl
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from core.storage import models
from tests.apptest_helpers import ROOT, SeededApp, leaf_elements, new_app
from ui.guard import IDENTITY_KEY


def open_page(path: str, seeded: SeededApp, role: str, **params) -> AppTest:
    """Run one page file as the seeded user of `role` (the identity app.py would have verified), with
    the given URL query parameters (lists become repeated parameters)."""
    at = new_app(str(ROOT / path))
    at.session_state[IDENTITY_KEY] = {"user_id": seeded.user_ids[role], "started_at": models.utcnow() - dt.timedelta(seconds=1)}
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


def _nodes(node):
    yield node
    for child in (getattr(node, "children", None) or {}).values():
        yield from _nodes(child)


def rendered_text(at: AppTest) -> str:
    """Everything the run sent to the browser, as text: every element and block (labels, values,
    table and chart data, which protobuf text keeps readable for ASCII), plus the URL parameters."""
    parts = []
    # The whole tree: main, sidebar and the event container, where st.dialog (a request's details) lives.
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
    parts.append(repr(dict(at.query_params)))
    return "\n".join(parts)


def table(at: AppTest, index: int = 0) -> pl.DataFrame:
    """The index-th st.dataframe of the page as a Polars frame."""
    return pl.from_pandas(at.dataframe[index].value)


def unescape(text: str) -> str:
    """Markdown text as the reader sees it (ui.widgets.md_escape undone)."""
    return re.sub(r"\\(.)", r"\1", text)


def errors(at: AppTest) -> list[str]:
    """The st.error messages of the run, as the reader sees them."""
    return [unescape(e.value) for e in at.error]


def successes(at: AppTest) -> list[str]:
    return [unescape(e.value) for e in at.success]


def warnings(at: AppTest) -> list[str]:
    return [unescape(e.value) for e in at.warning]


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """{file name: bytes} of every st.download_button rendered during the test (the bytes the browser
    would receive)."""
    captured: dict[str, bytes] = {}
    real = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):
        if filename is not None and isinstance(path_or_data, (bytes, str)):
            captured[filename] = path_or_data.encode() if isinstance(path_or_data, str) else bytes(path_or_data)
        return real(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return captured


def read_csv(data: bytes) -> pl.DataFrame:
    """A CSV download (UTF-8 with BOM) as a frame of strings."""
    return pl.read_csv(io.BytesIO(data.removeprefix(b"\xef\xbb\xbf")), infer_schema=False)


def url_values(at: AppTest, name: str) -> list[str]:
    """The values of a URL query parameter after the run (repeated parameters as a list)."""
    value = at.query_params.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def form_widgets(at: AppTest, form_key: str) -> dict:
    """The widgets of one st.form by label. A numbered form ("invite_0", "invite_1", …: the People page makes its
    invite form anew after each invitation) is found by its name without the number."""
    def ours(form_id) -> bool:
        return form_id == form_key or (form_id or "").removeprefix(f"{form_key}_").isdigit()

    return {w.label: w for w in leaf_elements(at) if ours(getattr(w, "form_id", None)) and hasattr(w, "label")}
