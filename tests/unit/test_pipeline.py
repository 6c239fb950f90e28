"""The pure image pipeline: format sniffing, validation, crops, colour, metadata, size caps."""

import contextlib
import dataclasses
import faulthandler
import functools
import io
import math
import os
import random
import struct

import pytest
from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageFile, ImageStat

from app.services.exceptions import InvalidImage, UnsupportedImageFormat
from app.services.images import decode, encode, pipeline, plan, presets, render
from app.services.images.pipeline import Box, Crop, crop_box_for, inspect, make_variants
from tests.unit import images as gen

AVATARS, BANNERS = presets.for_kind("avatar"), presets.for_kind("banner")
X_AVATAR = presets.get("x_avatar")  # JPEG, PNG allowed
BSKY_AVATAR = presets.get("bluesky_avatar")  # JPEG only
BSKY_BANNER = presets.get("bluesky_banner")  # falls back to 1500x500 when over its cap
DISCORD_AVATAR = presets.get("manual_discord_avatar")  # PNG only
COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255)}


def opened(variant: pipeline.Variant) -> Image.Image:
    img = Image.open(io.BytesIO(variant.data))
    assert img.format.lower() == variant.format
    return img


def colour_at(img: Image.Image, xy: tuple[int, int]) -> str:
    px = img.convert("RGB").getpixel(xy)
    return min(
        COLOURS, key=lambda name: sum((a - b) ** 2 for a, b in zip(px, COLOURS[name], strict=True))
    )


def corners(img: Image.Image) -> tuple[str, str, str, str]:
    w, h = img.size
    return tuple(
        colour_at(img, xy) for xy in ((20, 20), (w - 20, 20), (20, h - 20), (w - 20, h - 20))
    )


def assert_fits(variants: list[pipeline.Variant], expected: tuple[presets.Preset, ...]) -> None:
    assert [v.preset_key for v in variants] == [p.key for p in expected]
    for v, p in zip(variants, expected, strict=True):
        sizes = {(p.width, p.height), p.fallback} if p.fallback else {(p.width, p.height)}
        assert (v.width, v.height) in sizes, p.key
        assert len(v.data) <= p.max_bytes, p.key
        assert v.format in p.formats and v.mime == pipeline.MIME[v.format]
        assert opened(v).size == (v.width, v.height)


def heif(img: Image.Image, **params) -> bytes:
    return gen.encode(img, "HEIF", quality=90, **params)


def avif(img: Image.Image, **params) -> bytes:
    return gen.encode(img, "AVIF", quality=90, **params)


# --- inspect ------------------------------------------------------------------------------------

ENCODERS = {
    "jpeg": gen.jpeg,
    "png": gen.png,
    "webp": lambda img: gen.encode(img, "WEBP", quality=90),
    "gif": lambda img: gen.encode(img, "GIF"),
    "heif": heif,
    "avif": avif,
}


@pytest.mark.parametrize("fmt", ENCODERS)
def test_inspect_sniffs_every_accepted_format(fmt):
    info = inspect(ENCODERS[fmt](gen.quadrants(400, 300)), "avatar")
    assert info == pipeline.ImageInfo(fmt, 400, 300, pipeline.MIME[fmt])


def test_inspect_reports_the_upright_size():
    # a portrait photo stored landscape with orientation 6
    data = gen.rotated_jpeg(6, width=300, height=400)
    assert Image.open(io.BytesIO(data)).size == (400, 300)
    assert (inspect(data, "avatar").width, inspect(data, "avatar").height) == (300, 400)


def test_minimum_sizes_are_explained():
    with pytest.raises(InvalidImage) as small_avatar:
        inspect(gen.jpeg(gen.photo(150, 180)), "avatar")
    assert "200×200" in small_avatar.value.message and "150×180" in small_avatar.value.message
    with pytest.raises(InvalidImage) as narrow_banner:
        inspect(gen.jpeg(gen.photo(800, 300)), "banner")
    assert "1000 pixels wide" in narrow_banner.value.message
    assert "800×300" in narrow_banner.value.message
    assert inspect(gen.jpeg(gen.photo(1000, 250)), "banner").width == 1000


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="900" height="900"/>'
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.mark.parametrize(
    "data",
    [
        SVG,
        PDF,
        b"hello, I am text",
        b"",
        b"\x00" * 64,
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
    ],
    ids=["svg", "pdf", "text", "empty", "zeros", "mp4"],
)
def test_unsupported_formats_are_415_with_the_accepted_list(data):
    for call in (lambda: inspect(data, "avatar"), lambda: make_variants(data, Crop(), [X_AVATAR])):
        with pytest.raises(UnsupportedImageFormat) as info:
            call()
        assert info.value.status == 415
        assert "JPEG" in info.value.message and "HEIC" in info.value.message


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (8000, 7000)])
def test_decompression_bombs_are_refused_from_the_header(width, height, monkeypatch):
    data = gen.png_bomb_header(width, height)
    # Count decodes rather than time them: a busy machine must not fail this test.
    decoded = []
    load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: decoded.append(im.size) or load(im))
    for call in (lambda: inspect(data, "avatar"), lambda: make_variants(data, Crop(), [X_AVATAR])):
        with pytest.raises(InvalidImage) as info:
            call()
        assert not isinstance(info.value, UnsupportedImageFormat)
        assert "50 million pixels" in info.value.message
    assert decoded == []  # refused from the header: no pixel was read
    if width == 8000:
        assert "8000×7000" in info.value.message


def test_max_pixels_is_configurable():
    with pytest.raises(InvalidImage, match="0.1 million"):
        inspect(gen.jpeg(gen.photo(400, 300)), "avatar", max_pixels=100_000)


def truncated_jpeg() -> bytes:
    data = gen.jpeg(gen.photo(800, 600))
    return data[: len(data) // 2]


def corrupt_png() -> bytes:
    data = bytearray(gen.png(gen.photo(400, 400)))
    data[200:4000] = bytes(random.Random(3).randbytes(3800))
    return bytes(data)


@pytest.mark.parametrize(
    "make",
    [
        truncated_jpeg,
        corrupt_png,
        lambda: gen.jpeg(gen.photo(400, 400))[:300],
        lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 50,
    ],
    ids=["truncated-jpeg", "corrupt-png", "jpeg-header-only", "png-no-ihdr"],
)
def test_truncated_or_corrupt_files_are_invalid_images(make):
    data = make()
    calls = [lambda: make_variants(data, Crop(), [X_AVATAR])]
    if make is not truncated_jpeg:  # a whole header: inspect reads only that, the job decodes
        calls.append(lambda: inspect(data, "avatar"))
    for call in calls:
        with pytest.raises(InvalidImage) as info:
            call()
        assert not isinstance(info.value, UnsupportedImageFormat)
        assert "truncated or corrupt" in info.value.message


@pytest.mark.parametrize("seed", range(8))
def test_damaged_files_never_leak_a_pillow_exception(seed):
    rnd = random.Random(seed)
    data = bytearray(
        gen.jpeg(gen.photo(300, 300, seed=seed))
        if seed % 2
        else gen.png(gen.photo(300, 300, seed=seed))
    )
    for _ in range(20):
        data[rnd.randrange(20, len(data))] = rnd.randrange(256)
    for call in (
        lambda: inspect(bytes(data), "avatar"),
        lambda: make_variants(bytes(data), Crop(), [X_AVATAR]),
    ):
        with contextlib.suppress(InvalidImage):  # decoding fine is fine too
            call()


# --- orientation and rotation -------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(orientation):
    data = gen.rotated_jpeg(orientation, 400, 300)
    [variant] = make_variants(data, Crop(), [X_AVATAR])
    # the centred square of the upright 400x300 image keeps all four quadrants
    assert corners(opened(variant)) == ("red", "green", "blue", "white")


@pytest.mark.parametrize("encoder", [heif, avif], ids=["heic", "avif"])
def test_orientation_of_heic_and_avif(encoder):
    stored = gen.quadrants(300, 400).transpose(Image.Transpose.ROTATE_90)
    data = encoder(stored, exif=gen.exif_bytes(6))
    info = inspect(data, "avatar")
    assert (info.width, info.height) == (300, 400)
    [variant] = make_variants(data, Crop(), [X_AVATAR])
    assert corners(opened(variant)) == ("red", "green", "blue", "white")


@pytest.mark.parametrize(
    ("rotate", "expected"),
    [
        (90, ("blue", "red", "white", "green")),
        (180, ("white", "blue", "green", "red")),
        (270, ("green", "white", "red", "blue")),
    ],
)
def test_user_rotation_is_clockwise_and_applied_after_exif(rotate, expected):
    data = gen.rotated_jpeg(6, 400, 300)
    [variant] = make_variants(data, Crop(rotate=rotate), [X_AVATAR])
    assert corners(opened(variant)) == expected


def test_avatar_box_picks_the_square():
    # a 150x150 box inside the red quadrant of the upright image
    [variant] = make_variants(gen.rotated_jpeg(8, 400, 300), Crop(Box(20, 0, 150, 150)), [X_AVATAR])
    assert set(corners(opened(variant))) == {"red"}


# --- input modes --------------------------------------------------------------------------------


def _palette_with_transparency() -> bytes:
    img = Image.new("P", (300, 300), 0)
    img.putpalette([255, 255, 255, 255, 0, 0] + [0] * 762)
    ImageDraw.Draw(img).ellipse((50, 50, 250, 250), fill=1)
    return gen.png(img, transparency=0)


def _gif_two_frames() -> bytes:
    red, blue = Image.new("RGB", (300, 300), "red"), Image.new("RGB", (300, 300), "blue")
    return gen.encode(red, "GIF", save_all=True, append_images=[blue], duration=100)


def _gradient16() -> bytes:
    grey = Image.linear_gradient("L").resize((300, 300)).convert("I").point(lambda v: v * 257)
    return gen.png(grey.convert("I;16"))


INPUTS = {
    "cmyk-jpeg": lambda: gen.jpeg(Image.new("CMYK", (300, 300), (0, 255, 255, 0))),
    "16-bit-png": _gradient16,
    "palette-transparent": _palette_with_transparency,
    "grey-jpeg": lambda: gen.jpeg(gen.photo(300, 300).convert("L")),
    "la-png": lambda: gen.png(gen.photo(300, 300).convert("LA")),
    "heic": lambda: heif(gen.photo(300, 300)),
    "avif": lambda: avif(gen.photo(300, 300)),
    "webp-alpha": lambda: gen.encode(gen.photo(300, 300).convert("RGBA"), "WEBP", lossless=True),
    "gif-animated": _gif_two_frames,
    "1-bit-png": lambda: gen.png(gen.photo(300, 300).convert("1")),
}


@pytest.mark.parametrize("name", INPUTS)
def test_every_input_mode_processes(name):
    wanted = (X_AVATAR, BSKY_AVATAR, DISCORD_AVATAR)
    variants = make_variants(INPUTS[name](), Crop(), wanted)
    assert_fits(variants, wanted)
    for v in variants:
        assert opened(v).mode in ("RGB", "RGBA")


def test_cmyk_colours_and_16_bit_range_survive():
    [red] = make_variants(INPUTS["cmyk-jpeg"](), Crop(), [BSKY_AVATAR])
    assert colour_at(opened(red), (500, 500)) == "red"
    [ramp] = make_variants(_gradient16(), Crop(), [BSKY_AVATAR])
    top, bottom = opened(ramp).getpixel((500, 5)), opened(ramp).getpixel((500, 995))
    assert top[0] < 10 and bottom[0] > 245  # scaled, not clipped to white


def test_gif_uses_its_first_frame():
    [variant] = make_variants(_gif_two_frames(), Crop(), [BSKY_AVATAR])
    assert set(corners(opened(variant))) == {"red"}


# --- transparency -------------------------------------------------------------------------------


def test_transparency_keeps_png_only_where_the_preset_allows_it():
    data = _palette_with_transparency()
    x, bsky, discord = make_variants(data, Crop(), [X_AVATAR, BSKY_AVATAR, DISCORD_AVATAR])
    assert x.format == "png" and discord.format == "png" and bsky.format == "jpeg"
    assert opened(x).mode == "RGBA" and opened(x).getpixel((5, 5))[3] == 0
    assert opened(x).getpixel((200, 200)) == (255, 0, 0, 255)
    assert min(opened(bsky).getpixel((5, 5))) >= 250  # flattened on white, not black


def test_opaque_alpha_channel_is_not_transparency():
    data = gen.png(gen.photo(400, 400).convert("RGBA"))
    [variant] = make_variants(data, Crop(), [X_AVATAR])
    assert variant.format == "jpeg"


def test_transparent_png_falls_back_to_jpeg_when_too_big_as_png():
    noisy = gen.noise(1100, 1100).convert("RGBA")
    noisy.putalpha(Image.new("L", noisy.size, 128))
    gravatar = presets.get("gravatar_avatar")
    [variant] = make_variants(gen.png(noisy), Crop(), [gravatar])
    assert_fits([variant], (gravatar,))


# --- sizes and byte caps ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_jpeg() -> bytes:
    return gen.jpeg(
        gen.photo(3300, 2200),
        quality=95,
        icc_profile=gen.p3_profile(),
        exif=gen.exif_bytes(1, gps=True),
    )


def test_every_preset_has_its_exact_size_and_fits_its_cap(photo_jpeg):
    assert_fits(make_variants(photo_jpeg, Crop(Box(600, 100, 2000, 2000)), AVATARS), AVATARS)
    assert_fits(make_variants(photo_jpeg, Crop(Box(0, 500, 3300, 1100)), BANNERS), BANNERS)


def test_threads_do_not_change_the_bytes(photo_jpeg):
    crop = Crop(Box(0, 500, 3300, 1100))
    one = make_variants(photo_jpeg, crop, BANNERS, threads=1)
    two = make_variants(photo_jpeg, crop, BANNERS, threads=2)
    assert [v.data for v in one] == [v.data for v in two]


def test_noise_forces_quality_steps_yet_stays_under_every_cap():
    banner_noise = gen.jpeg(gen.noise(3000, 1000), quality=95)
    variants = make_variants(banner_noise, Crop(), BANNERS)
    assert_fits(variants, BANNERS)
    # without its fallback size, the Bluesky banner keeps 3000x1000 and gives up quality instead
    full_size_only = dataclasses.replace(BSKY_BANNER, fallback=None)
    [bsky] = make_variants(banner_noise, Crop(), [full_size_only])
    plain = gen.jpeg(opened(bsky).convert("RGB"), quality=pipeline.START_QUALITY)
    assert len(plain) > BSKY_BANNER.max_bytes  # the first try was over the cap
    assert (bsky.width, bsky.height) == (3000, 1000) and len(bsky.data) <= BSKY_BANNER.max_bytes
    avatar_noise = gen.png(gen.noise(1100, 1100))
    assert_fits(make_variants(avatar_noise, Crop(), AVATARS), AVATARS)


def test_bluesky_banner_falls_back_to_1500x500_only_when_full_size_will_not_fit(photo_jpeg):
    [noisy] = make_variants(gen.jpeg(gen.noise(3000, 1000), quality=95), Crop(), [BSKY_BANNER])
    assert (noisy.width, noisy.height) == (1500, 500) == opened(noisy).size
    assert len(noisy.data) <= BSKY_BANNER.max_bytes
    [photo] = make_variants(photo_jpeg, Crop(Box(0, 500, 3300, 1100)), [BSKY_BANNER])
    assert (photo.width, photo.height) == (3000, 1000)


def test_a_preset_that_may_shrink_shrinks_instead_of_losing_quality():
    loose = presets.Preset(
        "test_loose",
        "avatar",
        "test",
        1000,
        1000,
        150_000,
        ("jpeg",),
        "square",
        "Loose",
        fixed=False,
    )
    [variant] = make_variants(gen.png(gen.noise(1000, 1000)), Crop(), [loose])
    assert variant.width < 1000 and variant.width == variant.height
    assert len(variant.data) <= 150_000


def test_a_24_megapixel_photo_processes():
    data = gen.jpeg(gen.photo(6000, 4000), quality=92)
    assert_fits(make_variants(data, Crop(Box(1200, 200, 3600, 3600)), AVATARS), AVATARS)
    assert_fits(make_variants(data, Crop(Box(0, 1000, 6000, 2000)), BANNERS), BANNERS)


# --- metadata and colour ------------------------------------------------------------------------


def jpeg_header_markers(data: bytes) -> list[int]:
    """Marker codes before the first scan (where EXIF, XMP, ICC and comments live)."""
    assert data[:2] == b"\xff\xd8"
    pos, found = 2, []
    while data[pos] == 0xFF and data[pos + 1] != 0xDA:
        found.append(data[pos + 1])
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    return found


def png_chunks(data: bytes) -> list[bytes]:
    pos, found = 8, []
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        found.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return found


def test_no_output_carries_metadata(photo_jpeg):
    tagged = gen.jpeg(
        gen.photo(1200, 1200),
        icc_profile=gen.p3_profile(),
        exif=gen.exif_bytes(6, gps=True),
        comment=b"secret",
        xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>GPS here</x:xmpmeta>",
    )
    rgba = gen.photo(400, 400).convert("RGBA")
    rgba.putalpha(200)
    transparent = gen.png(rgba, exif=gen.exif_bytes(1, gps=True), icc_profile=gen.p3_profile())
    outputs = (
        make_variants(tagged, Crop(), AVATARS)
        + make_variants(photo_jpeg, Crop(), BANNERS)
        + make_variants(transparent, Crop(), AVATARS)
    )
    for v in outputs:
        img = opened(v)
        assert len(img.getexif()) == 0 and not img.getexif().get_ifd(0x8825)
        assert "icc_profile" not in img.info and "exif" not in img.info and "xmp" not in img.info
        if v.format == "jpeg":
            assert set(jpeg_header_markers(v.data)) <= {0xE0, 0xDB, 0xC0, 0xC2, 0xC4, 0xDD}
            header = v.data[: v.data.index(b"\xff\xda")]
            assert b"Exif" not in header and b"GPS" not in header and b"secret" not in header
        else:
            assert set(png_chunks(v.data)) <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


@pytest.mark.parametrize(
    "wanted", [(X_AVATAR,), AVATARS, BANNERS], ids=["one", "avatars", "banners"]
)
def test_embedded_profile_is_converted_to_srgb(wanted):
    colour = (200, 100, 50)
    p3 = gen.p3_profile()
    expected = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), colour),
        ImageCms.ImageCmsProfile(io.BytesIO(p3)),
        ImageCms.createProfile("sRGB"),
    ).getpixel((0, 0))
    assert expected != colour
    data = gen.jpeg(Image.new("RGB", (2400, 1600), colour), quality=98, icc_profile=p3)
    for v in make_variants(data, Crop(), wanted):
        got = opened(v).convert("RGB").getpixel((v.width // 2, v.height // 2))
        assert all(abs(a - b) <= 4 for a, b in zip(got, expected, strict=True)), (v.preset_key, got)


# --- crop model ---------------------------------------------------------------------------------

FOCALS = [
    None,
    Box(0, 1000, 6000, 2000),
    Box(2500, 1800, 900, 300),
    Box(0, 0, 600, 200),
    Box(5000, 3500, 1000, 500),
    Box(1000, 0, 500, 4000),
    Box(-50, -50, 8000, 9000),
]


@pytest.mark.parametrize("focal", FOCALS)
@pytest.mark.parametrize("preset", BANNERS + AVATARS[:1], ids=lambda p: p.key)
def test_derived_crops_have_the_preset_aspect_and_keep_the_focal_area(preset, focal):
    width, height = 6000, 4000
    box = crop_box_for(preset, Crop(focal), width, height)
    assert box.w / box.h == pytest.approx(preset.width / preset.height, rel=1e-9)
    assert box.x >= -1e-9 and box.y >= -1e-9
    assert box.x + box.w <= width + 1e-9 and box.y + box.h <= height + 1e-9
    if focal is None:
        assert box.w == pytest.approx(width) or box.h == pytest.approx(height)  # largest
        return
    fx0, fy0 = max(0, focal.x), max(0, focal.y)
    fx1, fy1 = min(width, focal.x + focal.w), min(height, focal.y + focal.h)
    ratio = preset.width / preset.height
    if max(fx1 - fx0, (fy1 - fy0) * ratio) <= min(width, height * ratio):  # it can fit
        assert box.x <= fx0 + 1e-6 and box.y <= fy0 + 1e-6
        assert box.x + box.w >= fx1 - 1e-6 and box.y + box.h >= fy1 - 1e-6
        # ... and is the smallest such rectangle: one side touches the focal area's size
        assert box.w == pytest.approx(fx1 - fx0) or box.h == pytest.approx(fy1 - fy0)


def test_same_aspect_focal_box_is_used_as_is():
    focal = Box(100, 900, 4500, 1500)
    assert crop_box_for(presets.get("x_banner"), Crop(focal), 6000, 4000) == focal


def test_overrides_replace_the_derived_box_and_rotation_swaps_the_frame():
    override = Box(0, 0, 1600, 900)
    crop = Crop(Box(0, 1000, 6000, 2000), overrides={"youtube_banner": override})
    assert crop_box_for(presets.get("youtube_banner"), crop, 6000, 4000) == override
    assert crop_box_for(presets.get("x_banner"), crop, 6000, 4000) == Box(0, 1000, 6000, 2000)
    rotated = crop_box_for(X_AVATAR, Crop(rotate=90), 6000, 4000)
    assert rotated == Box(0, 1000, 4000, 4000)  # the frame is now 4000 wide, 6000 tall


def test_a_crop_outside_the_image_is_refused():
    with pytest.raises(pipeline.DomainError, match="outside"):
        crop_box_for(X_AVATAR, Crop(Box(7000, 0, 100, 100)), 6000, 4000)


def test_crop_json_round_trip_and_validation():
    crop = Crop(Box(1, 2, 300, 300.5), 270, {"x_banner": Box(0, 0, 30, 10)})
    assert Crop.from_json(crop.to_json()) == crop
    assert Crop.from_json(None) == Crop() and Crop().box is None
    assert Crop.from_json({"box": [0, 0, 10, 10], "rotate": -90}) == Crop(Box(0, 0, 10, 10), 270)
    cropper_js = {"box": {"x": 5, "y": 6, "width": 70, "height": 80}, "rotate": 90.0}
    assert Crop.from_json(cropper_js) == Crop(Box(5, 6, 70, 80), 90)
    for bad in (
        {"rotate": 45},
        {"box": {"x": 0, "y": 0, "w": 0, "h": 5}},
        {"box": "nope"},
        {"box": [1, 2, 3]},
        {"overrides": [1]},
        {"box": [0, 0, float("nan"), 1]},
    ):
        with pytest.raises(pipeline.DomainError) as info:
            Crop.from_json(bad)
        assert info.value.status == 422


def test_the_banner_set_uses_the_crops_the_ui_draws():
    # a half-blue, half-red image: the 3:1 focal strip sits in the red half
    img = Image.new("RGB", (3000, 2000), "blue")
    ImageDraw.Draw(img).rectangle((0, 1000, 3000, 2000), fill="red")
    crop = Crop(Box(0, 1300, 3000, 600))
    for v in make_variants(gen.jpeg(img), crop, [presets.get("x_banner")]):
        assert set(corners(opened(v))) == {"red"}


# --- speed machinery: region cut-outs, plan, threads, encoder --------------------------------


def _psnr(a: Image.Image, b: Image.Image) -> float:
    diff = ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB")))
    mse = sum(v * v for v in diff.rms) / 3
    return 99.0 if mse == 0 else 10 * math.log10(255 * 255 / mse)


_TURN = {0: None, 90: Image.Transpose.ROTATE_270, 270: Image.Transpose.ROTATE_90}
_OFF_CENTRE = Box(40, 30, 330, 330)  # in the picture as the cropper shows it
_SMALL = ("thumb_avatar_64", "thumb_avatar_256", DISCORD_AVATAR.key)


@functools.cache
def _upright() -> Image.Image:
    return gen.photo(600, 420, seed=5)


@functools.cache
def _reference(rotate: int) -> list[pipeline.Variant]:
    turned = _upright().transpose(_TURN[rotate]) if _TURN[rotate] is not None else _upright()
    data = gen.png(turned, compress_level=1)
    return make_variants(data, Crop(_OFF_CENTRE), [presets.get(k) for k in _SMALL])


@pytest.mark.parametrize("rotate", [0, 90, 270])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_an_off_centre_crop_shows_the_same_pixels_whatever_the_orientation(orientation, rotate):
    # only the area the crop needs is cut out of the stored pixels and turned upright
    op = gen.STORE_FOR_ORIENTATION[orientation]
    stored = _upright().transpose(op) if op is not None else _upright()
    data = gen.png(stored, exif=gen.exif_bytes(orientation), compress_level=1)
    got = make_variants(data, Crop(_OFF_CENTRE, rotate), [presets.get(k) for k in _SMALL])
    for g, r in zip(got, _reference(rotate), strict=True):
        # the same pixels but for rounding (a pixel off would be under 30 dB)
        assert _psnr(opened(g), opened(r)) > (45 if g.format == "png" else 38), g.preset_key


def test_every_output_is_close_to_one_lanczos_pass_from_the_full_picture():
    # outputs cut from larger outputs (and the padded 16:9 picture the covers come out of) stay
    # registered and sharp: compared with resampling the decoded upload once per preset
    full = gen.photo(3000, 2000, seed=3)
    data = gen.jpeg(full, quality=95)
    full = Image.open(io.BytesIO(data)).convert("RGB")
    for crop, wanted in (
        (Crop(Box(700, 100, 1800, 1800)), AVATARS),
        (Crop(Box(0, 500, 3000, 1000)), BANNERS),
    ):
        for v in make_variants(data, crop, wanted):
            p = presets.get(v.preset_key)
            b = crop_box_for(p, crop, 3000, 2000)
            ref = full.resize(
                (p.width, p.height), Image.LANCZOS, box=(b.x, b.y, b.x + b.w, b.y + b.h)
            )
            if v.format == "jpeg":  # the same encoding noise on both sides
                ref = Image.open(io.BytesIO(gen.jpeg(ref, quality=pipeline.START_QUALITY)))
            assert _psnr(opened(v), ref) > 38, v.preset_key


def test_the_plan_derives_outputs_from_larger_ones_with_at_most_one_near_1x_pass():
    for crop, wanted, size in (
        (Crop(Box(1200, 200, 3600, 3600)), AVATARS, (6000, 4000)),
        (Crop(Box(0, 1000, 6000, 2000)), BANNERS, (6000, 4000)),
        (Crop(Box(0, 750, 4000, 1333)), BANNERS, (4000, 3000)),
    ):
        boxes = {}
        for p in wanted:
            b = crop_box_for(p, crop, *size)
            boxes[p.key] = (b.x / 2, b.y / 2, (b.x + b.w) / 2, (b.y + b.h) / 2)
        steps = plan.plan([(p, boxes[p.key], "RGB") for p in wanted], (size[0] // 2, size[1] // 2))
        assert sorted(p.key for s in steps for p in s.presets) == sorted(p.key for p in wanted)
        for s in steps:
            assert s.soft <= 1
            if s.parent is not None:
                parent = steps[s.parent]
                x0, y0, x1, y1 = s.sub
                assert x0 >= 0 and y0 >= 0 and x1 <= parent.size[0] and y1 <= parent.size[1]
                assert s.ratio() >= 0.999
        by_key = {p.key: s for s in steps for p in s.presets}
        if wanted is AVATARS:
            assert sum(s.parent is None for s in steps) == 1  # one square, resampled once
        elif size == (6000, 4000):  # the cover comes out of the slightly taller 16:9 banner
            cover, youtube = by_key["fb_page_cover"], by_key["youtube_banner"]
            assert steps[cover.parent] is youtube and youtube.view != (0, 0, *youtube.size)


def test_a_failure_on_a_worker_thread_surfaces_as_invalid_image(photo_jpeg, monkeypatch):
    real = render.encode

    def broken(img, fmt, preset, memo):
        if preset.key == "manual_discord_banner":
            raise OSError("encoder exploded")
        return real(img, fmt, preset, memo)

    monkeypatch.setattr(render, "encode", broken)
    with pytest.raises(InvalidImage):
        make_variants(photo_jpeg, Crop(), BANNERS, threads=2)


def test_the_threads_do_not_change_the_avatar_bytes_either(photo_jpeg):
    crop = Crop(Box(600, 100, 2000, 2000))
    one = make_variants(photo_jpeg, crop, AVATARS, threads=1)
    two = make_variants(photo_jpeg, crop, AVATARS, threads=2)
    assert [v.data for v in one] == [v.data for v in two]


def test_jpeg_through_an_in_memory_file_is_byte_identical():
    img = gen.photo(300, 200)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    for _ in range(3):  # the in-memory files are reused
        assert encode.save(img, "JPEG", quality=85) == buf.getvalue()
    small = gen.photo(40, 30)
    assert encode.save(small, "JPEG", quality=85) == gen.jpeg(small, quality=85)


def test_jpeg_encoding_falls_back_to_bytesio_without_in_memory_files(monkeypatch):
    def no_memfd(*args):
        raise OSError(24, "Too many open files")

    encode._forget_spares()  # what a forked child does
    monkeypatch.setattr(encode.os, "memfd_create", no_memfd)
    img = gen.photo(64, 48)
    assert encode.save(img, "JPEG", quality=85) == gen.jpeg(img, quality=85)


# --- decoding while rendering, and quality against a reference resize --------------------------


def _decoded_first(monkeypatch) -> None:
    """The region decoded whole before anything else starts (how it was done before)."""

    def eager(im, rects, icc):
        im.load()
        return decode.Region(im, rects, icc)

    monkeypatch.setattr(decode, "_while_decoding", eager)


@pytest.mark.parametrize(("kind", "box"), [(AVATARS, Box(600, 100, 2000, 2000)),
                                           (BANNERS, Box(0, 500, 3300, 1100))])  # fmt: skip
def test_rows_are_worked_on_while_the_jpeg_still_decodes(photo_jpeg, monkeypatch, kind, box):
    # the colour conversion (banners) or the first resize (avatars) of the top rows is handed to
    # the other threads before the calling thread has decoded the bottom ones
    released = []
    real = render.Gate.progress

    def progress(gate, rows):
        before = len(gate.waiting)
        real(gate, rows)
        released.append((rows, before - len(gate.waiting)))

    monkeypatch.setattr(render.Gate, "progress", progress)
    got = make_variants(photo_jpeg, Crop(box), kind, threads=2)
    assert_fits(got, kind)
    height = released[-1][0]
    assert sum(n for rows, n in released if rows < height * 0.8) >= 2
    assert [rows for rows, _ in released] == sorted(rows for rows, _ in released)


@pytest.mark.parametrize("threads", [1, 2])
def test_decoding_while_rendering_gives_the_bytes_of_decoding_first(
    photo_jpeg, monkeypatch, threads
):
    crops = ((Crop(Box(600, 100, 2000, 2000)), AVATARS), (Crop(Box(0, 500, 3300, 1100)), BANNERS))
    meanwhile = [make_variants(photo_jpeg, c, k, threads=threads) for c, k in crops]
    _decoded_first(monkeypatch)
    first = [make_variants(photo_jpeg, c, k, threads=threads) for c, k in crops]
    assert [[v.data for v in vs] for vs in meanwhile] == [[v.data for v in vs] for vs in first]


@pytest.mark.parametrize("black", ["all", "top", "bottom"])
def test_black_rows_do_not_fool_the_decode_progress(black):
    # rows are known decoded by a non-zero pixel: black ones only hold the work back
    img = gen.photo(1600, 1200, seed=9)
    if black != "bottom":
        ImageDraw.Draw(img).rectangle((0, 0, 1600, 1200 if black == "all" else 700), fill=0)
    else:
        ImageDraw.Draw(img).rectangle((0, 500, 1600, 1200), fill=0)
    data = gen.jpeg(img, quality=95, icc_profile=gen.p3_profile())
    crop = Crop(Box(0, 300, 1600, 533))
    got = make_variants(data, crop, BANNERS, threads=2)
    assert_fits(got, BANNERS)
    full = Image.open(io.BytesIO(data)).convert("RGB")
    for v in got:
        p = presets.get(v.preset_key)
        b = crop_box_for(p, crop, 1600, 1200)
        ref = full.resize((v.width, v.height), Image.LANCZOS, box=(b.x, b.y, b.x + b.w, b.y + b.h))
        # colours aside (the profile is converted), every row is where it belongs
        assert _psnr(opened(v).convert("L"), ref.convert("L")) > 30, v.preset_key


def test_a_jpeg_broken_halfway_fails_cleanly_while_other_threads_work(photo_jpeg):
    data = photo_jpeg[: len(photo_jpeg) // 2] + bytes(64)
    with pytest.raises(InvalidImage):
        make_variants(data, Crop(Box(0, 500, 3300, 1100)), BANNERS, threads=2)


def test_outputs_stay_as_close_to_a_reference_resize_as_before():
    # SSIM against the full decode in sRGB resampled once per preset (bench/quality.py); the
    # floors are what the pipeline scored before the decode and the resizes overlapped
    from bench.quality import pipeline_quality

    data = gen.jpeg(gen.photo(4000, 3000, seed=2), quality=94, icc_profile=gen.p3_profile())
    side = 2700
    jobs = [
        (Crop(Box(650, 150, side, side)), AVATARS),
        (Crop(Box(0, 750, 4000, 4000 / 3)), BANNERS),
    ]
    scores = pipeline_quality(data, jobs, threads=2)
    assert len(scores) == len(AVATARS) + len(BANNERS)
    assert min(scores.values()) > 0.978  # before: 0.9782 (manual_twitch_avatar)
    assert sum(scores.values()) / len(scores) > 0.988  # before: 0.9881


def test_a_child_forked_after_rendering_refuses_instead_of_hanging(photo_jpeg):
    # libvips' threads do not survive a fork: a child forked from a process that already rendered
    # would wait for them forever; it must fail at once with a reason instead
    make_variants(photo_jpeg, Crop(), AVATARS[:2], threads=2)
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if refused with the reason, fast
        code = 1
        try:
            faulthandler.dump_traceback_later(60, exit=True)  # a hang ends the child, not the run
            make_variants(photo_jpeg, Crop(), AVATARS[:2], threads=2)
        except RuntimeError as exc:
            code = 0 if "forked" in str(exc) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
