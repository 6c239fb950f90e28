"""Scheduled looks: the delayed job queued for a schedule's time, and the periodic sweep
(app/jobs/periodic.py SCHEDULE) that runs whatever is due after downtime or a lost job."""

from app.jobs import DEFAULT, job
from app.services.sync import schedule_runs, schedules


@job(DEFAULT)
def run_schedule(schedule_id: int) -> str | None:
    outcome = schedule_runs.run(schedule_id, schedules.utcnow())
    return str(outcome) if outcome else None


@job(DEFAULT)
def run_due_schedules() -> dict[str, int]:
    return schedule_runs.run_due(schedules.utcnow())
