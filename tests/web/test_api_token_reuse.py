"""An API token keeps working after its first use, on PostgreSQL and on the embedded SQLite file.

SQLite handed back naive datetimes, so the second request (which compares `last_used_at` with
now) answered 500 there: the embedded pass of `make test` runs this on SQLite.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from app.extensions import db
from app.models import ApiToken
from app.services.accounts import api_tokens


def test_a_token_answers_every_request_after_its_first_use(app, make_user):
    user = make_user(email="pat@example.com")
    token, raw = api_tokens.create_token(user, "script")
    db.session.commit()
    token_id = token.id
    api = app.test_client()
    headers = {"Authorization": f"Bearer {raw}"}

    first = api.get("/api/v1/me", headers=headers)
    second = api.get("/api/v1/me", headers=headers)  # compares the stored last_used_at with now
    assert (first.status_code, second.status_code) == (200, 200), second.get_data(as_text=True)
    assert second.json["email"] == "pat@example.com"

    # Last used long ago: this request writes a fresh time, read back as an aware UTC value.
    long_ago = datetime.now(UTC) - timedelta(days=2)
    db.session.execute(update(ApiToken).values(last_used_at=long_ago))
    db.session.commit()
    assert api.get("/api/v1/images", headers=headers).status_code == 200
    db.session.expire_all()
    last_used = db.session.get(ApiToken, token_id).last_used_at
    assert last_used.tzinfo is not None and last_used > long_ago + timedelta(days=1)
