"""Webhook deliveries: one job per try (delayed for retries), and the periodic sweep
(app/jobs/periodic.py SCHEDULE) that sends whatever is due after a lost job or downtime."""

import time

from flask import current_app

from app.extensions import db
from app.jobs import DEFAULT, job
from app.services.webhooks import delivery


@job(DEFAULT)
def deliver_webhook(delivery_id: int) -> str | None:
    return delivery.attempt(delivery_id)


@job(DEFAULT)
def send_due_webhooks() -> int:
    # Tries run here one after another (each claims its delivery, so a delayed job running at
    # the same moment does not send it twice); half the job timeout, and the next round goes on.
    budget = time.monotonic() + current_app.config["JOB_TIMEOUT"] / 2
    sent = 0
    for delivery_id in delivery.due():
        if time.monotonic() > budget:
            break
        sent += delivery.attempt(delivery_id) is not None
    delivery.prune()
    db.session.commit()
    return sent
