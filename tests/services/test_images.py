"""The images service on real Postgres, Redis and S3 (SeaweedFS): what is stored, shared, freed."""

import hashlib

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Image, ImageKind, ImageStatus
from app.services.exceptions import Conflict, DomainError, InvalidImage, NotFound
from app.services.images import library
from app.tasks.images import process_image
from tests.conftest import empty_queues, queued_jobs
from tests.images import HOSTILE, HOSTILE_REASONS, add_user, avatar_jpeg, banner_jpeg, stored_keys


def _queued(app) -> int:
    return queued_jobs(app, process_image.queue_name)


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Image))


def test_upload_stores_original_under_an_owner_key_and_queues_processing(app):
    user = add_user()
    data = avatar_jpeg()
    image, created = library.create_upload(user.id, "avatar", data, "me.jpg")
    assert _queued(app) == 0  # only once the row is committed
    db.session.commit()

    digest = hashlib.sha256(data).hexdigest()
    assert created and image.sha256 == digest
    assert image.original_key.startswith("originals/") and image.original_key.endswith(".jpg")
    assert digest not in image.original_key  # not derivable from the bytes alone
    assert (image.kind, image.status, image.width, image.height, image.format, image.bytes) == (
        ImageKind.AVATAR,
        ImageStatus.UPLOADED,
        600,
        600,
        "jpeg",
        len(data),
    )
    assert image.is_current  # the first avatar is the one in use
    storage = app.extensions["storage"]
    assert storage.get(image.original_key) == data
    assert storage.content_type(image.original_key) == "image/jpeg"
    assert _queued(app) == 1


def test_same_bytes_twice_gives_the_existing_image_and_one_object(app):
    pat, sam = add_user("pat@example.com"), add_user("sam@example.com")
    data = avatar_jpeg()
    first, _ = library.create_upload(pat.id, "avatar", data)
    db.session.commit()
    again, created = library.create_upload(pat.id, "avatar", data)
    db.session.commit()
    assert not created and again.id == first.id and _count() == 1

    other, created = library.create_upload(sam.id, "avatar", data)  # another person: own row
    as_banner, _ = library.create_upload(pat.id, "banner", banner_jpeg())
    db.session.commit()
    # dedupe stops at the owner: sam's copy is a separate object under a key only sam's row knows
    assert created and other.id != first.id and other.original_key != first.original_key
    assert stored_keys(app) == {first.original_key, other.original_key, as_banner.original_key}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_invalid_uploads_raise_a_readable_reason_and_store_nothing(app, name):
    user = add_user()
    data, filename, _ = HOSTILE[name]
    with pytest.raises(InvalidImage, match=HOSTILE_REASONS[name]) as caught:
        library.create_upload(user.id, "avatar", data, filename)
    assert 400 <= caught.value.status < 500
    db.session.rollback()
    assert _count() == 0 and stored_keys(app) == set() and _queued(app) == 0


def test_minimum_size_depends_on_the_kind(app):
    user = add_user()
    with pytest.raises(InvalidImage, match="at least 200×200"):
        library.create_upload(user.id, "avatar", avatar_jpeg(150))
    with pytest.raises(InvalidImage, match="at least 1000 pixels wide"):
        library.create_upload(user.id, "banner", avatar_jpeg(600))
    with pytest.raises(DomainError, match="avatar or a banner") as caught:
        library.create_upload(user.id, "wallpaper", avatar_jpeg())
    assert caught.value.status == 400
    assert stored_keys(app) == set()


def test_pixel_limit_comes_from_config(app, monkeypatch):
    user = add_user()
    monkeypatch.setitem(app.config, "MAX_IMAGE_PIXELS", 300_000)
    with pytest.raises(InvalidImage, match="0.3 million pixels"):
        library.create_upload(user.id, "avatar", avatar_jpeg(600))


def square(size: int = 1200) -> bytes:
    return avatar_jpeg(size, seed=5)  # big enough to be an avatar and a banner


def test_delete_keeps_objects_another_row_of_the_owner_still_uses(app, run_jobs):
    pat = add_user("pat@example.com")
    data = square()
    avatar, _ = library.create_upload(pat.id, "avatar", data)
    banner, _ = library.create_upload(pat.id, "banner", data)
    db.session.commit()
    key, avatar_id, banner_id = avatar.original_key, avatar.id, banner.id
    assert banner.original_key == key  # one object for one person's two rows
    run_jobs()  # make the variants; each row has its own
    keys_before = stored_keys(app)

    library.delete_image(db.session.get(Image, avatar_id))
    db.session.commit()
    assert stored_keys(app) == keys_before  # nothing goes in the request: a job deletes
    assert run_jobs() == 1
    left = stored_keys(app)
    banner = db.session.get(Image, banner_id)
    assert key in left  # the banner still uses it
    assert left == {key, banner.preview_key, *(v.storage_key for v in banner.variants)}

    library.delete_image(banner)
    db.session.commit()
    assert run_jobs() == 1
    assert stored_keys(app) == set() and _count() == 0


def test_rolled_back_delete_keeps_the_file_and_queues_nothing(app):
    user = add_user()
    image, _ = library.create_upload(user.id, "avatar", avatar_jpeg())
    db.session.commit()
    empty_queues(app)
    library.delete_image(image)
    db.session.rollback()
    assert stored_keys(app) == {image.original_key} and _count() == 1 and _queued(app) == 0


def test_set_current_moves_the_pointer_within_one_kind(app):
    user = add_user()
    first, _ = library.create_upload(user.id, "avatar", avatar_jpeg(seed=1))
    second, _ = library.create_upload(user.id, "avatar", avatar_jpeg(seed=2))
    banner, _ = library.create_upload(user.id, "banner", banner_jpeg())
    db.session.commit()
    assert first.is_current and not second.is_current and banner.is_current

    library.set_current(second)
    db.session.commit()
    db.session.expire_all()
    assert not first.is_current and second.is_current and banner.is_current

    second.status = ImageStatus.FAILED
    with pytest.raises(Conflict):
        library.set_current(second)


def test_save_crop_validates_and_queues_a_new_revision(app):
    user = add_user()
    image, _ = library.create_upload(user.id, "banner", banner_jpeg())
    db.session.commit()
    empty_queues(app)

    for bad in (
        {"box": {"x": 5000, "y": 0, "w": 10, "h": 10}},
        {"box": "nope"},
        {"rotate": 45},
        {"overrides": {"x_avatar": [0, 0, 10, 10]}},
    ):
        with pytest.raises(DomainError) as caught:
            library.save_crop(image, bad)
        assert caught.value.status == 422, bad
    db.session.rollback()

    crop = {"box": [100, 50, 900, 400], "overrides": {"youtube_banner": [0, 0, 1600, 900]}}
    library.save_crop(image, crop)
    db.session.commit()
    assert image.revision == 2 and image.status is ImageStatus.UPLOADED
    assert image.crop["box"] == {"x": 100, "y": 50, "w": 900, "h": 400}
    assert _queued(app) == 1


@pytest.mark.parametrize("change", ["save_crop", "set_current"])
def test_changing_an_image_deleted_meanwhile_is_a_404_not_a_crash(app, change):
    user = add_user()
    library.create_upload(user.id, "avatar", avatar_jpeg(seed=1))
    image, _ = library.create_upload(user.id, "avatar", avatar_jpeg(seed=2))
    db.session.commit()
    image_id = image.id
    stale = db.session.get(Image, image_id)
    assert stale.width  # this request has read the row
    with app.app_context():  # another tab deletes it, in its own session
        library.delete_image(db.session.get(Image, image_id))
        db.session.commit()

    with pytest.raises(NotFound):
        if change == "save_crop":
            library.save_crop(stale, {"box": [0, 0, 100, 100]})
        else:
            library.set_current(stale)
