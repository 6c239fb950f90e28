"""How profile text is fitted to each platform: cut in the platform's unit, at a grapheme (and
where possible a word) boundary, with the cut marked."""

from __future__ import annotations

from app.services.platforms import get
from app.services.platforms.base import TextLimit
from app.services.profiles.fitting import cut_to, fit
from app.services.profiles.limits import graphemes

TEXT = {"display_name": "Pat", "bio": "", "website": "https://pat.example", "links": []}


def test_a_long_bio_is_cut_to_blueskys_256_graphemes_counting_an_emoji_as_one():
    bio = "👍🏽" * 300  # each a thumb and a skin tone: two code points, one grapheme
    fitted = fit({**TEXT, "bio": bio}, get("bluesky").capabilities)
    assert graphemes(fitted.values["bio"]) == 256
    assert fitted.values["bio"] == "👍🏽" * 255 + "…"  # no thumb parted from its skin tone
    assert fitted.cut == {"bio"}
    assert "fields" not in fitted.values  # Bluesky's record has no place for links


def test_heavy_emoji_are_cut_to_blueskys_byte_cap_too():
    family = "👨‍👩‍👧‍👦"  # one grapheme, 25 bytes: 200 of them are 5000 bytes
    fitted = fit({**TEXT, "bio": family * 200}, get("bluesky").capabilities)
    bio = fitted.values["bio"]
    assert len(bio.encode()) <= 2560 and bio.endswith("…")
    assert bio[:-1] == family * ((2560 - 3) // 25)  # whole families only


def test_x_s_160_is_cut_at_a_word_boundary():
    bio = "word " * 50
    cut, was_cut = cut_to(bio, TextLimit(160))
    assert was_cut and len(cut) <= 160 and cut.endswith("word…")
    fitted = fit({**TEXT, "bio": bio.strip()}, get("x").capabilities)
    assert fitted.values["bio"] == cut and fitted.cut == {"bio"}
    assert fitted.values["website"] == "https://pat.example"


def test_an_address_too_long_to_keep_is_left_out_not_cut():
    long_url = "https://pat.example/" + "a" * 100
    fitted = fit({**TEXT, "website": long_url}, get("x").capabilities)
    assert "website" not in fitted.values and "website" in fitted.cut


def test_text_that_fits_is_left_exactly_as_written():
    assert cut_to("Hello  there\n", TextLimit(160)) == ("Hello  there\n", False)


def test_mastodon_gets_the_website_first_then_links_up_to_four_pairs():
    links = [{"label": f"Link {i}", "url": f"https://{i}.example"} for i in range(5)]
    fitted = fit({**TEXT, "links": links}, get("mastodon").capabilities)
    assert fitted.values["display_name"] == "Pat"
    assert "bio" not in fitted.values  # empty: the platform keeps what it has
    assert fitted.values["fields"] == [
        ["Website", "https://pat.example"],
        ["Link 0", "https://0.example"],
        ["Link 1", "https://1.example"],
        ["Link 2", "https://2.example"],
    ]
    assert fitted.cut == {"fields"}


def test_the_digest_changes_with_the_text_and_only_with_it():
    masto = get("mastodon").capabilities
    same = fit(dict(TEXT), masto).digest
    assert fit(dict(TEXT), masto).digest == same
    assert fit({**TEXT, "display_name": "Pat!"}, masto).digest != same


def test_platforms_that_do_not_push_text_get_nothing():
    assert fit({**TEXT, "bio": "hi"}, get("youtube").capabilities).values == {}
