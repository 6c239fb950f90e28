"""pytest plugin: a loopback Gravatar (WordPress.com sign-in included), started per test."""

from collections.abc import Iterator

import pytest

from tests.peers.gravatar_fake import FakeGravatar


@pytest.fixture
def fake_gravatar() -> Iterator[FakeGravatar]:
    server = FakeGravatar()
    server.start()
    yield server
    server.stop()
