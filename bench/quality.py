"""How close each pipeline output is to a reference resize, as SSIM (scikit-image).

The reference for a preset is what one would make with no concern for speed: the full-resolution
decode, turned upright, converted to sRGB with the embedded profile, then one Lanczos resample of
the preset's crop straight to the output's size, encoded with the same JPEG settings the output
got first. SSIM is over the three channels (scikit-image's defaults, 7x7 window), so 1.0 means
the same pixels; JPEG noise alone leaves the output around 0.9 on a photo.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageCms, ImageOps
from skimage.metrics import structural_similarity

from app.services.images.encode import START_QUALITY
from app.services.images.pipeline import Crop, crop_box_for, make_variants
from app.services.images.presets import Preset


def full_srgb(data: bytes) -> Image.Image:
    """The whole upload upright in sRGB, without any of the pipeline's shortcuts."""
    im = Image.open(io.BytesIO(data))
    icc = im.info.get("icc_profile")
    im = ImageOps.exif_transpose(im).convert("RGB")
    if icc:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        im = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
    im.info = {}
    return im


def ssim(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("RGB"))
    y = np.asarray(b.convert("RGB"))
    return float(structural_similarity(x, y, channel_axis=2, data_range=255))


def reference(full: Image.Image, preset: Preset, crop: Crop, out: Image.Image) -> Image.Image:
    b = crop_box_for(preset, crop, full.width, full.height)
    ref = full.resize(out.size, Image.Resampling.LANCZOS, box=(b.x, b.y, b.x + b.w, b.y + b.h))
    if out.format != "JPEG":  # lossless output: compare with the resize itself
        return ref
    buf = io.BytesIO()
    ref.save(buf, "JPEG", quality=START_QUALITY)  # the same encoding noise on both sides
    return Image.open(buf)


def pipeline_quality(
    data: bytes, jobs: Sequence[tuple[Crop, Sequence[Preset]]], threads: int
) -> dict[str, float]:
    """SSIM of every output of make_variants against its reference, by preset key."""
    full = full_srgb(data)
    scores = {}
    for crop, presets in jobs:
        by_key = {p.key: p for p in presets}
        for v in make_variants(data, crop, presets, threads=threads):
            out = Image.open(io.BytesIO(v.data))
            ref = reference(full, by_key[v.preset_key], crop, out)
            scores[v.preset_key] = ssim(out, ref)
    return scores
