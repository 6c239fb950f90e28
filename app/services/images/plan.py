"""Planning for the image pipeline: which picture each output is resampled from, from geometry.

Pure Python, no pixels. What resampling costs on one core: Lanczos ~0.9 ns per pixel per filter
tap, and the taps grow with the ratio, so the source size is what costs. Hence each output is cut
from the smallest larger picture that holds its crop (see `plan`), and a resize that is a large
share of all the work is split into bands that run on different threads (see `bands`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from app.services.images.decode import Rect
from app.services.images.presets import Preset

FILTER = Image.Resampling.LANCZOS  # every pass: the sharpest of Pillow's antialiasing filters
SUPPORT = 3.0  # its radius in source pixels at 1:1, widened by the ratio when shrinking
REDUCING_GAP = 2.0  # box-reduce first when the ratio is at least twice this, as Pillow does
MIN_RATIO = 2.0  # a source this much larger than the output may itself be a derived output
PAD = 4  # pixels a picture may grow by to hold another preset's box


@dataclass
class Step:
    """One picture made by one resampling pass (or a plain crop); the presets in `presets` are
    encoded from it, and later steps may be cut from it."""

    presets: list[Preset]
    size: tuple[int, int]  # the picture's size: the presets' size, plus any padding
    box: Rect  # the region area the picture shows
    mode: str  # "RGB", or premultiplied "RGBa" for transparent PNGs
    parent: int | None  # the step it is cut from; None = the region
    sub: Rect  # source rectangle in the parent's (or the region's) pixels
    soft: int  # passes 1-2x since the region (each one softens the finest detail a little)
    view: tuple[int, int, int, int] = (0, 0, 0, 0)  # the presets' pixels in the picture
    children: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.view == (0, 0, 0, 0):
            self.view = (0, 0, *self.size)

    @property
    def is_crop(self) -> bool:
        """1:1 with its source: a plain crop, no resampling."""
        x0, y0, x1, y1 = self.sub
        return abs(x1 - x0 - self.size[0]) < 0.5 and abs(y1 - y0 - self.size[1]) < 0.5

    def ratio(self) -> float:
        x0, y0, x1, y1 = self.sub
        return min((x1 - x0) / self.size[0], (y1 - y0) / self.size[1])

    def cost(self) -> float:
        x0, y0, x1, y1 = self.sub
        return resize_cost(x1 - x0, y1 - y0, *self.size)


def _taps(ratio: float) -> int:
    return 2 * math.ceil(SUPPORT * max(ratio, 1.0)) + 1


def resize_cost(src_w: float, src_h: float, out_w: int, out_h: int) -> float:
    """Filter taps Pillow computes: a horizontal pass over every source row the box spans, then
    a vertical pass, the kernels widened by the ratio; a box reduce() first for large ratios."""
    if abs(src_w - out_w) < 0.5 and abs(src_h - out_h) < 0.5:
        return 0.0
    kx = max(1, int(src_w / out_w / REDUCING_GAP))
    ky = max(1, int(src_h / out_h / REDUCING_GAP))
    cost = src_w * src_h / 2 if kx * ky > 1 else 0.0
    src_w, src_h = src_w / kx, src_h / ky
    return cost + _taps(src_w / out_w) * out_w * src_h + _taps(src_h / out_h) * out_w * out_h


def plan(jobs: Sequence[tuple[Preset, Rect, str]], bounds: tuple[int, int]) -> list[Step]:
    """Pick each output's cheapest source, largest output first, from geometry alone.

    A source is the region or an earlier picture that holds the box: an output at least
    MIN_RATIO times larger is as good as the region, since the last pass filters out everything
    the earlier one could have left. A source only 1-2x larger adds a second, visible pass
    over fine detail, so that is allowed once in a chain from the region, never twice.
    A picture made straight from the region may grow by up to PAD pixels (outside its presets'
    view) to hold a box it nearly holds: a 1640x924 cover comes out of the 2560x1440 banner.
    `bounds` is the region image's size, which no picture may exceed.
    """
    steps: list[Step] = []
    for preset, box, mode in sorted(jobs, key=lambda j: -j[0].width * j[0].height):
        size = (preset.width, preset.height)
        best, best_cost = None, resize_cost(box[2] - box[0], box[3] - box[1], *size)
        sub, pad = box, (0, 0, 0, 0)
        for i, s in enumerate(steps):
            if s.mode != mode or s.ratio() < 0.999:  # an enlarged picture holds no more detail
                continue
            sx, sy = s.size[0] / (s.box[2] - s.box[0]), s.size[1] / (s.box[3] - s.box[1])
            r = ((box[0] - s.box[0]) * sx, (box[1] - s.box[1]) * sy,
                 (box[2] - s.box[0]) * sx, (box[3] - s.box[1]) * sy)  # fmt: skip
            view = s.view
            if size == (view[2] - view[0], view[3] - view[1]) and all(
                abs(a - b) < 0.01 for a, b in zip(r, view, strict=True)
            ):
                s.presets.append(preset)  # same crop, same size: share the pixels
                break
            grow = (
                math.ceil(-r[0] - 0.01) if r[0] < -0.01 else 0,
                math.ceil(-r[1] - 0.01) if r[1] < -0.01 else 0,
                math.ceil(r[2] - s.size[0] - 0.01) if r[2] > s.size[0] + 0.01 else 0,
                math.ceil(r[3] - s.size[1] - 0.01) if r[3] > s.size[1] + 0.01 else 0,
            )
            if any(grow) and (
                s.parent is not None
                or max(grow) > PAD
                or s.box[0] - grow[0] / sx < 0
                or s.box[1] - grow[1] / sy < 0
                or s.box[2] + grow[2] / sx > bounds[0]
                or s.box[3] + grow[3] / sy > bounds[1]
            ):
                continue
            ratio = min((r[2] - r[0]) / size[0], (r[3] - r[1]) / size[1])
            if ratio < MIN_RATIO and (ratio < 0.999 or s.soft):
                continue
            cost = resize_cost(r[2] - r[0], r[3] - r[1], *size)
            if cost < best_cost:
                best, best_cost, sub, pad = i, cost, r, grow
        else:
            if best is not None:
                if any(pad):
                    _pad(steps, best, pad)
                    sub = (sub[0] + pad[0], sub[1] + pad[1], sub[2] + pad[0], sub[3] + pad[1])
                w, h = steps[best].size
                sub = (max(0.0, sub[0]), max(0.0, sub[1]), min(sub[2], w), min(sub[3], h))
            step = Step([preset], size, box, mode, best, sub, 0)
            if best is not None:
                soft = step.ratio() < MIN_RATIO and not step.is_crop
                step.soft = steps[best].soft + soft
            steps.append(step)
            if best is not None:
                steps[best].children.append(len(steps) - 1)
    return steps


def _pad(steps: list[Step], i: int, grow: tuple[int, int, int, int]) -> None:
    """Grow picture i (made straight from the region) by whole pixels on each side; its
    presets keep their pixels, as a view inside it."""
    s = steps[i]
    sx, sy = s.size[0] / (s.box[2] - s.box[0]), s.size[1] / (s.box[3] - s.box[1])
    left, top, right, bottom = grow
    x0, y0, x1, y1 = s.box
    s.box = s.sub = (x0 - left / sx, y0 - top / sy, x1 + right / sx, y1 + bottom / sy)
    s.size = (s.size[0] + left + right, s.size[1] + top + bottom)
    v = s.view
    s.view = (v[0] + left, v[1] + top, v[2] + left, v[3] + top)
    for c in s.children:
        x0, y0, x1, y1 = steps[c].sub
        steps[c].sub = (x0 + left, y0 + top, x1 + left, y1 + top)
