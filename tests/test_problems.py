"""core.domain.problems.body_message: the error message of a failed response's JSON body, in the shapes APIs send."""
from __future__ import annotations

import pytest

from core.domain.problems import MAX_CHARS, body_message


@pytest.mark.parametrize("body, message", [
    ({"error": {"type": "card_error", "message": "Your card was declined."}}, "Your card was declined."),  # Stripe
    ({"error": "invalid_grant", "error_description": "Refresh token expired"}, "Refresh token expired"),  # OAuth 2
    ({"error": "invalid_grant"}, "invalid_grant"),
    ({"message": "Not Found", "documentation_url": "https://docs.github.com"}, "Not Found"),  # GitHub, Laravel
    ({"type": "about:blank", "title": "Bad Request", "detail": "qty must be positive"}, "qty must be positive"),  # RFC 9457
    ({"title": "Bad Request", "status": 400}, "Bad Request"),
    ({"detail": "Authentication credentials were not provided."}, "Authentication credentials were not provided."),  # DRF
    ({"errors": [{"message": "Cannot query field 'x'"}, {"message": "second"}]}, "Cannot query field 'x'"),  # GraphQL
    ({"errors": [{"status": "422", "detail": "name is blank"}]}, "name is blank"),  # JSON:API
    ({"error": {"code": 5}, "message": "fallback"}, "fallback"),
    ({"message": "two\n  lines\tof text"}, "two lines of text"),
])
def test_the_common_error_shapes_give_their_message(body, message):
    assert body_message(body) == message


@pytest.mark.parametrize("body", [
    None, "", "<html><body>502 Bad Gateway</body></html>", ["error"], 42, {}, {"ok": False}, {"message": ""},
    {"message": "   "}, {"message": 404}, {"error": None}, {"errors": []}, {"errors": ["plain text"]},
    {"message": "****"},  # masked at ingest: a secret-looking field, not a message
])
def test_anything_else_has_no_message(body):
    assert body_message(body) is None


def test_a_hostile_message_is_one_line_of_at_most_300_characters():
    for hostile in ("<" * 65_536, '"' * 65_536, "UNION SELECT password FROM users -- " * 2_000, "\n" * 65_536 + "x"):
        message = body_message({"error": {"message": hostile}})
        assert message is None or (len(message) <= MAX_CHARS and "\n" not in message)
    assert body_message({"message": "<" * 65_536}) == "<" * MAX_CHARS
