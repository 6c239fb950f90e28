"""pytest plugin: a loopback Facebook (Login dialog and Graph API), started per test."""

from collections.abc import Iterator

import pytest

from tests.peers.facebook_fake import FakeFacebook


@pytest.fixture
def fake_facebook() -> Iterator[FakeFacebook]:
    server = FakeFacebook()
    server.start()
    yield server
    server.stop()
