"""The event stream's fan-out: one job per event hands it to every consumer."""

from app.extensions import db
from app.jobs import DEFAULT, job
from app.services.notifications import events, mailing  # noqa: F401  (mailing: the email consumer)


@job(DEFAULT)
def fan_out_event(event_id: int) -> None:
    events.fan_out(event_id)
    db.session.commit()
