"""Resampling for the image pipeline, in libvips: the same Lanczos-3 as Pillow's, ~2.5x faster.

Pillow's Lanczos (~1 ns per tap) was ~60 % of the pipeline's CPU; libvips' vectorised reduce does
the same filter, widened by the ratio (no box shrink first, whatever the ratio), at well under
half the cost. Pictures move between the two as packed bytes: into libvips once (the region, a
band of rows at a time), out once per output (to encode it). Each call runs on one libvips
thread: the pipeline's own pool puts the passes on every core, so libvips adds none of its own.

libvips cannot run in a process forked after it ran in the parent (its idle threads do not
survive the fork, and the child waits for them forever). RQ's worker forks a fresh child per job
from a parent that never renders, which is fine; anything else that would is refused, not hung.
"""

from __future__ import annotations

import math
import os

import pyvips
from PIL import Image

from app.services.images.decode import Rect

BANDS = {"RGB": 3, "RGBa": 4}

pyvips.concurrency_set(1)  # one thread per call: the pipeline's pool runs calls side by side
# libvips' operation cache would keep the last pictures (and the upload's pixels) alive in a
# long-running worker; nothing here repeats an operation, so it would never hit anyway
pyvips.cache_set_max(0)

_state = {"used": False, "stale": False}


def _after_fork_in_child() -> None:
    _state["stale"] = _state["used"]


os.register_at_fork(after_in_child=_after_fork_in_child)


def check_usable() -> None:
    """Refuse to start in a child forked after libvips ran here: it would hang, not fail."""
    if _state["stale"]:
        raise RuntimeError(
            "libvips already ran in the process this one was forked from and cannot run here; "
            "render images in a process that forks before rendering (RQ's work horse), or in a "
            "fresh one"
        )
    _state["used"] = True


def to_vips(img: Image.Image, area: tuple[int, int, int, int] | None = None) -> pyvips.Image:
    """`img` (or only its `area`) as a libvips picture in memory."""
    if area is not None and area != (0, 0, *img.size):
        img = img.crop(area)
    data = img.tobytes()
    return pyvips.Image.new_from_memory(data, img.width, img.height, BANDS[img.mode], "uchar")


class Rows:
    """An RGB picture for libvips, filled a band of rows at a time (from any thread)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.data = bytearray(width * height * 3)

    def put(self, top: int, band: Image.Image) -> None:
        start = top * self.width * 3
        self.data[start : start + band.width * band.height * 3] = band.tobytes()

    def image(self) -> pyvips.Image:
        return pyvips.Image.new_from_memory(self.data, self.width, self.height, 3, "uchar")


def to_pillow(pic: pyvips.Image, mode: str) -> Image.Image:
    return Image.frombuffer(mode, (pic.width, pic.height), pic.write_to_memory(), "raw", mode, 0, 1)


def resize(src: pyvips.Image, size: tuple[int, int], sub: Rect) -> pyvips.Image:
    """`sub` of `src` (fractional source pixels) at exactly `size`, Lanczos-3, computed now.

    libvips' reduce has no sub-pixel offset: it samples from the picture's first pixel. So the
    area starts a few output pixels early, at the whole source pixel where the output grid
    falls (nearly) on the one wanted, and those output pixels are cut off again (see _place).
    Half a source pixel off would cost more quality than all the other shortcuts together."""
    x0, y0, x1, y1 = sub
    w, h = size
    if abs(x1 - x0 - w) < 0.5 and abs(y1 - y0 - h) < 0.5:  # 1:1: a plain crop is exact
        left, top = round(x0), round(y0)
        return _exact(src.crop(left, top, min(w, src.width - left), min(h, src.height - top)), w, h)
    sx, sy = (x1 - x0) / w, (y1 - y0) / h
    left, width, skip_x = _place(x0, x1, sx, w)
    top, height, skip_y = _place(y0, y1, sy, h)
    if left < 0 or top < 0 or left + width > src.width or top + height > src.height:
        # repeat the edge pixels (computed only where read), as the filter needs taps there
        src = src.embed(EDGE, EDGE, src.width + 2 * EDGE, src.height + 2 * EDGE, extend="copy")
        left, top = left + EDGE, top + EDGE
    area = src.crop(left, top, width, height)
    out = area.resize(1 / sx, vscale=1 / sy, kernel="lanczos3", gap=0.0)
    return _exact(
        out.crop(skip_x, skip_y, min(w, out.width - skip_x), min(h, out.height - skip_y)), w, h
    )


EDGE = 128  # source pixels a resize may read beyond an edge (the edge pixel, repeated)
_SEARCH = 16  # output pixels a resize may start early, and source pixels it may read in excess


def margin(scale: float) -> int:
    """Source pixels `resize` may read around its area, at most (taps and the search below)."""
    return math.ceil((_SEARCH + 5) * max(scale, 1.0)) + 2


def _place(start: float, end: float, scale: float, size: int) -> tuple[int, int, int]:
    """(first, count, skip): resize `count` source pixels from `first` to get `size` outputs,
    after `skip` more, sampling (within a hundredth of a pixel if possible) where Pillow's
    resize of `start`..`end` would.

    libvips makes round(count / scale) outputs and lines up the centres of the input and the
    output, so output pixel j samples at first + (count - n * scale) / 2 + (j + 0.5) * scale.
    Pillow samples at start + (j + 0.5) * scale; both conditions are met by whole numbers only
    for some counts and skips, found by trying a few."""
    least = math.ceil(end + 4 * scale) - math.floor(start)  # the taps past the last output
    best = (2.0, math.floor(start), least, 0)
    for count in range(least, least + _SEARCH):
        n = round(count / scale)
        if abs(count / scale - n) > 0.49:  # libvips might round the other way
            continue
        for skip in range(min(_SEARCH, n - size + 1)):
            # first + count / 2 = start + (n / 2 - skip) * scale, first a whole number
            first_f = start + (n / 2 - skip) * scale - count / 2
            first = round(first_f)
            err = abs(first_f - first)
            if err < best[0] and first >= -EDGE // 2 and first + count >= end:
                best = (err, first, count, skip)
                if err < 0.01:
                    return best[1:]
    return best[1:]


def _exact(pic: pyvips.Image, w: int, h: int) -> pyvips.Image:
    """Cut to `size`, or repeat the last pixels when the source was a pixel short."""
    if pic.width < w or pic.height < h:
        pic = pic.embed(0, 0, max(w, pic.width), max(h, pic.height), extend="copy")
    if (pic.width, pic.height) != (w, h):
        pic = pic.crop(0, 0, w, h)
    return pic.copy_memory()
