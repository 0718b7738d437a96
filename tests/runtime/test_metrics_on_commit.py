"""Metric updates made inside a counted scope wait for it to end well, and for every scope around it."""

from __future__ import annotations

import pytest

from runtime.metrics import counted_on_commit, on_commit


def test_outside_any_scope_an_update_is_made_at_once() -> None:
    made: list[str] = []
    on_commit(lambda: made.append("now"))
    assert made == ["now"]


def test_a_scope_makes_its_updates_at_its_end_and_drops_them_on_an_exception() -> None:
    made: list[str] = []
    with counted_on_commit():
        on_commit(lambda: made.append("kept"))
        assert made == []
    assert made == ["kept"]
    with pytest.raises(RuntimeError), counted_on_commit():
        on_commit(lambda: made.append("rolled back"))
        raise RuntimeError("the transaction failed")
    assert made == ["kept"]


def test_a_nested_scope_waits_for_the_outer_one() -> None:
    made: list[str] = []
    with pytest.raises(RuntimeError), counted_on_commit():
        with counted_on_commit():
            on_commit(lambda: made.append("savepoint"))
        assert made == []  # the savepoint is through, the transaction is not yet
        with pytest.raises(ValueError, match="rolled back"), counted_on_commit():
            on_commit(lambda: made.append("failed savepoint"))
            raise ValueError("this savepoint rolled back")
        raise RuntimeError("then the commit failed")
    assert made == []
    with counted_on_commit():
        with counted_on_commit():
            on_commit(lambda: made.append("savepoint"))
        with pytest.raises(ValueError, match="rolled back"), counted_on_commit():
            on_commit(lambda: made.append("failed savepoint"))
            raise ValueError("this savepoint rolled back")
    assert made == ["savepoint"]
