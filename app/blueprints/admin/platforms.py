"""Status-page sections about the product's own health: platforms, the image pipeline, users."""

from __future__ import annotations

from app.blueprints.admin import section
from app.services.ops import pipeline, platforms, users


@section("platforms", "Platforms", order=50)
def platform_health() -> dict:
    return {"platforms": platforms.health(), "errors": platforms.recent_errors()}


@section("pipeline", "Image pipeline", order=60)
def image_pipeline() -> dict:
    return {"pipeline": pipeline.health()}


@section("users_summary", "Users", order=12)
def users_summary() -> dict:
    return {"counts": users.counts()}
