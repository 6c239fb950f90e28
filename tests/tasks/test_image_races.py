"""Races between the image job and people: a second crop, a delete, two "use as current".

Each interleaving is driven step by step with threads and events (never sleeps): the job runs in
the test's thread through a real RQ worker, and the storage it uses pauses it at the chosen
moment while a second request, in its own thread, session and connection, does its part. The
crop and delete races run on PostgreSQL and on the embedded SQLite profile.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask_migrate import upgrade
from rq import SimpleWorker
from sqlalchemy import select, text

from app import create_app
from app.extensions import db
from app.infra import row_security
from app.models import Image, ImageStatus
from app.services.images import library, pipeline, presets
from tests.conftest import make_test_config
from tests.images import add_user, avatar_jpeg, stored_keys

WAIT = 30  # seconds; only a broken build ever waits this long


@pytest.fixture(params=["postgresql", "sqlite"])
def race_app(request, app_config, tmp_path, redis_client) -> Iterator[Flask]:
    """The app on PostgreSQL (the test harness's), or on a fresh SQLite file with local files."""
    if request.param == "postgresql":
        yield request.getfixturevalue("app")
        return
    prefix = f"{app_config['QUEUE_PREFIX']}sqlite-{uuid.uuid4().hex[:6]}:"
    config = {
        **app_config,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'embedded.db'}",
        "S3_BUCKET": None,
        "LOCAL_STORAGE_ROOT": str(tmp_path / "storage"),
        "QUEUE_PREFIX": prefix,  # its own queues on the same Redis, so a real worker runs jobs
    }
    sqlite_app = create_app(make_test_config(**config))
    with sqlite_app.app_context():
        upgrade()
        yield sqlite_app
        db.session.remove()
        db.engine.dispose()
    for key in redis_client.scan_iter(match=f"*{prefix}*"):
        redis_client.delete(key)


def drain(app: Flask) -> int:
    """Run every queued job (and what they queue) with a real RQ worker, in this thread."""
    backend = app.extensions["jobs"]
    worker = SimpleWorker(
        [backend.queue(name) for name in app.config["RQ_QUEUES"]], connection=backend.redis
    )
    worker.work(burst=True)
    return worker.successful_job_count + worker.failed_job_count


class Request(threading.Thread):
    """A second web request: it reads the image (as a view does) at one moment and acts on it
    at a later one, in its own app context, session and database connection."""

    def __init__(self, app: Flask, image_id: int, action: Callable[[Image], None]):
        super().__init__(daemon=True)
        self.app, self.image_id, self.action = app, image_id, action
        self.loaded, self.go, self.done = threading.Event(), threading.Event(), threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            # A new thread starts with no row-security scope: this stands in for the request.
            with self.app.app_context(), row_security.bypass("tests"):
                image = db.session.get(Image, self.image_id)
                assert image is not None and image.is_current in (True, False)
                self.loaded.set()
                assert self.go.wait(WAIT)
                self.action(image)
                db.session.commit()
        except BaseException as exc:  # reported by finish()
            self.error = exc
        finally:
            self.loaded.set()
            self.done.set()

    def read(self) -> Request:
        self.start()
        assert self.loaded.wait(WAIT)
        return self

    def finish(self) -> None:
        self.go.set()
        assert self.done.wait(WAIT), "the second request never finished"
        self.join(WAIT)
        if self.error is not None:
            raise self.error


class PauseStorage:
    """The app's real storage; the first call to `method` (by the job) runs `hook` first."""

    def __init__(self, inner, method: str, hook: Callable[[], None]):
        self.inner, self.method, self.hook, self.fired = inner, method, hook, False

    def __getattr__(self, name: str):
        attr = getattr(self.inner, name)
        if name != self.method or self.fired:
            return attr

        def paused(*args, **kwargs):
            self.fired = True
            self.hook()
            return attr(*args, **kwargs)

        return paused


def _processed(app: Flask, data: bytes) -> tuple[int, int]:
    user = add_user()
    image, _ = library.create_upload(user.id, "avatar", data)
    db.session.commit()
    ids = user.id, image.id
    drain(app)
    return ids


def _reload(image_id: int) -> Image | None:
    db.session.expire_all()
    return db.session.get(Image, image_id)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _save_crop(crop: dict) -> Callable[[Image], None]:
    return lambda image: library.save_crop(image, crop)


# --- 1. a crop saved while the previous one is processing ------------------------------------


def test_a_crop_saved_while_the_previous_crop_is_processing_is_never_lost(race_app):
    app = race_app
    data = avatar_jpeg(800)
    user_id, image_id = _processed(app, data)
    first, second = {"box": [0, 0, 400, 400]}, {"box": [300, 300, 480, 480]}

    # Tab 2 has the crop page open (it read the image); tab 1 saves a crop, and the worker
    # starts on it. While the worker renders, tab 2 saves another crop.
    tab2 = Request(app, image_id, _save_crop(second)).read()
    library.save_crop(_reload(image_id), first)
    db.session.commit()
    real = app.extensions["storage"]
    app.extensions["storage"] = PauseStorage(real, "get", tab2.finish)
    try:
        drain(app)
    finally:
        app.extensions["storage"] = real

    image = _reload(image_id)
    assert image.status is ImageStatus.READY
    assert image.crop["box"] == {"x": 300, "y": 300, "w": 480, "h": 480}  # the last crop saved
    # and the files are that crop's (the pipeline's output is deterministic)
    want = pipeline.make_variants(
        data, pipeline.Crop.from_json(image.crop), presets.for_kind("avatar")
    )
    storage = app.extensions["storage"]
    assert {v.preset_key: _sha(storage.get(v.storage_key)) for v in image.variants} == {
        v.preset_key: _sha(v.data) for v in want
    }
    # nothing left over from the first crop or the stale run
    expected = {image.original_key, image.preview_key, *(v.storage_key for v in image.variants)}
    assert stored_keys(app) == expected


# --- 4. deleting an image while it is processing --------------------------------------------


@pytest.mark.parametrize("moment", ["while rendering", "while storing", "read while processing"])
def test_deleting_an_image_while_it_is_processing_leaves_no_files(race_app, moment):
    app = race_app
    user = add_user()
    image, _ = library.create_upload(user.id, "avatar", avatar_jpeg(800))
    db.session.commit()
    image_id = image.id
    delete = Request(app, image_id, library.delete_image)
    if moment == "read while processing":
        # The delete request reads the row while the job renders, and commits once the job has
        # stored its files and marked the image ready.
        method, hook = "get", delete.read
    else:
        method = "get" if moment == "while rendering" else "put"
        hook = lambda: delete.read().finish()  # noqa: E731
    real = app.extensions["storage"]
    app.extensions["storage"] = PauseStorage(real, method, hook)
    try:
        drain(app)
    finally:
        app.extensions["storage"] = real
    if moment == "read while processing":
        delete.finish()
        drain(app)  # the job that deletes the files

    assert _reload(image_id) is None
    assert stored_keys(app) == set()


# --- 5. two "use as current" at once ---------------------------------------------------------


@pytest.mark.services  # two connections waiting on PostgreSQL row locks
def test_two_concurrent_set_current_calls_end_with_one_current_image(app, client, login, make_user):
    pat = make_user(email="pat@example.com")
    login(pat)
    ids = []
    for seed in (1, 2, 3):
        image, _ = library.create_upload(pat.id, "avatar", avatar_jpeg(seed=seed))
        ids.append(image.id)
    db.session.commit()
    first, a, b = ids  # the first upload is current

    # Request A has moved the pointer and not yet committed when request B arrives.
    moved, release = threading.Event(), threading.Event()

    def set_and_hold(image: Image) -> None:
        library.set_current(image)
        moved.set()
        assert release.wait(WAIT)

    request_a = Request(app, a, set_and_hold).read()
    request_a.go.set()
    assert moved.wait(WAIT)
    answers: dict[str, int] = {}
    errors: list[BaseException] = []

    def request_b() -> None:
        try:
            with app.app_context():
                answers["b"] = client.post(f"/images/{b}/current").status_code
        except BaseException as exc:
            errors.append(exc)

    thread_b = threading.Thread(target=request_b, daemon=True)
    thread_b.start()
    _wait_for_a_blocked_query()  # B now waits for A
    release.set()
    request_a.finish()
    thread_b.join(WAIT)
    assert not thread_b.is_alive() and not errors, errors
    assert answers["b"] == 303

    db.session.expire_all()
    current = db.session.scalars(
        select(Image.id).where(Image.user_id == pat.id, Image.is_current.is_(True))
    ).all()
    assert current == [b]  # the later request wins, the earlier current one is cleared
    assert first not in current


def _wait_for_a_blocked_query() -> None:
    """Until some other connection waits for a lock (PostgreSQL tells us; no guessing)."""
    with db.engine.connect() as conn:
        for _ in range(WAIT * 20):
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE NOT granted")
            ).scalar_one()
            if waiting:
                return
            conn.execute(text("SELECT pg_sleep(0.05)"))
            conn.commit()
    raise AssertionError("the second request never waited for the first")
