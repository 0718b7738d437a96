"""What each route of the subscriptions API does: endpoints (create, change, enable or disable, rotate
the secret, delete), their deliveries (list, show, replay) and the shop's message templates.

Every query is scoped to the caller's shop, so another shop's ids answer 404. A refusal is an
ApiError (`{"error": <code>, "detail": …}`); the codes are documented in api_models."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi.exceptions import RequestValidationError

from runtime.audit import Caller
from runtime.db import Connection, Database
from runtime.http_api import ApiError
from runtime.shops import Shop
from services.notify.api_models import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
    ReplayResult,
    RotatedSecret,
    TemplateIn,
    TemplateOut,
)
from services.notify.context import Context
from services.notify.domain.signing import SECRET_BYTES, new_secret
from services.notify.domain.ssrf import url_problem
from services.notify.domain.templates import (
    LANGUAGES,
    MessageTemplate,
    audience,
    default_template,
    message_event_types,
    template_problem,
)
from services.notify.repository import deliveries, endpoints
from services.notify.repository.endpoints import Endpoint
from services.notify.resolver import Forbidden, Resolver, Unresolvable

RESOLVE_SECONDS = 3.0
"""How long a URL check waits for DNS before accepting the URL as it is."""

NOT_NULL = ("description", "event_types", "enabled")
"""Fields besides the URL that a PATCH may leave out but not send as null."""


async def audited(conn: Connection, who: Caller | None, action: str, target: str) -> None:
    """The audit record of a shop's change, in the change's transaction (runtime/audit.py)."""
    if who is not None:
        await who.record(conn, action, target)


# -- checks --------------------------------------------------------------------------------------
async def check_url(url: str, ctx: Context) -> None:
    """Refuses (422) a URL the service would refuse to call: bad scheme, credentials (`invalid_url`),
    forbidden address (`url_refused`)."""
    problem = url_problem(url)
    if problem is not None:
        raise ApiError(422, "invalid_url", f"invalid url: {problem}")
    host = urlsplit(url).hostname or ""
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            await Resolver(ctx.config.egress_policy()).allowed_addresses(host)
    except Forbidden as refused:
        raise ApiError(422, "url_refused", f"url refused: {refused.reason}") from None
    except (Unresolvable, TimeoutError):
        return  # unresolvable now: the check on every connection still applies


def null_field(field: str) -> RequestValidationError:
    """A field sent as null where the schema allows leaving it out but not null: answered like any
    other invalid field (`invalid_request`, with the field named)."""
    return RequestValidationError([{"type": "null", "loc": ("body", field), "msg": "cannot be null"}])


async def owned_endpoint(
    conn: Connection, shop: Shop, endpoint_id: str, for_update: bool = False
) -> Endpoint:
    endpoint = await endpoints.get_endpoint(conn, shop.id, endpoint_id, for_update=for_update)
    if endpoint is None:
        raise ApiError(404, "not_found", f"no endpoint {endpoint_id}")
    return endpoint


# -- endpoints -----------------------------------------------------------------------------------
async def create_endpoint(
    db: Database, ctx: Context, shop: Shop, body: EndpointCreate, who: Caller | None = None
) -> EndpointCreated:
    await check_url(body.url, ctx)
    now = ctx.now()
    endpoint = Endpoint(
        id="ep_" + uuid.uuid4().hex,
        shop_id=shop.id,
        url=body.url,
        description=body.description,
        event_types=body.event_types,
        rate_limit_per_second=body.rate_limit_per_second,
        enabled=True,
        disabled_reason=None,
        disabled_at=None,
        secret=new_secret(secrets.token_bytes(SECRET_BYTES)),
        previous_secret=None,
        previous_secret_expires_at=None,
        failing_since=None,
        breaker_failures=0,
        breaker_open_until=None,
        created_at=now,
        updated_at=now,
    )
    async with db.transaction() as conn:
        await endpoints.insert_endpoint(conn, endpoint)
        await audited(conn, who, "endpoint.create", f"endpoint:{endpoint.id}")
    return EndpointCreated(**EndpointOut.of(endpoint).model_dump(), secret=endpoint.secret)


async def list_endpoints(db: Database, shop: Shop) -> list[EndpointOut]:
    async with db.pool.acquire() as conn:
        return [EndpointOut.of(e) for e in await endpoints.list_endpoints(conn, shop.id)]


async def get_endpoint(db: Database, shop: Shop, endpoint_id: str) -> EndpointOut:
    async with db.pool.acquire() as conn:
        return EndpointOut.of(await owned_endpoint(conn, shop, endpoint_id))


async def update_endpoint(
    db: Database, ctx: Context, shop: Shop, endpoint_id: str, body: EndpointUpdate, who: Caller | None = None
) -> EndpointOut:
    changes = body.model_dump(exclude_unset=True)
    if "url" in changes:
        if changes["url"] is None:
            raise null_field("url")
        await check_url(changes["url"], ctx)
    for field in NOT_NULL:
        if field in changes and changes[field] is None:
            raise null_field(field)
    now = ctx.now()
    if "enabled" in changes:
        changes.update(enablement(changes["enabled"], now))
    async with db.transaction() as conn:
        endpoint = await owned_endpoint(conn, shop, endpoint_id, for_update=True)
        if changes:
            endpoint = await endpoints.update_endpoint(conn, shop.id, endpoint_id, now, **changes) or endpoint
        if changes.get("enabled"):
            await deliveries.wake_workers(conn)
        await audited(conn, who, "endpoint.update", f"endpoint:{endpoint_id}")
    return EndpointOut.of(endpoint)


def enablement(enabled: bool, now: datetime) -> dict[str, Any]:
    """What enabling or disabling by the shop changes besides `enabled`."""
    if not enabled:
        return {"disabled_reason": "disabled by the shop", "disabled_at": now}
    # a fresh start, also for an endpoint the service disabled: the breaker and the failure period
    # begin again
    return {
        "disabled_reason": None,
        "disabled_at": None,
        "failing_since": None,
        "breaker_failures": 0,
        "breaker_open_until": None,
    }


async def delete_endpoint(db: Database, shop: Shop, endpoint_id: str, who: Caller | None = None) -> None:
    async with db.transaction() as conn:
        if not await endpoints.delete_endpoint(conn, shop.id, endpoint_id):
            raise ApiError(404, "not_found", f"no endpoint {endpoint_id}")
        await audited(conn, who, "endpoint.delete", f"endpoint:{endpoint_id}")


async def rotate_secret(
    db: Database,
    ctx: Context,
    shop: Shop,
    endpoint_id: str,
    overlap_seconds: int | None,
    who: Caller | None = None,
) -> RotatedSecret:
    """A new secret; the previous one keeps signing beside it for the overlap."""
    if overlap_seconds is None:
        overlap_seconds = ctx.config.default_rotation_overlap_seconds
    now = ctx.now()
    fresh = new_secret(secrets.token_bytes(SECRET_BYTES))
    expires = now + timedelta(seconds=overlap_seconds)
    async with db.transaction() as conn:
        endpoint = await owned_endpoint(conn, shop, endpoint_id, for_update=True)
        await endpoints.update_endpoint(
            conn,
            shop.id,
            endpoint.id,
            now,
            secret=fresh,
            previous_secret=endpoint.secret,
            previous_secret_expires_at=expires,
        )
        await audited(conn, who, "endpoint.rotate_secret", f"endpoint:{endpoint_id}")
    return RotatedSecret(secret=fresh, previous_secret_expires_at=expires)


# -- deliveries ----------------------------------------------------------------------------------
async def list_deliveries(
    db: Database, shop: Shop, endpoint_id: str, status: str | None, limit: int
) -> list[DeliveryOut]:
    async with db.pool.acquire() as conn:
        await owned_endpoint(conn, shop, endpoint_id)
        rows = await deliveries.list_deliveries(conn, shop.id, endpoint_id, status, limit)
    return [DeliveryOut.of(r) for r in rows]


async def get_delivery(db: Database, shop: Shop, delivery_id: str) -> DeliveryDetail:
    async with db.pool.acquire() as conn:
        row = await deliveries.get_delivery(conn, shop.id, delivery_id)
        if row is None:
            raise ApiError(404, "not_found", f"no delivery {delivery_id}")
        attempts = await deliveries.list_attempts(conn, delivery_id)
    return DeliveryDetail(
        **DeliveryOut.of(row).model_dump(),
        payload=json.loads(bytes(row["body"])),
        attempt_log=[AttemptOut(**dict(a)) for a in attempts],
    )


async def replay_delivery(
    db: Database, ctx: Context, shop: Shop, delivery_id: str, who: Caller | None = None
) -> DeliveryOut:
    """Queue a finished delivery again, with the same webhook-id; 409 while it is unfinished."""
    async with db.transaction() as conn:
        row = await deliveries.replay_delivery(conn, shop.id, delivery_id, ctx.now())
        if row is None:
            found = await deliveries.get_delivery(conn, shop.id, delivery_id)
            if found is None:
                raise ApiError(404, "not_found", f"no delivery {delivery_id}")
            raise ApiError(
                409, "conflict", f"delivery {delivery_id} is still {found['status']}; nothing to replay"
            )
        await deliveries.wake_workers(conn)
        await audited(conn, who, "delivery.replay", f"delivery:{delivery_id}")
    return DeliveryOut.of(row)


async def replay_failed(
    db: Database, ctx: Context, shop: Shop, endpoint_id: str, since: datetime, who: Caller | None = None
) -> ReplayResult:
    """Queue again every dead-lettered delivery of the endpoint created at or after `since`."""
    async with db.transaction() as conn:
        await owned_endpoint(conn, shop, endpoint_id)
        count = await deliveries.replay_failed_since(conn, shop.id, endpoint_id, since, ctx.now())
        if count:
            await deliveries.wake_workers(conn)
        await audited(conn, who, "endpoint.replay_failed", f"endpoint:{endpoint_id}")
    return ReplayResult(replayed=count)


# -- templates -----------------------------------------------------------------------------------
async def list_templates(db: Database, shop: Shop) -> list[TemplateOut]:
    """Every message (customer messages and staff alerts) in every language: the shop's own where it
    has one, else the default."""
    async with db.pool.acquire() as conn:
        overrides = {
            (r["event_type"], r["language"]): r
            for r in await endpoints.list_template_overrides(conn, shop.id)
        }
    result = []
    for event_type in message_event_types():
        for lang in LANGUAGES:
            own, default = overrides.get((event_type, lang)), default_template(event_type, lang)
            if own is not None:
                subject, text, source = own["subject"], own["body"], "shop"
            elif default is not None:
                subject, text, source = default.subject, default.text, "default"
            else:
                continue
            result.append(
                TemplateOut(
                    event_type=event_type,
                    language=lang,
                    subject=subject,
                    text=text,
                    source=source,
                    audience=audience(event_type),
                )
            )
    return result


def check_template_key(event_type: str, lang: str) -> None:
    if event_type not in message_event_types():
        raise ApiError(404, "not_found", f"no customer message for event type {event_type!r}")
    if lang not in LANGUAGES:
        raise ApiError(404, "not_found", f"language {lang!r} not supported; use one of {list(LANGUAGES)}")


async def put_template(
    db: Database,
    ctx: Context,
    shop: Shop,
    event_type: str,
    language: str,
    body: TemplateIn,
    who: Caller | None = None,
) -> TemplateOut:
    check_template_key(event_type, language)
    for name, source in (("subject", body.subject), ("text", body.text)):
        problem = template_problem(source)
        if problem is not None:
            raise ApiError(422, "invalid_template", f"{name}: {problem}")
    async with db.transaction() as conn:
        await endpoints.put_template_override(
            conn, shop.id, event_type, language, MessageTemplate(body.subject, body.text), ctx.now()
        )
        await audited(conn, who, "template.update", f"template:{event_type}/{language}")
    return TemplateOut(
        event_type=event_type,
        language=language,
        subject=body.subject,
        text=body.text,
        source="shop",
        audience=audience(event_type),
    )


async def delete_template(
    db: Database, shop: Shop, event_type: str, language: str, who: Caller | None = None
) -> None:
    check_template_key(event_type, language)
    async with db.transaction() as conn:
        if not await endpoints.delete_template_override(conn, shop.id, event_type, language):
            raise ApiError(404, "not_found", f"no shop template for {event_type}/{language}")
        await audited(conn, who, "template.delete", f"template:{event_type}/{language}")
