"""What the e-mail routes do: a shop's SMTP relay (set, show without its password, remove) and the
reply e-mails sent through it. Every query is scoped to the caller's shop."""

from __future__ import annotations

import asyncio

from runtime.audit import Caller
from runtime.db import Database
from runtime.http_api import ApiError
from runtime.shops import Shop
from services.notify.api_models import EmailSendOut, RelayIn, RelayOut
from services.notify.context import Context
from services.notify.repository import email
from services.notify.resolver import Forbidden, Resolver, Unresolvable
from services.notify.smtp import Relay
from services.notify.use_cases import audited

RESOLVE_SECONDS = 3.0
"""How long a relay check waits for DNS before accepting the host as it is (every connection is
checked again)."""


async def check_relay_host(host: str, port: int, ctx: Context) -> None:
    """Refuses (422 `relay_refused`) a relay the egress policy forbids, as webhook URLs are."""
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            await Resolver(ctx.config.egress_policy()).allowed_addresses(host.strip("[]"), port)
    except Forbidden as refused:
        raise ApiError(422, "relay_refused", f"relay refused: {refused.reason}") from None
    except (Unresolvable, TimeoutError):
        return


async def put_relay(
    db: Database, ctx: Context, shop: Shop, body: RelayIn, who: Caller | None = None
) -> RelayOut:
    await check_relay_host(body.host, body.port, ctx)
    relay = Relay(
        host=body.host.strip("[]"),
        port=body.port,
        starttls=body.starttls,
        username=body.username,
        password=body.password.get_secret_value() if body.password is not None else None,
        from_address=body.from_address,
        from_name=body.from_name,
    )
    async with db.transaction() as conn:
        row = await email.put_relay(conn, shop.id, relay, ctx.now())
        await audited(conn, who, "email_relay.update", f"shop:{shop.id}")
    return RelayOut.of(row)


async def get_relay(db: Database, shop: Shop) -> RelayOut:
    async with db.pool.acquire() as conn:
        row = await email.get_relay(conn, shop.id)
    if row is None:
        raise ApiError(404, "not_found", "the shop has no SMTP relay")
    return RelayOut.of(row)


async def delete_relay(db: Database, shop: Shop, who: Caller | None = None) -> None:
    async with db.transaction() as conn:
        if not await email.delete_relay(conn, shop.id):
            raise ApiError(404, "not_found", "the shop has no SMTP relay")
        await audited(conn, who, "email_relay.delete", f"shop:{shop.id}")


async def list_sends(db: Database, shop: Shop, status: str | None, limit: int) -> list[EmailSendOut]:
    async with db.pool.acquire() as conn:
        rows = await email.list_sends(conn, shop.id, status, limit)
    return [EmailSendOut.of(r) for r in rows]
