"""The shortcuts ingest takes for values it has seen before (masking's key and clean-JSON memos, the parsed
treblle-metadata header): they never change what is stored, also after CLIENTELE_MASKED_FIELDS changes."""
from __future__ import annotations

from core.domain import masking
from core.domain.masking import mask, mask_string
from core.ingest.customers import identify_customer, parse_metadata
from core.ingest.fields import parse_headers


def test_a_key_seen_in_clear_is_masked_once_the_setting_names_it(masked_fields):
    masked_fields("")
    assert mask({"badge_pin": "1234"}) == {"badge_pin": "1234"}
    masked_fields("badge-pin")
    assert mask({"badge_pin": "1234"}) == {"badge_pin": "****"}


def test_a_json_text_seen_clean_is_masked_once_the_setting_names_a_key_in_it(masked_fields):
    masked_fields("")
    text = '{"user-id": "c1", "badge_pin": "1234"}'
    assert mask_string(text) == text
    masked_fields("badge_pin")
    assert mask_string(text) == '{"user-id":"c1","badge_pin":"****"}'


def test_a_json_text_seen_clean_is_still_cut_when_it_sits_too_deep():
    text = '{"a": "b"}'
    assert mask_string(text) == text
    assert mask_string(text, masking.MAX_DEPTH - 1) == '{"a":"[truncated: nested too deeply]"}'


def test_a_value_one_level_too_deep_is_cut_whatever_its_type():
    assert mask({"n": 1, "s": "x", "f": 1.5}, masking.MAX_DEPTH) == {
        "n": "[truncated: nested too deeply]", "s": "[truncated: nested too deeply]", "f": "[truncated: nested too deeply]"}


def test_a_key_longer_than_256_characters_is_cut_every_time():
    long_key = "k" * 300
    assert mask({long_key: 1}) == {"k" * 256: 1}
    assert mask({long_key: 1}) == {"k" * 256: 1}


def test_an_infinite_number_is_dropped_and_a_finite_one_kept():
    assert mask({"a": float("inf"), "b": 2.5}) == {"a": None, "b": 2.5}


def test_plain_text_with_a_nul_is_cleaned_and_text_with_an_equals_sign_is_scanned():
    assert mask({"a": "x\x00y", "b": "token=abc"}) == {"a": "x\ufffdy", "b": "token=***"}


def test_each_read_of_a_metadata_header_gets_a_dict_of_its_own():
    raw = '{"user-id": "c1", "plan": "Pro"}'
    first, _problem = parse_metadata(raw)
    first["plan"] = "changed"
    assert parse_metadata(raw) == ({"user-id": "c1", "plan": "Pro"}, None)


def test_headers_keep_plain_names_and_values_and_clean_and_cut_the_others():
    headers = parse_headers({"Accept": "application/json", "X-Bad\x00": "a\x00b", "X-Long": "v" * 3000}, "h")
    assert headers == {"Accept": "application/json", "X-Bad\ufffd": "a\ufffdb", "X-Long": "v" * 2048}


def test_treblle_headers_are_found_in_any_case_and_only_under_their_own_names():
    headers = {"Host": "api.example.com", "TREBLLE-USER-ID": "c1", "treblle-user-idx": "c2", "Treblle-Metadata": '{"plan": "Pro"}'}
    assert identify_customer(headers, {}, None) == ("c1", None, {"plan": "Pro"}, None)
    # "\u212a" (Kelvin) lower-cases to "k", "\u0130" to two characters: neither names a treblle header
    assert identify_customer({"treblle-user-id\u0130": "c3", "treblle-metadata\u212a": "{}"}, {}, None) == (None, None, {}, None)
