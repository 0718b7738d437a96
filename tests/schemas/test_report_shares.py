"""How every report states a share (schemas/reports.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schemas.reports import percent


def test_no_whole_is_no_figure_not_zero() -> None:
    assert percent(0, 0) is None
    assert percent(3, 0) is None


def test_two_decimals() -> None:
    assert percent(1, 3) == 33.33
    assert percent(2, 3) == 66.67
    assert percent(5, 5) == 100.0


@given(st.integers(min_value=1, max_value=10**9), st.data())
def test_a_part_of_the_whole_is_between_0_and_100(whole: int, data: st.DataObject) -> None:
    part = data.draw(st.integers(min_value=0, max_value=whole))
    share = percent(part, whole)
    assert share is not None
    assert 0.0 <= share <= 100.0
    assert abs(share - 100.0 * part / whole) <= 0.005
