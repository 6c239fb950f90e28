"""Mail delivery off the request path: SMTP can take seconds, or fail and be retried."""

from app.jobs import DEFAULT, job


@job(DEFAULT)
def send_email(to: str, subject: str, text: str, html: str) -> None:
    """Takes the rendered message, not ids: links were signed in the request that asked for it."""
    from app.infra.mail import build_message, deliver

    deliver(build_message(to, subject, text, html))
