"""pytest plugin: loopback platform servers, started per test (they need no database or Redis,
so they serve both test profiles)."""

from collections.abc import Iterator

import pytest

from tests.peers.mastodon import FakeMastodon


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    server = FakeMastodon()
    server.start()
    yield server
    server.stop()
