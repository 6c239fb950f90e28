"""Decoding and resampling for the image pipeline: one decode, one colour conversion, every size.

Pure Pillow, no Flask. What it costs on one core (24 MP JPEG, all 25 presets): the JPEG decode at
1/2 DCT scale ~50 ms per call whatever else happens; lcms ~12 ns per pixel; Lanczos ~0.9 ns per
pixel per filter tap (the taps grow with the ratio, so the source size is what costs); a baseline
JPEG encode ~2.5 ns per pixel. Hence:
- decode once, at the smallest DCT scale the largest output allows; work in the decoded frame
  itself unless it has to be turned upright;
- convert colours on the fewer pixels: the area the outputs read, or the pictures made straight
  from it (the others are then cut from those);
- cut each output from the smallest larger picture that holds its crop (see `plan`);
- run the passes and encodings as tasks on every thread, longest remaining work first: Pillow
  releases the GIL while decoding, resampling, in lcms and while encoding into a real file.
"""

from __future__ import annotations

import functools
import heapq
import io
import itertools
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image, ImageCms

from app.services.images.encode import choose_format, encode, flatten
from app.services.images.presets import Preset

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1
Encoded = tuple[bytes, int, int, str]  # data, width, height, format

FILTER = Image.Resampling.LANCZOS  # every pass: the sharpest of Pillow's antialiasing filters
SUPPORT = 3.0  # its radius in source pixels at 1:1, widened by the ratio when shrinking
REDUCING_GAP = 2.0  # box-reduce first when the ratio is at least twice this, as Pillow does
MIN_RATIO = 1.5  # a source this much larger than the output may itself be a derived output
PAD = 4  # pixels a picture may grow by to hold another preset's box
MARGIN = 16  # pixels kept around the presets' boxes when the area is cut out
BAND_COST = 12e6  # filter taps worth splitting a resize into bands, one task each

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


# --- decode -------------------------------------------------------------------------------------


@dataclass
class Region:
    """The decoded pixels some preset uses, upright."""

    image: Image.Image  # RGB, RGBA, L or CMYK; may be the whole decoded frame
    boxes: dict[str, Rect]  # each preset's box in `image` pixels
    icc: bytes | None  # the embedded colour profile


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
    im.load()
    icc = im.info.get("icc_profile") or None
    if not ops and im.mode == "RGB" and "transparency" not in im.info:
        # the usual photo: work in the decoded frame itself, no copy of the area
        rects = {k: (r[0], r[1], min(r[2], width), min(r[3], height)) for k, r in rects.items()}
        return Region(im, rects, icc)
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


# --- plan ---------------------------------------------------------------------------------------


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
    soft: int  # passes 1-1.5x since the region (each one softens the finest detail a little)
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
    the earlier one could have left. A source only 1-1.5x larger adds a second, visible pass
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


def _bands(step: Step, total: float) -> list[tuple[int, int]]:
    """Output rows per task: a resize that is a large share of all the work is split in two, so
    that both cores make it, neither waits for it alone, and pictures cut from it start sooner.
    Splitting costs little but not nothing, so nothing else is. The split depends on the
    geometry only: the bytes do not depend on the number of threads."""
    x0, y0, x1, y1 = step.sub
    w, h = step.size
    if (
        step.cost() < max(BAND_COST, total / 6)
        or h < 64
        or (y1 - y0) / h >= 2 * REDUCING_GAP  # reduce() first: its grid must not move per band
        or (x1 - x0) / w >= 2 * REDUCING_GAP
    ):
        return [(0, h)]
    return [(0, h // 2), (h // 2, h)]


# --- render -------------------------------------------------------------------------------------


class _Pool:
    """Runs queued tasks on `threads` threads, the calling one included; tasks may queue more.
    The task with the longest work still behind it runs first (critical path first)."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.cond = threading.Condition()
        self.queue: list[tuple[float, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.running = 0
        self.error: BaseException | None = None

    def submit(self, fn: Callable[[], None], priority: float = 0.0) -> None:
        with self.cond:
            heapq.heappush(self.queue, (-priority, next(self.order), fn))
            self.cond.notify()

    def run(self) -> None:
        """Until every queued task (and what they queue) is done; re-raises the first error."""
        self.error = None
        helpers = [threading.Thread(target=self._work) for _ in range(self.threads - 1)]
        for t in helpers:
            t.start()
        self._work()
        for t in helpers:
            t.join()
        if self.error is not None:
            raise self.error

    def _work(self) -> None:
        while True:
            with self.cond:
                while not self.queue and self.running and self.error is None:
                    self.cond.wait()
                if self.error is not None or not self.queue:
                    self.cond.notify_all()
                    return
                fn = heapq.heappop(self.queue)[2]
                self.running += 1
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by run()
                with self.cond:
                    self.error = self.error or exc
            finally:
                with self.cond:
                    self.running -= 1
                    self.cond.notify_all()


# rough costs in filter taps (~0.9 ns each), to schedule the longest work first
_ICC_COST = 13.0  # per pixel
_ENCODE_COST = {"png": 60.0, "jpeg": 3.0, "webp": 30.0}  # per pixel, first try


def render(decoded: Region, presets: Sequence[Preset], threads: int) -> dict[str, Encoded]:
    """Every preset from the region: sRGB, no metadata, exact size, under its cap."""
    region, boxes, icc = decoded.image, decoded.boxes, decoded.icc
    transparent = region.mode == "RGBA" and region.getextrema()[3][0] < 255
    if region.mode == "RGBA" and not transparent:
        region = region.convert("RGB")
    transform = srgb_transform(icc, region.mode) if icc else None
    formats = {p.key: choose_format(p, transparent) for p in presets}
    steps = plan(
        [
            (p, boxes[p.key], "RGBa" if formats[p.key] == "png" and transparent else "RGB")
            for p in presets
        ],
        region.size,
    )
    # lcms costs ~12 ns/pixel: convert the region, or only the outputs cut straight from it
    # when they are smaller (avatars: one square, many sizes, the largest ~1/3 of the region)
    area = _read_area(steps, region.size)
    late = (
        transform is not None
        and region.mode == "RGB"
        and sum(s.size[0] * s.size[1] for s in steps if s.parent is None)
        < (area[2] - area[0]) * (area[3] - area[1])
    )
    pool = _Pool(threads)
    if transform is not None and not late:
        region = _to_srgb(region, area, transform, pool)
    region = region.convert("RGB") if region.mode in ("L", "CMYK") else region
    region.info = {}  # nothing from the upload (EXIF, GPS, XMP, ICC) reaches an output
    sources = {"RGB": region}
    if transparent:  # JPEGs get the alpha flattened on white; PNGs resize premultiplied
        sources = {
            m: flatten(region) if m == "RGB" else region.convert(m) for m in {s.mode for s in steps}
        }
    del region  # only `sources` is needed from here on

    total = sum(s.cost() for s in steps)
    bands = [_bands(s, total) for s in steps]
    encode_cost = [
        sum(_ENCODE_COST.get(f, 30.0) for f in {formats[p.key] for p in s.presets})
        * s.size[0] * s.size[1]
        for s in steps
    ]  # fmt: skip
    below = [0.0] * len(steps)  # the longest chain of work a step's band starts
    for i in reversed(range(len(steps))):
        s = steps[i]
        own = s.cost() / len(bands[i])
        if late and s.parent is None:
            own += _ICC_COST * s.size[0] * s.size[1] / len(bands[i])
        below[i] = own + max([encode_cost[i], *(below[c] for c in s.children)])
    pictures: list[Image.Image | None] = [None] * len(steps)
    users = [len(s.children) + 1 for s in steps]  # a picture is freed once nothing needs it
    out: dict[str, Encoded] = {}
    lock = threading.Lock()

    def release(i: int) -> None:
        with lock:
            users[i] -= 1
            if not users[i]:
                pictures[i] = None

    def start(i: int) -> None:
        s = steps[i]
        src = sources[s.mode] if s.parent is None else pictures[s.parent]
        # bands are resampled straight into the picture, each by its own task
        whole = Image.new(src.mode, s.size, None) if len(bands[i]) > 1 else None
        left = [len(bands[i])]

        def band(b: int) -> None:
            top, bottom = bands[i][b]
            x0, y0, x1, y1 = s.sub
            if s.is_crop:
                x, y = round(x0), round(y0)  # 1:1, a plain crop is exact
                img = src.crop((x, y + top, x + s.size[0], y + bottom))
            else:
                sy = (y1 - y0) / s.size[1]
                img = src.resize(
                    (s.size[0], bottom - top),
                    FILTER,
                    box=(x0, y0 + top * sy, x1, y0 + bottom * sy) if whole is not None else s.sub,
                    reducing_gap=REDUCING_GAP,
                )
            if late and s.parent is None:
                ImageCms.applyTransform(img, transform, inPlace=True)
                img.info.clear()  # lcms tags its output with the sRGB profile
            if whole is not None:
                whole.paste(img, (0, top))
            with lock:
                left[0] -= 1
                if left[0]:
                    return
            done(i, img if whole is None else whole)

        for b in range(len(bands[i])):
            pool.submit(functools.partial(band, b), below[i])

    def done(i: int, img: Image.Image) -> None:
        pictures[i] = img
        if steps[i].parent is not None:
            release(steps[i].parent)
        for c in steps[i].children:
            start(c)
        pool.submit(functools.partial(finish, i), encode_cost[i])

    def finish(i: int) -> None:
        img = pictures[i]
        if steps[i].view != (0, 0, *img.size):
            img = img.crop(steps[i].view)
        img = img.convert("RGBA") if img.mode == "RGBa" else img
        memo: dict[str, bytes] = {}
        for p in steps[i].presets:
            data, fmt, final = encode(img, formats[p.key], p, memo)
            with lock:
                out[p.key] = (data, final.width, final.height, fmt)
        release(i)

    for i, s in enumerate(steps):
        if s.parent is None:
            start(i)
    pool.run()
    return out


def _read_area(steps: list[Step], bounds: tuple[int, int]) -> tuple[int, int, int, int]:
    """The region pixels the pictures made straight from it read, filter taps included."""
    x0, y0, x1, y1 = bounds[0], bounds[1], 0, 0
    for s in steps:
        if s.parent is None:
            reach = 0 if s.is_crop else math.ceil(SUPPORT * s.ratio()) + 2
            x0, y0 = min(x0, math.floor(s.sub[0]) - reach), min(y0, math.floor(s.sub[1]) - reach)
            x1, y1 = max(x1, math.ceil(s.sub[2]) + reach), max(y1, math.ceil(s.sub[3]) + reach)
    return max(0, x0), max(0, y0), min(bounds[0], x1), min(bounds[1], y1)


def _stack(parts: list[Image.Image], size: tuple[int, int]) -> Image.Image:
    if len(parts) == 1:
        return parts[0]
    img = Image.new(parts[0].mode, size, None)  # no fill
    top = 0
    for part in parts:
        img.paste(part, (0, top))
        top += part.height
    return img


def _to_srgb(
    img: Image.Image,
    area: tuple[int, int, int, int],
    transform: ImageCms.ImageCmsTransform,
    pool: _Pool,
) -> Image.Image:
    """Convert `area` in bands of rows on every thread (lcms itself is single-threaded), in
    place when the mode stays the same: outside `area` the pixels are left as they are. Grey
    and CMYK pictures become a new RGB picture, whole."""
    same = transform.input_mode == transform.output_mode
    x0, y0, x1, y1 = area if same else (0, 0, *img.size)
    n = min(y1 - y0, 2 * max(1, round((x1 - x0) * (y1 - y0) / 1e6)))  # even: cores end together
    tops = [y0 + (y1 - y0) * i // n for i in range(n + 1)]
    parts: list[Image.Image | None] = [None] * n

    def band(b: int) -> None:
        crop = img.crop((x0, tops[b], x1, tops[b + 1]))
        if same:
            ImageCms.applyTransform(crop, transform, inPlace=True)
            img.paste(crop, (x0, tops[b]))
        else:
            parts[b] = ImageCms.applyTransform(crop, transform)

    for b in range(n):
        pool.submit(functools.partial(band, b))
    pool.run()
    out = img if same else _stack(parts, img.size)
    out.info = {}
    return out
