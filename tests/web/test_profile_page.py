"""The /profile page: renders, saves, refuses with per-field messages, live limits, htmx links."""

import pytest

from app.extensions import db
from app.models import Profile

HX = {"HX-Request": "true"}


@pytest.fixture
def pat(make_user, login):
    user = make_user(email="pat@example.com", name="Pat")
    login(user)
    return user


def stored(user) -> Profile:
    db.session.expire_all()
    return db.session.get(Profile, user.id)


def form(**overrides):
    data = {
        "handle": "pat",
        "display_name": "Pat",
        "bio": "",
        "website": "",
        "location": "",
        "public": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_signed_out_people_are_sent_to_sign_in(client):
    response = client.get("/profile")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_page_renders_with_the_nav_link_and_limits(client, pat):
    response = client.get("/profile")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'href="/profile"' in body
    assert "Mastodon 0/500" in body and "Bluesky 0/256" in body and "X 0/160" in body
    assert 'hx-trigger="input changed delay:300ms"' in body
    assert "<script>" not in body  # the CSP forbids inline scripts


def test_saving_stores_every_field(client, pat):
    response = client.post(
        "/profile",
        data=form(handle="Pat_P", bio="Hi there", website="https://pat.example", location="Porto"),
    )
    assert response.status_code == 302
    profile = stored(pat)
    assert (profile.handle, profile.bio, profile.website, profile.location) == (
        "Pat_P",
        "Hi there",
        "https://pat.example",
        "Porto",
    )
    assert profile.public is True and profile.indexable is False
    assert "Profile saved." in client.get("/profile").get_data(as_text=True)


def test_bad_input_is_a_422_with_the_form_and_a_message_per_field(client, pat):
    response = client.post(
        "/profile", data=form(handle="admin", website="ftp://x.example", bio="kept text")
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "That handle is reserved." in body
    assert "Must be an http:// or https:// address." in body
    assert "kept text" in body  # what the person typed is still there
    assert stored(pat).bio == ""


def test_a_handle_someone_else_has_is_refused_on_the_page(client, pat, make_user):
    from app.services import profiles

    other = make_user(email="sam@example.com", name="Sam")
    profiles.update(other, {"handle": "TakenOne"})
    db.session.commit()
    response = client.post("/profile", data=form(handle="takenone"))
    assert response.status_code == 422
    assert "That handle is taken." in response.get_data(as_text=True)


def test_the_limits_partial_names_the_platform_that_would_cut_the_bio(client, pat):
    response = client.post("/profile/limits?field=bio", data={"bio": "b" * 200}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="limits-bio"' in body and "<html" not in body
    assert "Mastodon 200/500" in body and "Bluesky 200/256" in body and "X 200/160" in body
    assert "too long for X" in body and "Bluesky," not in body

    emoji = client.post("/profile/limits?field=bio", data={"bio": "👍🏽" * 250}, headers=HX)
    text = emoji.get_data(as_text=True)
    assert "Bluesky 250/256" in text and "too long for X" in text


def test_the_limits_partial_covers_the_display_name(client, pat):
    response = client.post("/profile/limits?field=display_name", data={"display_name": "x" * 40})
    body = response.get_data(as_text=True)
    assert "Mastodon 40/30" in body and "too long for Mastodon" in body
    assert "X 40/50" in body


def test_limits_for_an_unknown_field_is_a_400(client, pat):
    assert client.post("/profile/limits?field=password", data={}).status_code == 400


def add(client, label, url, headers=HX):
    return client.post("/profile/links", data={"label": label, "url": url}, headers=headers)


def labels(user) -> list[str]:
    return [link["label"] for link in stored(user).links]


def test_links_add_remove_and_reorder_with_htmx_answer_the_partial(client, pat):
    for name in ("One", "Two", "Three"):
        response = add(client, name, f"https://{name.lower()}.example")
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        assert 'id="links"' in body and "<html" not in body and name in body
    assert labels(pat) == ["One", "Two", "Three"]

    response = client.post(
        "/profile/links/move", data={"index": "2", "direction": "up"}, headers=HX
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.index("Three") < body.index("Two")
    assert labels(pat) == ["One", "Three", "Two"]

    client.post("/profile/links/move", data={"index": "0", "direction": "down"}, headers=HX)
    assert labels(pat) == ["Three", "One", "Two"]

    response = client.post("/profile/links/remove", data={"index": "1"}, headers=HX)
    assert response.status_code == 200 and "One" not in response.get_data(as_text=True)
    assert labels(pat) == ["Three", "Two"]


def test_a_bad_link_answers_422_with_messages_and_saves_nothing(client, pat):
    response = add(client, "", "javascript:alert(1)")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Give the link a label." in body and "http:// or https://" in body
    assert stored(pat).links == []


def test_moving_a_link_that_is_not_there_is_a_422_not_a_500(client, pat):
    add(client, "One", "https://one.example")
    for data in ({"index": "5", "direction": "up"}, {"index": "x", "direction": "up"}, {}):
        response = client.post("/profile/links/move", data=data, headers=HX)
        assert response.status_code == 422
    assert client.post("/profile/links/remove", data={"index": "9"}).status_code == 422
    assert labels(pat) == ["One"]


def test_plain_form_posts_work_and_redirect_back(client, pat):
    response = add(client, "Site", "https://site.example", headers={})
    assert response.status_code == 302 and response.headers["Location"].endswith("/profile#links")
    response = client.post("/profile/links/remove", data={"index": "0"})
    assert response.status_code == 302
    assert labels(pat) == []


def test_every_post_needs_the_csrf_token(client, pat):
    for url in ("/profile", "/profile/limits?field=bio", "/profile/links", "/profile/links/move"):
        assert client.post(url, data={"label": "a"}, csrf=False).status_code == 400


def test_the_page_fields_boxes_choose_what_the_public_page_shows(client, pat):
    shown = {"show_avatar": "on", "show_display_name": "on", "show_bio": "on", "show_links": "on"}
    response = client.post(
        "/profile",
        data=form(handle="PatShows", bio="Birds and boats", location="Porto", page_fields="1")
        | shown,
    )
    assert response.status_code == 302
    assert stored(pat).shown_fields == {"banner": False, "location": False, "website": False}
    page = client.get("/@PatShows").get_data(as_text=True)
    assert "Birds and boats" in page and "Porto" not in page
    body = client.get("/profile").get_data(as_text=True)
    assert 'id="profile-show-location" name="show_location" type="checkbox" >' in body
    assert 'id="profile-show-bio" name="show_bio" type="checkbox" checked' in body

    # A post without the boxes (a script that knows only the text fields) leaves them alone.
    client.post("/profile", data=form(handle="PatShows", location="Porto"))
    assert stored(pat).shown_fields == {"banner": False, "location": False, "website": False}
    # Every box ticked again: nothing hidden.
    every = {f"show_{name}": "on" for name in ("avatar", "banner", "display_name", "bio")}
    every |= {"show_location": "on", "show_website": "on", "show_links": "on"}
    client.post("/profile", data=form(handle="PatShows", location="Porto", page_fields="1") | every)
    assert stored(pat).shown_fields == {}
    assert "Porto" in client.get("/@PatShows").get_data(as_text=True)
