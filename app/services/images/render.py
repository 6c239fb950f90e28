"""Rendering for the image pipeline: one colour conversion, every size, on every thread.

Pillow for colours and encoding, libvips (resample.py) for the passes; no Flask. What it costs on
one core (24 MP JPEG, all 25 presets): lcms ~12-15 ns per pixel; a baseline JPEG encode ~2.5 ns
per pixel; Lanczos in libvips ~0.4 ns per pixel per filter tap (Pillow's: ~1 ns). Hence:
- convert colours on the fewer pixels: the area the outputs read, or the pictures made straight
  from it (the others are then cut from those);
- run the passes and encodings as tasks on every thread, longest remaining work first: Pillow
  and libvips release the GIL while decoding, resampling, in lcms and while encoding;
- while the calling thread decodes the upload, the others already convert the rows decoded so
  far to sRGB (a task that reads the region waits only for the rows it reads).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Sequence

import pyvips
from PIL import Image, ImageCms

from app.services.images import resample
from app.services.images.decode import Region, srgb_transform
from app.services.images.encode import choose_format, encode, flatten
from app.services.images.plan import Step, plan
from app.services.images.presets import Preset
from app.services.images.workers import Gate, Pool

Encoded = tuple[bytes, int, int, str]  # data, width, height, format


# rough costs in filter taps (~0.9 ns each), to schedule the longest work first
_ICC_COST = 13.0  # per pixel
_ENCODE_COST = {"png": 60.0, "jpeg": 3.0, "webp": 30.0}  # per pixel, first try


def render(decoded: Region, presets: Sequence[Preset], threads: int) -> dict[str, Encoded]:
    """Every preset from the region: sRGB, no metadata, exact size, under its cap. Decodes
    the region first if it is not yet, on this thread, while the others start on it."""
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
    pool, rows = Pool(threads), region.height
    gate = Gate(pool, 0 if decoded.decode else rows)

    encode_cost = [
        sum(_ENCODE_COST.get(f, 30.0) for f in {formats[p.key] for p in s.presets})
        * s.size[0] * s.size[1]
        for s in steps
    ]  # fmt: skip
    below = [0.0] * len(steps)  # the longest chain of work a step starts
    for i in reversed(range(len(steps))):
        s = steps[i]
        own = s.cost()
        if late and s.parent is None:
            own += _ICC_COST * s.size[0] * s.size[1]
        below[i] = own + max([encode_cost[i], *(below[c] for c in s.children)])
    sources: dict[str, pyvips.Image] = {}
    pictures: list[pyvips.Image | None] = [None] * len(steps)
    users = [len(s.children) + 1 for s in steps]  # a picture is freed once nothing needs it
    out: dict[str, Encoded] = {}
    lock = threading.Lock()

    def begin(img: Image.Image) -> None:
        """The region is in sRGB (but for pixels converted late): start the pictures."""
        img = img.convert("RGB") if img.mode in ("L", "CMYK") else img
        img.info = {}  # nothing from the upload (EXIF, GPS, XMP, ICC) reaches an output
        picked = {"RGB": img}
        if transparent:  # JPEGs get the alpha flattened on white; PNGs resize premultiplied
            picked = {
                m: flatten(img) if m == "RGB" else img.convert(m) for m in {s.mode for s in steps}
            }
        begin_vips({m: resample.to_vips(v, area) for m, v in picked.items()})

    def begin_vips(pics: dict[str, pyvips.Image]) -> None:
        sources.update(pics)
        for i, s in enumerate(steps):
            if s.parent is None:
                start(i)

    def release(i: int) -> None:
        with lock:
            users[i] -= 1
            if not users[i]:
                pictures[i] = None

    def start(i: int) -> None:
        s = steps[i]
        src = sources[s.mode] if s.parent is None else pictures[s.parent]
        x0, y0, x1, y1 = s.sub
        if s.parent is None:  # the region's copy in libvips starts at the read area's corner
            x0, y0, x1, y1 = x0 - area[0], y0 - area[1], x1 - area[0], y1 - area[1]

        def task() -> None:
            pic = resample.resize(src, s.size, (x0, y0, x1, y1))
            if late and s.parent is None:
                img = resample.to_pillow(pic, s.mode)
                ImageCms.applyTransform(img, transform, inPlace=True)
                pic = resample.to_vips(img)
            done(i, pic)

        pool.submit(task, below[i])

    def done(i: int, img: pyvips.Image) -> None:
        pictures[i] = img
        if steps[i].parent is not None:
            release(steps[i].parent)
        for c in steps[i].children:
            start(c)
        pool.submit(functools.partial(finish, i), encode_cost[i])

    def finish(i: int) -> None:
        pic, (x0, y0, x1, y1) = pictures[i], steps[i].view
        if (x0, y0, x1, y1) != (0, 0, pic.width, pic.height):
            pic = pic.crop(x0, y0, x1 - x0, y1 - y0)
        img = resample.to_pillow(pic, steps[i].mode)
        img = img.convert("RGBA") if img.mode == "RGBa" else img
        memo: dict[str, bytes] = {}
        for p in steps[i].presets:
            data, fmt, final = encode(img, formats[p.key], p, memo)
            with lock:
                out[p.key] = (data, final.width, final.height, fmt)
        release(i)

    first = max(below, default=0.0) + _ICC_COST * (area[2] - area[0]) * (area[3] - area[1])
    if region.mode == "RGB" and not transparent:
        # the usual photo: each band of rows goes to libvips (in sRGB unless converted late)
        # as soon as it is decoded, on whichever thread is free
        _to_vips(region, area, None if late else transform, gate, first, begin_vips)
    elif transform is not None and not late:
        _to_srgb(region, area, transform, gate, first, begin)
    else:  # begin once the region is decoded
        gate.submit(functools.partial(begin, region), rows, first)
    del region  # only `sources` is needed from here on
    pool.run(functools.partial(decoded.decode, gate.progress) if decoded.decode else None)
    return out


def _read_area(steps: list[Step], bounds: tuple[int, int]) -> tuple[int, int, int, int]:
    """The region pixels the pictures made straight from it read, filter taps included."""
    x0, y0, x1, y1 = bounds[0], bounds[1], 0, 0
    for s in steps:
        if s.parent is None:
            taps = 0 if s.is_crop else resample.margin(s.ratio())
            x0, y0 = min(x0, math.floor(s.sub[0]) - taps), min(y0, math.floor(s.sub[1]) - taps)
            x1, y1 = max(x1, math.ceil(s.sub[2]) + taps), max(y1, math.ceil(s.sub[3]) + taps)
    return max(0, x0), max(0, y0), min(bounds[0], x1), min(bounds[1], y1)


def _to_vips(
    img: Image.Image,
    area: tuple[int, int, int, int],
    transform: ImageCms.ImageCmsTransform | None,
    gate: Gate,
    priority: float,
    then: Callable[[dict[str, pyvips.Image]], None],
) -> None:
    """`area` of the RGB picture `img` into libvips, in bands of rows on every thread, each as
    soon as its rows are decoded, converted to sRGB on the way when `transform` is given.
    `then` gets the libvips picture once every band is in."""
    x0, y0, x1, y1 = area
    n = min(y1 - y0, 2 * max(1, round((x1 - x0) * (y1 - y0) / 1e6)))  # even: cores end together
    tops = [y0 + (y1 - y0) * i // n for i in range(n + 1)]
    rows = resample.Rows(x1 - x0, y1 - y0)
    left = [n]
    lock = threading.Lock()

    def band(b: int) -> None:
        crop = img.crop((x0, tops[b], x1, tops[b + 1]))
        if transform is not None:
            ImageCms.applyTransform(crop, transform, inPlace=True)
        rows.put(tops[b] - y0, crop)
        with lock:
            left[0] -= 1
            if left[0]:
                return
        then({"RGB": rows.image()})

    for b in range(n):
        gate.submit(functools.partial(band, b), tops[b + 1], priority)


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
    gate: Gate,
    priority: float,
    then: Callable[[Image.Image], None],
) -> None:
    """Convert `area` in bands of rows on every thread (lcms itself is single-threaded), each
    band as soon as its rows are decoded, in place when the mode stays the same: outside `area`
    the pixels are left as they are. Grey and CMYK pictures become a new RGB picture, whole.
    `then` gets the converted picture once every band is done."""
    same = transform.input_mode == transform.output_mode
    x0, y0, x1, y1 = area if same else (0, 0, *img.size)
    n = min(y1 - y0, 2 * max(1, round((x1 - x0) * (y1 - y0) / 1e6)))  # even: cores end together
    tops = [y0 + (y1 - y0) * i // n for i in range(n + 1)]
    parts: list[Image.Image | None] = [None] * n
    left = [n]
    lock = threading.Lock()

    def band(b: int) -> None:
        crop = img.crop((x0, tops[b], x1, tops[b + 1]))
        if same:
            ImageCms.applyTransform(crop, transform, inPlace=True)
            img.paste(crop, (x0, tops[b]))
        else:
            parts[b] = ImageCms.applyTransform(crop, transform)
        with lock:
            left[0] -= 1
            if left[0]:
                return
        out = img if same else _stack(parts, img.size)
        out.info = {}
        then(out)

    for b in range(n):
        gate.submit(functools.partial(band, b), tops[b + 1], priority)
