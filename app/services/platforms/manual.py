"""The platforms with no API for a profile picture or banner (platforms.md §3.1, 4, 7, 8, 9, 11).

A person adds one as "I use Instagram as @handle". In a sync its slots become manual tasks: we
prepare each file at the platform's size, link to the page where it is changed and say how, and
the person presses "Done". These are data, not adapters: nothing here talks to the platform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.models import PlatformAccount
from app.services.platforms.base import Capabilities, ConnectFailed, Connection, Platform

# Usernames on these platforms are letters, digits and . _ - ; a leading @ or a pasted profile
# URL's last segment is accepted too, since that is what people copy.
HANDLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, eq=False)
class ManualPlatform(Platform):
    key: str  # type: ignore[misc]  (instances, unlike adapters, set these per object)
    label: str  # type: ignore[misc]
    slots: dict[str, str]
    settings_url: str
    steps: dict[str, tuple[str, ...]]
    profile: str | None = None  # the public profile URL, with {handle}
    note: str = ""
    service: str = ""  # what people call the platform ("I use YouTube as …"), if not the label
    capabilities: Capabilities = field(init=False)  # type: ignore[misc]

    def __post_init__(self) -> None:
        object.__setattr__(self, "capabilities", Capabilities(slots=self.slots, connect="manual"))
        if not self.service:
            object.__setattr__(self, "service", self.label)

    def connect(self, form: dict[str, str]) -> Connection:
        raw = (form.get("handle") or "").strip().rstrip("/")
        handle = raw.rsplit("/", 1)[-1].lstrip("@")
        if not HANDLE.fullmatch(handle):
            raise ConnectFailed(
                f"Type your {self.service} username (letters, digits, dots, dashes or underscores)."
            )
        return Connection(remote_id=handle.lower(), handle=f"@{handle}")

    def profile_url(self, account: PlatformAccount) -> str | None:
        if not self.profile:
            return None
        return self.profile.format(handle=account.remote_id)

    def steps_for(self, slot: str) -> tuple[str, ...]:
        return self.steps.get(slot, ())


MANUAL_PLATFORMS = (
    ManualPlatform(
        key="instagram",
        label="Instagram",
        slots={"avatar": "manual_instagram_avatar"},
        settings_url="https://www.instagram.com/accounts/edit/",
        profile="https://www.instagram.com/{handle}/",
        steps={
            "avatar": (
                "Open Edit profile.",
                "Choose Change photo, then Upload photo.",
                "Pick the file you downloaded.",
            )
        },
    ),
    ManualPlatform(
        key="threads",
        label="Threads",
        slots={"avatar": "manual_instagram_avatar"},
        settings_url="https://www.threads.net/",
        profile="https://www.threads.net/@{handle}",
        steps={
            "avatar": (
                "Open your profile and choose Edit profile.",
                "Tap your picture and choose New profile picture.",
                "Pick the file you downloaded (Threads may offer to use your Instagram photo).",
            )
        },
    ),
    ManualPlatform(
        key="linkedin",
        label="LinkedIn",
        slots={"avatar": "manual_linkedin_avatar", "banner": "manual_linkedin_banner"},
        settings_url="https://www.linkedin.com/in/me/",
        profile="https://www.linkedin.com/in/{handle}/",
        steps={
            "avatar": (
                "On your profile, click your photo.",
                "Choose Edit, then Change photo / Upload photo.",
                "Pick the photo file you downloaded and save.",
            ),
            "banner": (
                "On your profile, click the pencil on the background image.",
                "Choose Change photo / Upload photo.",
                "Pick the background file you downloaded and apply.",
            ),
        },
    ),
    ManualPlatform(
        key="facebook",
        label="Facebook (personal profile)",
        service="Facebook",
        slots={"avatar": "manual_facebook_avatar", "banner": "manual_facebook_cover"},
        settings_url="https://www.facebook.com/me",
        profile="https://www.facebook.com/{handle}",
        note="Facebook has no API for personal profiles; Pages can be connected directly.",
        steps={
            "avatar": (
                "On your profile, click the camera on your profile picture.",
                "Choose Upload photo and pick the file you downloaded.",
                "Save.",
            ),
            "banner": (
                "On your profile, choose Edit cover photo.",
                "Choose Upload photo and pick the cover file you downloaded.",
                "Save changes.",
            ),
        },
    ),
    ManualPlatform(
        key="github",
        label="GitHub",
        slots={"avatar": "manual_github_avatar"},
        settings_url="https://github.com/settings/profile",
        profile="https://github.com/{handle}",
        note="GitHub shows your Gravatar unless you uploaded your own picture there.",
        steps={
            "avatar": (
                "Under Profile picture, choose Edit, then Upload a photo.",
                "Pick the file you downloaded.",
                "Choose Set new profile picture.",
            )
        },
    ),
    ManualPlatform(
        key="youtube_picture",
        label="YouTube channel picture",
        service="YouTube",
        slots={"avatar": "manual_youtube_avatar"},
        settings_url="https://studio.youtube.com/",
        profile="https://www.youtube.com/@{handle}",
        note="YouTube's API can change the banner (connect YouTube) but not the picture.",
        steps={
            "avatar": (
                "In YouTube Studio, open Customization, then Profile.",
                "Under Picture, choose Change and pick the file you downloaded.",
                "Choose Done, then Publish.",
            )
        },
    ),
    ManualPlatform(
        key="discord",
        label="Discord",
        slots={"avatar": "manual_discord_avatar", "banner": "manual_discord_banner"},
        # Discord has no stable link to its settings; its app opens on this page.
        settings_url="https://discord.com/channels/@me",
        steps={
            "avatar": (
                "Open User Settings (the gear by your name), then Profiles.",
                "Choose Change Avatar and upload the file you downloaded.",
                "Save Changes.",
            ),
            "banner": (
                "Open User Settings, then Profiles (profile banners need Nitro).",
                "Choose Change Banner and upload the banner file you downloaded.",
                "Save Changes.",
            ),
        },
    ),
    ManualPlatform(
        key="twitch",
        label="Twitch",
        slots={"avatar": "manual_twitch_avatar", "banner": "manual_twitch_banner"},
        settings_url="https://www.twitch.tv/settings/profile",
        profile="https://www.twitch.tv/{handle}",
        steps={
            "avatar": (
                "Under Profile Picture, choose Update Profile Picture.",
                "Pick the file you downloaded.",
            ),
            "banner": (
                "Under Profile Banner, choose Update.",
                "Pick the banner file you downloaded.",
            ),
        },
    ),
)
