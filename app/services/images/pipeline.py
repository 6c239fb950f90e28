"""Image pipeline: check an upload, then turn it into every preset's file. Bytes in, bytes out.

Pillow (+ pillow-heif for HEIC), libvips for resampling: no Flask, no database. Decoder failures
surface as InvalidImage, so callers only ever handle DomainError. This module is the API:
validation and the crop model. decode decodes, plan picks each output's source, render resamples
on every thread, encode picks each format and keeps each file under its cap.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pillow_heif
from PIL import Image

from app.services.exceptions import DomainError, InvalidImage, UnsupportedImageFormat
from app.services.images import resample
from app.services.images.decode import decode_region, orientation
from app.services.images.encode import (  # noqa: F401 - part of this module's API
    QUALITY_FLOOR,
    QUALITY_STEPS,
    START_QUALITY,
)
from app.services.images.presets import Preset
from app.services.images.render import render

pillow_heif.register_heif_opener()

MIME = {fmt: f"image/{fmt}" for fmt in ("jpeg", "png", "webp", "gif", "heif", "avif")}
ACCEPTED = "JPEG, PNG, WebP, GIF, HEIC/HEIF or AVIF"
MIN_SIZE = {"avatar": (200, 200), "banner": (1000, 1)}
MAX_PIXELS = 50_000_000
THREADS = min(2, os.cpu_count() or 1)
CORRUPT = "The image could not be read: the file is truncated or corrupt."
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"}


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    mime: str


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @classmethod
    def from_json(cls, data: Any) -> Box:
        """Accepts {"x", "y", "w", "h"}, Cropper.js's {"x", "y", "width", "height"} or a list."""
        try:
            if isinstance(data, dict):
                data = [data["x"], data["y"], data.get("w", data.get("width")),
                        data.get("h", data.get("height"))]  # fmt: skip
            vals = [float(v) for v in data]
            box = cls(*vals)
        except (TypeError, ValueError, KeyError) as exc:
            raise _bad_crop(f"Invalid crop box: {data!r}") from exc
        if not all(map(math.isfinite, vals)) or box.w <= 0 or box.h <= 0:
            raise _bad_crop(f"Invalid crop box: {data!r}")
        return box

    def to_json(self) -> dict[str, float]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}


@dataclass(frozen=True)
class Crop:
    """The user's choice, in pixels of the picture the cropper shows: after EXIF orientation
    and after `rotate` (degrees clockwise). Avatars: `box` is the square. Banners: `box` is the
    focal area each banner preset derives its own crop from. None = centred, as large as fits."""

    box: Box | None = None
    rotate: int = 0
    overrides: dict[str, Box] = field(default_factory=dict)  # preset key -> its own box

    def __post_init__(self) -> None:
        if not isinstance(self.rotate, int) or self.rotate % 90:
            raise _bad_crop("Rotation must be a multiple of 90 degrees.")
        object.__setattr__(self, "rotate", self.rotate % 360)

    @classmethod
    def from_json(cls, data: dict | None) -> Crop:
        data = data or {}
        overrides, rotate = data.get("overrides") or {}, data.get("rotate") or 0
        if not isinstance(overrides, dict):
            raise _bad_crop("Crop overrides must be an object.")
        if isinstance(rotate, float) and rotate.is_integer():
            rotate = int(rotate)
        box = None if data.get("box") is None else Box.from_json(data["box"])
        return cls(box, rotate, {str(k): Box.from_json(v) for k, v in overrides.items()})

    def to_json(self) -> dict[str, Any]:
        return {
            "box": self.box.to_json() if self.box else None,
            "rotate": self.rotate,
            "overrides": {k: v.to_json() for k, v in self.overrides.items()},
        }


@dataclass
class Variant:
    preset_key: str
    data: bytes
    width: int
    height: int
    format: str
    mime: str


def _bad_crop(message: str) -> DomainError:
    return DomainError(message, status=422, code="invalid_crop")


def sniff(data: bytes) -> str | None:
    """The real format, from the magic bytes (names and declared types are never trusted)."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":  # ISO-BMFF: major brand + compatible brands
        end = min(int.from_bytes(data[:4], "big"), len(data), 256)
        brands = {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}
        if brands & {b"avif", b"avis"}:
            return "avif"
        if brands & _HEIF_BRANDS:
            return "heif"
    return None


def _open(data: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    """Open lazily (header only) and refuse decompression bombs before decoding a pixel."""
    fmt = sniff(data) if data else None
    if fmt is None:
        what = "The file is empty" if not data else "This file is not a supported image"
        raise UnsupportedImageFormat(f"{what}: upload a {ACCEPTED} image.")
    limit = f"the limit is {max_pixels / 1e6:g} million pixels"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=[fmt.upper()])
    except Image.DecompressionBombError:  # Pillow's own ceiling, far above ours
        raise InvalidImage(f"The image is far too large: {limit}.") from None
    except Exception as exc:
        raise InvalidImage(CORRUPT) from exc
    if im.width * im.height > max_pixels:
        w, h = im.size
        im.close()
        raise InvalidImage(f"The image is {w}×{h} ({w * h / 1e6:.0f} million pixels); {limit}.")
    return im, fmt


def inspect(
    data: bytes, kind: str, *, max_pixels: int = MAX_PIXELS, memory_budget: int | None = None
) -> ImageInfo:
    """Validate an upload for `kind` ("avatar" | "banner") from its header alone: format, size,
    pixel and memory limits. Cheap enough for a web request; the job decodes the pixels (and
    fails the image with a reason when they turn out corrupt). Sizes are reported upright."""
    if kind not in MIN_SIZE:
        raise ValueError(f"unknown image kind {kind!r}")
    min_w, min_h = MIN_SIZE[kind]
    im, fmt = _open(data, max_pixels)
    with im:
        try:
            width, height = im.size[::-1] if orientation(im) >= 5 else im.size
        except Exception as exc:
            raise InvalidImage(CORRUPT) from exc
        if width < min_w or height < min_h:
            need = f"{min_w}×{min_h} pixels" if kind == "avatar" else f"{min_w} pixels wide"
            raise InvalidImage(
                f"{'An avatar' if kind == 'avatar' else 'A banner'} must be at "
                f"least {need}; this image is {width}×{height}."
            )
        if memory_budget is not None:
            check_memory(im, memory_budget)
    return ImageInfo(fmt, width, height, MIME[fmt])


# Bytes per pixel Pillow keeps for a decoded frame of each mode (multi-band 8-bit modes are
# stored four bytes a pixel); anything unlisted is taken as the widest.
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_WORKING_BYTES = 4  # the RGB(A) working copy the resize makes next to the decoded frame


def memory_needed(im: Image.Image) -> int:
    """Roughly the peak bytes processing `im` takes, from its header: the decoded frame in its
    own mode (16-bit and CMYK frames are wider than they look on disk) plus a working copy."""
    per_pixel = _PIXEL_BYTES.get(im.mode, 4) + _WORKING_BYTES
    return im.width * im.height * per_pixel


def check_memory(im: Image.Image, budget: int) -> None:
    """Refuse, with a reason, an image whose pixels would take more than `budget` bytes."""
    needed = memory_needed(im)
    if needed > budget:
        mb = 1024 * 1024
        raise InvalidImage(
            f"This {im.width}×{im.height} {im.mode} image needs about {math.ceil(needed / mb)} MB "
            f"of memory to process; the limit is {budget // mb} MB. Upload a smaller image "
            "(or an 8-bit RGB one)."
        )


def check_budget(data: bytes, *, max_pixels: int = MAX_PIXELS, memory_budget: int) -> None:
    """The header checks again, in the job, before anything is decoded (limits may have
    changed since the upload)."""
    im, _ = _open(data, max_pixels)
    with im:
        check_memory(im, memory_budget)


def crop_box_for(preset: Preset, crop: Crop, width: int, height: int) -> Box:
    """The area `preset` uses, in cropper pixels; width/height are ImageInfo's (before rotate).
    The smallest rectangle of the preset's aspect around the box (so the focal area is kept),
    centred on it, grown no larger than the image and shifted to stay inside it."""
    if crop.rotate in (90, 270):
        width, height = height, width
    box = crop.overrides.get(preset.key, crop.box) or Box(0, 0, width, height)
    x0, y0 = max(0.0, box.x), max(0.0, box.y)
    x1, y1 = min(float(width), box.x + box.w), min(float(height), box.y + box.h)
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise _bad_crop("The crop area lies outside the image.")
    ratio = preset.width / preset.height
    w = min(max(x1 - x0, (y1 - y0) * ratio), width, height * ratio)
    h = w / ratio
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return Box(min(max(cx - w / 2, 0.0), width - w), min(max(cy - h / 2, 0.0), height - h), w, h)


# A head-and-shoulders square is about this many times the cascade's face box (brow to chin),
# with the face a little above the middle, as in a portrait.
HEAD_AND_SHOULDERS = 3.5
FACE_ABOVE_CENTRE = 0.1  # of the square's side


def first_box(
    focus: dict[str, Any] | None, presets: Sequence[Preset], width: int, height: int
) -> Box | None:
    """The box the editor opens with (and uncropped files use) for a detected `focus`, in the
    upright original's pixels; None: no focus, the centre crop.

    Avatars: a head-and-shoulders square around the face, no larger than the image. Banners:
    the smallest box around the focus's centre from which crop_box_for gives every preset its
    largest rectangle that fits (as the centre crop does), centred on the focus where the image
    allows. Either is shifted to stay inside the image."""
    if not focus or not presets or focus.get("source") not in ("face", "salient"):
        return None
    try:
        fx, fy, fw, fh = (float(focus[k]) for k in ("x", "y", "w", "h"))
    except (KeyError, TypeError, ValueError):
        return None
    cx, cy = fx + fw / 2, fy + fh / 2
    if presets[0].kind == "avatar":
        if focus["source"] != "face":
            return None
        side = min(float(width), float(height), max(fw, fh) * HEAD_AND_SHOULDERS)
        return _inside(cx, cy + FACE_ABOVE_CENTRE * side, side, side, width, height)
    # each preset's largest rectangle is `largest` wide; a box `w` wide and `h` tall gives it
    # when max(w, h * ratio) reaches that width (crop_box_for caps the rest)
    largest = [(min(float(width), height * p.ratio), p.ratio) for p in presets]
    w = min(t for t, _ in largest)
    taller = [t / r for t, r in largest if t > w + 1e-6]
    h = max(taller) if taller else min(t / r for t, r in largest)
    return _inside(cx, cy, w, h, width, height)


def _inside(cx: float, cy: float, w: float, h: float, width: int, height: int) -> Box:
    w, h = min(w, float(width)), min(h, float(height))
    return Box(min(max(cx - w / 2, 0.0), width - w), min(max(cy - h / 2, 0.0), height - h), w, h)


def first_crop(
    crop: Crop, focus: dict[str, Any] | None, presets: Sequence[Preset], width: int, height: int
) -> Crop:
    """The crop the files are made with and the editor opens on: the person's, or while they
    have framed nothing (no box, not rotated: the focus was found upright), the focus's box."""
    if crop.box is not None or crop.rotate:
        return crop
    box = first_box(focus, presets, width, height)
    return crop if box is None else Crop(box, crop.rotate, crop.overrides)


def make_variants(
    data: bytes,
    crop: Crop,
    presets: Sequence[Preset],
    *,
    threads: int = THREADS,
    max_pixels: int = MAX_PIXELS,
) -> list[Variant]:
    """Every preset from one upload: upright, sRGB, no metadata, exact size, under its cap."""
    if not presets:
        return []
    resample.check_usable()  # a plain error, never a hang nor "corrupt" for the uploader
    im, fmt = _open(data, max_pixels)
    try:
        upright = im.size[::-1] if orientation(im) >= 5 else im.size
        boxes = {}
        for p in presets:
            b = crop_box_for(p, crop, *upright)
            boxes[p.key] = (b.x, b.y, b.x + b.w, b.y + b.h)
        region = decode_region(im, fmt, crop.rotate, boxes, presets)
        if region.decode is None and region.image is not im:
            im.close()  # free the decoded frame before the outputs exist
        done = render(region, presets, max(1, threads))
    except DomainError:
        raise
    except Exception as exc:
        raise InvalidImage(CORRUPT) from exc
    finally:
        im.close()
    return [Variant(p.key, *done[p.key], MIME[done[p.key][3]]) for p in presets]
