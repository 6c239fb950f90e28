"""A clock a test moves by hand: patched in for a module's `utcnow`, so hours pass at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def move(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now
