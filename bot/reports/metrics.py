"""A metric is defined once, here, with its denominator (MET-03); a report is a list of them.

Rates are rounded to 4 places and durations to 2, so the same figures come out of every format.
Medians are the middle value (the mean of the two middle ones for an even count); the 90th
percentile is the nearest-rank one: the smallest value with at least 90% of the values at or below it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

Number = int | float


@dataclass(frozen=True, slots=True)
class Metric:
    """One figure: numerator ÷ denominator = value, its unit, and what exactly it counts.

    A count has no denominator (value = numerator). A statistic over some items (a median, a
    percentile) has no numerator: its denominator is how many items it was taken over.
    """

    name: str
    numerator: Number | None
    denominator: int | None
    value: Number | None
    unit: str
    definition: str

    def as_dict(self) -> dict[str, Any]:
        """The metric as JSON, without its name (the key it is stored under)."""
        return {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "value": self.value,
            "unit": self.unit,
            "definition": self.definition,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """A report's metrics, the series its chart draws, and the plain figures older scripts read."""

    name: str
    as_of: datetime
    since: date | None
    metrics: tuple[Metric, ...]
    series: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)  # the keys `report ... --json` had before

    def metric(self, name: str) -> Metric:
        """One metric by name; KeyError if the report has none by that name."""
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)


def count(name: str, items: int, unit: str, definition: str) -> Metric:
    """A plain count."""
    return Metric(name, items, None, items, unit, definition)


def rate(name: str, numerator: int, denominator: int, definition: str, unit: str = "ratio") -> Metric:
    """numerator ÷ denominator, None when there is nothing to divide by."""
    return Metric(name, numerator, denominator, ratio(numerator, denominator), unit, definition)


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator ÷ denominator rounded to 4 places, or None for an empty denominator."""
    return round(numerator / denominator, 4) if denominator else None


def median_of(name: str, values: Sequence[float], unit: str, definition: str) -> Metric:
    """The median of some durations, over how many there were."""
    return Metric(name, None, len(values), median(values), unit, definition)


def p90_of(name: str, values: Sequence[float], unit: str, definition: str) -> Metric:
    """The 90th percentile (nearest rank) of some durations, over how many there were."""
    return Metric(name, None, len(values), p90(values), unit, definition)


def median(values: Iterable[float]) -> float | None:
    """The median rounded to 2 places, or None for no values."""
    data = list(values)
    return round(statistics.median(data), 2) if data else None


def p90(values: Iterable[float]) -> float | None:
    """The nearest-rank 90th percentile rounded to 2 places, or None for no values."""
    data = sorted(values)
    if not data:
        return None
    return round(data[math.ceil(0.9 * len(data)) - 1], 2)


def hours(start: datetime, end: datetime) -> float:
    """The time from start to end in hours."""
    return (end - start).total_seconds() / 3600


def minutes(start: datetime, end: datetime) -> float:
    """The time from start to end in minutes."""
    return (end - start).total_seconds() / 60
