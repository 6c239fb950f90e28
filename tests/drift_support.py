"""Shared steps for the drift watch tests: pictures for "the person" to set on a platform
themselves, and one round of the real periodic job."""

from __future__ import annotations

import io

from PIL import Image

from app.extensions import db
from app.jobs import enqueue_on_commit
from app.models import PlatformAccount
from tests.unit import images as gen


def their_picture(seed: int = 40, size: int = 500) -> bytes:
    """A picture the person chose on the platform, not one of ours."""
    return gen.jpeg(gen.photo(size, size, seed=seed))


def reencoded(data: bytes, size: tuple[int, int], quality: int = 60) -> bytes:
    """`data` as a platform stores it: resized and re-encoded."""
    im = Image.open(io.BytesIO(data)).convert("RGB").resize(size, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def watch_round(run_jobs) -> None:
    """One round of the periodic `watch_drift` job, through the queue and a real worker."""
    enqueue_on_commit("watch_drift")
    db.session.commit()
    run_jobs()
    db.session.expire_all()


def slot_state(account_id: int, slot: str) -> str | None:
    db.session.expire_all()
    row = db.session.get(PlatformAccount, account_id).slot(slot)
    return row.drift_status if row is not None and row.drift_for == row.sha256 else None
