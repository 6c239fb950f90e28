"""Status-page sections for the job system (queues, workers, failed jobs) and the failed-job
actions: retry, delete, retry all. Each action is audited and answers htmx with the refreshed
"failed" section, or a plain form post with a redirect back to the page."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.blueprints.admin import SECTIONS, bp, section
from app.blueprints.admin.routes import REFRESH
from app.blueprints.auth.session import client_ip
from app.extensions import db
from app.htmx import is_htmx
from app.services.accounts import audit
from app.services.ops import jobs

GONE = "There is no failed job with that id: it may have been retried or deleted already."


bp.add_app_template_filter(jobs.duration_text, "short_duration")


@section("queues", "Queues", order=20)
def queues() -> dict:
    return jobs.queues_overview()


@section("workers", "Workers", order=15)
def workers() -> dict:
    return jobs.workers_overview()


@section("failed", "Failed jobs", order=40)
def failed() -> dict:
    return jobs.failed_overview()


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str) -> Response | str:
    try:
        jobs.retry(job_id)
    except jobs.UnknownJob:
        abort(404, GONE)
    return _done("admin_job_retried", "Job queued again.", job_id=job_id)


@bp.post("/jobs/<job_id>/delete")
def delete_job(job_id: str) -> Response | str:
    try:
        jobs.delete(job_id)
    except jobs.UnknownJob:
        abort(404, GONE)
    return _done("admin_job_deleted", "Failed job deleted.", job_id=job_id)


@bp.post("/jobs/retry-all")
def retry_all_jobs() -> Response | str:
    count = jobs.retry_all()
    noun = "job" if count == 1 else "jobs"
    return _done("admin_jobs_retried_all", f"{count} failed {noun} queued again.", count=count)


def _done(event: str, message: str, **details) -> Response | str:
    audit.record(event, current_user, client_ip(), **details)
    db.session.commit()
    if is_htmx():
        found = SECTIONS["failed"]
        return render_template(
            "admin/partials/section.html",
            section=found,
            data=found.context(),
            refresh=REFRESH,
            message=message,
        )
    flash(message, "success")
    return redirect(url_for("admin.index"))
