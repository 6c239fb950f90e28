"""Decoding for the image pipeline: upright, as small as the outputs allow, and early.

Pure Pillow, no Flask. The JPEG decode is the one step that cannot be split between threads
(~65 ms for 24 MP at 1/2 DCT scale, ~70 ms for 12 MP at full scale), so the usual photo
(an upright RGB JPEG) is handed over undecoded: `render` decodes it on the calling thread and the
other threads start on the rows already decoded (colour conversion, the first resizes) meanwhile.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import IO

from PIL import Image, ImageCms

from app.services.images.presets import Preset

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1
Progress = Callable[[int], None]  # told how many rows of the region are decoded so far

MARGIN = 16  # pixels kept around the presets' boxes when the area is cut out

_T = Image.Transpose
ORIENT = {
    2: [_T.FLIP_LEFT_RIGHT],
    3: [_T.ROTATE_180],
    4: [_T.FLIP_TOP_BOTTOM],
    5: [_T.TRANSPOSE],
    6: [_T.ROTATE_270],
    7: [_T.TRANSVERSE],
    8: [_T.ROTATE_90],
}
ROTATE = {90: [_T.ROTATE_270], 180: [_T.ROTATE_180], 270: [_T.ROTATE_90]}  # clockwise
_SWAPS = {_T.ROTATE_90, _T.ROTATE_270, _T.TRANSPOSE, _T.TRANSVERSE}


def orientation(im: Image.Image) -> int:
    value = im.getexif().get(0x0112, 1)
    return value if value in ORIENT else 1


@dataclass
class Region:
    """The decoded pixels some preset uses, upright."""

    image: Image.Image  # RGB, RGBA, L or CMYK; may be the whole decoded frame
    boxes: dict[str, Rect]  # each preset's box in `image` pixels
    icc: bytes | None  # the embedded colour profile
    # set when `image` is not decoded yet: decodes it, reporting the rows done as they come
    # (rows only ever grow, top to bottom); `image` must not be read past them before it returns
    decode: Callable[[Progress], None] | None = None


def decode_region(
    im: Image.Image, fmt: str, rotate: int, boxes: Mapping[str, Rect], presets: Sequence[Preset]
) -> Region:
    """Decode as small as the outputs allow, keep only the area some preset uses, upright.
    `boxes` are in full-size pixels of the upright, rotated picture."""
    ops = ORIENT.get(orientation(im), []) + ROTATE.get(rotate, [])
    swapped = sum(op in _SWAPS for op in ops) % 2 == 1
    full_w, full_h = im.size[::-1] if swapped else im.size
    if fmt == "jpeg":  # libjpeg scales the DCT down almost for free
        slack = min(
            min((boxes[p.key][2] - boxes[p.key][0]) / p.width,
                (boxes[p.key][3] - boxes[p.key][1]) / p.height)
            for p in presets
        )  # fmt: skip
        factor = next((f for f in (8, 4, 2) if f <= slack), 1)
        if factor > 1:
            im.draft(im.mode, (im.width // factor, im.height // factor))
    width, height = im.size[::-1] if swapped else im.size
    sx, sy = width / full_w, height / full_h
    rects = {k: (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for k, b in boxes.items()}
    icc = im.info.get("icc_profile") or None
    if not ops and im.mode == "RGB" and "transparency" not in im.info:
        # the usual photo: work in the decoded frame itself, no copy of the area
        rects = {k: (r[0], r[1], min(r[2], width), min(r[3], height)) for k, r in rects.items()}
        if fmt == "jpeg":
            return _while_decoding(im, rects, icc)
        im.load()
        return Region(im, rects, icc)
    im.load()
    icc = im.info.get("icc_profile") or icc
    # cut the area out of the stored picture (with a margin for the filters and padding), then
    # turn only that upright
    x0 = max(0, math.floor(min(r[0] for r in rects.values())) - MARGIN)
    y0 = max(0, math.floor(min(r[1] for r in rects.values())) - MARGIN)
    x1 = min(width, math.ceil(max(r[2] for r in rects.values())) + MARGIN)
    y1 = min(height, math.ceil(max(r[3] for r in rects.values())) + MARGIN)
    image = im.crop(_unturn((x0, y0, x1, y1), ops, im.size))
    for op in ops:
        image = image.transpose(op)
    w, h = image.size
    rects = {
        k: (r[0] - x0, r[1] - y0, min(r[2] - x0, w), min(r[3] - y0, h)) for k, r in rects.items()
    }
    return Region(normalise(image), rects, icc)


def _while_decoding(im: Image.Image, rects: dict[str, Rect], icc: bytes | None) -> Region:
    """A region whose pixels are the JPEG decoder's own frame, filled as `decode` runs.

    Pillow decodes from its file object a block at a time, so a file that reports before each
    block how far the frame is filled gives the rows done. The frame starts zeroed (Pillow
    allocates new images cleared) and libjpeg writes whole rows in order, so a row with a
    non-zero pixel, and every row above it, is decoded; a black row only delays the report."""
    im.load_prepare()  # the frame, cleared; the decoder writes into this very one
    frame = im.im
    view = im._new(frame)  # a plain image on the same pixels: reading it never re-enters load()
    view.info = {}
    step = max(1, im.width // 16)

    def decode(progress: Progress) -> None:
        done = [0]

        def rows_done() -> None:
            y = done[0]
            while y < im.height and any(
                frame.getpixel((x, min(im.height - 1, y + 7))) != (0, 0, 0)
                for x in range(0, im.width, step)
            ):
                y = min(im.height, y + 8)  # libjpeg emits rows 8 (scaled: fewer) at a time
            if y > done[0]:
                done[0] = y
                progress(y)

        im.fp = _Reporting(im.fp, rows_done)
        im.load()
        progress(im.height)

    return Region(view, rects, icc, decode)


class _Reporting:
    """The upload's file, calling `before_read` each time the decoder asks for more."""

    def __init__(self, fp: IO[bytes], before_read: Callable[[], None]) -> None:
        self._fp, self._before_read = fp, before_read

    def read(self, size: int = -1) -> bytes:
        self._before_read()
        return self._fp.read(size)

    def __getattr__(self, name: str):
        return getattr(self._fp, name)


def _unturn(rect: tuple[int, int, int, int], ops: list[_T], size: tuple[int, int]):
    """The stored picture's rectangle that `ops` (applied in order) turn into `rect`."""
    sizes = [size]
    for op in ops:
        sizes.append(sizes[-1][::-1] if op in _SWAPS else sizes[-1])
    x0, y0, x1, y1 = rect
    for op, (w, h) in zip(reversed(ops), reversed(sizes[:-1]), strict=True):
        if op == _T.FLIP_LEFT_RIGHT:
            x0, x1 = w - x1, w - x0
        elif op == _T.FLIP_TOP_BOTTOM:
            y0, y1 = h - y1, h - y0
        elif op == _T.ROTATE_180:
            x0, y0, x1, y1 = w - x1, h - y1, w - x0, h - y0
        elif op == _T.ROTATE_90:  # counter-clockwise: (x, y) -> (y, w - x)
            x0, y0, x1, y1 = w - y1, x0, w - y0, x1
        elif op == _T.ROTATE_270:  # clockwise: (x, y) -> (h - y, x)
            x0, y0, x1, y1 = y0, h - x1, y1, h - x0
        elif op == _T.TRANSPOSE:  # (x, y) -> (y, x)
            x0, y0, x1, y1 = y0, x0, y1, x1
        else:  # TRANSVERSE: (x, y) -> (h - y, w - x)
            x0, y0, x1, y1 = w - y1, h - x1, w - y0, h - x0
    return x0, y0, x1, y1


def normalise(im: Image.Image) -> Image.Image:
    """Any decoded mode -> RGB, RGBA, L or CMYK (what lcms and the resizer take)."""
    if im.mode.startswith("I"):  # 16-bit grey: scale to 8 bits rather than clip
        im = im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if im.mode in ("RGB", "L", "CMYK") and "transparency" not in im.info:
        return im
    return im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")


@lru_cache(maxsize=16)
def srgb_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """Built once per profile. None when the profile already is sRGB or does not fit the pixels."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(profile).lower().replace(" ", ""):
            return None
        out = "RGBA" if mode == "RGBA" else "RGB"
        return ImageCms.buildTransform(profile, ImageCms.createProfile("sRGB"), mode, out)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None  # a broken profile is no reason to refuse the photo
