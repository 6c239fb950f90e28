"""pytest plugin: loopback platform servers, started per test (they need no database or Redis,
so they serve both test profiles)."""

from collections.abc import Iterator

import pytest

from tests.peers.mastodon import FakeMastodon
from tests.peers.x_fake import FakeX


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    server = FakeMastodon()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    server = FakeX()
    server.start()
    yield server
    server.stop()
