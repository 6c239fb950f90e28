"""RQ jobs: thin functions that take ids, re-read rows, call services and commit.

Importing this package registers every job by name (see app.jobs), which is how services queue
them without importing this package.
"""

from app.tasks import (  # noqa: F401
    analytics,
    events,
    exports,
    images,
    mail,
    maintenance,
    schedules,
    sync,
    webhooks,
)
