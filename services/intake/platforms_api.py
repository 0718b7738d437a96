"""The shop platforms' webhook receivers and the shop's platform settings (docs/platforms.md).

- `POST /v1/platforms/shopify/{shop}` and `POST /v1/platforms/woocommerce/{shop}`: what a shop pastes
  into its platform. Signed by the platform, not by the shop's API key, so they are left out of the
  API's OpenAPI document (which describes the shop's own API) and described in docs/platforms.md.
  The signature is checked on the raw body before anything else reads it: 401 otherwise.
- `/v1/platforms/secrets` (the secrets a shop's platform signs with) and `/v1/platforms/dead-letters`
  (deliveries kept with their reason), with the shop's API key like the rest of the API.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from runtime.db import Connection, Database
from runtime.http_api import ApiError, CurrentShop, Db, api_context
from runtime.metrics import counted_on_commit
from runtime.shops import Shop

from . import handlers
from .api_models import Problem
from .audit_api import Auditor
from .context import Context
from .domain.platforms.deliveries import Outcome, Platform
from .domain.platforms.signatures import verify
from .handlers.platforms import Received, count
from .handlers.privacy import SHOPIFY_COMPLIANCE
from .privacy_api import shopify_privacy
from .repository import platforms as repo

ContextDep = Annotated[Context, Depends(api_context)]
MAX_SECRETS = 5
"""Per shop and platform: enough for a rotation, few enough that every delivery tries them all."""
HANDSHAKE = re.compile(rb"webhook_id=\d{1,20}")
"""WooCommerce's ping when a webhook is saved: a form body, unsigned, that must be answered 200."""

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or unknown API key"},
    404: {"model": Problem, "description": "no such secret in the caller's shop"},
    409: {"model": Problem, "description": "the shop has as many secrets for the platform as it may"},
    422: {"model": Problem, "description": "invalid body or parameters"},
}

router = APIRouter(tags=["platforms"])


class Answer(BaseModel):
    outcome: Outcome


class SecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Platform
    secret: str = Field(min_length=8, max_length=512, pattern=r"^[^\x00-\x1f]+$")
    """Shopify: the app's client secret (or the store's webhook signing key); WooCommerce: the
    webhook's Secret field."""


class SecretOut(BaseModel):
    id: int
    platform: Platform
    fingerprint: str
    """The start of the secret's SHA-256: tells secrets apart without showing them."""
    created_at: datetime
    delivery_path: str
    """The path to paste into the platform, after CareLoop's public base URL."""


class SecretList(BaseModel):
    secrets: list[SecretOut]


class DeadLetter(BaseModel):
    id: int
    platform: Platform
    topic: str
    delivery_key: str
    reason: str
    waiting: bool
    """True while the delivery waits for its order to be known (it is applied then, and removed)."""
    received_at: datetime
    payload: Any
    """The delivery's body: JSON as sent, else its text."""


class DeadLetterPage(BaseModel):
    dead_letters: list[DeadLetter]
    limit: int
    offset: int
    next_offset: int | None


def _secret_view(row: Any, shop_id: str) -> SecretOut:
    platform = Platform(row["platform"])
    return SecretOut(
        id=row["id"],
        platform=platform,
        fingerprint=hashlib.sha256(row["secret"].encode()).hexdigest()[:12],
        created_at=row["created_at"],
        delivery_path=f"/v1/platforms/{platform.value}/{shop_id}",
    )


def _payload(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")


# -- the shop's settings ---------------------------------------------------------------------------


@router.post("/v1/platforms/secrets", response_model=SecretOut, status_code=201, responses=ERRORS)
async def add_secret(body: SecretIn, shop: CurrentShop, db: Db, ctx: ContextDep, who: Auditor) -> SecretOut:
    """Add a secret the shop's platform signs its webhooks with. Several may stand at once (a
    rotation: add the new one, change it in the platform, delete the old one). It is never shown
    again."""
    async with db.transaction() as conn:
        if await repo.count_secrets(conn, shop.id, body.platform) >= MAX_SECRETS:
            raise ApiError(409, "too_many_secrets", f"at most {MAX_SECRETS} secrets per platform")
        row = await repo.add_secret(conn, shop.id, body.platform, body.secret, ctx.now())
        await who.record(conn, "platform_secret.add", f"platform_secret:{row['id']}")
    return _secret_view(row, shop.id)


@router.get("/v1/platforms/secrets", response_model=SecretList, responses=ERRORS)
async def list_secrets(shop: CurrentShop, db: Db) -> SecretList:
    """The shop's platform secrets, by fingerprint."""
    async with db.pool.acquire() as conn:
        rows = await repo.list_secrets(conn, shop.id)
    return SecretList(secrets=[_secret_view(r, shop.id) for r in rows])


@router.delete("/v1/platforms/secrets/{secret_id}", status_code=204, responses=ERRORS)
async def delete_secret(
    secret_id: Annotated[int, Path(ge=1, le=2**63 - 1)], shop: CurrentShop, db: Db, who: Auditor
) -> Response:
    """Stop accepting deliveries signed with this secret."""
    async with db.transaction() as conn:
        if not await repo.delete_secret(conn, shop.id, secret_id):
            raise ApiError(404, "not_found", f"no secret {secret_id}")
        await who.record(conn, "platform_secret.delete", f"platform_secret:{secret_id}")
    return Response(status_code=204)


@router.get("/v1/platforms/dead-letters", response_model=DeadLetterPage, responses=ERRORS)
async def dead_letters(
    shop: CurrentShop,
    db: Db,
    platform: Platform | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> DeadLetterPage:
    """Deliveries kept with their reason, newest first: those that cannot become CareLoop events, and
    those waiting for their order (applied and removed once an order delivery makes it known)."""
    async with db.pool.acquire() as conn:
        rows = await repo.dead_letters(conn, shop.id, platform, limit + 1, offset)
    page = [
        DeadLetter(
            id=r["id"],
            platform=Platform(r["platform"]),
            topic=r["topic"],
            delivery_key=r["delivery_key"],
            reason=r["reason"],
            waiting=r["waiting_for"] is not None,
            received_at=r["received_at"],
            payload=_payload(bytes(r["payload"])),
        )
        for r in rows[:limit]
    ]
    next_offset = offset + limit if len(rows) > limit else None
    return DeadLetterPage(dead_letters=page, limit=limit, offset=offset, next_offset=next_offset)


# -- the platforms' deliveries ---------------------------------------------------------------------


async def _signed_shop(
    db: Database,
    ctx: Context,
    platform: Platform,
    shop_id: str,
    topic: str,
    raw: bytes,
    signature: str | None,
) -> Shop:
    """The shop whose secret signed `raw`; 401 (counted) for an unknown shop, a shop without a secret,
    a missing or a wrong signature alike, so the answer tells a forger nothing."""
    shop = ctx.shops.get(shop_id)
    secrets: list[str] = []
    if shop is not None and signature:
        async with db.pool.acquire() as conn:
            secrets = await repo.secrets_of(conn, shop.id, platform)
    if shop is None or not verify(raw, signature, secrets):
        count(platform, topic, Outcome.UNAUTHORIZED)
        raise ApiError(401, "bad_signature", f"not signed with a {platform.value} secret of shop {shop_id!r}")
    return shop


@asynccontextmanager
async def _unit_of_work(db: Database) -> AsyncIterator[Connection]:
    with counted_on_commit():
        async with db.transaction() as conn:
            yield conn


async def _receive(db: Database, ctx: Context, shop: Shop, received: Received) -> Answer:
    async with _unit_of_work(db) as conn:
        outcome = await handlers.receive_platform_delivery(conn, ctx, shop, received)
    return Answer(outcome=outcome)


def _triggered_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:32]


@router.post("/v1/platforms/shopify/{shop_id}", response_model=Answer, include_in_schema=False)
async def shopify_delivery(shop_id: str, request: Request, db: Db, ctx: ContextDep) -> Answer:
    raw = await request.body()
    headers = request.headers
    topic = headers.get("x-shopify-topic", "")
    shop = await _signed_shop(
        db, ctx, Platform.SHOPIFY, shop_id, topic, raw, headers.get("x-shopify-hmac-sha256")
    )
    # One event reaches one subscription's topic once; its retries keep the ids.
    event = headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id") or _digest(raw)
    if topic in SHOPIFY_COMPLIANCE:  # a privacy request, not an order step (docs/privacy.md)
        return Answer(outcome=await shopify_privacy(db, ctx, shop, topic, raw, f"{topic}:{event}"))
    triggered = _triggered_at(headers.get("x-shopify-triggered-at"))
    return await _receive(
        db, ctx, shop, Received(Platform.SHOPIFY, topic, f"{topic}:{event}", raw, triggered)
    )


@router.post("/v1/platforms/woocommerce/{shop_id}", response_model=Answer, include_in_schema=False)
async def woocommerce_delivery(shop_id: str, request: Request, db: Db, ctx: ContextDep) -> Answer:
    raw = await request.body()
    headers = request.headers
    signature = headers.get("x-wc-webhook-signature")
    if signature is None and HANDSHAKE.fullmatch(raw.strip()) and shop_id in ctx.shops:
        count(Platform.WOOCOMMERCE, "", Outcome.HANDSHAKE)
        return Answer(outcome=Outcome.HANDSHAKE)
    topic = headers.get("x-wc-webhook-topic", "")
    shop = await _signed_shop(db, ctx, Platform.WOOCOMMERCE, shop_id, topic, raw, signature)
    # WooCommerce's delivery id is a hash of the webhook and the second it was sent: two updates
    # within one second share it, so the body tells them apart (a resent delivery has the same one).
    delivery = headers.get("x-wc-webhook-delivery-id", "")
    key = f"{topic}:{delivery}:{_digest(raw)}"
    return await _receive(db, ctx, shop, Received(Platform.WOOCOMMERCE, topic, key, raw))
