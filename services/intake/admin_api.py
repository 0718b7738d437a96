"""The operator API, `/v1/admin/*`, with its own credential (`Authorization: Bearer
<CARELOOP_ADMIN_TOKEN>`, 401 otherwise): shops (create, read, change, suspend, resume) and their API
keys (issue, shown once; revoke). Every change is published on shops.state and so reaches every
service within seconds, without a restart (docs/operations.md "Shops and keys")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from runtime.db import Connection, Database
from runtime.http_api import AdminCaller, ApiError, Db, api_context
from runtime.metrics import counted_on_commit
from schemas.v1.shops import KEY_ID_PATTERN, SHOP_ID_PATTERN, ShopState, ShopStatus

from . import handlers
from .api_models import Problem
from .context import Context
from .domain.shops import KeyRecord, ShopRecord, ShopRefused
from .repository import shops as repo

ContextDep = Annotated[Context, Depends(api_context)]
ShopId = Annotated[str, Path(pattern=SHOP_ID_PATTERN)]
KeyId = Annotated[str, Path(pattern=KEY_ID_PATTERN)]
URL = r"^https?://[^\s]+$"

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or wrong admin credential (or none configured)"},
    404: {"model": Problem, "description": "no such shop or key"},
    409: {"model": Problem, "description": "shop_exists, too_many_keys or key_name_taken"},
    422: {"model": Problem, "description": "invalid body or parameters (invalid_timezone)"},
}

router = APIRouter(tags=["admin"], responses=ERRORS)


class ShopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=SHOP_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="Europe/Warsaw", min_length=1, max_length=64)
    locale: str = Field(default="en", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="for public holidays")
    url: str | None = Field(default=None, pattern=URL, max_length=500)
    public_base_url: str | None = Field(default=None, pattern=URL, max_length=500)


class ShopPatch(BaseModel):
    """Only what is sent changes; `country`, `url` and `public_base_url` may be sent as null."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    locale: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    url: str | None = Field(default=None, pattern=URL, max_length=500)
    public_base_url: str | None = Field(default=None, pattern=URL, max_length=500)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="what the key is for, e.g. 'helpdesk'")


class KeyOut(BaseModel):
    key_id: str
    name: str
    fingerprint: str
    """The start of the key's SHA-256: tells keys apart without showing them."""
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    """As intake saw it (docs/operations.md): a minute behind at most."""


class ShopOut(BaseModel):
    id: str
    version: int
    name: str
    timezone: str
    locale: str
    country: str | None
    status: ShopStatus
    url: str | None
    public_base_url: str | None
    created_at: datetime
    updated_at: datetime
    keys: list[KeyOut]


class ShopList(BaseModel):
    shops: list[ShopOut]


class IssuedKey(BaseModel):
    key_id: str
    name: str
    created_at: datetime
    key: str
    """The key itself: shown this once, stored only as its SHA-256."""


def _view(shop: ShopRecord, keys: list[KeyRecord]) -> ShopOut:
    return ShopOut(
        **{name: getattr(shop, name) for name in ShopOut.model_fields if name != "keys"},
        keys=[
            KeyOut(
                key_id=k.key_id,
                name=k.name,
                fingerprint=k.sha256[:12],
                created_at=k.created_at,
                revoked_at=k.revoked_at,
                last_used_at=k.last_used_at,
            )
            for k in keys
        ],
    )


@asynccontextmanager
async def change(db: Database) -> AsyncIterator[Connection]:
    """One operator change's transaction; the domain's refusals answered."""
    try:
        with counted_on_commit():
            async with db.transaction() as conn:
                yield conn
    except ShopRefused as exc:
        raise ApiError(exc.status, exc.code, exc.detail) from None


async def _published(db: Database, ctx: Context, state: ShopState) -> ShopOut:
    """After the commit: intake's own registry takes the state at once; the shop as it is now."""
    if ctx.take_shops is not None:
        await ctx.take_shops([state])
    return await _shop_view(db, state.shop_id)


async def _shop_view(db: Database, shop_id: str) -> ShopOut:
    async with db.pool.acquire() as conn:
        shop = await repo.get(conn, shop_id)
        if shop is None:
            raise ApiError(404, "not_found", f"no shop {shop_id!r}")
        return _view(shop, await repo.keys_of(conn, shop_id))


def _now() -> datetime:
    # wall time: when the operator acted, whatever the domain's (possibly accelerated) clock says
    return datetime.now(UTC)


@router.post("/v1/admin/shops", response_model=ShopOut, status_code=201)
async def create_shop(body: ShopIn, caller: AdminCaller, db: Db, ctx: ContextDep) -> ShopOut:
    """A new shop, active, without keys yet (issue one next)."""
    async with change(db) as conn:
        state = await handlers.create_shop(conn, ctx, caller, body.model_dump(), _now())
    return await _published(db, ctx, state)


@router.get("/v1/admin/shops", response_model=ShopList)
async def list_shops(caller: AdminCaller, db: Db) -> ShopList:
    async with db.pool.acquire() as conn:
        shops = await repo.all_shops(conn)
        keys = await repo.all_keys(conn)
    return ShopList(shops=[_view(shop, keys.get(shop.id, [])) for shop in shops])


@router.get("/v1/admin/shops/{shop_id}", response_model=ShopOut)
async def get_shop(shop_id: ShopId, caller: AdminCaller, db: Db) -> ShopOut:
    return await _shop_view(db, shop_id)


@router.patch("/v1/admin/shops/{shop_id}", response_model=ShopOut)
async def update_shop(
    shop_id: ShopId, body: ShopPatch, caller: AdminCaller, db: Db, ctx: ContextDep
) -> ShopOut:
    fields = body.model_dump(exclude_unset=True)
    for name in ("name", "timezone", "locale"):
        if name in fields and fields[name] is None:
            raise ApiError(422, "invalid_request", f"{name} cannot be null")
    async with change(db) as conn:
        state = await handlers.change_shop(conn, ctx, caller, shop_id, fields, _now())
    return await _published(db, ctx, state)


@router.post("/v1/admin/shops/{shop_id}/suspend", response_model=ShopOut)
async def suspend_shop(shop_id: ShopId, caller: AdminCaller, db: Db, ctx: ContextDep) -> ShopOut:
    """Its keys answer 403 on every service and its events wait (held, never lost) until resumed."""
    async with change(db) as conn:
        state = await handlers.set_shop_status(conn, ctx, caller, shop_id, ShopStatus.SUSPENDED, _now())
    return await _published(db, ctx, state)


@router.post("/v1/admin/shops/{shop_id}/resume", response_model=ShopOut)
async def resume_shop(shop_id: ShopId, caller: AdminCaller, db: Db, ctx: ContextDep) -> ShopOut:
    """Its keys work again and the events held meanwhile are applied, in order."""
    async with change(db) as conn:
        state = await handlers.set_shop_status(conn, ctx, caller, shop_id, ShopStatus.ACTIVE, _now())
    return await _published(db, ctx, state)


@router.post("/v1/admin/shops/{shop_id}/keys", response_model=IssuedKey, status_code=201)
async def issue_key(shop_id: ShopId, body: KeyIn, caller: AdminCaller, db: Db, ctx: ContextDep) -> IssuedKey:
    """A new key, valid beside the shop's others (rotate: issue, switch the client, revoke the old)."""
    async with change(db) as conn:
        state, key, secret = await handlers.issue_shop_key(conn, ctx, caller, shop_id, body.name, _now())
    await _published(db, ctx, state)
    return IssuedKey(key_id=key.key_id, name=key.name, created_at=key.created_at, key=secret)


@router.delete("/v1/admin/shops/{shop_id}/keys/{key_id}", status_code=204)
async def revoke_key(
    shop_id: ShopId, key_id: KeyId, caller: AdminCaller, db: Db, ctx: ContextDep
) -> Response:
    """The key answers 401 on every service within seconds; revoking it again changes nothing."""
    async with change(db) as conn:
        state = await handlers.revoke_shop_key(conn, ctx, caller, shop_id, key_id, _now())
    await _published(db, ctx, state)
    return Response(status_code=204)
