"""The preset table must match platforms.md §13 exactly; the helpers are what the UI consumes."""

import json

import pytest

from app.services.exceptions import DomainError, NotFound
from app.services.images import presets

J, JP, PJ, P = ("jpeg",), ("jpeg", "png"), ("png", "jpeg"), ("png",)

# key, W, H, max bytes, formats — copied from the §13 table
TABLE = [
    ("x_avatar", 400, 400, 690_000, JP),
    ("x_banner", 1500, 500, 2_000_000, J),
    ("mastodon_avatar", 400, 400, 2_000_000, JP),
    ("mastodon_header", 1500, 500, 2_000_000, J),
    ("bluesky_avatar", 1000, 1000, 976_000, J),
    ("bluesky_banner", 3000, 1000, 976_000, J),
    ("gravatar_avatar", 1024, 1024, 1_000_000, JP),
    ("youtube_banner", 2560, 1440, 6_000_000, J),
    ("fb_page_picture", 720, 720, 1_000_000, J),
    ("fb_page_cover", 1640, 924, 1_000_000, J),
    ("manual_facebook_avatar", 720, 720, 1_000_000, J),
    ("manual_facebook_cover", 1640, 924, 1_000_000, J),
    ("manual_instagram_avatar", 1080, 1080, 1_000_000, J),
    ("manual_linkedin_avatar", 400, 400, 8_000_000, J),
    ("manual_linkedin_banner", 1584, 396, 8_000_000, J),
    ("manual_github_avatar", 500, 500, 1_000_000, PJ),
    ("manual_youtube_avatar", 800, 800, 4_000_000, J),
    ("manual_discord_avatar", 512, 512, 8_000_000, P),
    ("manual_discord_banner", 680, 240, 8_000_000, J),
    ("manual_twitch_avatar", 256, 256, 10_000_000, PJ),
    ("manual_twitch_banner", 1200, 480, 10_000_000, J),
]


@pytest.mark.parametrize(("key", "width", "height", "max_bytes", "formats"), TABLE)
def test_every_platform_row_matches_the_table(key, width, height, max_bytes, formats):
    p = presets.get(key)
    assert (p.width, p.height, p.max_bytes, p.formats) == (width, height, max_bytes, formats)
    assert p.kind == ("avatar" if width == height else "banner")
    assert p.manual is key.startswith("manual_")
    assert p.fixed
    assert p.label and p.platform != "linkarooie"


def test_thumbnails_and_nothing_else_beyond_the_table():
    extra = {p.key for p in presets.PRESETS} - {row[0] for row in TABLE}
    assert extra == {"thumb_avatar_64", "thumb_avatar_128", "thumb_avatar_256", "thumb_banner_600"}
    for size in (64, 128, 256):
        p = presets.get(f"thumb_avatar_{size}")
        assert (p.kind, p.width, p.height, p.platform) == ("avatar", size, size, "linkarooie")
    banner = presets.get("thumb_banner_600")
    assert (banner.kind, banner.width, banner.height) == ("banner", 600, 200)


def test_keys_are_unique_and_formats_lowercase():
    keys = [p.key for p in presets.PRESETS]
    assert len(keys) == len(set(keys))
    for p in presets.PRESETS:
        assert p.formats and all(f in ("jpeg", "png", "webp") for f in p.formats)
        assert p.mask in ("circle", "rounded", "square", "rect")


def test_for_kind_partitions_the_presets():
    avatars, banners = presets.for_kind("avatar"), presets.for_kind("banner")
    assert len(avatars) + len(banners) == len(presets.PRESETS)
    assert all(p.width == p.height for p in avatars)
    assert all(p.mask == "rect" for p in banners)
    assert presets.for_kind("nope") == ()


def test_banner_safe_zones_follow_section_13():
    assert presets.get("youtube_banner").safe_zone == (1546, 423)
    assert presets.get("fb_page_cover").safe_zone == (1640, 624)
    assert presets.get("manual_facebook_cover").safe_zone == (1640, 624)
    for key in ("x_banner", "mastodon_header", "bluesky_banner"):  # 3:1 centre band
        p = presets.get(key)
        assert p.safe_zone[0] == p.width and p.safe_zone[1] < p.height
    for p in presets.PRESETS:
        if p.safe_zone:
            assert p.kind == "banner"
            assert p.safe_zone[0] <= p.width and p.safe_zone[1] <= p.height


def test_avatar_overlap_where_the_platform_covers_the_banner():
    x = presets.get("x_banner").avatar_overlap
    assert x[0] < 1500 / 4 and x[1] > 500 / 2  # bottom-left
    linkedin = presets.get("manual_linkedin_banner").avatar_overlap
    assert linkedin[0] < 1584 / 4  # left side
    assert presets.get("youtube_banner").avatar_overlap is None
    assert all(p.avatar_overlap is None for p in presets.for_kind("avatar"))


def test_aspect_labels():
    assert presets.get("x_banner").aspect == "3:1"
    assert presets.get("youtube_banner").aspect == "16:9"
    assert presets.get("fb_page_cover").aspect == "16:9"  # 1640x924 is 16:9 within 0.2%
    assert presets.get("manual_linkedin_banner").aspect == "4:1"
    assert presets.get("manual_twitch_banner").aspect == "5:2"
    assert presets.get("x_avatar").aspect == "1:1"


def test_unknown_key_is_a_key_error_and_a_404():
    with pytest.raises(KeyError):
        presets.get("myspace_avatar")
    with pytest.raises(NotFound) as info:
        presets.get("myspace_avatar")
    assert isinstance(info.value, DomainError) and info.value.status == 404
    assert "myspace_avatar" in str(info.value)


def test_as_dict_is_json_ready():
    d = presets.as_dict(presets.get("youtube_banner"))
    assert {"key", "kind", "platform", "width", "height", "max_bytes", "formats"} <= d.keys()
    assert d["formats"] == ["jpeg"] and d["safe_zone"] == [1546, 423]
    json.dumps([presets.as_dict(p) for p in presets.PRESETS])


def test_presets_are_immutable():
    with pytest.raises(AttributeError):
        presets.get("x_avatar").width = 1  # type: ignore[misc]
