"""Perceptual fingerprints: whether two files show the same picture, after a platform has
re-encoded and resized what we sent (the drift watch compares what a platform shows with what we
pushed, and platforms never keep our bytes as they were).

A fingerprint is a difference hash (dHash: 64 bits saying, on a 9×8 grey thumbnail, whether
each pixel is brighter than its right neighbour), which survives re-encoding and resizing but is
blind to colour and to flat pictures, plus the average colour of a 4×4 grid, which catches a
recoloured or plain replacement. Written with Pillow rather than the `imagehash` package, which
would pull numpy, scipy and PyWavelets into the web image for a few lines of arithmetic.
"""

from __future__ import annotations

import io

from PIL import Image

from app.services.images.pipeline import MAX_PIXELS, _open

HASH_SIZE = 8
GRID = 4
# Re-encoding at low quality and resizing flips a few of the 64 bits; another picture flips
# about half of them.
MAX_BITS = 10
# Mean difference per colour channel (0–255) over the grid; JPEG at quality 60 stays far below.
MAX_COLOUR = 24
THUMB_SIZE = (240, 240)


def fingerprint(data: bytes) -> str:
    """`<16 hex dHash>:<96 hex grid colours>`; InvalidImage for anything Pillow cannot read."""
    im, _ = _open(data, MAX_PIXELS)
    with im:
        # JPEG decodes straight to a small scale, so a large picture costs little.
        im.draft("RGB", (HASH_SIZE * 8, HASH_SIZE * 8))
        rgb = im.convert("RGB")
    grey = rgb.convert("L").resize((HASH_SIZE + 1, HASH_SIZE), Image.Resampling.LANCZOS)
    pixels = grey.tobytes()  # one byte per pixel, row by row
    bits = 0
    for row in range(HASH_SIZE):
        for col in range(HASH_SIZE):
            left = pixels[row * (HASH_SIZE + 1) + col]
            right = pixels[row * (HASH_SIZE + 1) + col + 1]
            bits = (bits << 1) | (left > right)
    grid = rgb.resize((GRID, GRID), Image.Resampling.BOX)
    colours = grid.tobytes()  # R, G, B per cell
    return f"{bits:016x}:{colours.hex()}"


def differs(a: str, b: str) -> tuple[int, float]:
    """(dHash bits that differ, mean colour difference per channel)."""
    hash_a, colours_a = a.split(":")
    hash_b, colours_b = b.split(":")
    bits = (int(hash_a, 16) ^ int(hash_b, 16)).bit_count()
    pairs = zip(bytes.fromhex(colours_a), bytes.fromhex(colours_b), strict=True)
    colour = sum(abs(x - y) for x, y in pairs) / (GRID * GRID * 3)
    return bits, colour


def same_picture(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    try:
        bits, colour = differs(a, b)
    except ValueError:  # a fingerprint from another version of this module
        return False
    return bits <= MAX_BITS and colour <= MAX_COLOUR


def thumbnail(data: bytes) -> bytes:
    """A small JPEG of `data`, to show beside ours (the platform's own URL is not ours to embed)."""
    im, _ = _open(data, MAX_PIXELS)
    with im:
        im.draft("RGB", THUMB_SIZE)
        rgb = im.convert("RGB")
    rgb.thumbnail(THUMB_SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=85)
    return out.getvalue()
