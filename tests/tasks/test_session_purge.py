"""Session records that can no longer sign anyone in are deleted by a periodic job."""

from datetime import UTC, datetime, timedelta

from app.extensions import db
from app.models import UserSession
from app.services.accounts import sessions
from app.tasks.maintenance import purge_stale_sessions
from tests.factories import UserFactory


def test_ended_and_long_idle_sessions_are_purged_and_live_ones_kept(app):
    user = UserFactory()
    now = datetime.now(UTC)
    limit = app.config["REMEMBER_COOKIE_DURATION"]
    live = sessions.open_session(user, method="password", remember=False, ip=None, user_agent="a")
    sessions.open_session(user, method="password", remember=True, ip=None, user_agent="idle")
    sessions.open_session(user, method="password", remember=False, ip=None, user_agent="ended")
    recent_end = sessions.open_session(
        user, method="password", remember=False, ip=None, user_agent="x"
    )
    db.session.flush()
    rows = {r.user_agent: r for r in db.session.scalars(db.select(UserSession))}
    rows["idle"].last_seen_at = now - limit - timedelta(minutes=1)
    rows["ended"].revoked_at = now - limit - timedelta(minutes=1)
    rows["x"].revoked_at = now - timedelta(hours=1)  # a sign-out an hour ago stays visible
    db.session.commit()

    user_id = user.id
    assert purge_stale_sessions() == 2
    left = set(db.session.scalars(db.select(UserSession.user_agent)))
    assert left == {"a", "x"}
    assert sessions.find_live(user_id, live, idle_limit=limit) is not None
    assert sessions.find_live(user_id, recent_end, idle_limit=limit) is None
    assert purge_stale_sessions() == 0
