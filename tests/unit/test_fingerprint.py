"""Perceptual fingerprints: a platform's re-encoded, resized copy of our picture is the same
picture; another picture, or ours recoloured or flattened, is not."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.services.exceptions import InvalidImage
from app.services.images.fingerprint import fingerprint, same_picture, thumbnail
from tests.unit import images as gen


def reencoded(data: bytes, size: tuple[int, int], quality: int = 60, fmt: str = "JPEG") -> bytes:
    im = Image.open(io.BytesIO(data)).convert("RGB").resize(size, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    im.save(out, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return out.getvalue()


OURS = gen.jpeg(gen.photo(800, 800, seed=1))


@pytest.mark.parametrize(
    "copy",
    [
        reencoded(OURS, (400, 400)),  # Mastodon's avatar size, low quality
        reencoded(OURS, (1000, 1000), quality=85),  # scaled up
        reencoded(OURS, (128, 128), fmt="PNG"),  # another format, tiny
        reencoded(reencoded(OURS, (400, 400)), (300, 300), quality=50),  # twice over
    ],
    ids=["quality-60-400px", "upscaled", "tiny-png", "twice"],
)
def test_the_platforms_copy_of_our_picture_is_the_same_picture(copy):
    assert same_picture(fingerprint(OURS), fingerprint(copy))


@pytest.mark.parametrize("seed", [2, 3, 4, 5, 6])
def test_another_picture_is_not(seed):
    other = gen.jpeg(gen.photo(800, 800, seed=seed))
    assert not same_picture(fingerprint(OURS), fingerprint(reencoded(other, (400, 400))))


def test_flat_pictures_of_different_colours_differ():
    red = gen.png(Image.new("RGB", (400, 400), (200, 30, 30)))
    blue = gen.png(Image.new("RGB", (400, 400), (30, 30, 200)))
    assert same_picture(fingerprint(red), fingerprint(red))
    assert not same_picture(fingerprint(red), fingerprint(blue))


def test_a_missing_or_foreign_fingerprint_never_matches():
    ours = fingerprint(OURS)
    assert not same_picture(ours, None)
    assert not same_picture(ours, "nonsense")


def test_what_is_not_an_image_is_refused():
    with pytest.raises(InvalidImage):
        fingerprint(b"<html>not found</html>")


def test_the_thumbnail_is_a_small_jpeg():
    thumb = Image.open(io.BytesIO(thumbnail(gen.jpeg(gen.photo(1500, 500, seed=3)))))
    assert thumb.format == "JPEG" and max(thumb.size) <= 240 and thumb.size[0] > thumb.size[1]
