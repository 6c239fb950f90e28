"""Fixtures shared by the web tests."""

import pytest


@pytest.fixture
def pat(make_user, login):
    """Pat, signed in on `client`."""
    user = make_user(email="pat@example.com", name="Pat")
    login(user)
    return user


@pytest.fixture
def owned_task_id():
    """For the access walks (test_access.py): a sync task of `owner`, with its account and
    release (a task cannot exist without them)."""
    from app.models import TaskStatus
    from tests.sync_rows import make_account, make_release

    def make(owner) -> int:
        account = make_account(owner, handle=f"@owner{owner.id}@masto.example")
        release = make_release(owner, account, statuses={"avatar": TaskStatus.FAILED})
        return release.tasks[0].id

    return make


@pytest.fixture
def owned_job_id():
    """For the access walks: job ids belong to nobody (only admins act on them); any id will do,
    since everyone else is turned away before it is looked up."""
    return lambda owner: f"fail_while_flagged--{owner.id}"
