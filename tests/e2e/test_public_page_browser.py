"""Headless Chromium: the public page /@<handle> on a phone (390 px) and a desk (1280 px).

Screenshots land in test-artifacts/ (phone, phone scrolled to the links, desk)."""

from __future__ import annotations

from app.extensions import db
from app.models.profile import Profile
from tests.e2e.test_sync_browser import watch_problems
from tests.sync_rows import make_images

LINKS = [
    {"label": "Mastodon", "url": "https://mastodon.example/@pat"},
    {"label": "Bluesky", "url": "https://bsky.example/profile/pat"},
    {"label": "My shop of hand-printed bird posters", "url": "https://shop.pat.example"},
    {"label": "Newsletter", "url": "https://pat.example/letters"},
]


def loaded(page, selector: str) -> bool:
    return page.evaluate(
        "(s) => { const i = document.querySelector(s); return !!i && i.complete"
        " && i.naturalWidth > 0; }",
        selector,
    )


def layout(page) -> dict:
    return page.evaluate(
        """() => {
          const box = (s) => document.querySelector(s).getBoundingClientRect();
          return {
            scroll: document.documentElement.scrollWidth,
            viewport: window.innerWidth,
            card: box('.public-card'),
            avatar: box('.public-avatar'),
            banner: box('.public-banner'),
            link: box('.public-link'),
          };
        }"""
    )


def test_public_page_on_a_phone_and_a_desk(live_server, page, make_user, run_jobs):
    problems = watch_problems(page)
    user = make_user(email="pat@example.com", name="Pat")
    make_images(user, run_jobs, seed=5)
    db.session.add(
        Profile(
            user_id=user.id,
            handle="PatQuinn",
            handle_key="patquinn",
            display_name="Pat Quinn",
            bio="Illustrator. I draw coastal birds and print them by hand.\nSlow mail welcome.",
            website="https://pat.example",
            location="Lisbon, Portugal",
            links=LINKS,
            public=True,
            shown_fields={},
            indexable=True,
        )
    )
    db.session.commit()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/@patquinn")
    page.wait_for_load_state("networkidle")
    assert page.title() == "Pat Quinn (@PatQuinn)"
    assert loaded(page, ".public-banner img") and loaded(page, "img.public-avatar")
    assert page.locator("a.public-link[href^='/l/']").count() == len(LINKS)
    assert page.locator("link[rel='me']").count() == len(LINKS) + 1  # and the website
    phone = layout(page)
    assert phone["scroll"] <= phone["viewport"]  # nothing sticks out sideways
    assert phone["card"]["width"] == phone["viewport"]  # edge to edge on a phone
    # the avatar overlaps the banner's lower edge, centred
    assert phone["avatar"]["top"] < phone["banner"]["bottom"] < phone["avatar"]["bottom"]
    middle = phone["avatar"]["left"] + phone["avatar"]["width"] / 2
    assert abs(middle - phone["viewport"] / 2) < 2
    assert phone["link"]["width"] > 300  # thumb-sized buttons across the screen
    page.shot("phone", full_page=False)
    page.shot("phone-full")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server}/@PatQuinn")
    page.wait_for_load_state("networkidle")
    desk = layout(page)
    assert desk["scroll"] <= desk["viewport"]
    assert desk["card"]["width"] == 640  # a column, not a stretched phone page
    assert abs(desk["card"]["left"] + 320 - desk["viewport"] / 2) < 2
    assert loaded(page, ".public-banner img")
    page.shot("desk")
    assert not problems, problems
