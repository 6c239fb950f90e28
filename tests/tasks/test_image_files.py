"""Stored image files are removed only by jobs, and only once no row needs them."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.jobs import enqueue
from app.models import Image
from app.services.images import library
from app.tasks.images import sweep_orphaned_files
from tests.images import add_user, avatar_jpeg, stored_keys


def _processed_image(app, run_jobs) -> set[str]:
    image, _ = library.create_upload(add_user().id, "avatar", avatar_jpeg(seed=41))
    db.session.commit()
    image_id = image.id
    run_jobs()
    image = db.session.get(Image, image_id)
    return {image.original_key, image.preview_key, *(v.storage_key for v in image.variants)}


@pytest.mark.parametrize("backend", ["s3", "local"])
def test_the_sweep_deletes_old_unreferenced_files_and_nothing_else(app, run_jobs, request, backend):
    if backend == "local":
        request.getfixturevalue("local_storage")
    used = _processed_image(app, run_jobs)
    storage = app.extensions["storage"]
    # left behind by a crashed request or a lost delete job; and one outside the image area
    orphans = {"originals/aa/crashed-upload.jpg", "variants/bb/lost.jpg", "previews/cc/old.jpg"}
    for key in orphans:
        storage.put(key, b"orphan", "image/jpeg")
    storage.put("exports/report.csv", b"not ours", "text/csv")

    # by default young files are left alone: an upload may be stored and not yet committed
    enqueue("sweep_orphaned_files")
    assert run_jobs() == 1
    assert stored_keys(app) == used | orphans | {"exports/report.csv"}

    assert sweep_orphaned_files(0) == len(orphans)  # no grace: every orphan is old enough
    assert stored_keys(app) == used | {"exports/report.csv"}


def test_a_delete_job_keeps_a_file_a_new_row_uses_again(app, run_jobs):
    user = add_user()
    data = avatar_jpeg(seed=42)
    image, _ = library.create_upload(user.id, "avatar", data)
    db.session.commit()
    key = image.original_key
    library.delete_image(image)
    db.session.commit()  # the delete job is queued, not yet run
    again, created = library.create_upload(user.id, "avatar", data)  # uploaded again meanwhile
    db.session.commit()
    assert created and again.original_key == key

    run_jobs()  # the delete job re-checks and keeps it; the new row is processed
    assert key in stored_keys(app)
    assert app.extensions["storage"].get(key) == data
