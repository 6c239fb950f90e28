"""Test photos with real faces, from portraits that ship inside pinned packages (scikit-image's
`astronaut`, Eileen Collins; public domain); also used by bench/pipeline.py.

Each helper returns the picture and where the face is in it, measured by eye on the original
(not taken from the detector under test), scaled and offset with the paste.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image
from skimage import data as skdata

from tests.unit import images as gen

# Eileen Collins' face in skimage.data.astronaut() (512 x 512): hairline to chin, ear to ear.
ASTRONAUT_FACE = (180, 70, 270, 165)  # x0, y0, x1, y1


@dataclass(frozen=True)
class Rect:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def inside(self, box) -> bool:
        """Whether this rectangle lies wholly in `box` (a pipeline.Box)."""
        return (
            box.x <= self.x0 and box.y <= self.y0 and self.x1 <= box.x + box.w
            and self.y1 <= box.y + box.h
        )  # fmt: skip


def astronaut(size: int = 512) -> Image.Image:
    img = Image.fromarray(skdata.astronaut())
    return img if size == 512 else img.resize((size, size), Image.Resampling.LANCZOS)


def background(width: int, height: int, seed: int = 5) -> Image.Image:
    """A soft, low-contrast photo-like backdrop (no face-like shapes at these contrasts)."""
    return Image.blend(gen.photo(width, height, seed=seed, grain=0.2), Image.new(
        "RGB", (width, height), (120, 130, 120)), 0.6)  # fmt: skip


def paste_astronaut(canvas: Image.Image, at: tuple[int, int], size: int = 512) -> Rect:
    """Paste the portrait at `at` (its top-left corner), `size` px square; the face's rect."""
    canvas.paste(astronaut(size), at)
    k = size / 512
    x0, y0, x1, y1 = ASTRONAUT_FACE
    return Rect(at[0] + x0 * k, at[1] + y0 * k, at[0] + x1 * k, at[1] + y1 * k)


def portrait(width: int, height: int, at: tuple[int, int], size: int = 512):
    """One astronaut on a larger canvas: (picture, face rect)."""
    canvas = background(width, height)
    return canvas, paste_astronaut(canvas, at, size)


def landscape(width: int, height: int) -> Image.Image:
    """No face: scikit-image's coffee cup (a photo of a cup on a table), scaled to fill."""
    cup = Image.fromarray(skdata.coffee())
    return cup.resize((width, height), Image.Resampling.LANCZOS)


def sideways_jpeg(img: Image.Image, orientation: int) -> bytes:
    """A JPEG whose stored pixels are turned, with the EXIF tag that turns `img` upright."""
    stored = img.transpose(gen.STORE_FOR_ORIENTATION[orientation])
    return gen.jpeg(stored, quality=92, exif=gen.exif_bytes(orientation))
