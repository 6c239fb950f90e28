"""The crop page as a new user meets it: a slow connection, a phone, and the save button."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.support import (
    HeldBack,
    element_image,
    is_blank,
    poll_until,
    sign_in,
    upload_ready,
    wait_js,
)
from tests.unit import images as gen


@pytest.fixture
def pat(live_server, page, make_user):
    make_user(email="pat@example.com", name="Pat")
    sign_in(page, live_server, "pat@example.com")


@pytest.fixture
def held():
    server = HeldBack()
    yield server
    server.close()


def crop_link(page, kind: str = "avatar") -> str:
    return page.locator(f"#grid-{kind} a.crop-link").first.get_attribute("href")


def wait_until_drawn(page, selector: str, timeout_s: float = 15) -> None:
    """Until every canvas matched shows a picture (checked as pixels, as a person sees them)."""
    canvases = page.locator(selector)
    for _ in range(int(timeout_s * 4)):
        if not any(is_blank(element_image(c)) for c in canvases.all()):
            return
        page.wait_for_timeout(250)
    blank = [i for i, c in enumerate(canvases.all()) if is_blank(element_image(c))]
    raise AssertionError(f"previews still blank: {blank} of {canvases.count()}")


def test_live_previews_are_drawn_when_the_picture_arrives_slowly(
    live_server, page, pat, run_jobs, tmp_path, held
):
    """The editor copy arrives in two parts (its head, then the rest when the test says), while
    the processed files arrive in between: the previews drawn meanwhile must not leave a blank
    copy behind, and after an edit every live preview shows the picture."""
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(gen.jpeg(gen.photo(2400, 1800, seed=11), quality=92))
    upload_ready(page, live_server, run_jobs, photo)
    href = crop_link(page)

    def hold_editor_copy(route) -> None:
        answer = route.fetch()
        held.body, held.content_type = answer.body(), answer.headers["content-type"]
        route.continue_(url=held.url)

    waiting: list = []  # processed files wait until the editor copy is half there

    def wait(route) -> None:
        waiting.append(route)

    page.route("**/previews/**", hold_editor_copy)
    page.route("**/variants/**", wait)
    page.goto(live_server + href, wait_until="commit")
    wait_js(page, "document.getElementById('crop-source')?.naturalWidth > 0")
    assert not page.evaluate("() => document.getElementById('crop-source').complete")
    page.unroute("**/variants/**", wait)
    for route in waiting:
        route.continue_()
    wait_js(  # every preview shows its processed file, drawn while the editor copy is half-loaded
        page,
        "document.querySelectorAll('.pv[data-showing=processed]').length"
        " === document.querySelectorAll('.pv').length",
    )
    held.release()
    page.wait_for_selector(".cropper-crop-box")

    page.click("[data-action=zoom-in]")
    expect(page.locator("#preview-source")).to_have_text("Live preview")
    wait_until_drawn(page, ".pv .pv-main canvas")
    page.shot("live-after-slow-load")


def test_save_is_the_main_action_only_once_the_crop_changed(
    live_server, page, pat, run_jobs, tmp_path
):
    photo = tmp_path / "face.jpg"
    photo.write_bytes(gen.jpeg(gen.photo(900, 900, seed=3), quality=90))
    upload_ready(page, live_server, run_jobs, photo)
    page.goto(live_server + crop_link(page))
    page.wait_for_selector(".cropper-crop-box")
    save = page.get_by_role("button", name="Save crop and make the files")
    expect(save).to_be_disabled()  # the files of this crop exist already
    expect(save).to_have_class("secondary")
    page.shot("save-nothing-changed")

    page.click("[data-action=zoom-in]")
    expect(save).to_be_enabled()
    expect(save).not_to_have_class("secondary")  # Pico's primary button
    page.shot("save-after-a-change")

    save.click()
    poll_until(page, run_jobs, "#processed[data-status=ready]")
    expect(save).to_be_disabled()  # saved: nothing to do again until the next change
    expect(save).to_have_class("secondary")


PHONE = {"width": 390, "height": 844}


def box_of(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def a_preview_in_view(page) -> bool:
    """Some preview is wholly on screen, on top (not covered), and shows a picture."""
    for canvas in page.locator(".pv .pv-main canvas").all():
        box = canvas.bounding_box()
        inside = box and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]
        inside = inside and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        if not inside:
            continue
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        on_top = page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y)?.closest('.pv-frame') !== null", [x, y]
        )
        if on_top and not is_blank(element_image(canvas)):
            return True
    return False


@pytest.mark.parametrize("kind", ["avatar", "banner"])
def test_a_phone_shows_a_preview_while_cropping(live_server, page, pat, run_jobs, tmp_path, kind):
    size = (1200, 1200) if kind == "avatar" else (2400, 900)
    photo = tmp_path / f"{kind}.jpg"
    photo.write_bytes(gen.jpeg(gen.photo(*size, seed=5), quality=90))
    upload_ready(page, live_server, run_jobs, photo, kind=kind)
    page.set_viewport_size(PHONE)
    page.goto(live_server + crop_link(page, kind))
    page.wait_for_selector(".cropper-crop-box")
    page.click("[data-action=zoom-in]")  # an edit: the previews are live
    page.shot(f"phone-{kind}")
    page.shot(f"phone-{kind}-top", full_page=False)

    height = page.evaluate("() => document.documentElement.scrollHeight")
    assert height < 2 * PHONE["height"], height  # was over 4,000 px: every preview stacked
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]

    # the stage has the picture's shape, not a tall black box around a thin strip
    stage = box_of(page, ".crop-stage")
    picture = box_of(page, ".cropper-canvas")
    expected = stage["width"] * size[1] / size[0]
    assert stage["height"] <= max(expected, 100) * 1.25, (stage, expected)  # was 2.8 times
    assert picture["height"] >= stage["height"] * 0.85 or picture["width"] >= stage["width"] * 0.9

    # with the whole editor on screen, a preview is on screen too
    page.evaluate("(y) => window.scrollTo(0, y)", page.evaluate("() => scrollY") + stage["y"] - 8)
    stage = box_of(page, ".crop-stage")
    assert stage["y"] >= 0 and stage["y"] + stage["height"] <= PHONE["height"]
    assert a_preview_in_view(page)
    page.shot(f"phone-{kind}-cropping", full_page=False)
