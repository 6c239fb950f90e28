"""Fixtures shared by the web tests."""

import pytest


@pytest.fixture
def pat(make_user, login):
    """Pat, signed in on `client`."""
    user = make_user(email="pat@example.com", name="Pat")
    login(user)
    return user
