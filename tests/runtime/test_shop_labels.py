"""The `shop` label's cardinality budget: the registry's first shops keep their id, every other shop is
"(other)", a shop's label never changes, and the label never takes more values than the budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.metrics import OTHER_SHOPS, ShopLabels, configure_shop_labels, shop_label
from runtime.shops import Shop

shop_ids = st.from_regex(r"[A-Za-z0-9_.-]{1,8}", fullmatch=True)


def test_the_registrys_first_shops_take_the_places_in_file_order() -> None:
    labels = ShopLabels(2, ["big", "bigger", "small"])
    assert [labels(s) for s in ("small", "bigger", "big", "new")] == [
        OTHER_SHOPS,
        "bigger",
        "big",
        OTHER_SHOPS,
    ]


def test_a_shop_not_in_the_registry_takes_a_free_place_first_come() -> None:
    labels = ShopLabels(3, ["a"])
    assert [labels(s) for s in ("x", "y", "z", "x", "a")] == ["x", "y", OTHER_SHOPS, "x", "a"]


def test_a_limit_of_zero_drops_the_per_shop_split() -> None:
    labels = ShopLabels(0, ["a", "b"])
    assert {labels("a"), labels("b"), labels("c")} == {OTHER_SHOPS}


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        ShopLabels(-1)


def test_no_shop_id_can_be_the_other_label() -> None:
    with pytest.raises(ValueError, match="should match pattern"):
        Shop(id=OTHER_SHOPS, name="x", api_key_sha256="0" * 64)


@given(
    limit=st.integers(min_value=0, max_value=6),
    registry=st.lists(shop_ids, max_size=10, unique=True),
    seen=st.lists(shop_ids, max_size=40),
)
def test_within_the_budget_and_stable(limit: int, registry: list[str], seen: list[str]) -> None:
    labels = ShopLabels(limit, registry)
    given_labels: dict[str, str] = {}
    for shop_id in seen:
        label = labels(shop_id)
        assert label in (shop_id, OTHER_SHOPS)
        assert given_labels.setdefault(shop_id, label) == label  # never changes once given
    kept = {label for label in given_labels.values() if label != OTHER_SHOPS}
    assert len(kept) <= limit
    # the registry's first `limit` shops are never "(other)"
    for shop_id in registry[:limit]:
        assert labels(shop_id) == shop_id
    # a shop is "(other)" only when every place is taken
    if OTHER_SHOPS in given_labels.values():
        assert len(kept | set(registry[:limit])) == limit


def test_the_process_wide_labels_follow_the_configuration() -> None:
    try:
        configure_shop_labels(1, ["first", "second"])
        assert (shop_label("first"), shop_label("second")) == ("first", OTHER_SHOPS)
    finally:
        configure_shop_labels(1000, [])
