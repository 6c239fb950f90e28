"""Test-image generators (pure Pillow, deterministic); also used by bench/pipeline.py."""

from __future__ import annotations

import io
import random
import struct

from PIL import Image, ImageDraw, ImageFilter

# Display P3 primaries adapted to D50, as in Apple's "Display P3" profile.
_P3_COLORANTS = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
_D50 = (0.9642, 1.0, 0.8249)


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz_tag(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def p3_profile(gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 matrix/TRC profile with Display-P3-like primaries (not sRGB)."""
    text = b"Linkarooie test P3"
    desc = (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(text) + 1)
        + text
        + b"\0"
        + b"\0" * 8
        + b"\0\0\0"
        + b"\0" * 67
    )
    trc = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [
        (b"desc", desc),
        (b"cprt", b"text\0\0\0\0public domain\0"),
        (b"wtpt", _xyz_tag(_D50)),
        (b"rXYZ", _xyz_tag(_P3_COLORANTS[0])),
        (b"gXYZ", _xyz_tag(_P3_COLORANTS[1])),
        (b"bXYZ", _xyz_tag(_P3_COLORANTS[2])),
        (b"rTRC", trc),
        (b"gTRC", trc),
        (b"bTRC", trc),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, blob = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(blob), len(data))
        blob += data
    size = offset + len(blob)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + b"".join(_s15(v) for v in _D50)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + blob


def photo(width: int, height: int, seed: int = 1, grain: float = 0.3) -> Image.Image:
    """RGB image that compresses like a photo: smooth colour fields, hard shapes, grain."""
    rnd = random.Random(seed)
    small = Image.frombytes("RGB", (12, 8), rnd.randbytes(12 * 8 * 3))
    img = small.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rnd.randrange(width), rnd.randrange(height)
        r = rnd.randrange(width // 40, width // 6)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        if rnd.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            pts = [(x + rnd.randrange(-r, r), y + rnd.randrange(-r, r)) for _ in range(5)]
            draw.polygon(pts, fill=colour)
    # medium-frequency texture (foliage-like) plus fine grain
    tw, th = max(1, width // 6), max(1, height // 6)
    texture = Image.frombytes("L", (tw, th), rnd.randbytes(tw * th))
    texture = texture.resize((width, height), Image.Resampling.BICUBIC)
    grain_img = Image.frombytes("L", (width, height), rnd.randbytes(width * height))
    mixed = Image.blend(texture, grain_img, 0.35).filter(ImageFilter.BoxBlur(0.4))
    return Image.blend(img, Image.merge("RGB", (mixed, mixed, mixed)), grain)


def noise(width: int, height: int, seed: int = 2) -> Image.Image:
    """Worst case for JPEG: per-pixel RGB noise."""
    rnd = random.Random(seed)
    return Image.frombytes("RGB", (width, height), rnd.randbytes(width * height * 3))


def quadrants(width: int = 400, height: int = 300) -> Image.Image:
    """Upright reference: red top-left, green top-right, blue bottom-left, white bottom-right."""
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    w2, h2 = width // 2, height // 2
    draw.rectangle((0, 0, w2 - 1, h2 - 1), fill=(255, 0, 0))
    draw.rectangle((w2, 0, width - 1, h2 - 1), fill=(0, 255, 0))
    draw.rectangle((0, h2, w2 - 1, height - 1), fill=(0, 0, 255))
    return img


# The stored pixels for EXIF orientation n are the upright image with the inverse of the
# operation a viewer applies (Pillow's ImageOps.exif_transpose table).
_T = Image.Transpose
STORE_FOR_ORIENTATION = {
    1: None,
    2: _T.FLIP_LEFT_RIGHT,
    3: _T.ROTATE_180,
    4: _T.FLIP_TOP_BOTTOM,
    5: _T.TRANSPOSE,
    6: _T.ROTATE_90,
    7: _T.TRANSVERSE,
    8: _T.ROTATE_270,
}


def exif_bytes(orientation: int = 1, gps: bool = False) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"  # Make
    if gps:
        exif[0x8825] = {1: "N", 2: (52.0, 22.0, 5.5), 3: "E", 4: (4.0, 53.0, 12.0)}
    return exif.tobytes()


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def jpeg(img: Image.Image, quality: int = 92, **params) -> bytes:
    return encode(img, "JPEG", quality=quality, **params)


def png(img: Image.Image, **params) -> bytes:
    return encode(img, "PNG", **params)


def rotated_jpeg(orientation: int, width: int = 400, height: int = 300) -> bytes:
    """JPEG whose stored pixels need `orientation` to show `quadrants(width, height)`."""
    op = STORE_FOR_ORIENTATION[orientation]
    img = quadrants(width, height)
    stored = img.transpose(op) if op is not None else img
    return jpeg(stored, quality=95, exif=exif_bytes(orientation))


def png_bomb_header(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG that declares a huge canvas but carries almost no data."""
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
