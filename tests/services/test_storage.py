"""Storage backends against real targets: a temp directory and SeaweedFS (tests.peers.seaweed)."""

import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from app.infra.storage import (
    IMMUTABLE_CACHE_CONTROL,
    InvalidStorageKey,
    LocalStorage,
    S3Storage,
    Storage,
    StorageKeyNotFound,
    StorageUnavailable,
    content_hashed_key,
    storage_from_config,
)
from app.services.exceptions import NotFound

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.services)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "media")
    return request.getfixturevalue("s3_storage")


# --- behaviour shared by every backend ---------------------------------------------------------


def test_put_get_exists_delete_round_trip(storage: Storage):
    key = content_hashed_key("originals", PNG, "png")
    assert not storage.exists(key)

    storage.put(key, PNG, "image/png")

    assert storage.exists(key)
    assert storage.get(key) == PNG
    assert storage.content_type(key) == "image/png"
    storage.delete(key)
    assert not storage.exists(key)
    assert storage.content_type(key) is None


def test_get_missing_key_raises_not_found(storage: Storage):
    with pytest.raises(StorageKeyNotFound) as excinfo:
        storage.get("originals/00/missing.png")
    assert isinstance(excinfo.value, NotFound)  # so the app's error handler answers 404


def test_delete_is_idempotent(storage: Storage):
    storage.put("variants/a.webp", b"x", "image/webp")
    storage.delete("variants/a.webp")
    storage.delete("variants/a.webp")
    storage.delete("never/existed.webp")
    assert not storage.exists("variants/a.webp")


def test_put_overwrites(storage: Storage):
    storage.put("avatars/1.png", b"old", "image/png", immutable=False)
    storage.put("avatars/1.png", b"new", "image/jpeg", immutable=False)
    assert storage.get("avatars/1.png") == b"new"
    assert storage.content_type("avatars/1.png") == "image/jpeg"


def test_ping_succeeds(storage: Storage):
    storage.ping()


@pytest.mark.parametrize("key", ["../x", "a/../b", "/etc/passwd", "a//b", ".meta/x", "a\\b", ""])
def test_rejects_unsafe_keys(storage: Storage, key: str):
    with pytest.raises(InvalidStorageKey):
        storage.put(key, b"x", "text/plain")
    with pytest.raises(InvalidStorageKey):
        storage.get(key)


def test_content_hashed_key_deduplicates():
    key = content_hashed_key("originals", PNG, ".PNG")
    digest = key.rsplit("/", 1)[1].removesuffix(".png")

    assert key == f"originals/{digest[:2]}/{digest}.png" and len(digest) == 64
    assert content_hashed_key("originals/", bytes(PNG), "png") == key
    assert content_hashed_key("originals", PNG + b"!", "png") != key
    with pytest.raises(InvalidStorageKey):
        content_hashed_key("originals", PNG, "p/ng")


# --- LocalStorage ------------------------------------------------------------------------------


def test_list_gives_every_key_under_a_prefix_with_its_age(storage: Storage):
    from datetime import UTC, datetime, timedelta

    before = datetime.now(UTC) - timedelta(minutes=5)
    storage.put("variants/ab/one.jpg", b"1", "image/jpeg")
    storage.put("variants/cd/two.jpg", b"2", "image/jpeg")
    storage.put("previews/ab/three.jpg", b"3", "image/jpeg")

    listed = {obj.key: obj.modified for obj in storage.list("variants/")}

    assert set(listed) == {"variants/ab/one.jpg", "variants/cd/two.jpg"}
    assert all(
        before < modified <= datetime.now(UTC) + timedelta(minutes=5)
        for modified in listed.values()
    )
    assert list(storage.list("nothing-here/")) == []


def test_originals_never_get_a_url(storage: Storage):
    storage.put("originals/ab/photo.jpg", b"exif and gps", "image/jpeg")
    with pytest.raises(InvalidStorageKey):
        storage.url("originals/ab/photo.jpg")


def test_exports_never_get_a_url(storage: Storage):
    storage.put("exports/1/2.zip", b"PK a whole account", "application/zip")
    with pytest.raises(InvalidStorageKey):
        storage.url("exports/1/2.zip")


def test_put_file_streams_a_large_file_and_open_reads_it_back_in_chunks(
    storage: Storage, tmp_path: Path
):
    # Over boto3's 8 MB multipart threshold: S3 gets it part by part.
    block = bytes(range(256)) * 4096  # 1 MiB
    source = tmp_path / "big.zip"
    with source.open("wb") as out:
        for n in range(10):
            out.write(bytes([n]) + block[1:])
    with source.open("rb") as stream:
        storage.put_file("exports/7/big.zip", stream, "application/zip", immutable=False)
    assert storage.content_type("exports/7/big.zip") == "application/zip"
    reader = storage.open("exports/7/big.zip")
    try:
        chunks = []
        while chunk := reader.read(1024 * 1024):
            assert len(chunk) <= 1024 * 1024
            chunks.append(chunk)
    finally:
        reader.close()
    assert b"".join(chunks) == source.read_bytes()
    with pytest.raises(StorageKeyNotFound):
        storage.open("exports/7/missing.zip")


def test_local_files_live_under_root_without_leftovers(tmp_path: Path):
    storage = LocalStorage(tmp_path, base_url="/media/")
    storage.put("variants/ab/c.webp", b"data", "image/webp")

    assert (tmp_path / "variants/ab/c.webp").read_bytes() == b"data"
    assert [p.name for p in (tmp_path / "variants/ab").iterdir()] == ["c.webp"]  # no temp files
    assert storage.url("variants/ab/c.webp") == "/media/variants/ab/c.webp"


def test_local_stat_reports_how_to_serve(tmp_path: Path):
    storage = LocalStorage(tmp_path)
    storage.put("originals/a.jpg", b"1", "image/jpeg")
    storage.put("avatars/b.png", b"2", "image/png", immutable=False)
    (tmp_path / "by-hand.gif").write_bytes(b"3")

    assert storage.stat("originals/a.jpg").cache_control == IMMUTABLE_CACHE_CONTROL
    assert storage.stat("avatars/b.png").cache_control == "no-cache"
    assert storage.stat("by-hand.gif").content_type == "image/gif"  # guessed, no sidecar
    with pytest.raises(StorageKeyNotFound):
        storage.stat("originals")  # a directory is not an object


def test_local_stat_refuses_symlinks_out_of_root(tmp_path: Path):
    (tmp_path / "secret.txt").write_text("s")
    root = tmp_path / "media"
    root.mkdir()
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")

    with pytest.raises(StorageKeyNotFound):
        LocalStorage(root).stat("link.txt")


def test_local_ping_fails_when_root_unusable(tmp_path: Path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StorageUnavailable):
        LocalStorage(tmp_path / "file" / "media").ping()


def test_storage_from_config_local(tmp_path: Path):
    storage = storage_from_config({"S3_BUCKET": "", "LOCAL_STORAGE_ROOT": str(tmp_path)})
    assert isinstance(storage, LocalStorage) and storage.root == tmp_path


# --- S3Storage ---------------------------------------------------------------------------------


def test_s3_stores_content_type_and_cache_control(s3_storage: S3Storage):
    s3_storage.put("variants/a.png", PNG, "image/png")
    s3_storage.put("avatars/1.png", PNG, "image/png", immutable=False)

    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key="variants/a.png")
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key="avatars/1.png")
    assert head["CacheControl"] == "no-cache"


def test_s3_presigned_url_serves_the_object(s3_storage: S3Storage):
    s3_storage.put("variants/a.png", PNG, "image/png")

    resp = requests.get(s3_storage.url("variants/a.png"), timeout=10)

    assert resp.status_code == 200
    assert resp.content == PNG
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.headers["Cache-Control"] == IMMUTABLE_CACHE_CONTROL


def test_s3_presigned_url_is_sigv4_with_default_expiry(s3_storage: S3Storage):
    query = dict(parse_qsl(urlsplit(s3_storage.url("variants/a.png")).query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "3600"


def test_s3_presigned_url_expires(s3_storage: S3Storage):
    s3_storage.put("variants/a.png", PNG, "image/png")
    url = s3_storage.url("variants/a.png", expires=1)

    time.sleep(2.5)  # SigV4 timestamps have one-second resolution

    assert requests.get(url, timeout=10).status_code == 403


def test_s3_tampered_signature_is_refused(s3_storage: S3Storage):
    s3_storage.put("variants/a.png", PNG, "image/png")
    parts = urlsplit(s3_storage.url("variants/a.png"))
    query = dict(parse_qsl(parts.query))
    signature = query["X-Amz-Signature"]
    query["X-Amz-Signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]

    resp = requests.get(urlunsplit(parts._replace(query=urlencode(query))), timeout=10)

    assert resp.status_code == 403


def test_s3_objects_are_not_public(s3_storage: S3Storage, s3_server):
    s3_storage.put("variants/a.png", PNG, "image/png")
    url = f"{s3_server.endpoint_url}/{s3_storage.bucket}/variants/a.png"
    assert requests.get(url, timeout=10).status_code == 403


def test_s3_cdn_base_url_gives_plain_urls(s3_server):
    storage = S3Storage(
        "bucket", endpoint_url=s3_server.endpoint_url, cdn_base_url="https://cdn.test/"
    )
    assert storage.url("variants/ab/x.png") == "https://cdn.test/variants/ab/x.png"
    assert storage.url("variants/ab/x.png", expires=5) == "https://cdn.test/variants/ab/x.png"


def test_s3_ping_with_wrong_secret_raises(s3_server, s3_storage: S3Storage):
    storage = S3Storage(
        s3_storage.bucket,
        endpoint_url=s3_server.endpoint_url,
        region=s3_server.region,
        access_key_id=s3_server.access_key_id,
        secret_access_key="wrong-secret",
    )
    with pytest.raises(StorageUnavailable):
        storage.ping()


def test_s3_ping_on_missing_bucket_raises(s3_server):
    storage = S3Storage(
        "no-such-bucket-here",
        endpoint_url=s3_server.endpoint_url,
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
    )
    with pytest.raises(StorageUnavailable):
        storage.ping()


def test_s3_ensure_bucket_is_idempotent(s3_storage: S3Storage):
    s3_storage.ensure_bucket()
    s3_storage.ping()


def test_storage_from_config_s3(s3_settings: dict):
    storage = storage_from_config(s3_settings)

    assert isinstance(storage, S3Storage) and storage.bucket == s3_settings["S3_BUCKET"]
    storage.put("variants/a.png", PNG, "image/png")
    assert storage.get("variants/a.png") == PNG
