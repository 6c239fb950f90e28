"""Signed email links: purpose-bound, expiring under a moved clock, single use by construction."""

from datetime import timedelta

import pytest

from app.extensions import db
from app.services.accounts import tokens
from app.services.accounts.tokens import ExpiredLink, InvalidLink


def test_a_link_reads_back_its_user_and_data(app, make_user):
    user = make_user()
    token = tokens.make_token(user, tokens.EMAIL_CHANGE, new_email="new@example.com")
    claims = tokens.read_token(token, tokens.EMAIL_CHANGE)
    assert claims.user.id == user.id and claims.data == {"new_email": "new@example.com"}


@pytest.mark.parametrize(
    ("purpose", "lifetime"),
    [(tokens.VERIFY, timedelta(hours=24)), (tokens.RESET, timedelta(hours=1))],
)
def test_links_expire(app, make_user, purpose, lifetime):
    user = make_user(verified=False)
    issued = tokens.utcnow()
    token = tokens.make_token(user, purpose, now=issued)
    tokens.read_token(token, purpose, now=issued + lifetime - timedelta(seconds=1))
    with pytest.raises(ExpiredLink):
        tokens.read_token(token, purpose, now=issued + lifetime + timedelta(seconds=1))
    with pytest.raises(ExpiredLink):  # from the future beyond clock skew: refused too
        tokens.read_token(token, purpose, now=issued - timedelta(hours=1))


def test_links_are_bound_to_their_purpose_and_key(app, make_user):
    user = make_user()
    token = tokens.make_token(user, tokens.VERIFY)
    with pytest.raises(InvalidLink):
        tokens.read_token(token, tokens.RESET)
    with pytest.raises(InvalidLink):
        tokens.read_token(_tamper_signature(token), tokens.VERIFY)
    with pytest.raises(ValueError):
        tokens.make_token(user, "unknown purpose")


def test_using_the_state_retires_the_link(app, make_user):
    user = make_user()
    reset = tokens.make_token(user, tokens.RESET)
    user.password_hash = "$argon2id$changed"
    user.session_version += 1
    db.session.commit()
    with pytest.raises(InvalidLink, match="already been used"):
        tokens.read_token(reset, tokens.RESET)


def test_a_deleted_user_has_no_valid_links(app, make_user):
    user = make_user()
    token = tokens.make_token(user, tokens.VERIFY)
    db.session.delete(user)
    db.session.commit()
    with pytest.raises(InvalidLink):
        tokens.read_token(token, tokens.VERIFY)


def _tamper_signature(token: str) -> str:
    """Change the signature's first character: its 6 bits all land in the first decoded byte.

    (Changing the last character can leave the decoded bytes as they were: its low bits are
    padding, so such a test would pass or fail by chance.)
    """
    payload, _, signature = token.rpartition(".")
    return f"{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
