"""Mail delivery off the request path: SMTP can take seconds, or fail and be retried."""

from app.jobs import DEFAULT, job
from app.services.notifications import outbox


@job(DEFAULT)
def send_outbox(message_id: int) -> None:
    """Render and send one outbox row; a failure is recorded on the row and retried later."""
    outbox.send(message_id)
