"""Queue names, the @job decorator and the name registry services queue jobs by.

A job's id is derived from its name and arguments, so the same work queued twice while the
first copy still waits is one job, whichever backend carries it.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from app.extensions import db
from app.infra import row_security
from app.jobs.stats import record_job
from app.logconfig import job_id_var

log = logging.getLogger(__name__)

IMAGES = "images"
SYNC = "sync"
DEFAULT = "default"
QUEUES = (IMAGES, SYNC, DEFAULT)  # the order workers take them in

_REGISTRY: dict[str, Callable] = {}
_inproc_ids = itertools.count(1)
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")  # RQ accepts only these in a job id


def job(queue: str = DEFAULT) -> Callable[[Callable], Callable]:
    """Mark a function as a job on `queue`, registered under its name; every run logs one line
    and leaves a clean session."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*args: Any) -> Any:
            from rq import get_current_job

            current = get_current_job()
            token = job_id_var.set(current.id if current else f"inproc-{next(_inproc_ids)}")
            # Jobs find their work by id across people (sweeps, queues); each run is logged.
            scope_token = row_security.start(bypass=f"job {func.__name__}")
            started = time.perf_counter()
            outcome = "failed"
            try:
                result = func(*args)
                outcome = "succeeded"
                return result
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()
                seconds = time.perf_counter() - started
                log.info(
                    "job %s",
                    outcome,
                    extra={
                        "event": "job",
                        "func": func.__name__,
                        "job_args": [_loggable(arg) for arg in args],
                        "queue": queue,
                        "status": outcome,
                        "duration_ms": round(seconds * 1000, 1),
                    },
                )
                record_job(func.__name__, outcome, seconds)
                row_security.finish(scope_token)
                job_id_var.reset(token)

        run.queue_name = queue  # type: ignore[attr-defined]
        if _REGISTRY.setdefault(func.__name__, run) is not run:
            raise RuntimeError(f"two jobs are named {func.__name__!r}")
        return run

    return decorate


def _loggable(arg: Any) -> Any:
    # Ids are what jobs should take; anything else (an address, a path) stays out of the log.
    return arg if isinstance(arg, int | float | bool | None) else f"<{type(arg).__name__}>"


def resolve(task: str | Callable) -> Callable:
    """The job function for a name (or the function itself)."""
    if callable(task):
        return task
    try:
        return _REGISTRY[task]
    except KeyError:
        raise LookupError(f"no job named {task!r} (app.tasks registers them)") from None


def job_id(func: Callable, args: tuple, prefix: str = "") -> str:
    """The id of `func(*args)`: the same for the same work, readable when the args are ids.

    `prefix` keeps deployments (and test runs) sharing one Redis apart.
    """
    if all(isinstance(arg, int) and not isinstance(arg, bool) for arg in args):
        key = "_".join(str(arg) for arg in args)
    else:
        encoded = json.dumps(args, sort_keys=True, default=repr).encode()
        key = hashlib.sha256(encoded).hexdigest()[:24]
    return _UNSAFE_ID_CHARS.sub("_", f"{prefix}{func.__name__}--{key}")
