"""A version number per sync request, bumped after every committed change to its tasks.

Status polls send it back as an ETag; an unchanged version answers 304 from Redis (or, in the
embedded default, from this process's memory) without a database query. The version moves only
after the commit, so a poll can never pair a new version with old rows and cache them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import current_app

from app.jobs import after_commit

TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Stamp:
    owner_id: int
    version: int

    @property
    def etag(self) -> str:
        return f"{self.owner_id}-{self.version}"


class MemoryVersions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamps: dict[int, Stamp] = {}

    def bump(self, request_id: int, owner_id: int) -> None:
        with self._lock:
            old = self._stamps.get(request_id)
            self._stamps[request_id] = Stamp(owner_id, (old.version if old else 0) + 1)

    def read(self, request_id: int) -> Stamp | None:
        return self._stamps.get(request_id)


class RedisVersions:
    def __init__(self, redis, prefix: str) -> None:
        self.redis, self.prefix = redis, prefix

    def _key(self, request_id: int) -> str:
        return f"{self.prefix}sync-version:{request_id}"

    def bump(self, request_id: int, owner_id: int) -> None:
        key = self._key(request_id)
        with self.redis.pipeline() as pipe:
            pipe.hset(key, "owner", owner_id)
            pipe.hincrby(key, "version", 1)
            pipe.expire(key, TTL_SECONDS)
            pipe.execute()

    def read(self, request_id: int) -> Stamp | None:
        values = self.redis.hmget(self._key(request_id), "owner", "version")
        if values[0] is None or values[1] is None:
            return None
        return Stamp(int(values[0]), int(values[1]))


def versions() -> MemoryVersions | RedisVersions:
    store = current_app.extensions.get("sync_versions")
    if store is None:
        backend = current_app.extensions["jobs"]
        redis = getattr(backend, "redis", None)
        store = RedisVersions(redis, backend.prefix) if redis else MemoryVersions()
        current_app.extensions["sync_versions"] = store
    return store


def changed_on_commit(request_id: int, owner_id: int) -> None:
    after_commit(_bump, current_app._get_current_object(), request_id, owner_id)


def _bump(app, request_id: int, owner_id: int) -> None:
    with app.app_context():
        try:
            versions().bump(request_id, owner_id)
        except Exception:  # Redis away: polls fall back to the database, which is still right
            current_app.logger.warning("could not bump sync version %s", request_id)


def current(request_id: int) -> Stamp | None:
    try:
        return versions().read(request_id)
    except Exception:
        return None
