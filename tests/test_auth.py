"""core.auth: password policy and hashing, users, lockout, cookie revocation, invitations, resets, SMTP, CLI."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt
import jwt
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from streamlit_authenticator.utilities import Hasher

from core.auth import errors, links, login, passwords, sessions, users
from core.present import people
from core.storage import audit
from core.storage.models import Invitation, User

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
KEY = "k" * 48
T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(autouse=True)
def fast_bcrypt(monkeypatch):
    """bcrypt at cost 4 in unit tests: the cost does not change what is tested, only the wait."""
    real = bcrypt.gensalt
    monkeypatch.setattr(bcrypt, "gensalt", lambda rounds=4, prefix=b"2b": real(4, prefix))


def add(engine, email="ann@example.com", role="admin", password=PASSWORD, **kw) -> int:
    return users.create_user(engine, email=email, name=kw.pop("name", "Ann"), password=password, role=role, **kw)


def _cookie(engine, email: str, *, now: dt.datetime) -> str:
    """The login cookie the app would set for the account that holds `email` now."""
    return sessions.cookie_token(users.get_user_by_email(engine, email), KEY, now=now)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- password policy and hashing


def test_password_of_nine_characters_is_refused():
    with pytest.raises(errors.AuthError, match="at least 10 characters"):
        passwords.check_password_policy("abcdefghi")


def test_password_of_ten_characters_is_accepted():
    assert passwords.check_password_policy("abcdefghij") == "abcdefghij"


def test_password_of_one_repeated_character_is_refused():
    with pytest.raises(errors.AuthError, match="one character repeated"):
        passwords.check_password_policy("aaaaaaaaaaaa")


def test_password_over_1024_characters_is_refused_with_a_message():
    with pytest.raises(errors.AuthError, match="at most 1024 characters"):
        passwords.check_password_policy("ab" * 513)


def test_passphrase_beyond_bcrypts_72_bytes_verifies_in_full():
    passphrase = "the quick brown fox jumps over the lazy dog " * 4  # 176 characters
    hashed = passwords.hash_password(passphrase)
    assert passwords.verify_password(passphrase, hashed)
    # Differs only after byte 72: bcrypt alone would have ignored the difference.
    assert not passwords.verify_password(passphrase[:150] + "X" + passphrase[151:], hashed)


def test_multibyte_passphrase_over_72_bytes_verifies():
    passphrase = "ünïcödé pässwörd ✓ " * 5  # fewer than 100 characters, well over 72 bytes
    assert passwords.verify_password(passphrase, passwords.hash_password(passphrase))


def test_surrounding_spaces_are_ignored_as_the_login_form_strips_them():
    hashed = passwords.hash_password("  " + PASSWORD + " ")
    assert passwords.verify_password(PASSWORD, hashed)


def test_wrong_password_does_not_verify():
    assert not passwords.verify_password("correct horse battery stapler", passwords.hash_password(PASSWORD))


def test_hash_is_plain_bcrypt_so_the_login_library_never_rehashes_it():
    assert Hasher.is_hash(passwords.hash_password(PASSWORD))


def test_hash_uses_bcrypt_cost_12(monkeypatch):
    monkeypatch.undo()  # the real cost, not the test-speed one
    assert passwords.hash_password(PASSWORD).startswith("$2b$12$")


# ---------------------------------------------------------------- users


def test_created_user_is_found_by_email_in_any_case(engine):
    user_id = add(engine, email="Ann@Example.COM")
    user = users.get_user_by_email(engine, "  ANN@example.com ")
    assert (user.id, user.email, user.role) == (user_id, "ann@example.com", "admin")


def test_user_without_a_name_is_named_after_the_email(engine):
    user_id = users.create_user(engine, email="bob@example.com", name="", password=PASSWORD, role="member")
    assert users.get_user(engine, user_id).name == "bob"


def test_second_account_for_the_same_email_is_refused(engine):
    add(engine)
    with pytest.raises(errors.AuthError, match="already exists"):
        add(engine, email="ANN@example.com", role="member")


def test_invalid_email_is_refused(engine):
    with pytest.raises(errors.AuthError, match="not a valid email"):
        add(engine, email="ann at example")


def test_unknown_role_is_refused(engine):
    with pytest.raises(errors.AuthError, match="Unknown role"):
        add(engine, role="owner")


def test_customer_account_needs_a_customer_id(engine):
    with pytest.raises(errors.AuthError, match="needs the customer ID"):
        add(engine, role="customer")


def test_member_cannot_be_bound_to_a_customer_id(engine):
    with pytest.raises(errors.AuthError, match="Only customer accounts"):
        add(engine, role="member", customer_id="cust_a")


def test_customer_account_keeps_customer_id_and_group(engine):
    user_id = add(engine, role="customer", customer_id="cust_a", group="Acme")
    user = users.get_user(engine, user_id)
    assert (user.customer_id, user.group) == ("cust_a", "Acme")


def test_new_member_of_a_group_gets_the_groups_customer_id(engine):
    add(engine, role="customer", customer_id="cust_a", group="Acme")
    second = add(engine, email="bo@example.com", role="customer", group="Acme")
    assert users.get_user(engine, second).customer_id == "cust_a"


def test_group_bound_to_another_customer_id_is_refused(engine):
    add(engine, role="customer", customer_id="cust_a", group="Acme")
    with pytest.raises(errors.AuthError, match="already belongs to customer ID 'cust_a'"):
        add(engine, email="bo@example.com", role="customer", customer_id="cust_b", group="Acme")


def test_demoting_an_admin_is_allowed_while_another_admin_remains(engine):
    first = add(engine)
    add(engine, email="bo@example.com")
    assert users.update_role(engine, first, "member").role == "member"


def test_the_only_admin_cannot_be_demoted(engine):
    only = add(engine)
    with pytest.raises(errors.AuthError, match="only Admin"):
        users.update_role(engine, only, "member")


def test_changing_role_to_customer_binds_the_customer_id(engine):
    add(engine)
    member = add(engine, email="bo@example.com", role="member")
    user = users.update_role(engine, member, "customer", customer_id="cust_b")
    assert (user.role, user.customer_id) == ("customer", "cust_b")


def test_removed_user_is_gone(engine):
    admin = add(engine)
    member = add(engine, email="bo@example.com", role="member")
    users.remove_user(engine, member, acting_user_id=admin)
    assert users.get_user(engine, member) is None


def test_admin_cannot_remove_their_own_account(engine):
    admin = add(engine)
    add(engine, email="bo@example.com")
    with pytest.raises(errors.AuthError, match="your own account"):
        users.remove_user(engine, admin, acting_user_id=admin)


def test_the_only_admin_cannot_be_removed(engine):
    admin = add(engine)
    with pytest.raises(errors.AuthError, match="only Admin"):
        users.remove_user(engine, admin)


def test_credentials_dict_holds_every_user_with_their_hash(engine):
    add(engine)
    add(engine, email="bo@example.com", role="customer", customer_id="cust_a")
    accounts = login.credentials(engine)["usernames"]
    assert sorted(accounts) == ["ann@example.com", "bo@example.com"]
    assert passwords.verify_password(PASSWORD, accounts["bo@example.com"]["password"])
    assert accounts["bo@example.com"]["roles"] == ["customer"]


def test_users_table_has_one_row_per_user_in_the_viewers_time_zone(engine):
    add(engine)
    login.authenticate(engine, "ann@example.com", PASSWORD, now=T0)
    table = people.users_table(users.list_users(engine), "Europe/Paris")
    assert table.height == 1
    assert (table["Last login"][0], table["Locked until"][0]) == ("2026-11-25 13:00", "–")


def test_the_demo_accounts_table_names_roles_and_what_each_sees_without_a_none():
    # It showed the stored roles ("admin") and a grey "None" for the Customer ID of the Admin and the Member, and its
    # Customer ID and Group columns lay beyond the login panel's width at 1366 px.
    from core.demo.accounts import _TOP, DEMO_ACCOUNTS

    table = people.demo_accounts_table(DEMO_ACCOUNTS)
    assert table.columns == ["Email", "Password", "Role", "Sees"]
    assert table.get_column("Role").to_list() == ["Admin", "Member", "Customer", "Customer", "Customer"]
    assert table.row(0) == ("admin@demo.clientele", "orbit-lantern-meadow-42", "Admin", "Everything")
    assert table.get_column("Sees").to_list()[1:3] == ["All customers", _TOP.name]
    assert sum(people.DEMO_ACCOUNT_WIDTHS.values()) <= 590 and list(people.DEMO_ACCOUNT_WIDTHS) == table.columns
    assert table.null_count().sum_horizontal().item() == 0


# ---------------------------------------------------------------- login and lockout


def test_correct_password_logs_in_and_records_the_time(engine):
    user_id = add(engine)
    assert login.authenticate(engine, "ANN@example.com", PASSWORD, now=T0).id == user_id
    assert users.list_users(engine)[0]["last_login_at"] == T0


def test_wrong_password_is_refused_with_the_generic_message(engine):
    add(engine)
    with pytest.raises(errors.AuthError) as err:
        login.authenticate(engine, "ann@example.com", "wrong password here", now=T0)
    assert str(err.value) == login.login_failed_message()


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(engine):
    with pytest.raises(errors.AuthError) as err:
        login.authenticate(engine, "nobody@example.com", PASSWORD, now=T0)
    assert str(err.value) == login.login_failed_message()


def test_failed_logins_are_counted_in_the_database(engine):
    add(engine)
    for _ in range(3):
        with pytest.raises(errors.AuthError):
            login.authenticate(engine, "ann@example.com", "wrong password here", now=T0)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(User.failed_logins)) == 3


def _fail(engine, times: int, now: dt.datetime) -> None:
    for _ in range(times):
        with pytest.raises(errors.AuthError):
            login.authenticate(engine, "ann@example.com", "wrong password here", now=now)


def test_fifth_failure_locks_the_account_even_against_the_right_password(engine):
    add(engine)
    _fail(engine, 5, T0)
    with pytest.raises(errors.AuthError) as err:
        login.authenticate(engine, "ann@example.com", PASSWORD, now=T0 + dt.timedelta(minutes=14))
    assert str(err.value) == login.login_failed_message()


def test_four_failures_do_not_lock(engine):
    user_id = add(engine)
    _fail(engine, 4, T0)
    assert login.authenticate(engine, "ann@example.com", PASSWORD, now=T0).id == user_id


def test_lock_ends_after_fifteen_minutes(engine):
    user_id = add(engine)
    _fail(engine, 5, T0)
    assert login.authenticate(engine, "ann@example.com", PASSWORD, now=T0 + dt.timedelta(minutes=15, seconds=1)).id == user_id


def test_a_success_starts_the_failure_count_again(engine):
    user_id = add(engine)
    _fail(engine, 4, T0)
    login.authenticate(engine, "ann@example.com", PASSWORD, now=T0)
    _fail(engine, 4, T0)
    assert login.authenticate(engine, "ann@example.com", PASSWORD, now=T0).id == user_id


def test_lockout_threshold_and_duration_come_from_settings(engine, monkeypatch):
    monkeypatch.setenv("CLIENTELE_LOCKOUT_THRESHOLD", "2")
    monkeypatch.setenv("CLIENTELE_LOCKOUT_MINUTES", "60")
    add(engine)
    _fail(engine, 2, T0)
    with pytest.raises(errors.AuthError, match="After 2 failed attempts an account is locked for 60 minutes"):
        login.authenticate(engine, "ann@example.com", PASSWORD, now=T0 + dt.timedelta(minutes=59))


def _attempt(engine, password: str, now: dt.datetime = T0) -> str:
    try:
        login.authenticate(engine, "ann@example.com", password, now=now)
    except errors.AuthError:
        return "refused"
    return "logged in"


def test_twenty_parallel_wrong_guesses_lock_the_account_before_the_right_password_arrives(engine, monkeypatch):
    add(engine)
    real_checkpw = bcrypt.checkpw
    with engine.connect() as conn:
        ann_hash = conn.scalar(sa.select(User.password_hash)).encode("ascii")
    checked_against_ann, inside, release = [], threading.Semaphore(0), threading.Event()

    def held_checkpw(password: bytes, hashed: bytes) -> bool:
        # The real check, then each guessing thread waits inside it: all 20 guesses are "in flight"
        # when the right password comes.
        result = real_checkpw(password, hashed)
        if threading.current_thread() is not threading.main_thread():
            checked_against_ann.append(hashed == ann_hash)
            inside.release()
            release.wait(60)
        return result

    monkeypatch.setattr(bcrypt, "checkpw", held_checkpw)
    with ThreadPoolExecutor(max_workers=20) as pool:
        guesses = [pool.submit(_attempt, engine, f"wrong guess number {i}") for i in range(20)]
        assert all(inside.acquire(timeout=60) for _ in range(20))
        right = _attempt(engine, PASSWORD)
        release.set()
        outcomes = [g.result() for g in guesses]
    assert right == "refused"
    assert outcomes == ["refused"] * 20
    assert checked_against_ann.count(True) == 5  # the other 15 met the lock and got the dummy check


def test_wrong_current_passwords_on_the_account_page_count_toward_the_lockout(engine):
    user_id = add(engine)
    _fail(engine, 3, T0)
    for _ in range(2):
        with pytest.raises(errors.AuthError, match="current password is not correct"):
            login.change_password(engine, user_id, "not my password", "a brand new passphrase", now=T0)
    assert _attempt(engine, PASSWORD, now=T0 + dt.timedelta(minutes=1)) == "refused"


def test_password_change_is_refused_while_the_account_is_locked(engine):
    user_id = add(engine)
    _fail(engine, 5, T0)
    with pytest.raises(errors.AuthError, match="locked"):
        login.change_password(engine, user_id, PASSWORD, "a brand new passphrase", now=T0 + dt.timedelta(minutes=1))
    assert login.authenticate(engine, "ann@example.com", PASSWORD, now=T0 + dt.timedelta(minutes=16)).id == user_id


def test_a_right_current_password_starts_the_failure_count_again(engine):
    user_id = add(engine)
    _fail(engine, 4, T0)
    login.change_password(engine, user_id, PASSWORD, "a brand new passphrase", now=T0)
    _fail(engine, 4, T0)
    assert _attempt(engine, "a brand new passphrase") == "logged in"


# ---------------------------------------------------------------- cookies and revocation


def test_cookie_of_an_existing_user_is_accepted(engine):
    user_id = add(engine)
    user, issued_at = sessions.verify_cookie(engine, _cookie(engine, "ann@example.com", now=T0), KEY, now=T0 + dt.timedelta(hours=1))
    assert (user.id, issued_at) == (user_id, T0)


def test_cookie_issued_before_logout_is_refused(engine):
    user_id = add(engine)
    token = _cookie(engine, "ann@example.com", now=T0)
    sessions.revoke_sessions(engine, user_id, now=T0 + dt.timedelta(minutes=5))
    with pytest.raises(errors.AuthError, match="log in again"):
        sessions.verify_cookie(engine, token, KEY, now=T0 + dt.timedelta(minutes=6))


def test_cookie_issued_after_logout_is_accepted(engine):
    user_id = add(engine)
    sessions.revoke_sessions(engine, user_id, now=T0)
    token = _cookie(engine, "ann@example.com", now=T0 + dt.timedelta(seconds=1))
    assert sessions.verify_cookie(engine, token, KEY, now=T0 + dt.timedelta(minutes=1))[0].id == user_id


def test_password_change_revokes_earlier_cookies(engine):
    user_id = add(engine)
    token = _cookie(engine, "ann@example.com", now=T0)
    login.change_password(engine, user_id, PASSWORD, "a brand new passphrase", now=T0 + dt.timedelta(minutes=1))
    with pytest.raises(errors.AuthError):
        sessions.verify_cookie(engine, token, KEY, now=T0 + dt.timedelta(minutes=2))


def test_cookie_signed_with_the_librarys_default_key_is_refused(engine):
    add(engine)
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):  # the public default is short, too
        forged = jwt.encode({"username": "ann@example.com", "exp_date": (T0 + dt.timedelta(days=1)).timestamp(),
                             "issued_at": T0.timestamp()}, "some_signature_key", algorithm="HS256")
    with pytest.raises(errors.AuthError):
        sessions.verify_cookie(engine, forged, KEY, now=T0)


def test_cookie_in_the_librarys_own_format_without_issue_time_is_refused(engine):
    add(engine)
    token = jwt.encode({"username": "ann@example.com", "exp_date": (T0 + dt.timedelta(days=1)).timestamp()}, KEY, algorithm="HS256")
    with pytest.raises(errors.AuthError):
        sessions.verify_cookie(engine, token, KEY, now=T0)


def test_expired_cookie_is_refused(engine):
    add(engine)
    token = _cookie(engine, "ann@example.com", now=T0)
    with pytest.raises(errors.AuthError):
        sessions.verify_cookie(engine, token, KEY, now=T0 + dt.timedelta(days=sessions.COOKIE_EXPIRY_DAYS, seconds=1))


def test_cookie_claiming_to_be_issued_in_the_future_is_refused(engine):
    add(engine)
    token = _cookie(engine, "ann@example.com", now=T0 + dt.timedelta(hours=1))
    with pytest.raises(errors.AuthError):
        sessions.verify_cookie(engine, token, KEY, now=T0)


def test_cookie_of_a_deleted_user_is_refused(engine):
    add(engine)
    member = add(engine, email="bo@example.com", role="member")
    token = _cookie(engine, "bo@example.com", now=T0)
    users.remove_user(engine, member)
    with pytest.raises(errors.AuthError):
        sessions.verify_cookie(engine, token, KEY, now=T0)


def test_cookie_of_a_removed_user_is_refused_after_their_email_is_invited_again(engine):
    add(engine)
    removed = add(engine, email="bo@example.com", role="member")
    old_cookie = _cookie(engine, "bo@example.com", now=T0)
    users.remove_user(engine, removed, now=T0)
    link = links.create_invite(engine, email="bo@example.com", role="admin", now=T0).link
    links.accept_invite(engine, _token(link), name="Bo Again", password=PASSWORD, now=T0)
    with pytest.raises(errors.AuthError, match="log in again"):
        sessions.verify_cookie(engine, old_cookie, KEY, now=T0 + dt.timedelta(minutes=1))


def test_cookie_is_refused_once_its_account_row_is_replaced_even_under_the_same_id(engine):
    # SQLite hands a deleted last row's id to the next insert: the epoch still tells the two accounts apart.
    add(engine)
    removed = add(engine, email="bo@example.com", role="member")
    old_cookie = _cookie(engine, "bo@example.com", now=T0)
    users.remove_user(engine, removed, now=T0)
    with engine.begin() as conn:
        conn.execute(sa.insert(User).values(id=removed, email="bo@example.com", name="Bo", role="admin", failed_logins=0,
                                            password_hash=passwords.hash_password(PASSWORD), session_epoch="0" * 32))
    with pytest.raises(errors.AuthError, match="log in again"):
        sessions.verify_cookie(engine, old_cookie, KEY, now=T0 + dt.timedelta(minutes=1))


def test_cookie_naming_only_an_email_is_refused(engine):
    add(engine)
    token = jwt.encode({"username": "ann@example.com", "exp_date": (T0 + dt.timedelta(days=1)).timestamp(),
                        "issued_at": T0.timestamp()}, KEY, algorithm="HS256")
    with pytest.raises(errors.AuthError):
        sessions.verify_cookie(engine, token, KEY, now=T0)


def test_session_of_a_removed_user_does_not_continue_as_the_next_account_with_their_email(engine):
    add(engine)
    removed = users.get_user(engine, add(engine, email="bo@example.com", role="member"))
    users.remove_user(engine, removed.id, now=T0)
    add(engine, email="bo@example.com", role="admin")
    assert sessions.session_user(engine, T0 + dt.timedelta(minutes=1), user_id=removed.id, epoch=removed.epoch) is None


def test_session_started_before_logout_elsewhere_ends(engine):
    user_id = add(engine)
    sessions.revoke_sessions(engine, user_id, now=T0 + dt.timedelta(minutes=1))
    assert sessions.session_user(engine, T0, user_id=user_id) is None


def test_session_started_after_the_last_logout_continues(engine):
    user_id = add(engine)
    sessions.revoke_sessions(engine, user_id, now=T0)
    assert sessions.session_user(engine, T0 + dt.timedelta(seconds=1), user_id=user_id).id == user_id


def test_session_user_reflects_a_role_change_at_once(engine):
    add(engine)
    member = add(engine, email="bo@example.com", role="member")
    users.update_role(engine, member, "customer", customer_id="cust_a")
    assert sessions.session_user(engine, T0, email="bo@example.com").role == "customer"


def test_password_change_needs_the_current_password(engine):
    user_id = add(engine)
    with pytest.raises(errors.AuthError, match="current password is not correct"):
        login.change_password(engine, user_id, "not my password", "a brand new passphrase")


def test_changed_password_is_the_one_that_logs_in(engine):
    user_id = add(engine)
    login.change_password(engine, user_id, PASSWORD, "a brand new passphrase", now=T0)
    assert login.authenticate(engine, "ann@example.com", "a brand new passphrase", now=T0).id == user_id
    with pytest.raises(errors.AuthError):
        login.authenticate(engine, "ann@example.com", PASSWORD, now=T0)


# ---------------------------------------------------------------- first admin


def test_first_admin_is_needed_until_an_account_exists(engine):
    assert users.needs_first_admin(engine)
    add(engine)
    assert not users.needs_first_admin(engine)


def test_first_admin_form_creates_an_admin(engine):
    user = users.create_first_admin(engine, email="Root@Example.com", name="Root", password=PASSWORD)
    assert (user.email, user.role) == ("root@example.com", "admin")


def test_first_admin_cannot_be_created_twice(engine):
    users.create_first_admin(engine, email="root@example.com", name="Root", password=PASSWORD)
    with pytest.raises(errors.AuthError, match="already exists"):
        users.create_first_admin(engine, email="other@example.com", name="Other", password=PASSWORD)


# ---------------------------------------------------------------- invitations


def _token(link: str, purpose: str = "invite") -> str:
    prefix = f"/?{purpose}="
    assert prefix in link
    return link.split(prefix, 1)[1]


def test_invite_link_is_the_base_url_with_a_one_time_token(engine, monkeypatch):
    monkeypatch.setenv("CLIENTELE_BASE_URL", "https://clientele.example.com/")
    result = links.create_invite(engine, email="new@example.com", role="member", now=T0)
    assert result.link.startswith("https://clientele.example.com/?invite=")
    assert len(_token(result.link)) >= 40
    assert not result.emailed


def test_invite_token_is_stored_only_as_its_sha256(engine):
    result = links.create_invite(engine, email="new@example.com", role="member", now=T0)
    with engine.connect() as conn:
        stored = conn.scalar(sa.select(Invitation.token_hash))
    assert _token(result.link) not in stored
    assert len(stored) == 64


def test_invite_expires_after_seventy_two_hours(engine):
    result = links.create_invite(engine, email="new@example.com", role="member", now=T0)
    assert result.expires_at == T0 + dt.timedelta(hours=72)


def test_accepted_invite_creates_the_account_with_the_invited_role(engine):
    link = links.create_invite(engine, email="cara@example.com", role="customer", customer_id="cust_c", group="Carol Co", now=T0).link
    user = links.accept_invite(engine, _token(link), name="Cara", password=PASSWORD, now=T0 + dt.timedelta(hours=1))
    assert (user.email, user.name, user.role, user.customer_id, user.group) == ("cara@example.com", "Cara", "customer", "cust_c", "Carol Co")
    assert login.authenticate(engine, "cara@example.com", PASSWORD).id == user.id


def test_invite_cannot_be_used_twice(engine):
    token = _token(links.create_invite(engine, email="new@example.com", role="member", now=T0).link)
    links.accept_invite(engine, token, name="New", password=PASSWORD, now=T0)
    with pytest.raises(errors.AuthError, match="already been used"):
        links.accept_invite(engine, token, name="Again", password=PASSWORD, now=T0)


def test_expired_invite_is_refused(engine):
    token = _token(links.create_invite(engine, email="new@example.com", role="member", now=T0).link)
    with pytest.raises(errors.AuthError, match="has expired"):
        links.accept_invite(engine, token, name="New", password=PASSWORD, now=T0 + dt.timedelta(hours=72))


def test_revoked_invite_is_refused(engine):
    token = _token(links.create_invite(engine, email="new@example.com", role="member", now=T0).link)
    links.revoke_invite(engine, links.pending_invites(engine, now=T0)[0]["id"])
    with pytest.raises(errors.AuthError, match="withdrawn"):
        links.accept_invite(engine, token, name="New", password=PASSWORD, now=T0)


def test_tampered_invite_token_is_refused(engine):
    token = _token(links.create_invite(engine, email="new@example.com", role="member", now=T0).link)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(errors.AuthError, match="not valid"):
        links.accept_invite(engine, tampered, name="New", password=PASSWORD, now=T0)


def test_refused_password_leaves_the_invite_usable(engine):
    token = _token(links.create_invite(engine, email="new@example.com", role="member", now=T0).link)
    with pytest.raises(errors.AuthError, match="at least 10"):
        links.accept_invite(engine, token, name="New", password="short", now=T0)
    assert links.accept_invite(engine, token, name="New", password=PASSWORD, now=T0).email == "new@example.com"


def test_new_invite_to_the_same_email_replaces_the_pending_one(engine):
    first = _token(links.create_invite(engine, email="new@example.com", role="member", now=T0).link)
    links.create_invite(engine, email="new@example.com", role="admin", now=T0)
    with pytest.raises(errors.AuthError, match="withdrawn"):
        links.accept_invite(engine, first, name="New", password=PASSWORD, now=T0)


def test_invite_for_an_existing_account_is_refused(engine):
    add(engine)
    with pytest.raises(errors.AuthError, match="already has an account"):
        links.create_invite(engine, email="ann@example.com", role="member")


def test_customer_invite_needs_a_customer_id(engine):
    with pytest.raises(errors.AuthError, match="needs the customer ID"):
        links.create_invite(engine, email="new@example.com", role="customer")


def test_customer_may_be_invited_before_their_first_request(engine):
    link = links.create_invite(engine, email="new@example.com", role="customer", customer_id="cust_not_seen_yet", now=T0).link
    assert links.accept_invite(engine, _token(link), name="N", password=PASSWORD, now=T0).customer_id == "cust_not_seen_yet"


def test_pending_invites_lists_only_live_links(engine):
    links.create_invite(engine, email="live@example.com", role="member", now=T0)
    used = _token(links.create_invite(engine, email="used@example.com", role="member", now=T0).link)
    links.accept_invite(engine, used, name="U", password=PASSWORD, now=T0)
    links.create_invite(engine, email="old@example.com", role="member", now=T0 - dt.timedelta(hours=73))
    assert [i["email"] for i in links.pending_invites(engine, now=T0)] == ["live@example.com"]


def test_check_link_tells_the_form_who_is_invited(engine):
    token = _token(links.create_invite(engine, email="new@example.com", role="member", now=T0).link)
    assert links.check_link(engine, token, "invite", now=T0) == links.PendingLink("invite", "new@example.com", "member")


# ---------------------------------------------------------------- password resets


def test_reset_link_sets_a_new_password(engine):
    user_id = add(engine)
    link = links.create_reset(engine, user_id, invited_by="root@example.com", now=T0).link
    links.accept_reset(engine, _token(link, "reset"), password="a brand new passphrase", now=T0)
    assert login.authenticate(engine, "ann@example.com", "a brand new passphrase").id == user_id


def test_reset_revokes_earlier_cookies(engine):
    user_id = add(engine)
    cookie = _cookie(engine, "ann@example.com", now=T0)
    link = links.create_reset(engine, user_id, now=T0).link
    links.accept_reset(engine, _token(link, "reset"), password="a brand new passphrase", now=T0 + dt.timedelta(minutes=1))
    with pytest.raises(errors.AuthError):
        sessions.verify_cookie(engine, cookie, KEY, now=T0 + dt.timedelta(minutes=2))


def test_reset_unlocks_a_locked_account(engine):
    user_id = add(engine)
    _fail(engine, 5, T0)
    link = links.create_reset(engine, user_id, now=T0).link
    links.accept_reset(engine, _token(link, "reset"), password="a brand new passphrase", now=T0)
    assert login.authenticate(engine, "ann@example.com", "a brand new passphrase", now=T0).id == user_id


def test_reset_link_cannot_be_used_twice(engine):
    user_id = add(engine)
    token = _token(links.create_reset(engine, user_id, now=T0).link, "reset")
    links.accept_reset(engine, token, password="a brand new passphrase", now=T0)
    with pytest.raises(errors.AuthError, match="already been used"):
        links.accept_reset(engine, token, password="another new passphrase", now=T0)


def test_reset_token_does_not_work_as_an_invite(engine):
    user_id = add(engine)
    token = _token(links.create_reset(engine, user_id, now=T0).link, "reset")
    with pytest.raises(errors.AuthError, match="not valid"):
        links.accept_invite(engine, token, name="X", password=PASSWORD, now=T0)


def test_removing_a_user_withdraws_their_pending_reset_link(engine):
    add(engine)
    member = add(engine, email="bo@example.com", role="member")
    token = _token(links.create_reset(engine, member, now=T0).link, "reset")
    users.remove_user(engine, member, now=T0)
    assert links.pending_invites(engine, now=T0) == []
    with pytest.raises(errors.AuthError, match="withdrawn"):
        links.accept_reset(engine, token, password="a brand new passphrase", now=T0)


def test_removing_a_user_withdraws_a_pending_invitation_to_their_email(engine):
    add(engine)
    token = _token(links.create_invite(engine, email="bo@example.com", role="admin", now=T0).link)
    member = add(engine, email="bo@example.com", role="member")  # created meanwhile, e.g. from the command line
    users.remove_user(engine, member, now=T0)
    with pytest.raises(errors.AuthError, match="withdrawn"):
        links.accept_invite(engine, token, name="Bo", password=PASSWORD, now=T0)


def test_reset_link_works_only_for_the_account_it_was_made_for_not_a_later_one_with_the_same_email(engine):
    add(engine)
    member = add(engine, email="bo@example.com", role="member")
    token = _token(links.create_reset(engine, member, now=T0).link, "reset")
    with engine.begin() as conn:  # removed without remove_user's withdrawal of links (e.g. straight in the database)
        conn.execute(sa.delete(User).where(User.id == member))
    successor = add(engine, email="bo@example.com", role="admin")
    with pytest.raises(errors.AuthError, match="no longer exists"):
        links.accept_reset(engine, token, password="a brand new passphrase", now=T0)
    assert login.authenticate(engine, "bo@example.com", PASSWORD, now=T0).id == successor


# ---------------------------------------------------------------- SMTP


class _Inbox:
    def __init__(self):
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def _body(envelope) -> str:
    return email.message_from_bytes(envelope.content, policy=email.policy.default).get_content()


@pytest.fixture
def smtp_inbox(monkeypatch):
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("CLIENTELE_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("CLIENTELE_SMTP_FROM", "clientele@example.com")
    yield inbox
    controller.stop()


def test_invite_is_emailed_with_its_link_when_smtp_is_configured(engine, smtp_inbox):
    result = links.create_invite(engine, email="new@example.com", role="member", now=T0)
    assert result.emailed
    [message] = smtp_inbox.messages
    assert message.rcpt_tos == ["new@example.com"]
    assert message.mail_from == "clientele@example.com"
    assert result.link in _body(message)


def test_reset_link_is_emailed_when_smtp_is_configured(engine, smtp_inbox):
    user_id = add(engine)
    result = links.create_reset(engine, user_id, now=T0)
    [message] = smtp_inbox.messages
    assert message.rcpt_tos == ["ann@example.com"]
    assert result.link in _body(message)


def test_unreachable_smtp_server_still_gives_the_admin_the_link(engine, monkeypatch):
    monkeypatch.setenv("CLIENTELE_SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    result = links.create_invite(engine, email="new@example.com", role="member", now=T0)
    assert not result.emailed
    assert "could not be sent" in result.email_error
    assert "/?invite=" in result.link


# ---------------------------------------------------------------- command line


def _cli(db_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url, "CLIENTELE_BASE_URL": "https://clientele.example.com"}
    return subprocess.run([sys.executable, "-m", "core", *args], input=stdin, capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=60)


def test_cli_users_add_reads_the_password_from_stdin(engine, db_url):
    done = _cli(db_url, "users", "add", "Ops@Example.com", "--role", "admin", "--name", "Ops", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert login.authenticate(engine, "ops@example.com", PASSWORD).name == "Ops"


def test_cli_users_add_with_a_short_password_exits_2_with_the_reason(engine, db_url):
    done = _cli(db_url, "users", "add", "ops@example.com", "--role", "admin", stdin="short\n")
    assert done.returncode == 2
    assert "at least 10 characters" in done.stderr
    assert users.get_user_by_email(engine, "ops@example.com") is None


def test_cli_users_add_customer_without_customer_id_exits_2(engine, db_url):
    done = _cli(db_url, "users", "add", "c@example.com", "--role", "customer", stdin=PASSWORD + "\n")
    assert done.returncode == 2
    assert "customer ID" in done.stderr


def test_cli_invite_prints_a_link_that_works(engine, db_url):
    done = _cli(db_url, "invite", "c@example.com", "--role", "customer", "--customer-id", "cust_a", "--group", "Alpha")
    assert done.returncode == 0, done.stderr
    link = done.stdout.strip()
    assert link.startswith("https://clientele.example.com/?invite=")
    user = links.accept_invite(engine, _token(link), name="C", password=PASSWORD)
    assert (user.role, user.customer_id, user.group) == ("customer", "cust_a", "Alpha")


# ---------------------------------------------------------------- audit log (#13): who, when, from where, what

ADMIN = audit.Actor.user(1, "boss@example.com", "198.51.100.7")


def _audit(engine, action: str | None = None) -> list[dict]:
    """The audit entries (of one action), oldest first."""
    return audit.entries(engine, audit.AuditQuery(action=action))[::-1]


def _who(entry: dict) -> tuple:
    return entry["actor_user_id"], entry["actor_name"], entry["source"], entry["target"]


def test_a_password_login_is_recorded_with_who_when_and_from_where(engine):
    user_id = add(engine)
    login.authenticate(engine, "Ann@Example.com", PASSWORD, now=T0, source="203.0.113.9")
    [entry] = _audit(engine, "login.success")
    assert _who(entry) == (user_id, "ann@example.com", "203.0.113.9", "user:ann@example.com")
    assert (entry["at"], entry["detail"]) == (T0, {"method": "password"})


def test_a_wrong_password_is_an_anonymous_failure_and_the_password_is_never_stored(engine):
    add(engine)
    with pytest.raises(errors.AuthError):
        login.authenticate(engine, "ann@example.com", "not the password at all", now=T0, source="192.0.2.1")
    [entry] = _audit(engine, "login.failure")
    assert _who(entry) == (None, "anonymous", "192.0.2.1", "user:ann@example.com")
    assert entry["detail"] == {"reason": "wrong_password"}
    with engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(sa.select(audit.AuditEntry)) for v in row)
    assert "not the password at all" not in stored


def test_the_attempt_that_locks_an_account_records_the_lockout_and_later_attempts_say_locked(engine):
    add(engine)
    _fail(engine, 5, T0)
    [lockout] = _audit(engine, "login.lockout")
    assert (lockout["target"], lockout["detail"]) == (
        "user:ann@example.com", {"failed_attempts": 5, "locked_until": (T0 + dt.timedelta(minutes=15)).isoformat()})
    assert _attempt(engine, PASSWORD, now=T0 + dt.timedelta(minutes=1)) == "refused"
    assert [e["detail"]["reason"] for e in _audit(engine, "login.failure")] == ["wrong_password"] * 5 + ["locked"]
    assert _audit(engine, "login.success") == []


def test_an_unknown_email_is_recorded_and_text_that_is_not_an_email_is_not(engine):
    for typed in ("nobody@example.com", "maybe my password"):
        with pytest.raises(errors.AuthError):
            login.authenticate(engine, typed, PASSWORD, now=T0)
    assert [(e["target"], e["detail"]["reason"]) for e in _audit(engine, "login.failure")] == [
        ("user:nobody@example.com", "unknown_user"), (None, "invalid_email")]
    assert "maybe my password" not in str(_audit(engine))


def test_a_session_started_by_cookie_is_a_login_in_the_log(engine):
    user_id = add(engine)
    login.record_login(engine, user_id, now=T0, method="cookie", source="203.0.113.9")
    [entry] = _audit(engine, "login.success")
    assert (_who(entry), entry["detail"]) == ((user_id, "ann@example.com", "203.0.113.9", "user:ann@example.com"), {"method": "cookie"})


def test_a_cookie_session_soon_after_a_login_from_the_same_address_is_not_logged_again(engine):
    # Every reload and new tab is a new session that logs in by cookie: the audit log held a "login.success" every
    # two seconds while a user clicked through pages by their links.
    user_id = add(engine)
    login.authenticate(engine, "ann@example.com", PASSWORD, now=T0, source="203.0.113.9")
    for minutes in (1, 2, 29):
        login.record_login(engine, user_id, now=T0 + dt.timedelta(minutes=minutes), source="203.0.113.9")
    login.record_login(engine, user_id, now=T0 + dt.timedelta(minutes=3), source="198.51.100.4")  # another address
    login.record_login(engine, user_id, now=T0 + dt.timedelta(minutes=31), source="203.0.113.9")  # 30 min after the last
    entries = _audit(engine, "login.success")
    assert sorted((e["source"], e["detail"].get("method")) for e in entries) == [
        ("198.51.100.4", "cookie"), ("203.0.113.9", "cookie"), ("203.0.113.9", "password")]
    assert users.list_users(engine)[0]["last_login_at"] == T0 + dt.timedelta(minutes=31)  # "Last login" still moves


def test_logout_is_recorded(engine):
    user_id = add(engine)
    sessions.revoke_sessions(engine, user_id, now=T0, source="203.0.113.9")
    [entry] = _audit(engine, "logout")
    assert (_who(entry), entry["at"]) == ((user_id, "ann@example.com", "203.0.113.9", "user:ann@example.com"), T0)


def test_password_changes_and_wrong_current_passwords_are_recorded(engine):
    user_id = add(engine)
    with pytest.raises(errors.AuthError):
        login.change_password(engine, user_id, "not my password", "a brand new passphrase", now=T0, source="203.0.113.9")
    login.change_password(engine, user_id, PASSWORD, "a brand new passphrase", now=T0, source="203.0.113.9")
    assert [(e["action"], e["actor_user_id"], e["source"]) for e in _audit(engine) if e["action"].startswith("password")] == [
        ("password.change_failure", user_id, "203.0.113.9"), ("password.change", user_id, "203.0.113.9")]
    assert "a brand new passphrase" not in str(_audit(engine))


def test_an_invitation_and_its_acceptance_are_recorded_without_the_link(engine):
    result = links.create_invite(engine, email="carol@example.com", role="customer", customer_id="cust_c", now=T0, actor=ADMIN)
    user = links.accept_invite(engine, _token(result.link), name="Carol", password=PASSWORD, now=T0, source="192.0.2.8")
    invite, accepted = _audit(engine, "user.invite") + _audit(engine, "user.invite_accept")
    assert _who(invite) == (1, "boss@example.com", "198.51.100.7", "user:carol@example.com")
    assert invite["detail"] == {"role": "customer", "customer_id": "cust_c", "group": None,
                                "expires_at": (T0 + dt.timedelta(hours=72)).isoformat()}
    assert _who(accepted) == (user.id, "carol@example.com", "192.0.2.8", "user:carol@example.com")
    assert _token(result.link) not in str(_audit(engine))


def test_a_role_change_is_recorded_with_before_and_after(engine):
    user_id = add(engine, "bob@example.com", role="member")
    users.update_role(engine, user_id, "customer", customer_id="cust_a", actor=ADMIN)
    [entry] = _audit(engine, "user.role_change")
    assert _who(entry) == (1, "boss@example.com", "198.51.100.7", "user:bob@example.com")
    assert entry["detail"] == {"from": {"role": "member", "customer_id": None, "group": None},
                               "to": {"role": "customer", "customer_id": "cust_a", "group": None}}


def test_a_refused_role_change_records_nothing(engine):
    user_id = add(engine)
    with pytest.raises(errors.AuthError, match="only Admin"):
        users.update_role(engine, user_id, "member", actor=ADMIN)
    assert _audit(engine, "user.role_change") == []


def test_a_removal_is_recorded_and_the_removed_users_entries_stay(engine):
    add(engine)
    user_id = add(engine, "bob@example.com", role="member")
    login.authenticate(engine, "bob@example.com", PASSWORD, now=T0)
    users.remove_user(engine, user_id, actor=ADMIN, now=T0)
    [entry] = _audit(engine, "user.remove")
    assert (_who(entry), entry["detail"]) == ((1, "boss@example.com", "198.51.100.7", "user:bob@example.com"), {"role": "member"})
    assert [e["actor_user_id"] for e in _audit(engine, "login.success")] == [user_id]


def test_a_reset_link_its_use_and_a_revoked_link_are_recorded_without_tokens(engine):
    user_id = add(engine)
    reset = links.create_reset(engine, user_id, now=T0, actor=ADMIN)
    links.accept_reset(engine, _token(reset.link, "reset"), password="a brand new passphrase", now=T0, source="192.0.2.8")
    invite = links.create_invite(engine, email="eve@example.com", role="member", now=T0, actor=ADMIN)
    [pending] = links.pending_invites(engine, now=T0)
    links.revoke_invite(engine, pending["id"], now=T0, actor=ADMIN)
    assert [(e["action"], e["actor_name"], e["target"]) for e in _audit(engine) if e["action"] != "user.create"] == [
        ("password.reset_link", "boss@example.com", "user:ann@example.com"),
        ("password.reset", "ann@example.com", "user:ann@example.com"),
        ("user.invite", "boss@example.com", "user:eve@example.com"),
        ("user.invite_revoke", "boss@example.com", "user:eve@example.com"),
    ]
    logged = str(_audit(engine))
    assert _token(reset.link, "reset") not in logged and _token(invite.link) not in logged


def test_the_first_admin_is_recorded_as_creating_their_own_account(engine):
    user = users.create_first_admin(engine, email="root@example.com", name="Root", password=PASSWORD, source="192.0.2.8")
    [entry] = _audit(engine, "user.create")
    assert (_who(entry), entry["detail"]) == ((user.id, "root@example.com", "192.0.2.8", "user:root@example.com"),
                                              {"role": "admin", "first_admin": True})


def test_cli_invite_is_recorded_as_the_command_line(engine, db_url):
    assert _cli(db_url, "invite", "c@example.com", "--role", "member").returncode == 0
    [entry] = _audit(engine, "user.invite")
    assert _who(entry) == (None, "cli", "cli", "user:c@example.com")
