"""Analytics: visits and events recorded without slowing anything down (buffered, written in
batches), counted per day, with no raw IP address stored anywhere. No Flask request objects."""

from app.services.analytics.recording import flush, record, record_visit, recorder
from app.services.analytics.rollup import prune, rollup_day

__all__ = ["flush", "prune", "record", "record_visit", "recorder", "rollup_day"]
