"""Where a picture's subject is, so the crop editor opens on it and an uncropped image's files
are centred on it: the most prominent face, or (banners without a face) the most salient region.

Faces: OpenCV's frontal-face Haar cascades, model files shipped inside opencv-python-headless
(nothing is downloaded at run time): the default one finds candidates, a stricter one confirms
each. Salience: the spectral residual (Hou & Zhang, 2007) in
numpy, which needs no model. Both run on the editor copy (already upright: EXIF orientation is
applied when it is made), downscaled to DETECT_SIDE: ~20 ms for the cascade on an idle core.
Results are in the original's upright pixels, the coordinates crops use. No Flask.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

DETECT_SIDE = 512
# Weak hits (the cascade's last-stage weight) are mostly textures that look like a face: a real
# frontal face scores well above this, a badge or a patch of foliage well below.
MIN_FACE_WEIGHT = 1.0
SALIENCY_SIDE = 64  # the spectral residual works on a thumbnail; its paper uses 64 px
FACE, SALIENT, NONE = "face", "salient", "none"

# The cascade runs between the pipeline's passes, so it may use the same cores the pipeline
# does (two), not one thread per CPU of a bigger machine. Its pool starts at the first detection,
# inside the job (an RQ work horse), never in the worker that forks them.
cv2.setNumThreads(min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class Found:
    """A region in the detection image's pixels, with how strongly it was found."""

    x: float
    y: float
    w: float
    h: float
    weight: float = 0.0

    @property
    def area(self) -> float:
        return self.w * self.h


@lru_cache(maxsize=2)
def _cascade(name: str = "haarcascade_frontalface_default.xml") -> cv2.CascadeClassifier:
    path = os.path.join(cv2.data.haarcascades, name)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"the face model could not be loaded from {path}")
    return cascade


# A second, stricter frontal-face model, asked only about the first one's candidates: textures
# the default cascade takes for a face (foliage, fabric, noise) rarely convince both, and looking
# at a few small regions costs a millisecond or two, where a second full scan would cost ~5x.
CONFIRMING_MODEL = "haarcascade_frontalface_alt2.xml"


def _confirmed(grey: np.ndarray, hit: Found) -> bool:
    x, y, w, h = (int(v) for v in (hit.x, hit.y, hit.w, hit.h))
    margin = w // 2
    region = grey[max(0, y - margin) : y + h + margin, max(0, x - margin) : x + w + margin]
    low, high = int(w * 0.7), int(w * 1.4)
    found = _cascade(CONFIRMING_MODEL).detectMultiScale(
        region, scaleFactor=1.05, minNeighbors=2, minSize=(low, low), maxSize=(high, high)
    )
    return len(found) > 0


def faces(grey: np.ndarray) -> list[Found]:
    """Frontal faces in an 8-bit grey image, the most prominent (largest) first."""
    found, _, weights = _cascade().detectMultiScale3(
        # 10% between scales: at 15% faces near the cascade's 24 px window are missed
        grey,
        scaleFactor=1.1,
        minNeighbors=5,
        minSize=(24, 24),
        outputRejectLevels=True,
    )
    hits = [
        Found(float(x), float(y), float(w), float(h), float(wt))
        for (x, y, w, h), wt in zip(found, np.ravel(weights), strict=True)
        if wt >= MIN_FACE_WEIGHT
    ]
    hits = [hit for hit in hits if _confirmed(grey, hit)]
    return sorted(hits, key=lambda f: (f.area, f.weight), reverse=True)


def salient(grey: np.ndarray) -> Found:
    """The region that stands out: the spectral residual's map, thresholded at three times its
    mean (as in the paper), bounded by the 10th-90th percentiles of what is left."""
    h, w = grey.shape
    scale = SALIENCY_SIDE / max(w, h)
    sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
    small = cv2.resize(grey, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float64)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-9)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    saliency = cv2.GaussianBlur(saliency, (0, 0), sigmaX=2.5)
    mask = saliency > 3 * saliency.mean()
    if not mask.any():
        mask = saliency >= saliency.max()
    ys, xs = np.nonzero(mask)
    x0, x1 = np.percentile(xs, (10, 90))
    y0, y1 = np.percentile(ys, (10, 90))
    x0, x1, y0, y1 = (float(v) for v in (x0, x1, y0, y1))
    return Found(x0 / scale, y0 / scale, (x1 - x0 + 1) / scale, (y1 - y0 + 1) / scale)


def grey_for_detection(data: bytes) -> np.ndarray:
    """The editor copy (JPEG bytes) as an 8-bit grey array, at most DETECT_SIDE on its longest
    side. libjpeg's DCT scaling does most of the shrinking while decoding."""
    with Image.open(io.BytesIO(data)) as im:
        im.draft("L", (DETECT_SIDE, DETECT_SIDE))
        grey = im.convert("L")
    grey.thumbnail((DETECT_SIDE, DETECT_SIDE))  # bicubic: faces near the cascade's 24 px survive
    return np.asarray(grey)


def find(grey: np.ndarray, kind: str) -> tuple[Found | None, str]:
    """The focus of a grey picture for `kind`: (region, source). Avatars: the most prominent
    face, or nothing (the centre crop then). Banners: the most prominent face, else the most
    salient region."""
    found = faces(grey)
    if found:
        return found[0], FACE
    if kind == "banner":
        return salient(grey), SALIENT
    return None, NONE


def detect(preview: bytes, kind: str, width: int, height: int) -> dict | None:
    """The focus to store with an image, from its editor copy: {"x", "y", "w", "h", "source"} in
    the original's upright pixels (`width` x `height`), or {"source": "none"} when there is
    nothing to centre on. None when detection failed: the upload goes on without it (logged)."""
    try:
        grey = grey_for_detection(preview)
        region, source = find(grey, kind)
    except Exception:  # an odd picture must never fail the upload: the centre crop it is
        log.warning("focus detection failed; using the centre crop", exc_info=True)
        return None
    if region is None:
        return {"source": NONE}
    sx, sy = width / grey.shape[1], height / grey.shape[0]
    x, y = max(0.0, region.x * sx), max(0.0, region.y * sy)
    return {
        "x": round(x, 1),
        "y": round(y, 1),
        "w": round(min(region.w * sx, width - x), 1),
        "h": round(min(region.h * sy, height - y), 1),
        "source": source,
    }
