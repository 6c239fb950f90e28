"""The status page's job sections: queues, workers and failed jobs with retry/delete/retry all.

Read from RQ's own registries and worker records on Redis (real RQ workers: the suite's burst
worker, and real `worker.py` processes for the worker list), or from the in-process worker's own
state in the embedded profile.
"""

from __future__ import annotations

import html as htmllib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import InProcessBackend, enqueue
from app.models import AuditLog
from tests.tasks_support import fail_while_flagged, record_email_seen

ROOT = Path(__file__).resolve().parents[2]
ERROR = "RuntimeError: the flag is up"


@pytest.fixture
def admin(make_user, login):
    user = make_user(email="root@example.com", admin=True)
    login(user)
    return user


@pytest.fixture
def flagged(tmp_path):
    """make(name) -> (flag, out): a job fail_while_flagged(flag, out) fails until flag is gone."""

    def make(name: str) -> tuple[Path, Path]:
        flag, out = tmp_path / f"{name}.flag", tmp_path / f"{name}.out"
        flag.touch()
        return flag, out

    return make


def page(client) -> str:
    response = client.get("/admin")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def rows(html: str, attr: str) -> dict[str, str]:
    """The table rows carrying data-<attr>, by that attribute's value (their HTML)."""
    found = re.finditer(rf'<tr data-{attr}="([^"]*)"(.*?)</tr>', html, re.S)
    return {htmllib.unescape(m.group(1)): m.group(0) for m in found}


def cell(row: str, name: str) -> str:
    match = re.search(rf'data-{name}="([^"]*)"', row)
    assert match, f"no data-{name} in {row}"
    return match.group(1)


def failed_ids(html: str) -> list[str]:
    return list(rows(html, "job"))


def warnings(html: str) -> list[str]:
    return [
        htmllib.unescape(w) for w in re.findall(r"<div [^>]*data-warning>⚠ ([^<]*)</div>", html)
    ]


def events(name: str) -> list[dict]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog.details).where(AuditLog.event == name)))


def wait_for(predicate, timeout: float, message):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.25)
    raise AssertionError(message() if callable(message) else message)


def test_a_failing_job_is_listed_with_its_error_and_retry_runs_it_again(
    app, client, admin, flagged, run_jobs
):
    flag, out = flagged("a")
    jid = enqueue(fail_while_flagged, str(flag), str(out))
    assert run_jobs() == 1

    html = page(client)
    row = rows(html, "job")[jid]
    assert (
        "fail_while_flagged(&lt;str&gt;, &lt;str&gt;)" in row
    )  # arguments that are not ids stay hidden
    assert ERROR in row and "second line" not in row
    assert str(flag) not in html
    assert cell(rows(html, "queue")["default"], "failed") == "1"

    flag.unlink()
    answer = client.post(f"/admin/jobs/{jid}/retry", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    section = answer.get_data(as_text=True)
    assert 'id="admin-failed"' in section and "Job queued again." in section
    assert jid not in failed_ids(section)
    assert events("admin_job_retried") == [{"job_id": jid}]

    assert run_jobs() == 1
    assert out.read_text() == "ran\n"
    html = page(client)
    assert failed_ids(html) == [] and "No failed jobs." in html
    assert cell(rows(html, "queue")["default"], "finished") == "1"


def test_delete_forgets_a_failed_job_and_retry_all_runs_the_others(
    app, client, admin, flagged, run_jobs
):
    jobs = {}
    for name in ("one", "two", "three"):
        flag, out = flagged(name)
        jobs[name] = (enqueue(fail_while_flagged, str(flag), str(out)), flag, out)
    assert run_jobs() == 3
    assert sorted(failed_ids(page(client))) == sorted(jid for jid, _, _ in jobs.values())

    # A plain form post (no htmx) comes back to the page with a message.
    gone = jobs["one"][0]
    answer = client.post(f"/admin/jobs/{gone}/delete")
    assert answer.status_code == 302 and answer.headers["Location"].rstrip("/").endswith("/admin")
    html = page(client)
    assert "Failed job deleted." in html and gone not in failed_ids(html)
    assert events("admin_job_deleted") == [{"job_id": gone}]
    assert client.post(f"/admin/jobs/{gone}/retry").status_code == 404  # deleted means gone
    assert run_jobs() == 0

    for _, flag, _ in jobs.values():
        flag.unlink()
    answer = client.post("/admin/jobs/retry-all", headers={"HX-Request": "true"})
    assert "2 failed jobs queued again." in answer.get_data(as_text=True)
    assert events("admin_jobs_retried_all") == [{"count": 2}]
    assert run_jobs() == 2
    assert [jobs[n][2].exists() for n in ("one", "two", "three")] == [False, True, True]
    assert failed_ids(page(client)) == []


def test_unknown_or_malformed_job_ids_get_a_readable_404(app, client, admin):
    for jid in ("fail_while_flagged--nothing", "has:colon", "x" * 500, "%00"):
        for action in ("retry", "delete"):
            answer = client.post(f"/admin/jobs/{jid}/{action}")
            assert answer.status_code == 404
            assert "no failed job with that id" in answer.get_data(as_text=True)
    assert events("admin_job_retried") == [] and events("admin_job_deleted") == []


def test_only_admins_act_on_failed_jobs_and_only_with_a_csrf_token(
    app, client, make_user, login, flagged, run_jobs
):
    flag, out = flagged("guarded")
    jid = enqueue(fail_while_flagged, str(flag), str(out))
    run_jobs()
    flag.unlink()
    login(make_user(email="pat@example.com"))
    for url in (f"/admin/jobs/{jid}/retry", f"/admin/jobs/{jid}/delete", "/admin/jobs/retry-all"):
        assert client.post(url).status_code == 404
    client.post("/sign-out")
    login(make_user(email="root@example.com", admin=True))
    answer = client.post(f"/admin/jobs/{jid}/retry", csrf=False)
    assert answer.status_code == 400 and b"CSRF" in answer.data
    assert run_jobs() == 0 and not out.exists()  # nothing was queued again
    assert failed_ids(page(client)) == [jid]


def test_waiting_jobs_show_as_queue_depth_and_age_and_warn_when_old(
    app, client, admin, monkeypatch, tmp_path
):
    for n in range(3):
        enqueue(record_email_seen, n + 1, str(tmp_path / f"{n}.txt"))
    time.sleep(1.2)
    html = page(client)
    default = rows(html, "queue")["default"]
    assert cell(default, "depth") == "3" and int(cell(default, "oldest")) >= 1
    assert cell(rows(html, "queue")["images"], "depth") == "0"
    assert not [w for w in warnings(html) if "oldest job" in w]

    monkeypatch.setitem(app.config, "ADMIN_QUEUE_AGE_WARNING", 1)
    html = client.get("/admin/sections/queues").get_data(as_text=True)
    assert any(
        w.startswith("The oldest job on the default queue has waited") for w in warnings(html)
    )


def test_the_in_process_worker_reports_itself_and_its_failures(
    app, client, admin, flagged, monkeypatch
):
    """The embedded default's worker thread (not the test suite's drain()) on the page."""
    backend = InProcessBackend(app)
    backend.periodic_started = True  # its periodic rounds would outlive this test
    monkeypatch.setitem(app.extensions, "jobs", backend)
    assert "No worker is alive" in " ".join(warnings(page(client)))  # starts with its first job

    flag, out = flagged("threaded")
    jid = enqueue(fail_while_flagged, str(flag), str(out))
    wait_for(lambda: backend.jobs_failed == 1, 10, "the job did not fail")
    html = page(client)
    [worker] = rows(html, "worker").values()
    assert cell(worker, "alive") == "yes" and cell(worker, "pid") == str(os.getpid())
    assert socket.gethostname() in worker
    assert not [w for w in warnings(html) if "No worker" in w]
    assert ERROR in rows(html, "job")[jid]
    assert cell(rows(html, "queue")["default"], "failed") == "1"

    flag.unlink()
    assert client.post(f"/admin/jobs/{jid}/retry").status_code == 302
    wait_for(out.exists, 10, "the retried job did not run")
    html = page(client)
    assert failed_ids(html) == []
    default = rows(html, "queue")["default"]
    assert (cell(default, "started"), cell(default, "finished")) == ("2", "1")


# Real `python worker.py` processes (RQ workers) ------------------------------------------------


def start_worker(worker_env, log: Path, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env={**worker_env, **env},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def worker_row(client, pid: int) -> str | None:
    html = client.get("/admin/sections/workers").get_data(as_text=True)
    return next((row for row in rows(html, "worker").values() if f'data-pid="{pid}"' in row), None)


def test_a_real_worker_is_listed_runs_a_retried_job_and_is_gone_after_sigterm(
    app, client, admin, worker_env, flagged, tmp_path
):
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env, log)
    try:
        row = wait_for(
            lambda: worker_row(client, worker.pid),
            30,
            lambda: f"the worker never showed up; log:\n{log.read_text()[-3000:]}",
        )
        assert cell(row, "alive") == "yes" and socket.gethostname() in row

        flag, out = flagged("real")
        jid = enqueue(fail_while_flagged, str(flag), str(out))
        wait_for(lambda: jid in failed_ids(page(client)), 30, "the failure never showed")
        assert ERROR in rows(page(client), "job")[jid]
        flag.unlink()
        assert client.post(f"/admin/jobs/{jid}/retry").status_code == 302
        wait_for(out.exists, 30, "the worker did not run the retried job")
        wait_for(lambda: jid not in failed_ids(page(client)), 10, "still listed as failed")

        html = page(client)
        assert not [w for w in warnings(html) if "No worker" in w]
        # RQ's cron scheduler beside the worker plans the periodic jobs' next runs.
        wait_for(
            lambda: "<time" in rows(page(client), "periodic")["reconcile_lost_work"],
            30,
            "no next run for the reconciler",
        )
    finally:
        worker.terminate()
        worker.wait(30)
    assert worker.returncode == 0, log.read_text()[-3000:]
    assert worker_row(client, worker.pid) is None  # a clean stop unregisters it
    assert "No worker is alive: queued jobs are not being run." in warnings(page(client))


def test_a_killed_worker_shows_as_gone_once_its_heartbeat_is_too_old(
    app, client, admin, worker_env, monkeypatch, tmp_path
):
    ttl = 5  # RQ beats every max(1, ttl - 15) s while idle
    monkeypatch.setitem(app.config, "WORKER_TTL", ttl)
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env, log, WORKER_TTL=str(ttl))
    try:
        wait_for(
            lambda: (row := worker_row(client, worker.pid)) and cell(row, "alive") == "yes",
            30,
            lambda: f"the worker never showed up alive; log:\n{log.read_text()[-3000:]}",
        )
        time.sleep(ttl + 1)  # beating: still alive after a whole ttl
        assert cell(worker_row(client, worker.pid), "alive") == "yes"
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    # No goodbye: RQ keeps its record until it expires; its heartbeat ages past the ttl.
    row = wait_for(
        lambda: (row := worker_row(client, worker.pid)) and cell(row, "alive") == "no" and row,
        ttl + 10,
        "the killed worker still looks alive",
    )
    assert "Gone" in row
    assert "No worker is alive: queued jobs are not being run." in warnings(page(client))
