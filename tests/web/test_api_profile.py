"""GET/PATCH /api/v1/profile: exactly the documented fields, the page's rules, 422 shape."""

import pytest

from app.extensions import db
from app.models import HandleRedirect, Profile
from tests.web.test_api_images import bearer

FIELDS = {"display_name", "handle", "bio", "website", "location", "links", "public"}


@pytest.fixture
def pat(make_user):
    return make_user(email="pat@example.com", name="Pat")


@pytest.fixture
def auth(pat):
    return bearer(pat)


def test_get_answers_exactly_the_documented_fields(client, auth):
    response = client.get("/api/v1/profile", headers=auth)
    assert response.status_code == 200
    assert response.json == {
        "display_name": "Pat",
        "handle": None,
        "bio": "",
        "website": "",
        "location": "",
        "links": [],
        "public": False,
    }


def test_patch_then_get_round_trips_and_keeps_link_order(client, auth, pat):
    links = [
        {"label": "Blog", "url": "https://blog.example"},
        {"label": "Code", "url": "https://code.example/pat"},
        {"label": "Art", "url": "http://art.example"},
    ]
    change = {"handle": "Pat_API", "bio": "From the API 👍🏽", "links": links, "public": True}
    response = client.patch("/api/v1/profile", json=change, headers=auth)
    assert response.status_code == 200
    assert set(response.json) == FIELDS
    again = client.get("/api/v1/profile", headers=auth).json
    assert again == {**again, **change}
    assert [link["label"] for link in again["links"]] == ["Blog", "Code", "Art"]

    # any subset: only the location changes
    client.patch("/api/v1/profile", json={"location": "Oslo"}, headers=auth)
    after = client.get("/api/v1/profile", headers=auth).json
    assert after == {**again, "location": "Oslo"}


def test_changing_the_handle_over_the_api_holds_the_old_one(client, auth, pat):
    client.patch("/api/v1/profile", json={"handle": "first_name"}, headers=auth)
    client.patch("/api/v1/profile", json={"handle": "second_name"}, headers=auth)
    db.session.expire_all()
    assert db.session.get(HandleRedirect, "first_name").user_id == pat.id


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"public": "true"}, "public", "true or false"),
        ({"bio": 12}, "bio", "text"),
        ({"handle": "api"}, "handle", "reserved"),
        ({"website": "ftp://x.example"}, "website", "http"),
        ({"links": [{"label": "A"}]}, "links", "label"),
        ({"links": {"label": "A", "url": "https://a.example"}}, "links", "list"),
        ({"display_name": "x" * 101}, "display_name", "100"),
        ({"indexable": False}, "indexable", "Not a profile field"),
        ({"avatar": "x"}, "avatar", "Not a profile field"),
    ],
)
def test_bad_fields_are_a_422_naming_each_field(client, auth, pat, body, field, message):
    response = client.patch("/api/v1/profile", json={"bio": "unchanged?", **body}, headers=auth)
    assert response.status_code == 422
    assert set(response.json) >= {"error", "fields"}
    assert response.json["error"]
    assert list(response.json["fields"]) == [field]
    assert message in response.json["fields"][field]
    db.session.expire_all()
    profile = db.session.get(Profile, pat.id)
    assert profile is None or profile.bio == ""  # nothing was applied


def test_a_handle_taken_in_another_case_is_a_422(client, auth, make_user):
    other = bearer(make_user(email="sam@example.com", name="Sam"))
    assert (
        client.patch("/api/v1/profile", json={"handle": "Sammy"}, headers=other).status_code == 200
    )
    response = client.patch("/api/v1/profile", json={"handle": "SAMMY"}, headers=auth)
    assert response.status_code == 422
    assert response.json["fields"] == {"handle": "That handle is taken."}


@pytest.mark.parametrize("data", [b"[1, 2]", b"not json", b'"text"'])
def test_a_body_that_is_not_an_object_is_a_422(client, auth, data):
    response = client.patch(
        "/api/v1/profile", data=data, content_type="application/json", headers=auth
    )
    assert response.status_code == 422
    assert response.json["fields"] == {} and response.json["error"]


def test_without_a_token_it_is_401(client):
    assert client.get("/api/v1/profile").status_code == 401
    assert client.patch("/api/v1/profile", json={"bio": "x"}).status_code == 401
