"""The subscriptions API: endpoints, secrets, deliveries and their attempts, replay, templates.
Every query is scoped to the caller's shop, so another shop's ids answer 404."""

# No `from __future__ import annotations` in this module: FastAPI must resolve the per-app
# `ShopDep` alias, which lives inside build_api, from real annotation objects.

import asyncio
import json
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from runtime.http_api import make_api, shop_auth
from runtime.service import ServiceRuntime
from runtime.shops import Shop
from services.notify import errors
from services.notify.config import NotifyConfig
from services.notify.domain.filters import is_valid_pattern
from services.notify.domain.signing import SECRET_BYTES, new_secret
from services.notify.domain.ssrf import url_problem
from services.notify.domain.templates import (
    DEFAULT_TEMPLATES,
    LANGUAGES,
    MessageTemplate,
    template_problem,
)
from services.notify.errors import CONFLICT, ERROR_RESPONSES, Refused, null_field
from services.notify.repository import deliveries, endpoints
from services.notify.repository.endpoints import Endpoint
from services.notify.resolver import Forbidden, Resolver, Unresolvable


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""A string Postgres can store: no NUL characters (a 422, not a 500)."""

DESCRIPTION = """Signed, durable webhooks for a shop's order-journey and care events (Standard Webhooks).
Authenticate with `Authorization: Bearer <shop API key>`."""


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    url: Text = Field(min_length=1, max_length=2000, examples=["https://shop.example/hooks/careloop"])
    description: Text = Field(default="", max_length=500)
    event_types: list[str] = Field(default_factory=lambda: ["*"], min_length=1, max_length=50)
    """Exact types (`order.shipped`), wildcards (`order.*`) or `*` for everything."""
    rate_limit_per_second: float | None = Field(default=None, gt=0, le=10_000)

    @field_validator("event_types")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not is_valid_pattern(p)]
        if bad:
            raise ValueError(f"invalid event-type patterns {bad}: use `order.shipped`, `order.*` or `*`")
        return sorted(set(value))


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    url: Text | None = Field(default=None, min_length=1, max_length=2000)
    description: Text | None = Field(default=None, max_length=500)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=50)
    rate_limit_per_second: float | None = Field(default=None, gt=0, le=10_000)
    enabled: bool | None = None
    """false disables the endpoint; true re-enables it (also one the service disabled)."""

    @field_validator("event_types")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else EndpointCreate._patterns(value)


class EndpointOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    url: str
    description: str
    event_types: list[str]
    rate_limit_per_second: float | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None
    """While set and in the future, deliveries carry a signature with the previous secret too."""
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, e: Endpoint) -> "EndpointOut":
        return cls(
            id=e.id,
            url=e.url,
            description=e.description,
            event_types=e.event_types,
            rate_limit_per_second=e.rate_limit_per_second,
            enabled=e.enabled,
            disabled_reason=e.disabled_reason,
            disabled_at=e.disabled_at,
            failing_since=e.failing_since,
            previous_secret_expires_at=e.previous_secret_expires_at,
            created_at=e.created_at,
            updated_at=e.updated_at,
        )


class EndpointCreated(EndpointOut):
    secret: str
    """The signing secret (`whsec_…`); shown only now and on rotation."""


class RotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    overlap_seconds: int | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    """How long the old secret keeps signing beside the new one (default: the service's setting)."""


class RotatedSecret(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    secret: str
    previous_secret_expires_at: datetime


DeliveryStatusName = Literal["pending", "delivering", "succeeded", "dead"]


class DeliveryOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    endpoint_id: str
    webhook_id: str
    event_id: str
    event_type: str
    event_time: datetime
    status: DeliveryStatusName
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> "DeliveryOut":
        return cls(
            id=row["id"],
            endpoint_id=row["endpoint_id"],
            webhook_id=row["webhook_id"],
            event_id=row["event_id"],
            event_type=row["event_type"],
            event_time=row["event_time"],
            status=row["status"],
            attempts=row["total_attempts"],
            next_attempt_at=None if row["status"] in ("succeeded", "dead") else row["next_attempt_at"],
            last_status_code=row["last_status_code"],
            last_error=row["last_error"],
            created_at=row["created_at"],
            finished_at=row["finished_at"],
        )


class AttemptOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    attempted_at: datetime
    outcome: str
    status_code: int | None
    latency_ms: float
    response_body: str | None
    """The receiver's answer, truncated to the configured cap."""
    error: str | None


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any]
    attempt_log: list[AttemptOut]


class ReplayFailedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    since: AwareDatetime
    """Replay every dead-lettered delivery of the endpoint created at or after this instant."""


class ReplayResult(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    replayed: int


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    subject: Text = Field(min_length=1, max_length=500)
    text: Text = Field(min_length=1, max_length=10_000)


class TemplateOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    event_type: str
    language: str
    subject: str
    text: str
    source: Literal["shop", "default"]


EndpointId = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
DeliveryId = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


RESOLVE_SECONDS = 3.0
"""How long a URL check waits for DNS before accepting the URL as it is."""


async def check_url(url: str, resolver: Resolver) -> None:
    """Refused (422) for a URL the service would refuse to call: bad scheme, credentials (`invalid_url`),
    forbidden address (`url_refused`)."""
    problem = url_problem(url)
    if problem is not None:
        raise Refused("invalid_url", f"invalid url: {problem}")
    host = urlsplit(url).hostname or ""
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            await resolver.allowed_addresses(host)
    except Forbidden as refused:
        raise Refused("url_refused", f"url refused: {refused.reason}") from None
    except (Unresolvable, TimeoutError):
        return  # unresolvable now: the check on every connection still applies


def build_api(runtime: ServiceRuntime, config: NotifyConfig) -> FastAPI:
    api = make_api("notify", "CareLoop notify API", DESCRIPTION)
    errors.install(api)
    router = APIRouter(responses=ERROR_RESPONSES)
    current_shop = shop_auth(runtime.shops, "notify")
    ShopDep = Annotated[Shop, Depends(current_shop)]  # noqa: N806 - a type alias
    resolver = Resolver(config.egress_policy())

    async def owned_endpoint(conn: Any, shop: Shop, endpoint_id: str, for_update: bool = False) -> Endpoint:
        endpoint = await endpoints.get_endpoint(conn, shop.id, endpoint_id, for_update=for_update)
        if endpoint is None:
            raise HTTPException(404, f"no endpoint {endpoint_id}")
        return endpoint

    @router.post("/v1/endpoints", status_code=201, tags=["endpoints"])
    async def create_endpoint(body: EndpointCreate, shop: ShopDep) -> EndpointCreated:
        await check_url(body.url, resolver)
        now = runtime.clock.now()
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
        async with runtime.db.transaction() as conn:
            await endpoints.insert_endpoint(conn, endpoint)
        return EndpointCreated(**EndpointOut.of(endpoint).model_dump(), secret=endpoint.secret)

    @router.get("/v1/endpoints", tags=["endpoints"])
    async def list_endpoints(shop: ShopDep) -> list[EndpointOut]:
        async with runtime.db.pool.acquire() as conn:
            return [EndpointOut.of(e) for e in await endpoints.list_endpoints(conn, shop.id)]

    @router.get("/v1/endpoints/{endpoint_id}", tags=["endpoints"])
    async def get_endpoint(endpoint_id: EndpointId, shop: ShopDep) -> EndpointOut:
        async with runtime.db.pool.acquire() as conn:
            return EndpointOut.of(await owned_endpoint(conn, shop, endpoint_id))

    @router.patch("/v1/endpoints/{endpoint_id}", tags=["endpoints"])
    async def update_endpoint(endpoint_id: EndpointId, body: EndpointUpdate, shop: ShopDep) -> EndpointOut:
        changes = body.model_dump(exclude_unset=True)
        if "url" in changes:
            if changes["url"] is None:
                raise null_field("url")
            await check_url(changes["url"], resolver)
        for field in ("description", "event_types", "enabled"):
            if field in changes and changes[field] is None:
                raise null_field(field)
        now = runtime.clock.now()
        if "enabled" in changes:
            enabled = changes["enabled"]
            changes["disabled_reason"] = None if enabled else "disabled by the shop"
            changes["disabled_at"] = None if enabled else now
            if enabled:  # a fresh start: the breaker and the failure period begin again
                changes.update(failing_since=None, breaker_failures=0, breaker_open_until=None)
        async with runtime.db.transaction() as conn:
            endpoint = await owned_endpoint(conn, shop, endpoint_id, for_update=True)
            if changes:
                endpoint = (
                    await endpoints.update_endpoint(conn, shop.id, endpoint_id, now, **changes) or endpoint
                )
            if changes.get("enabled"):
                await deliveries.wake_workers(conn)
        return EndpointOut.of(endpoint)

    @router.delete("/v1/endpoints/{endpoint_id}", status_code=204, tags=["endpoints"])
    async def delete_endpoint(endpoint_id: EndpointId, shop: ShopDep) -> Response:
        async with runtime.db.transaction() as conn:
            if not await endpoints.delete_endpoint(conn, shop.id, endpoint_id):
                raise HTTPException(404, f"no endpoint {endpoint_id}")
        return Response(status_code=204)

    @router.post("/v1/endpoints/{endpoint_id}/secret/rotate", tags=["endpoints"])
    async def rotate_secret(endpoint_id: EndpointId, body: RotateRequest, shop: ShopDep) -> RotatedSecret:
        overlap = body.overlap_seconds
        if overlap is None:
            overlap = config.default_rotation_overlap_seconds
        now = runtime.clock.now()
        fresh = new_secret(secrets.token_bytes(SECRET_BYTES))
        expires = now + timedelta(seconds=overlap)
        async with runtime.db.transaction() as conn:
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
        return RotatedSecret(secret=fresh, previous_secret_expires_at=expires)

    @router.get("/v1/endpoints/{endpoint_id}/deliveries", tags=["deliveries"])
    async def list_deliveries(
        endpoint_id: EndpointId,
        shop: ShopDep,
        status: Annotated[DeliveryStatusName | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[DeliveryOut]:
        async with runtime.db.pool.acquire() as conn:
            await owned_endpoint(conn, shop, endpoint_id)
            rows = await deliveries.list_deliveries(conn, shop.id, endpoint_id, status, limit)
        return [DeliveryOut.of(r) for r in rows]

    @router.get("/v1/deliveries/{delivery_id}", tags=["deliveries"])
    async def get_delivery(delivery_id: DeliveryId, shop: ShopDep) -> DeliveryDetail:
        async with runtime.db.pool.acquire() as conn:
            row = await deliveries.get_delivery(conn, shop.id, delivery_id)
            if row is None:
                raise HTTPException(404, f"no delivery {delivery_id}")
            attempts = await deliveries.list_attempts(conn, delivery_id)
        return DeliveryDetail(
            **DeliveryOut.of(row).model_dump(),
            payload=json.loads(bytes(row["body"])),
            attempt_log=[AttemptOut(**dict(a)) for a in attempts],
        )

    @router.post(
        "/v1/deliveries/{delivery_id}/replay",
        status_code=202,
        tags=["deliveries"],
        responses=CONFLICT,
    )
    async def replay_delivery(delivery_id: DeliveryId, shop: ShopDep) -> DeliveryOut:
        async with runtime.db.transaction() as conn:
            row = await deliveries.replay_delivery(conn, shop.id, delivery_id, runtime.clock.now())
            if row is None:
                found = await deliveries.get_delivery(conn, shop.id, delivery_id)
                if found is None:
                    raise HTTPException(404, f"no delivery {delivery_id}")
                raise HTTPException(
                    409, f"delivery {delivery_id} is still {found['status']}; nothing to replay"
                )
            await deliveries.wake_workers(conn)
        return DeliveryOut.of(row)

    @router.post("/v1/endpoints/{endpoint_id}/replay-failed", status_code=202, tags=["deliveries"])
    async def replay_failed(
        endpoint_id: EndpointId, body: ReplayFailedRequest, shop: ShopDep
    ) -> ReplayResult:
        async with runtime.db.transaction() as conn:
            await owned_endpoint(conn, shop, endpoint_id)
            count = await deliveries.replay_failed_since(
                conn, shop.id, endpoint_id, body.since, runtime.clock.now()
            )
            if count:
                await deliveries.wake_workers(conn)
        return ReplayResult(replayed=count)

    @router.get("/v1/templates", tags=["templates"])
    async def list_templates(shop: ShopDep) -> list[TemplateOut]:
        async with runtime.db.pool.acquire() as conn:
            overrides = {
                (r["event_type"], r["language"]): r
                for r in await endpoints.list_template_overrides(conn, shop.id)
            }
        result = []
        for event_type, by_language in sorted(DEFAULT_TEMPLATES.items()):
            for lang in LANGUAGES:
                own = overrides.get((event_type, lang))
                if own is not None:
                    result.append(
                        TemplateOut(
                            event_type=event_type,
                            language=lang,
                            subject=own["subject"],
                            text=own["body"],
                            source="shop",
                        )
                    )
                else:
                    default = by_language[lang]
                    result.append(
                        TemplateOut(
                            event_type=event_type,
                            language=lang,
                            subject=default.subject,
                            text=default.text,
                            source="default",
                        )
                    )
        return result

    def check_template_key(event_type: str, lang: str) -> None:
        if event_type not in DEFAULT_TEMPLATES:
            raise HTTPException(404, f"no customer message for event type {event_type!r}")
        if lang not in LANGUAGES:
            raise HTTPException(404, f"language {lang!r} not supported; use one of {list(LANGUAGES)}")

    @router.put("/v1/templates/{event_type}/{language}", tags=["templates"])
    async def put_template(
        event_type: Annotated[str, Path(max_length=100)],
        language: Annotated[str, Path(max_length=10)],
        body: TemplateIn,
        shop: ShopDep,
    ) -> TemplateOut:
        check_template_key(event_type, language)
        for name, source in (("subject", body.subject), ("text", body.text)):
            problem = template_problem(source)
            if problem is not None:
                raise Refused("invalid_template", f"{name}: {problem}")
        async with runtime.db.transaction() as conn:
            await endpoints.put_template_override(
                conn,
                shop.id,
                event_type,
                language,
                MessageTemplate(body.subject, body.text),
                runtime.clock.now(),
            )
        return TemplateOut(
            event_type=event_type, language=language, subject=body.subject, text=body.text, source="shop"
        )

    @router.delete("/v1/templates/{event_type}/{language}", status_code=204, tags=["templates"])
    async def delete_template(
        event_type: Annotated[str, Path(max_length=100)],
        language: Annotated[str, Path(max_length=10)],
        shop: ShopDep,
    ) -> Response:
        check_template_key(event_type, language)
        async with runtime.db.transaction() as conn:
            if not await endpoints.delete_template_override(conn, shop.id, event_type, language):
                raise HTTPException(404, f"no shop template for {event_type}/{language}")
        return Response(status_code=204)

    api.include_router(router)
    return api
