"""The operator's use cases on shops and keys. Each changes the authoritative tables, moves the
shop's version on, publishes the shop's whole new state on shops.state and records the audit entry,
all in the caller's transaction; once it commits the route hands the state to the runtime's
follower (`Context.take_shops`) so intake itself sees it at once."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from runtime.audit import SYSTEM, Caller, record_audit
from runtime.db import Connection
from runtime.outbox import enqueue
from runtime.shops import Shop, hash_api_key, new_api_key
from schemas.registry import make_event
from schemas.v1.shops import ShopState, ShopStatus

from ..context import Context
from ..domain.shops import (
    EDITABLE,
    KeyRecord,
    ShopRecord,
    ShopRefused,
    check_new_key,
    check_timezone,
    key_to_revoke,
    state_of,
    status_changes,
)
from ..repository import shops as repo

SOURCE = "careloop/intake"


async def _publish(conn: Connection, ctx: Context, shop: ShopRecord) -> ShopState:
    state = state_of(shop, await repo.keys_of(conn, shop.id))
    event = make_event("shop.state", SOURCE, state, subject=shop.id, time=shop.updated_at)
    await enqueue(conn, ctx.shops_topic, event, key=shop.id)
    return state


async def _shop(conn: Connection, shop_id: str) -> ShopRecord:
    shop = await repo.for_update(conn, shop_id)
    if shop is None:
        raise ShopRefused(404, "not_found", f"no shop {shop_id!r}")
    return shop


async def create_shop(
    conn: Connection, ctx: Context, caller: Caller, fields: Mapping[str, Any], at: datetime
) -> ShopState:
    check_timezone(fields["timezone"])
    shop = await repo.create(conn, fields, at)
    if shop is None:
        raise ShopRefused(409, "shop_exists", f"shop {fields['id']!r} already exists")
    await caller.record(conn, "shop.create", f"shop:{shop.id}", shop_id=shop.id)
    return await _publish(conn, ctx, shop)


async def change_shop(
    conn: Connection, ctx: Context, caller: Caller, shop_id: str, fields: Mapping[str, Any], at: datetime
) -> ShopState:
    current = await _shop(conn, shop_id)
    if "timezone" in fields:
        check_timezone(fields["timezone"])
    if not fields:
        return state_of(current, await repo.keys_of(conn, shop_id))
    shop = await repo.change(conn, shop_id, fields, at)
    await caller.record(conn, "shop.update", f"shop:{shop_id}", shop_id=shop_id)
    return await _publish(conn, ctx, shop)


async def set_shop_status(
    conn: Connection, ctx: Context, caller: Caller, shop_id: str, status: ShopStatus, at: datetime
) -> ShopState:
    """Suspend or resume; asking for the status the shop has changes nothing and records nothing."""
    current = await _shop(conn, shop_id)
    if not status_changes(current.status, status):
        return state_of(current, await repo.keys_of(conn, shop_id))
    shop = await repo.change(conn, shop_id, {"status": status.value}, at)
    action = "shop.suspend" if status is ShopStatus.SUSPENDED else "shop.resume"
    await caller.record(conn, action, f"shop:{shop_id}", shop_id=shop_id)
    return await _publish(conn, ctx, shop)


async def issue_shop_key(
    conn: Connection, ctx: Context, caller: Caller, shop_id: str, name: str, at: datetime
) -> tuple[ShopState, KeyRecord, str]:
    """A new key for the shop, valid beside its others (a rotation): the state, the key's record and
    the key itself, which is never stored and never shown again."""
    await _shop(conn, shop_id)
    check_new_key(await repo.keys_of(conn, shop_id), name)
    secret = new_api_key()
    key_id = f"key_{secrets.token_hex(8)}"
    key = KeyRecord(key_id=key_id, name=name, sha256=hash_api_key(secret), created_at=at)
    await repo.add_key(conn, shop_id, key)
    shop = await repo.change(conn, shop_id, {}, at)
    await caller.record(conn, "key.issue", f"key:{key.key_id}", shop_id=shop_id)
    return await _publish(conn, ctx, shop), key, secret


async def revoke_shop_key(
    conn: Connection, ctx: Context, caller: Caller, shop_id: str, key_id: str, at: datetime
) -> ShopState:
    """The key authenticates nothing from the moment each service has the new state; revoking a
    revoked key changes nothing."""
    current = await _shop(conn, shop_id)
    keys = await repo.keys_of(conn, shop_id)
    if key_to_revoke(keys, key_id) is None:
        return state_of(current, keys)
    await repo.revoke_key(conn, shop_id, key_id, at)
    shop = await repo.change(conn, shop_id, {}, at)
    await caller.record(conn, "key.revoke", f"key:{key_id}", shop_id=shop_id)
    return await _publish(conn, ctx, shop)


async def seed_shops(conn: Connection, ctx: Context, shops: Iterable[Shop], at: datetime) -> list[ShopState]:
    """The JSON file's shops that the table does not have yet, as version 1 with their file key(s):
    how `make run` gets its demo shops onto shops.state. A shop already in the table keeps what the
    operator made of it (the file is a seed, not a second authority)."""
    from_file = [shop for shop in shops if shop.version == 0]
    known = await repo.known_ids(conn, [shop.id for shop in from_file])
    states = []
    for shop in from_file:
        if shop.id in known:
            continue
        fields = shop.model_dump(include={"id", *EDITABLE})
        record = await repo.create(conn, fields, at)
        if record is None:
            continue  # another intake replica seeded it meanwhile
        for key in shop.keys:
            await repo.add_key(conn, shop.id, KeyRecord(key.key_id, key.name, key.sha256, at, key.revoked_at))
        await record_audit(conn, ctx.audit, SYSTEM, "shop.seed", f"shop:{shop.id}", shop_id=shop.id, at=at)
        states.append(await _publish(conn, ctx, record))
    return states
