"""How the shops' reports state a share, the same in every service's report (intake, SLA, notify,
survey): a percentage of the whole with two decimals, and no figure at all (null) when there is no
whole to take a share of, so an empty period never reads as 0 % or 100 %. Pure, so domains use it."""

from __future__ import annotations


def percent(part: int, whole: int) -> float | None:
    return None if whole <= 0 else round(100.0 * part / whole, 2)
