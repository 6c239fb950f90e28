"""Upload fixtures for the image feature tests: good files, hostile files, and storage helpers."""

from __future__ import annotations

from app.extensions import db
from app.models import User
from tests.unit import images as gen

SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="800" height="800">'
    b'<script>alert(1)</script><rect width="800" height="800" fill="red"/></svg>'
)
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)


def avatar_jpeg(size: int = 600, seed: int = 1) -> bytes:
    return gen.jpeg(gen.photo(size, size, seed=seed))


def banner_jpeg(width: int = 1800, height: int = 700, seed: int = 3) -> bytes:
    return gen.jpeg(gen.photo(width, height, seed=seed))


def truncated_jpeg() -> bytes:
    data = avatar_jpeg(800, seed=7)
    return data[: len(data) // 2]


def bomb() -> bytes:
    """A valid PNG header declaring 100 000 × 100 000 pixels in a few hundred bytes."""
    return gen.png_bomb_header()


# Refused by the header checks in the upload request itself.
HOSTILE = {
    "decompression bomb": (bomb(), "bomb.png", "image/png"),
    "svg": (SVG, "avatar.jpg", "image/jpeg"),  # lies about its type: only the bytes count
    "pdf": (PDF, "avatar.png", "image/png"),
    "empty file": (b"", "empty.jpg", "image/jpeg"),
}
# The reason a person reads for each (a fragment of the message).
HOSTILE_REASONS = {
    "decompression bomb": "million pixels",
    "svg": "not a supported image",
    "pdf": "not a supported image",
    "empty file": "empty",
}
# A valid header over damaged pixels: only a full decode finds out, which the request never
# does; the job fails the image with this reason.
CORRUPT_REASON = "The image could not be read: the file is truncated or corrupt."


def gps_jpeg(size: int = 600) -> bytes:
    """A photo carrying EXIF with a GPS position and a camera serial number."""
    import io

    from PIL import Image as PILImage

    exif = PILImage.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0xA431] = "SERIAL-12345"  # BodySerialNumber
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 26.0), 3: "W", 4: (0.0, 7.0, 39.0)}  # GPS
    out = io.BytesIO()
    gen.photo(size, size, seed=11).save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def add_user(email: str = "pat@example.com") -> User:
    user = User(email=email, name=email.split("@")[0].title())
    db.session.add(user)
    db.session.commit()
    return user


def stored_keys(app) -> set[str]:
    """Every object in the app's storage (S3 bucket or local directory)."""
    storage = app.extensions["storage"]
    client = getattr(storage, "client", None)
    if client is not None:
        keys: set[str] = set()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket):
            keys.update(obj["Key"] for obj in page.get("Contents", []))
        return keys
    root = storage.root
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not str(p.relative_to(root)).startswith(".")
    }
