"""Score maths over answer histograms (score -> number of answers).

NPS = % promoters (9-10) - % detractors (0-6); CSAT = % of answers 4-5; CES = mean; response
rate = answered / invited. Every function returns None when there is nothing to measure, never 0,
so an empty period is not mistaken for a bad one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from schemas.reports import percent

Histogram = Mapping[int, int]


def histogram(scores: Iterable[int]) -> Counter[int]:
    return Counter(scores)


def total(counts: Histogram) -> int:
    return sum(counts.values())


def _share(counts: Histogram, low: int, high: int) -> float:
    n = total(counts)
    return sum(c for score, c in counts.items() if low <= score <= high) / n


def nps(counts: Histogram) -> float | None:
    if total(counts) == 0:
        return None
    return round(100.0 * (_share(counts, 9, 10) - _share(counts, 0, 6)), 2)


def csat(counts: Histogram) -> float | None:
    """Share of satisfied answers (4 or 5 of 5), in percent."""
    if total(counts) == 0:
        return None
    return round(100.0 * _share(counts, 4, 5), 2)


def ces(counts: Histogram) -> float | None:
    """Mean effort score (1-7, higher is easier)."""
    n = total(counts)
    if n == 0:
        return None
    return round(sum(score * c for score, c in counts.items()) / n, 3)


def response_rate(answered: int, invited: int) -> float | None:
    """Percent of invitations answered; capped at 100 (answers may outlive their invitation period)."""
    return percent(min(answered, invited), invited)
