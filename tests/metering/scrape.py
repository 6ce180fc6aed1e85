"""Reading a /metrics body in tests, through prometheus-client's own parser."""
from __future__ import annotations

from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample as (name, labels, value)."""
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def total(text: str, name: str, **labels: str) -> float:
    """The sum of `name` over the samples whose labels include `labels`."""
    return sum(value for sample, have, value in samples(text)
               if sample == name and all(have.get(k) == v for k, v in labels.items()))


def per_label(text: str, name: str, label: str) -> dict[str, float]:
    """`name` summed per value of one label."""
    out: dict[str, float] = defaultdict(float)
    for sample, have, value in samples(text):
        if sample == name and label in have:
            out[have[label]] += value
    return dict(out)
