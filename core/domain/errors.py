"""The one base of the errors a user can cause (DESIGN.md "Layout": errors, one base)."""
from __future__ import annotations


class ClienteleError(Exception):
    """An error a user can cause. Its message is written for that user and safe to show as it is
    (a page shows it with st.error, the CLI prints it, the collector sends it back): it names what
    was wrong and what to do, and nothing the user may not see."""
