"""Webhooks: endpoints (endpoints.py) and delivering events to them (delivery.py, which
registers the event-stream consumer on import)."""

from app.services.webhooks import delivery, endpoints

__all__ = ["delivery", "endpoints"]
