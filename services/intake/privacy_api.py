"""Privacy requests and the shop's retention of message texts (docs/privacy.md), with the shop's key.

- `POST /v1/customers/{customer_id}/erasure`, `POST /v1/customers/{customer_id}/export`, and the same
  by address (`POST /v1/customers/erasure`, `/export` with `{"email": ...}`): 202 with the request's
  id; every service then erases or exports what it holds about the customer.
- `GET /v1/privacy/requests/{id}`: pending until every service answered, then complete, with each
  service's part (its counts, and an export's rows). `GET /v1/privacy/requests`: the latest.
- `GET`/`PUT /v1/privacy/retention`: after how many days the shop's message texts are purged.
- `shopify_privacy`: Shopify's compliance webhooks, which reach the Shopify route (platforms_api.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from runtime.audit import Caller
from runtime.db import Connection, Database
from runtime.http_api import ApiError, CurrentCaller, CurrentShop, Db, api_context
from runtime.metrics import counted_on_commit
from runtime.privacy import merged
from runtime.shops import Shop
from schemas.v1.common import Email
from schemas.v1.privacy import RESPONDING_SERVICES, PrivacyKind

from . import handlers
from .api_models import Problem
from .context import Context
from .domain.platforms.deliveries import Outcome, Platform
from .handlers.platforms import count
from .handlers.privacy import NotACompliancePayload, shopify_compliance
from .repository import privacy as repo

ContextDep = Annotated[Context, Depends(api_context)]
CustomerId = Annotated[str, Path(min_length=1, max_length=128)]

router = APIRouter(tags=["privacy"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or unknown API key"},
    404: {"model": Problem, "description": "no such request in the caller's shop"},
    422: {"model": Problem, "description": "invalid body or parameters"},
}


class ByEmail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class Accepted(BaseModel):
    request_id: str
    status: str = "pending"
    """Follow it at GET /v1/privacy/requests/{request_id}."""


class PartView(BaseModel):
    service: str
    status: str
    """pending, complete or nothing_held (the service held nothing about the customer)."""
    counts: dict[str, int] | None = None
    """Rows erased or exported, by table."""
    data: dict[str, list[dict[str, Any]]] | None = None
    """An export's rows, by table (until the export expires or the customer is erased)."""
    data_removed: str | None = None
    """Why an export's rows are gone: expired or erased."""
    completed_at: datetime | None = None


class RequestView(BaseModel):
    id: str
    kind: PrivacyKind
    scope: str
    asked_by: str
    """customer_id, email, phone or shop: how the customer was named (never the value)."""
    source: str
    status: str
    requested_at: datetime
    completed_at: datetime | None
    parts: list[PartView] | None = None


class RequestList(BaseModel):
    requests: list[RequestView]


class Retention(BaseModel):
    # what GET shows may be sent back as it is: `in_force_days` is read-only and left out
    model_config = ConfigDict(extra="ignore")

    message_body_days: int | None = Field(default=None, ge=1, le=36500)
    """Message texts are replaced by '[purged]' this many days after they were written (null: the
    service's setting applies)."""


class RetentionView(Retention):
    in_force_days: int | None
    """What applies to the shop: its own setting, else the service's (null: texts are kept)."""


@asynccontextmanager
async def _unit_of_work(db: Database) -> AsyncIterator[Connection]:
    with counted_on_commit():
        async with db.transaction() as conn:
            yield conn


async def _ask(
    db: Database, ctx: Context, caller: Caller, shop: Shop, kind: PrivacyKind, asked: handlers.Asked
) -> Accepted:
    async with _unit_of_work(db) as conn:
        request_id, _ = await handlers.request_privacy(conn, ctx, shop.id, kind, asked)
        # the target is the request, never the customer: the audit log outlives an erasure
        await caller.record(conn, f"privacy.{kind.value}", f"privacy_request:{request_id}")
    return Accepted(request_id=request_id)


async def shopify_privacy(
    db: Database, ctx: Context, shop: Shop, topic: str, raw: bytes, delivery_key: str
) -> Outcome:
    """A Shopify compliance webhook (customers/redact, customers/data_request, shop/redact), its
    signature checked by the platform route: the same privacy request as the API's, once however
    often Shopify sends it. 422 for a body that names no customer."""
    try:
        body = json.loads(raw)
        async with _unit_of_work(db) as conn:
            _, created = await shopify_compliance(conn, ctx, shop.id, topic, body, delivery_key)
            outcome = Outcome.APPLIED if created else Outcome.DUPLICATE
            count(Platform.SHOPIFY, topic, outcome)
    except (ValueError, UnicodeDecodeError) as exc:
        detail = str(exc) if isinstance(exc, NotACompliancePayload) else "the body is not JSON"
        raise ApiError(422, "invalid_compliance_request", detail) from None
    return outcome


@router.post(
    "/v1/customers/{customer_id}/erasure", response_model=Accepted, status_code=202, responses=ERRORS
)
async def erase_customer(
    customer_id: CustomerId, shop: CurrentShop, caller: CurrentCaller, db: Db, ctx: ContextDep
) -> Accepted:
    """Erase what every service holds about the shop's customer (the shop's own customer id): rows
    stay for the counts, texts and contact details go."""
    return await _ask(db, ctx, caller, shop, PrivacyKind.ERASURE, handlers.Asked(customer_id=customer_id))


@router.post("/v1/customers/{customer_id}/export", response_model=Accepted, status_code=202, responses=ERRORS)
async def export_customer(
    customer_id: CustomerId, shop: CurrentShop, caller: CurrentCaller, db: Db, ctx: ContextDep
) -> Accepted:
    """Gather what every service holds about the shop's customer."""
    return await _ask(db, ctx, caller, shop, PrivacyKind.EXPORT, handlers.Asked(customer_id=customer_id))


@router.post("/v1/customers/erasure", response_model=Accepted, status_code=202, responses=ERRORS)
async def erase_by_email(
    body: ByEmail, shop: CurrentShop, caller: CurrentCaller, db: Db, ctx: ContextDep
) -> Accepted:
    """The erasure of a customer named by e-mail address (a guest without a customer id)."""
    return await _ask(db, ctx, caller, shop, PrivacyKind.ERASURE, handlers.Asked(email=body.email))


@router.post("/v1/customers/export", response_model=Accepted, status_code=202, responses=ERRORS)
async def export_by_email(
    body: ByEmail, shop: CurrentShop, caller: CurrentCaller, db: Db, ctx: ContextDep
) -> Accepted:
    """The export of a customer named by e-mail address."""
    return await _ask(db, ctx, caller, shop, PrivacyKind.EXPORT, handlers.Asked(email=body.email))


def _parts(rows: list[Any]) -> list[PartView]:
    """One view per responding service: pending until every chunk of its part arrived."""
    views = []
    for service in RESPONDING_SERVICES:
        chunks = [r for r in rows if r["service"] == service]
        if not chunks or len(chunks) < chunks[0]["chunks"]:
            views.append(PartView(service=service, status="pending"))
            continue
        first = chunks[0]
        data = [r["data"] for r in chunks if r["data"] is not None]
        views.append(
            PartView(
                service=service,
                status=first["status"],
                counts=first["counts"],
                data=merged(data) if data else None,
                data_removed=first["data_removed"],
                completed_at=max(r["completed_at"] for r in chunks),
            )
        )
    return views


@router.get("/v1/privacy/requests/{request_id}", response_model=RequestView, responses=ERRORS)
async def get_request(
    request_id: Annotated[str, Path(max_length=64)], shop: CurrentShop, db: Db
) -> RequestView:
    """The request and every service's part of it."""
    async with db.pool.acquire() as conn:
        row = await repo.get_request(conn, shop.id, request_id)
        if row is None:
            raise ApiError(404, "not_found", f"no privacy request {request_id}")
        parts = await repo.parts_of(conn, request_id)
    return RequestView(**dict(row), parts=_parts(parts))


@router.get("/v1/privacy/requests", response_model=RequestList, responses=ERRORS)
async def list_requests(
    shop: CurrentShop, db: Db, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> RequestList:
    """The shop's latest requests, newest first (without their parts)."""
    async with db.pool.acquire() as conn:
        rows = await repo.list_requests(conn, shop.id, limit)
    return RequestList(requests=[RequestView(**dict(r)) for r in rows])


@router.get("/v1/privacy/retention", response_model=RetentionView, responses=ERRORS)
async def get_retention(shop: CurrentShop, db: Db, ctx: ContextDep) -> RetentionView:
    async with db.pool.acquire() as conn:
        own = await repo.message_body_days(conn, shop.id)
    return RetentionView(message_body_days=own, in_force_days=own or ctx.config.message_body_retention_days)


@router.put("/v1/privacy/retention", response_model=RetentionView, responses=ERRORS)
async def put_retention(
    body: Retention, shop: CurrentShop, caller: CurrentCaller, db: Db, ctx: ContextDep
) -> RetentionView:
    """Set (or with null, drop) the shop's own retention of message texts; the sweep applies it."""
    async with _unit_of_work(db) as conn:
        await repo.put_message_body_days(conn, shop.id, body.message_body_days, ctx.now())
        await caller.record(conn, "privacy.retention_set", f"shop:{shop.id}")
    days = body.message_body_days or ctx.config.message_body_retention_days
    return RetentionView(message_body_days=body.message_body_days, in_force_days=days)
