"""What the loopback platform fakes (mastodon.py, bluesky_fake.py) share: a fixed-window rate
limiter, scripted and random faults, and the log of pushes with the one number the sync engine
must keep at zero, duplicate_pushes().

A fake decides what a fault *looks like* (Mastodon and Bluesky shape bodies and headers
differently); this module only decides *when* one happens. Not a plugin.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

FAULT_STATUSES = (401, 422, 429, 500, 502, 503)
CHAOS_STATUSES = (429, 429, 429, 500, 502, 503)  # half the chaos faults are rate limits


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RateLimiter:
    """`limit` requests per key in fixed windows of `window` seconds aligned to the epoch.

    Aligned windows are what rack-attack (Mastodon) and a fixed-window store give: the reset
    time is the next multiple of the window, the same for every key.
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.counts: dict[Any, tuple[float, int]] = {}  # key -> (window start, requests in it)

    def _window(self, now: float) -> float:
        return now - now % self.window

    def hit(self, key: Any, now: float) -> tuple[bool, int, float]:
        """Count one request: (allowed, remaining, reset epoch seconds)."""
        start = self._window(now)
        seen_start, count = self.counts.get(key, (start, 0))
        if seen_start != start:
            count = 0
        allowed = count < self.limit
        if allowed:
            count += 1
        self.counts[key] = (start, count)
        return allowed, self.limit - count, start + self.window

    def peek(self, key: Any, now: float) -> tuple[int, float]:
        start = self._window(now)
        seen_start, count = self.counts.get(key, (start, 0))
        return self.limit - (count if seen_start == start else 0), start + self.window


@dataclass
class Fault:
    """One scripted or random answer instead of the real one."""

    status: int
    reset_in: float | None = None  # 429 only: seconds until the advertised reset
    error: str | None = None  # overrides the platform's default message


@dataclass
class _Script:
    fault: Fault
    times: int
    path: str


@dataclass
class _Chaos:
    fault_rate: float
    latency: tuple[float, float]
    reset_range: tuple[float, float]
    rng: random.Random


class Faults:
    """Scripted faults first (`fail_next`), then random ones (`chaos`), for matching requests."""

    def __init__(self) -> None:
        self.scripts: list[_Script] = []
        self.random: _Chaos | None = None
        self.lock = threading.Lock()

    def script(self, status: int, times: int, path: str, reset_in: float | None, error: str | None):
        if status not in FAULT_STATUSES:
            raise ValueError(f"fail_next knows {FAULT_STATUSES}, not {status}")
        with self.lock:
            self.scripts.append(_Script(Fault(status, reset_in, error), times, path))

    def chaos(
        self,
        fault_rate: float,
        latency: tuple[float, float],
        seed: int | None,
        reset_range: tuple[float, float],
    ) -> None:
        with self.lock:
            self.random = _Chaos(fault_rate, latency, reset_range, random.Random(seed))

    def calm(self) -> None:
        with self.lock:
            self.scripts.clear()
            self.random = None

    def delay(self) -> float:
        """Seconds of chaos latency for the next request (0 without chaos)."""
        with self.lock:
            if self.random is None:
                return 0.0
            return self.random.rng.uniform(*self.random.latency)

    def next_fault(self, path: str, *, push: bool) -> Fault | None:
        """The fault for this request, if any: a matching script, else (for pushes) chaos."""
        with self.lock:
            for script in self.scripts:
                if script.path in path:
                    script.times -= 1
                    if script.times <= 0:
                        self.scripts.remove(script)
                    return script.fault
            chaos = self.random
            if chaos is None or not push or chaos.rng.random() >= chaos.fault_rate:
                return None
            status = chaos.rng.choice(CHAOS_STATUSES)
            reset_in = chaos.rng.uniform(*chaos.reset_range) if status == 429 else None
            return Fault(status, reset_in)


@dataclass
class PushLog:
    """Every attempt to replace an image on the platform, faulted or not, in arrival order."""

    pushes: list[dict[str, Any]] = field(default_factory=list)
    stored: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, field) -> sha

    def record(self, account: str, slot: str, data: bytes, status: int, **extra: Any) -> dict:
        digest = sha256(data)
        push = {
            "account": account,
            "field": slot,
            "sha256": digest,
            "size": len(data),
            "time": time.time(),
            "status": status,
            # already there: the engine spent a write (and rate budget) on nothing
            "duplicate": self.stored.get((account, slot)) == digest,
            **extra,
        }
        self.pushes.append(push)
        if 200 <= status < 300:
            self.stored[(account, slot)] = digest
        return push

    def duplicates(self) -> int:
        return sum(push["duplicate"] for push in self.pushes)

    def clear(self) -> None:
        self.pushes.clear()
        self.stored.clear()


def sniff_image(data: bytes) -> str | None:
    """The image type the bytes really are (by magic number), whatever the upload claimed."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class FaultControls:
    """What tests and benchmarks call on either fake server: a push rate limit, scripted and
    random faults, and the log of pushes. A fake sets `faults`, `log` and `push_limit`."""

    push_path: str  # the request a push is ("update_credentials", "putRecord")
    # How far ahead a random 429 sets the reset; Bluesky's header is whole seconds.
    chaos_reset_range: tuple[float, float] = (0.05, 1.0)
    faults: Faults
    log: PushLog
    push_limit: RateLimiter | None

    def rate_limit(self, limit: int, window_seconds: float) -> None:
        """Per-account limit on pushes, on top of the platform's general limit."""
        self.push_limit = RateLimiter(limit, window_seconds)

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        reset_in: float | None = None,
        error: str | None = None,
        path: str | None = None,
    ) -> None:
        self.faults.script(status, times, path or self.push_path, reset_in, error)

    def chaos(
        self,
        fault_rate: float = 0.2,
        latency: tuple[float, float] = (0.0, 0.05),
        seed: int | None = None,
        reset_range: tuple[float, float] | None = None,
    ) -> None:
        """Answer a random `fault_rate` of pushes with 429/5xx; delay every request."""
        self.faults.chaos(fault_rate, latency, seed, reset_range or self.chaos_reset_range)

    def calm(self) -> None:
        self.faults.calm()

    @property
    def pushes(self) -> list[dict[str, Any]]:
        return self.log.pushes

    def duplicate_pushes(self) -> int:
        return self.log.duplicates()
