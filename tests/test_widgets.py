"""ui.widgets pure helpers: Markdown escaping of user data."""
from ui.widgets import md_escape


def test_markdown_links_and_emphasis_are_escaped():
    assert md_escape("[click](http://x) **b**") == r"\[click\]\(http\://x\) \*\*b\*\*"


def test_html_latex_and_streamlit_directives_are_escaped():
    assert md_escape("<b>$x$ :red[y]") == r"\<b\>\$x\$ \:red\[y\]"


def test_line_breaks_become_spaces_and_none_is_empty():
    assert md_escape("a\nb\r\nc") == "a b  c"
    assert md_escape(None) == ""
