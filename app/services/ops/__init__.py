"""What the operator sees: service checks, queues and workers, platform and pipeline health,
users, metrics. Read-only views over the app's own records, plus the admin's job actions."""
