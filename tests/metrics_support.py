"""Jobs and a reader for the metrics tests (the jobs importable by a worker, as RQ needs)."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from app.jobs import DEFAULT, job


@job(DEFAULT)
def take_a_moment(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@job(DEFAULT)
def fail_on_purpose(reason: str) -> None:
    raise RuntimeError(reason)


class Scrape:
    """One /metrics answer, parsed by prometheus-client's own text parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def value(self, sample: str, **labels: str) -> float:
        """The sample's value (0 when the series does not exist yet)."""
        for family in self.families.values():
            for s in family.samples:
                if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                    return s.value
        return 0.0

    def buckets(self, name: str, **labels: str) -> list[tuple[float, float]]:
        """(upper bound, cumulative count) of a histogram series, in bound order."""
        found = [
            (float(s.labels["le"]), s.value)
            for s in self.families[name].samples
            if s.name == f"{name}_bucket" and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        return sorted(found)
