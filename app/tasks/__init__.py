"""RQ jobs: thin functions that take ids, re-read rows, call services and commit."""
