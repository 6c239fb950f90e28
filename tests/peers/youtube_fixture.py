"""pytest plugin: a loopback Google sign-in and YouTube Data API, started per test."""

from collections.abc import Iterator

import pytest

from tests.peers.youtube_fake import FakeYouTube


@pytest.fixture
def fake_youtube() -> Iterator[FakeYouTube]:
    server = FakeYouTube()
    server.start()
    yield server
    server.stop()
