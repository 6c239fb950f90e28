"""GET /media/<key>: LocalStorage files served by the app (development and the embedded profile)."""

import pytest

from app.infra.storage import IMMUTABLE_CACHE_CONTROL, LocalStorage, content_hashed_key

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def test_serves_stored_bytes_with_headers(client, local_storage: LocalStorage):
    key = content_hashed_key("variants", PNG, "png")
    local_storage.put(key, PNG, "image/png")

    resp = client.get(local_storage.url(key))

    assert resp.status_code == 200
    assert resp.data == PNG
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.headers["Cache-Control"] == IMMUTABLE_CACHE_CONTROL
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["ETag"]


def test_if_none_match_answers_304(client, local_storage: LocalStorage):
    key = content_hashed_key("variants", PNG, "png")
    local_storage.put(key, PNG, "image/png")
    etag = client.get(f"/media/{key}").headers["ETag"]

    resp = client.get(f"/media/{key}", headers={"If-None-Match": etag})

    assert resp.status_code == 304
    assert resp.data == b""
    assert resp.headers["Cache-Control"] == IMMUTABLE_CACHE_CONTROL


def test_mutable_keys_must_revalidate(client, local_storage: LocalStorage):
    local_storage.put("avatars/7.webp", b"RIFF", "image/webp", immutable=False)

    resp = client.get("/media/avatars/7.webp")

    assert resp.headers["Content-Type"] == "image/webp"
    assert resp.headers["Cache-Control"] == "no-cache"


def test_missing_key_is_404(client, local_storage: LocalStorage):
    assert client.get("/media/originals/00/nothing.png").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/media/../secret.txt",
        "/media/%2e%2e/secret.txt",
        "/media/originals/../../secret.txt",
        "/media/..%2fsecret.txt",
        "/media/.meta/secret.txt.json",
    ],
)
def test_traversal_is_404(client, local_storage: LocalStorage, path: str):
    # a real file right next to the storage root, which a traversal would reach
    (local_storage.root.parent / "secret.txt").write_text("do not serve")
    local_storage.put("x.txt", b"x", "text/plain")  # so root and .meta exist

    resp = client.get(path)

    assert resp.status_code == 404
    assert b"do not serve" not in resp.data


@pytest.mark.services  # S3 is the storage that is not local
def test_404_when_storage_is_not_local(client, app):
    storage = app.extensions["storage"]  # S3 (SeaweedFS) in the test config
    assert not isinstance(storage, LocalStorage)
    storage.put("originals/a.png", PNG, "image/png")

    assert client.get("/media/originals/a.png").status_code == 404
