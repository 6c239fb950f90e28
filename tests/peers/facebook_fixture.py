"""pytest plugin: a loopback Facebook (Login dialog and Graph API), started per test."""

from collections.abc import Iterator

import pytest

from tests.peers.facebook_fake import FakeFacebookPages


@pytest.fixture
def fake_facebook_pages() -> Iterator[FakeFacebookPages]:
    server = FakeFacebookPages()
    server.start()
    yield server
    server.stop()
