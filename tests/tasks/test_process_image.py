"""process_image through a real RQ worker on Redis, with files on the real S3 server."""

import io

import pytest
from PIL import Image as PILImage
from rq.registry import FailedJobRegistry

from app.extensions import db
from app.infra.storage import S3Storage
from app.models import Image, ImageStatus
from app.services.images import keys, library, pipeline, presets
from app.tasks.images import process_image
from tests.images import add_user, avatar_jpeg, banner_jpeg, stored_keys
from tests.unit import images as gen


def _upload(kind: str, data: bytes, email: str = "pat@example.com") -> Image:
    user = add_user(email)
    image, _ = library.create_upload(user.id, kind, data)
    db.session.commit()
    return image


def _reload(image_id: int) -> Image:
    db.session.expire_all()
    return db.session.get(Image, image_id)


def test_job_writes_every_preset_of_the_kind_and_marks_ready(app, run_jobs):
    image_id = _upload("banner", banner_jpeg()).id
    assert run_jobs() == 1

    image = _reload(image_id)
    assert image.status is ImageStatus.READY and image.error is None and image.processed_at
    storage = app.extensions["storage"]
    expected = {p.key: p for p in presets.for_kind("banner")}
    assert {v.preset_key for v in image.variants} == set(expected)
    for variant in image.variants:
        preset = expected[variant.preset_key]
        data = storage.get(variant.storage_key)
        assert variant.storage_key.startswith("variants/") and len(data) == variant.bytes
        assert len(data) <= preset.max_bytes
        with PILImage.open(io.BytesIO(data)) as decoded:
            assert decoded.size == (variant.width, variant.height) == (preset.width, preset.height)
        assert storage.content_type(variant.storage_key) == variant.mime
    # the upright editor copy for the cropper, at most 1600 px on its longest side
    with PILImage.open(io.BytesIO(storage.get(image.preview_key))) as editor:
        assert editor.size == (1600, 622)


def test_running_the_job_again_changes_nothing(app, run_jobs):
    image_id = _upload("avatar", avatar_jpeg()).id
    run_jobs()
    before = {(v.preset_key, v.storage_key) for v in _reload(image_id).variants}
    keys = stored_keys(app)

    process_image(image_id)  # a duplicate delivery
    app.extensions["jobs"].enqueue(process_image, (image_id,))
    assert run_jobs() == 1
    assert {(v.preset_key, v.storage_key) for v in _reload(image_id).variants} == before
    assert stored_keys(app) == keys


def test_new_crop_replaces_variants_and_a_job_deletes_the_old_files(app, run_jobs):
    image_id = _upload("avatar", avatar_jpeg(800)).id
    run_jobs()
    old = {v.preset_key: v.storage_key for v in _reload(image_id).variants}

    library.save_crop(_reload(image_id), {"box": [0, 0, 400, 400], "rotate": 90})
    db.session.commit()
    assert _reload(image_id).status is ImageStatus.UPLOADED
    assert run_jobs() == 2  # the new files, then the job deleting the old ones

    image = _reload(image_id)
    new = {v.preset_key: v.storage_key for v in image.variants}
    assert image.status is ImageStatus.READY and new.keys() == old.keys()
    assert set(new.values()).isdisjoint(old.values())
    keys = stored_keys(app)
    assert set(old.values()).isdisjoint(keys) and set(new.values()) <= keys
    assert image.original_key in keys and image.preview_key in keys


def test_corrupt_original_fails_with_a_readable_error_and_can_be_rerun(app, run_jobs):
    image = _upload("avatar", avatar_jpeg())
    image_id, key = image.id, image.original_key
    storage = app.extensions["storage"]
    good = storage.get(key)
    storage.put(key, good[:2000], "image/jpeg")  # the stored object got damaged
    assert run_jobs() == 1

    failed = _reload(image_id)
    assert failed.status is ImageStatus.FAILED
    assert failed.error == "The image could not be read: the file is truncated or corrupt."
    assert failed.variants == []

    storage.put(key, good, "image/jpeg")
    app.extensions["jobs"].enqueue(process_image, (image_id,))
    assert run_jobs() == 1
    assert _reload(image_id).status is ImageStatus.READY


def test_missing_original_fails_with_a_readable_error(app, run_jobs):
    image = _upload("avatar", avatar_jpeg())
    image_id = image.id
    app.extensions["storage"].delete(image.original_key)  # gone from storage behind our back
    assert run_jobs() == 1
    failed = _reload(image_id)
    assert failed.status is ImageStatus.FAILED
    assert failed.error == "The uploaded file is missing from storage. Upload the image again."


@pytest.mark.services  # an S3 outage and RQ's failed-job registry
def test_storage_outage_fails_the_image_and_keeps_the_job_for_retry(app, run_jobs, s3_server):
    image_id = _upload("avatar", avatar_jpeg()).id
    working = app.extensions["storage"]
    # the same S3 server, but a bucket that is not there: every call errors like an outage
    app.extensions["storage"] = S3Storage(
        "lk-missing-bucket",
        endpoint_url=s3_server.endpoint_url,
        region=s3_server.region,
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
    )
    try:
        assert run_jobs() == 1
    finally:
        app.extensions["storage"] = working

    failed = _reload(image_id)
    assert failed.status is ImageStatus.FAILED
    assert failed.error == library.PROCESSING_FAILED  # readable, no traceback
    queue = app.extensions["jobs"].queue("images")
    assert FailedJobRegistry(queue=queue).count == 1  # kept for the admin's retry button


def test_deleted_image_is_skipped(app, run_jobs):
    image = _upload("avatar", avatar_jpeg())
    library.delete_image(image)
    db.session.commit()
    assert run_jobs() == 2  # the processing job finds nothing to do; the delete job runs
    assert stored_keys(app) == set()


class CropSavedMidway:
    """The real storage, plus a person saving a new crop (in their own session, as a web request
    would) at the moment the worker reads the original: the run that started first is stale."""

    def __init__(self, app, storage, image_id: int, crop: dict):
        self.app, self.inner, self.image_id, self.crop = app, storage, image_id, crop
        self.saved = False

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def get(self, key: str) -> bytes:
        if not self.saved:
            self.saved = True
            with self.app.app_context():  # its own session and transaction
                library.save_crop(db.session.get(Image, self.image_id), self.crop)
                db.session.commit()
        return self.inner.get(key)


def test_crop_saved_while_processing_wins_and_the_stale_run_stores_nothing(app, run_jobs):
    image_id = _upload("avatar", avatar_jpeg(800)).id
    real = app.extensions["storage"]
    app.extensions["storage"] = CropSavedMidway(app, real, image_id, {"box": [0, 0, 300, 300]})
    try:
        assert run_jobs() == 2  # the stale run, then the one the new crop queued
    finally:
        app.extensions["storage"] = real

    image = _reload(image_id)
    assert image.status is ImageStatus.READY and image.revision == 2
    assert image.crop["box"] == {"x": 0, "y": 0, "w": 300, "h": 300}
    expected = {image.original_key, image.preview_key, *(v.storage_key for v in image.variants)}
    assert stored_keys(app) == expected  # nothing left over from the stale run
    # and the files are the new crop's (the pipeline's output is deterministic)
    crop = pipeline.Crop.from_json(image.crop)
    wanted = pipeline.make_variants(real.get(image.original_key), crop, [presets.get("x_avatar")])
    key = keys.owner_key_for("variants", image.user_id, wanted[0].data, "jpg")
    assert image.variant("x_avatar").storage_key == key


def test_heic_upload_gets_a_jpeg_editor_copy_browsers_can_show(app, run_jobs):
    heic = gen.encode(gen.photo(900, 600, seed=8), "HEIF", quality=80)
    image = _upload("avatar", heic)
    assert image.original_key.endswith(".heic") and image.mime == "image/heif"
    image_id = image.id
    assert run_jobs() == 1

    image = _reload(image_id)
    storage = app.extensions["storage"]
    assert image.status is ImageStatus.READY
    assert storage.content_type(image.preview_key) == "image/jpeg"
    with PILImage.open(io.BytesIO(storage.get(image.preview_key))) as editor:
        assert (editor.format, editor.size) == ("JPEG", (900, 600))
    assert {v.format for v in image.variants} <= {"jpeg", "png"}
