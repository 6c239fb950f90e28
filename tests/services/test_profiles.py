"""The profile service: every validation rule, handle hand-overs and redirects, platform limits."""

from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.models import HandleRedirect, Profile
from app.services import profiles
from app.services.profiles import editing
from app.services.profiles.limits import graphemes


@pytest.fixture
def pat(make_user):
    return make_user(email="pat@example.com", name="Pat")


@pytest.fixture
def sam(make_user):
    return make_user(email="sam@example.com", name="Sam")


def refused(user, changes) -> dict[str, str]:
    with pytest.raises(profiles.ProfileInvalid) as caught:
        profiles.update(user, changes)
    assert caught.value.status == 422
    return caught.value.fields


def test_get_or_create_starts_private_with_the_users_name(pat):
    profile = profiles.get_or_create(pat)
    db.session.commit()
    assert (profile.display_name, profile.public, profile.links, profile.handle) == (
        "Pat",
        False,
        [],
        None,
    )
    assert profiles.get_or_create(pat) is profile


def test_update_saves_every_field_and_keeps_link_order(pat):
    links = [{"label": f"L{i}", "url": f"https://example.com/{i}"} for i in (3, 1, 2)]
    profiles.update(
        pat,
        {
            "handle": "Pat_99",
            "display_name": " Pat P ",
            "bio": "Hello",
            "website": "https://pat.example",
            "location": "Lisbon",
            "links": links,
            "public": True,
            "indexable": False,
        },
    )
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Profile, pat.id)
    assert stored.handle == "Pat_99" and stored.handle_key == "pat_99"
    assert stored.display_name == "Pat P"
    assert [link["label"] for link in stored.links] == ["L3", "L1", "L2"]
    assert (stored.public, stored.indexable, stored.website) == (True, False, "https://pat.example")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"handle": "ab"}, "handle", "3 to 30"),
        ({"handle": "a" * 31}, "handle", "3 to 30"),
        ({"handle": "no-dash"}, "handle", "3 to 30"),
        ({"handle": "Admin"}, "handle", "reserved"),
        ({"handle": "SETTINGS"}, "handle", "reserved"),
        ({"handle": 5}, "handle", "text"),
        ({"display_name": "x" * 101}, "display_name", "100"),
        ({"bio": "x" * 2001}, "bio", "2000"),
        ({"location": "x" * 101}, "location", "100"),
        ({"website": "ftp://example.com"}, "website", "http"),
        ({"website": "javascript:alert(1)"}, "website", "http"),
        ({"website": "https://" + "a" * 500 + ".com"}, "website", "500"),
        ({"links": "nope"}, "links", "list"),
        ({"links": [{"label": "", "url": "https://a.example"}]}, "links", "label"),
        ({"links": [{"label": "x" * 51, "url": "https://a.example"}]}, "links", "50"),
        ({"links": [{"label": "A", "url": "mailto:a@example.com"}]}, "links", "http"),
        ({"links": [{"label": "A", "url": "https://a.example", "x": 1}]}, "links", "only"),
        ({"links": [{"label": "A", "url": "https://a.example"}] * 21}, "links", "20"),
        ({"public": "yes"}, "public", "true or false"),
        ({"colour": "red"}, "colour", "Not a profile field"),
    ],
)
def test_each_rule_refuses_with_a_message_for_its_field(pat, changes, field, message):
    fields = refused(pat, changes)
    assert list(fields) == [field]
    assert message in fields[field]


def test_errors_for_several_fields_come_together_and_nothing_is_saved(pat):
    profiles.update(pat, {"bio": "before"})
    db.session.commit()
    fields = refused(pat, {"bio": "after", "handle": "x", "website": "nope"})
    assert set(fields) == {"handle", "website"}
    db.session.rollback()
    assert db.session.get(Profile, pat.id).bio == "before"


def test_handles_are_unique_whatever_their_case(pat, sam):
    profiles.update(pat, {"handle": "PatRocks"})
    db.session.commit()
    assert "taken" in refused(sam, {"handle": "patrocks"})["handle"]
    # the owner may change only the case of their own
    profiles.update(pat, {"handle": "patrocks"})
    db.session.commit()
    assert db.session.get(HandleRedirect, "patrocks") is None


def test_changing_handle_holds_the_old_one_for_its_owner_for_30_days(pat, sam, monkeypatch):
    profiles.update(pat, {"handle": "OldName"})
    db.session.commit()
    profiles.update(pat, {"handle": "NewName"})
    db.session.commit()

    held = db.session.get(HandleRedirect, "oldname")
    assert held.user_id == pat.id
    remaining = held.expires_at - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < remaining <= timedelta(days=30)

    assert "held" in refused(sam, {"handle": "oldname"})["handle"]
    db.session.rollback()

    # 31 days on, the hold is over: someone else may take it and the stale row goes
    later = datetime.now(UTC) + timedelta(days=31)
    monkeypatch.setattr(editing, "utcnow", lambda: later)
    profiles.update(sam, {"handle": "OLDNAME"})
    db.session.commit()
    assert db.session.get(Profile, sam.id).handle_key == "oldname"
    assert db.session.get(HandleRedirect, "oldname") is None


def test_taking_back_ones_own_old_handle_removes_its_redirect(pat):
    profiles.update(pat, {"handle": "first"})
    profiles.update(pat, {"handle": "second"})
    db.session.commit()
    assert db.session.get(HandleRedirect, "first") is not None
    profiles.update(pat, {"handle": "First"})
    db.session.commit()
    assert db.session.get(HandleRedirect, "first") is None
    assert db.session.get(HandleRedirect, "second").user_id == pat.id
    assert db.session.get(Profile, pat.id).handle == "First"


def test_clearing_the_handle_also_holds_it(pat, sam):
    profiles.update(pat, {"handle": "gone_soon"})
    profiles.update(pat, {"handle": ""})
    db.session.commit()
    assert db.session.get(Profile, pat.id).handle is None
    assert "held" in refused(sam, {"handle": "gone_soon"})["handle"]


def test_graphemes_count_what_a_reader_sees():
    assert graphemes("👍🏽") == 1  # thumbs up + skin tone
    assert graphemes("e\u0301") == 1
    assert graphemes("👩\u200d💻") == 1
    assert graphemes("🇵🇹🇧🇷") == 2
    assert graphemes("abc") == 3


def by_platform(result):
    return {p.platform: p.fields for p in result}


def test_limits_come_from_the_adapters_and_say_who_would_cut(pat):
    profile = profiles.update(pat, {"bio": "x" * 200, "display_name": "Pat"})
    limits = by_platform(profiles.platform_limits(profile))
    assert set(limits) == {"mastodon", "bluesky", "x"}
    assert (limits["mastodon"]["bio"].limit, limits["mastodon"]["bio"].over) == (500, False)
    assert (limits["bluesky"]["bio"].limit, limits["bluesky"]["bio"].unit) == (256, "graphemes")
    assert limits["x"]["bio"].limit == 160 and limits["x"]["bio"].over
    assert limits["x"]["display_name"].used == 3


def test_bluesky_counts_an_emoji_with_skin_tone_as_one(pat):
    profile = profiles.get_or_create(pat)
    bio = "👍🏽" * 256
    limits = by_platform(profiles.platform_limits(profile, {"bio": bio}))
    assert limits["bluesky"]["bio"].used == 256 and not limits["bluesky"]["bio"].over
    # Mastodon and X count characters: the same text is 512 of them
    assert limits["mastodon"]["bio"].used == 512 and limits["mastodon"]["bio"].over
