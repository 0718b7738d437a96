"""The pure parts of shops without restarts: the registry's keys (several at once, revocation,
suspension, the file's seed key), folding shops.state records (highest version wins, in any order,
read any number of times), and which events a suspended shop's hold takes."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runtime.holds import blocked_shops, reason_for
from runtime.shop_state import advancing
from runtime.shops import SEED_KEY_ID, Shop, ShopRegistry, hash_api_key
from schemas.v1.shops import ShopKeyState, ShopState, ShopStatus

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def state(shop_id: str, version: int, keys: dict[str, str | None], status: str = "active") -> ShopState:
    """keys: key id -> None (valid) or "revoked"."""
    return ShopState(
        shop_id=shop_id,
        version=version,
        name=f"Shop {shop_id}",
        timezone="Europe/Warsaw",
        locale="pl",
        status=ShopStatus(status),
        keys=[
            ShopKeyState(
                key_id=key_id,
                name=key_id,
                sha256=hash_api_key(f"secret-{shop_id}-{key_id}"),
                created_at=AT,
                revoked_at=AT if revoked else None,
            )
            for key_id, revoked in keys.items()
        ],
        changed_at=AT,
    )


def test_the_files_key_is_the_shops_seed_key() -> None:
    registry = ShopRegistry([Shop(id="a", name="A", api_key_sha256=hash_api_key("clk_a"))])
    found = registry.authenticate("clk_a")
    assert found is not None
    assert (found.shop.id, found.key_id, found.shop.version) == ("a", SEED_KEY_ID, 0)
    assert registry.authenticate("clk_b") is None


def test_several_keys_work_at_once_and_a_revoked_one_stops() -> None:
    registry = ShopRegistry([])
    assert registry.put(Shop.from_state(state("a", 1, {"old": None, "new": None})))
    assert {registry.authenticate(f"secret-a-{k}").key_id for k in ("old", "new")} == {"old", "new"}  # type: ignore[union-attr]
    assert registry.put(Shop.from_state(state("a", 2, {"old": "revoked", "new": None})))
    assert registry.authenticate("secret-a-old") is None
    assert registry.authenticate("secret-a-new") is not None


def test_an_older_or_repeated_state_never_takes_a_shop_back() -> None:
    registry = ShopRegistry([])
    registry.put(Shop.from_state(state("a", 3, {"k": "revoked"})))
    assert not registry.put(Shop.from_state(state("a", 2, {"k": None})))
    assert not registry.put(Shop.from_state(state("a", 3, {"k": None})))
    assert registry.authenticate("secret-a-k") is None


def test_a_suspended_shop_still_authenticates_so_the_api_can_answer_403() -> None:
    registry = ShopRegistry([])
    registry.put(Shop.from_state(state("a", 1, {"k": None}, "suspended")))
    found = registry.authenticate("secret-a-k")
    assert found is not None
    assert found.shop.suspended
    assert registry.suspended() == frozenset({"a"})


def test_uses_are_remembered_until_taken() -> None:
    registry = ShopRegistry([])
    registry.put(Shop.from_state(state("a", 1, {"k": None})))
    registry.authenticate("secret-a-k")
    assert set(registry.take_uses()) == {("a", "k")}
    assert registry.take_uses() == {}


versions = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.integers(min_value=1, max_value=6),
        st.dictionaries(st.sampled_from(["k1", "k2", "k3"]), st.sampled_from([None, "revoked"]), max_size=3),
        st.sampled_from(["active", "suspended"]),
    ),
    max_size=12,
)


def _fresh_states(records: list[tuple[str, int, dict[str, Any], str]]) -> list[ShopState]:
    # one state per (shop, version): a version is published once
    seen: dict[tuple[str, int], ShopState] = {}
    for shop_id, version, keys, status in records:
        seen.setdefault((shop_id, version), state(shop_id, version, keys, status))
    return list(seen.values())


@given(records=versions, order=st.randoms(use_true_random=False))
def test_the_fold_keeps_the_highest_version_in_any_order_and_any_number_of_reads(
    records: list[tuple[str, int, dict[str, Any], str]], order: Any
) -> None:
    states = _fresh_states(records)
    shuffled = list(states) * 2
    order.shuffle(shuffled)
    registry = ShopRegistry([])
    for s in shuffled:
        registry.put(Shop.from_state(s))
    best = advancing({}, shuffled)
    for shop_id in ("a", "b"):
        mine = [s for s in states if s.shop_id == shop_id]
        if not mine:
            assert registry.get(shop_id) is None
            assert shop_id not in best
            continue
        top = max(mine, key=lambda s: s.version)
        assert best[shop_id] == top
        shop = registry.get(shop_id)
        assert shop is not None
        assert shop.version == top.version
        assert shop.status is top.status
        for key in top.keys:
            found = registry.authenticate(f"secret-{shop_id}-{key.key_id}")
            assert (found is not None) == (key.revoked_at is None)
        # a state the registry already has moves nothing forward
        assert advancing({shop_id: top.version}, mine) == {}


def test_only_the_suspended_or_still_waiting_shops_events_are_held() -> None:
    run: Any = [(None, SimpleNamespace(data=SimpleNamespace(shop_id=s))) for s in ("a", "b", "c", "a")]
    assert blocked_shops(run, frozenset({"a"}), frozenset()) == {"a"}
    assert blocked_shops(run, frozenset(), frozenset({"c"})) == {"c"}
    assert blocked_shops(run, frozenset({"x"}), frozenset()) == frozenset()
    assert reason_for("a", frozenset({"a"})).startswith("shop_suspended: ")
    assert reason_for("c", frozenset()).startswith("shop_resuming: ")
