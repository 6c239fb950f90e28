"""Password policy and Argon2id hashing."""

import pytest
from argon2 import PasswordHasher

from app.services.accounts import passwords
from app.services.accounts.passwords import WeakPassword


def test_hashes_are_argon2id_and_verify():
    hashed = passwords.hash_password("tangerine bicycle")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify_password(hashed, "tangerine bicycle")
    assert not passwords.verify_password(hashed, "tangerine bicyclE")
    assert not passwords.verify_password(None, "anything at all")  # no hash: never a match
    assert not passwords.verify_password("not-a-hash", "anything at all")


def test_weaker_old_hashes_are_flagged_for_rehash():
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("tangerine bicycle")
    assert passwords.needs_rehash(weak)
    assert not passwords.needs_rehash(passwords.hash_password("tangerine bicycle"))


@pytest.mark.parametrize(
    "password",
    [
        "1234567890",
        "qwertyuiop",
        "Password123",
        "iloveyou12",
        "letmein123",
        "aaaaaaaaaa",
        "abababababab",
        "PASSWORD2024",
        "football123",
        "zxcvbnm123",
    ],
)
def test_common_and_repetitive_passwords_are_refused(password):
    with pytest.raises(WeakPassword, match="too common"):
        passwords.check_policy(password)


def test_length_and_personal_rules():
    with pytest.raises(WeakPassword, match="at least 10"):
        passwords.check_policy("short1!")
    with pytest.raises(WeakPassword, match="at most"):
        passwords.check_policy("x" * 100 + "y" * 200)
    with pytest.raises(WeakPassword, match="name or email"):
        passwords.check_policy("jonathan.doe", email="jonathan.doe@example.com")
    passwords.check_policy("correct horse battery")
    passwords.check_policy("Tr0ub4dor&3 but longer")


def test_the_list_is_compact_but_substantial():
    common = passwords.common_passwords()
    assert 3000 < len(common) < 20000
    assert {"123456", "password", "qwerty", "iloveyou", "1234567890", "password1"} <= common
    assert all(word == word.lower() for word in common)
