"""Encoding for the image pipeline: pick each preset's format and stay under its byte cap.

Pure Pillow, no Flask. The first try (quality 85, baseline, no optimisation) is what nearly every
photo ends with; the costly encodings (optimised Huffman tables, progressive, lower qualities,
fewer colours) only run for pictures that do not fit.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image

from app.services.exceptions import InvalidImage
from app.services.images.presets import Preset

START_QUALITY = 85
QUALITY_STEPS = (80, 75, 70, 65, 60)
QUALITY_FLOOR = (50, 40, 30, 20, 10)  # only for fixed-size presets, which may not shrink
LANCZOS = Image.Resampling.LANCZOS


def choose_format(preset: Preset, transparent: bool) -> str:
    """JPEG unless the picture really is transparent (or the platform takes nothing else)."""
    if "png" in preset.formats and (transparent or "jpeg" not in preset.formats):
        return "png"
    return "jpeg" if "jpeg" in preset.formats else preset.formats[0]


def flatten(img: Image.Image) -> Image.Image:
    """Alpha composited on white (JPEG has no transparency)."""
    flat = Image.new("RGB", img.size, (255, 255, 255))
    flat.paste(img, mask=img.getchannel("A") if img.mode in ("RGBA", "RGBa") else None)
    return flat


def save(img: Image.Image, fmt: str, **params: Any) -> bytes:
    fd = _take_file() if fmt == "JPEG" else None
    if fd is not None:
        return _save_unlocked(fd, img, fmt, params)
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


# Pillow holds the GIL while it encodes into a BytesIO, but not while it encodes into a real
# file: JPEGs go through in-memory files (Linux), so encodings on other threads run meanwhile.
# A few files are kept for the next encodings, so their pages need not be faulted in again.
_MEMFD = hasattr(os, "memfd_create")
_SPARE_MAX, _SPARE_BYTES = 4, 8 << 20
_spare_files: list[int] = []
_spare_lock = threading.Lock()


def _take_file() -> int | None:
    with _spare_lock:
        if _spare_files:
            return _spare_files.pop()
    if not _MEMFD:
        return None
    try:
        return os.memfd_create("variant", os.MFD_CLOEXEC)
    except OSError:  # out of file descriptors, or forbidden: BytesIO it is
        return None


def _save_unlocked(fd: int, img: Image.Image, fmt: str, params: dict[str, Any]) -> bytes:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        with open(fd, "wb", buffering=0, closefd=False) as fh:
            img.save(fh, fmt, **params)
            size = fh.tell()
        data = os.pread(fd, size, 0)
    except BaseException:
        os.close(fd)
        raise
    with _spare_lock:
        if len(_spare_files) < _SPARE_MAX and size <= _SPARE_BYTES:
            _spare_files.append(fd)
            return data
    os.close(fd)
    return data


def _forget_spares() -> None:  # a forked child must not write into its parent's files
    global _spare_lock
    for fd in _spare_files:
        os.close(fd)
    _spare_files.clear()
    _spare_lock = threading.Lock()


if _MEMFD:
    os.register_at_fork(after_in_child=_forget_spares)


def _lossy(img: Image.Image, fmt: str, quality: int, squeeze: bool = False) -> bytes:
    if fmt == "webp":
        return save(img, "WEBP", quality=quality, method=6 if squeeze else 4)
    # optimize + progressive cost ~6x the encode time for ~7% fewer bytes: only when needed
    return save(img, "JPEG", quality=quality, optimize=squeeze, progressive=squeeze)


def encode(
    img: Image.Image, fmt: str, preset: Preset, memo: dict[str, bytes]
) -> tuple[bytes, str, Image.Image]:
    """Under preset.max_bytes: the normal encoding, else squeeze and bisect the quality steps,
    else the preset's fallback size, else shrink (only presets that may) or, for fixed sizes,
    give up detail at the same size.
    `memo` holds the first-try bytes per format, shared by presets showing the same pixels."""
    cap = preset.max_bytes
    if fmt == "png":
        data = memo.get("png") or memo.setdefault("png", save(img, "PNG", compress_level=1))
        if len(data) > cap:  # 256 colours keep the alpha at a fraction of the bytes
            data = save(img.quantize(256, Image.Quantize.FASTOCTREE), "PNG", optimize=True)
        if len(data) <= cap:
            return data, fmt, img
        lossy = next((f for f in preset.formats if f != "png"), None)
        if lossy is None:  # PNG only: fewer colours, then less detail

            def few_colours(i: Image.Image) -> bytes:
                return save(i.quantize(64, Image.Quantize.FASTOCTREE), "PNG", optimize=True)

            return _soften(img, few_colours, cap), fmt, img
        fmt, img = lossy, flatten(img)
    data = memo.get(fmt) or memo.setdefault(fmt, _lossy(img, fmt, START_QUALITY))
    if len(data) <= cap:
        return data, fmt, img

    def squeezed(quality: int) -> bytes:
        return _lossy(img, fmt, quality, True)  # `img` as it is when called: after any fallback

    good = (START_QUALITY, *QUALITY_STEPS)
    found = _highest_fitting(squeezed, good, cap)
    if found is None and preset.fallback:  # the platform's smaller size before a blurry file
        img = img.resize(preset.fallback, LANCZOS)
        found = _highest_fitting(squeezed, good, cap)
    if found is None and preset.fixed:
        found = _highest_fitting(squeezed, QUALITY_FLOOR, cap)
    while found is None and not preset.fixed and min(img.size) > 16:
        img = img.resize((img.width * 9 // 10, img.height * 9 // 10), LANCZOS)
        data = _lossy(img, fmt, QUALITY_STEPS[-1], True)
        found = data if len(data) <= cap else None
    if found is None:
        found = _soften(img, lambda i: _lossy(i, fmt, QUALITY_FLOOR[-1], True), cap)
    return found, fmt, img


def _highest_fitting(
    encode: Callable[[int], bytes], qualities: Sequence[int], cap: int
) -> bytes | None:
    """Bisect the descending qualities for the best encoding under cap."""
    lo, hi, found = 0, len(qualities) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        data = encode(qualities[mid])
        if len(data) <= cap:
            found, hi = data, mid - 1
        else:
            lo = mid + 1
    return found


def _soften(img: Image.Image, encode: Callable[[Image.Image], bytes], cap: int) -> bytes:
    """Same pixel size, half the detail each round; a flat picture fits any sane cap."""
    for shift in range(1, 16):
        small = (max(1, img.width >> shift), max(1, img.height >> shift))
        data = encode(img.resize(small, Image.Resampling.BOX).resize(img.size))
        if len(data) <= cap:
            return data
    raise InvalidImage("The image could not be compressed under the platform's size limit.")
