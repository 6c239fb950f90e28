"""Tokens and app passwords at rest: encrypted in every row, readable by the app, rotatable."""

import os
import subprocess

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from app.extensions import db
from app.models import PlatformAccount, PlatformApp
from app.services import crypto
from tests.conftest import EMBEDDED, TEST_TOKEN_KEYS

ACCESS = "access-token-plaintext-7f3a"
REFRESH = "refresh-token-plaintext-91bc"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
CLIENT_SECRET = "client-secret-plaintext-55d0"


@pytest.fixture
def stored(app, make_user):
    user = make_user(email="enc@example.com")
    account = PlatformAccount(
        user_id=user.id,
        platform="bluesky",
        instance_url="http://localhost:1",
        remote_id="did:plc:abc",
        handle="@enc.test",
        access_token=ACCESS,
        refresh_token=REFRESH,
        secret=APP_PASSWORD,
    )
    db.session.add(account)
    db.session.add(
        PlatformApp(
            platform="mastodon",
            instance_url="http://127.0.0.1:1",
            redirect_uri="http://localhost/cb",
            client_id="cid",
            client_secret=CLIENT_SECRET,
        )
    )
    db.session.commit()
    return account


def _dump(app) -> str:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if EMBEDDED:
        return "\n".join(db.session.connection().connection.driver_connection.iterdump())
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    # As the README tells operators: past the row-level security policies, said so.
    done = subprocess.run(
        ["pg_dump", "--data-only", "--enable-row-security", dsn],
        capture_output=True,
        text=True,
        env={**os.environ, "PGOPTIONS": "-c app.bypass=on"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_database_dump_shows_no_token_or_password_in_clear(app, stored):
    dump = _dump(app)
    assert "did:plc:abc" in dump  # the dump really has the row
    for secret in (ACCESS, REFRESH, APP_PASSWORD, CLIENT_SECRET):
        assert secret not in dump
    assert dump.count("v1:gAAAA") >= 4


def test_the_app_reads_back_what_it_stored(app, stored):
    db.session.expire_all()
    account = db.session.get(PlatformAccount, stored.id)
    assert (account.access_token, account.refresh_token, account.secret) == (
        ACCESS,
        REFRESH,
        APP_PASSWORD,
    )


def test_rotation_moves_every_row_to_the_newest_key_and_old_keys_can_go(app, stored):
    new_key = crypto.generate_key()
    app.config["TOKEN_ENCRYPTION_KEYS"] = f"2:{new_key},{TEST_TOKEN_KEYS}"
    try:
        result = CliRunner().invoke(app.cli, ["rotate-token-keys"], obj=None)
        assert result.exit_code == 0, result.output
        assert "4 values now under the newest key" in result.output
        raw = db.session.execute(text("SELECT access_token, secret FROM platform_accounts")).one()
        assert all(value.startswith("v2:") for value in raw)
        # the old key is no longer needed
        app.config["TOKEN_ENCRYPTION_KEYS"] = f"2:{new_key}"
        db.session.expire_all()
        account = db.session.get(PlatformAccount, stored.id)
        assert account.access_token == ACCESS and account.secret == APP_PASSWORD
        again = CliRunner().invoke(app.cli, ["rotate-token-keys"])
        assert "done: 0 values" in again.output
    finally:
        app.config["TOKEN_ENCRYPTION_KEYS"] = TEST_TOKEN_KEYS


def test_an_edited_ciphertext_is_refused_not_misread(app):
    stored = crypto.encrypt("secret")
    tampered = stored[:-6] + ("A" if stored[-6] != "A" else "B") + stored[-5:]
    with pytest.raises(crypto.EncryptionKeyError):
        crypto.decrypt(tampered)
    with pytest.raises(crypto.EncryptionKeyError, match="key version 9"):
        crypto.decrypt("v9:" + stored.partition(":")[2])


def test_malformed_key_settings_say_what_is_wrong(app):
    with pytest.raises(crypto.EncryptionKeyError, match="<version>:<key>"):
        crypto.parse_keys("not-a-versioned-key")
    with pytest.raises(crypto.EncryptionKeyError, match="not a Fernet key"):
        crypto.parse_keys("1:short")
