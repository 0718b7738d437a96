"""The operator's shop rules, without I/O: the state shops.state carries, how many keys a shop may
hold, revoking (idempotent), and the time zones a shop may have."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.v1.shops import ShopStatus
from services.intake.domain.shops import (
    MAX_VALID_KEYS,
    KeyRecord,
    ShopRecord,
    ShopRefused,
    check_new_key,
    check_timezone,
    key_to_revoke,
    state_of,
    status_changes,
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SHOP = ShopRecord("s", 3, "S", "Europe/Warsaw", "pl", "PL", ShopStatus.ACTIVE, None, None, AT, AT)


def key(n: int, revoked: bool = False) -> KeyRecord:
    return KeyRecord(f"key_{n}", f"k{n}", f"{n:064x}", AT + timedelta(minutes=n), AT if revoked else None)


def test_the_state_carries_every_key_as_a_hash_oldest_first_revoked_ones_too() -> None:
    state = state_of(SHOP, [key(2), key(1, revoked=True)])
    assert (state.shop_id, state.version, state.country, state.status) == ("s", 3, "PL", ShopStatus.ACTIVE)
    assert [(k.key_id, k.revoked_at) for k in state.keys] == [("key_1", AT), ("key_2", None)]
    assert "sha256" in state.keys[0].model_dump()


@given(valid=st.integers(min_value=0, max_value=MAX_VALID_KEYS + 2), revoked=st.integers(0, 5))
def test_a_key_is_issued_while_the_shop_holds_fewer_than_the_limit(valid: int, revoked: int) -> None:
    keys = [key(n) for n in range(valid)] + [key(100 + n, revoked=True) for n in range(revoked)]
    if valid < MAX_VALID_KEYS:
        check_new_key(keys, "fresh")
    else:
        with pytest.raises(ShopRefused) as refused:
            check_new_key(keys, "fresh")
        assert (refused.value.status, refused.value.code) == (409, "too_many_keys")


def test_a_valid_keys_name_is_not_given_twice_but_a_revoked_ones_may_be() -> None:
    with pytest.raises(ShopRefused, match="already has a valid key named"):
        check_new_key([key(1)], "k1")
    check_new_key([key(1, revoked=True)], "k1")


def test_revoking_is_idempotent_and_an_unknown_key_is_404() -> None:
    assert key_to_revoke([key(1), key(2)], "key_2") == key(2)
    assert key_to_revoke([key(1, revoked=True)], "key_1") is None
    with pytest.raises(ShopRefused) as refused:
        key_to_revoke([key(1)], "key_9")
    assert refused.value.status == 404


def test_time_zones_and_status_changes() -> None:
    check_timezone("America/Argentina/Buenos_Aires")
    for bad in ("Mars/Olympus", "../etc/passwd", ""):
        with pytest.raises(ShopRefused, match="unknown time zone"):
            check_timezone(bad)
    assert status_changes(ShopStatus.ACTIVE, ShopStatus.SUSPENDED)
    assert not status_changes(ShopStatus.SUSPENDED, ShopStatus.SUSPENDED)
