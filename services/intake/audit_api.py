"""`GET /v1/audit`: who did what, newest first. A shop's key reads its own shop's records; the
operator's admin credential reads every shop's, or one shop's with `shop=` (docs/intake.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from runtime.audit import Actor, Caller
from runtime.http_api import AnyCaller, ApiError, Db, api_context
from runtime.reports import ReportParams, report_response
from schemas.v1.audit import ActorKind

from .api_models import Problem
from .auth import CurrentCaller
from .context import Context
from .repository import audit

ContextDep = Annotated[Context, Depends(api_context)]

router = APIRouter(tags=["audit"])


async def audit_caller(request: Request, caller: CurrentCaller) -> Caller:
    """Who a request to intake is for the audit log: the agent by their own token, else the key."""
    if caller.agent is not None:
        actor = Actor(ActorKind.AGENT, caller.agent.id, agent=caller.agent.name)
    else:
        actor = Actor(ActorKind.KEY, getattr(request.state, "key_id", "unknown"))
    source = request.client.host if request.client is not None else None
    return Caller(actor, caller.shop.id, source, request.app.state.audit)


Auditor = Annotated[Caller, Depends(audit_caller)]
"""The audit actor of a route that also takes the shop: an agent (their token) or a key."""

COLUMNS = ("at", "shop_id", "service", "actor_kind", "actor_id", "agent", "action", "target", "source_ip")


class AuditEntry(BaseModel):
    at: datetime
    shop_id: str | None
    service: str
    actor_kind: ActorKind
    actor_id: str
    """"admin", the id of the shop key used (never the key), or "careloop" for CareLoop itself."""
    agent: str | None
    """The agent's name the request gave, when it gave one."""
    action: str
    target: str
    source_ip: str | None


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    limit: int
    offset: int
    next_offset: int | None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or unknown API key or admin credential"},
    403: {"model": Problem, "description": "a shop key asked for another shop (shop_mismatch)"},
    404: {"model": Problem, "description": "the operator asked for a shop CareLoop does not know"},
    422: {"model": Problem, "description": "invalid parameters"},
}


@router.get("/v1/audit", response_model=AuditPage, responses=ERRORS)
async def audit_log(
    caller: AnyCaller,
    db: Db,
    ctx: ContextDep,
    query: ReportParams,
    shop: Annotated[str | None, Query(max_length=64, description="the operator's choice of shop")] = None,
    action: Annotated[str | None, Query(max_length=64, description="only this action")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Any:
    """The records of the period (`from`/`to`, in the shop's time zone; UTC across shops), newest
    first; `format=csv` (or `Accept: text/csv`) for the page as CSV."""
    if caller.shop_id is not None and shop not in (None, caller.shop_id):
        raise ApiError(403, "shop_mismatch", "a shop key reads its own shop's audit log only")
    shop_id = caller.shop_id or shop
    known = ctx.shops.get(shop_id) if shop_id else None
    if shop_id and known is None:
        raise ApiError(404, "not_found", f"no shop {shop_id!r}")
    period = query.period(known.timezone if known else "UTC", datetime.now(UTC))
    async with db.pool.acquire() as conn:
        rows = await audit.page(conn, shop_id, period.since, period.until, action, limit + 1, offset)
    entries = [{c: row[c] for c in COLUMNS} for row in rows[:limit]]
    body = AuditPage(
        entries=[AuditEntry.model_validate(e) for e in entries],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if len(rows) > limit else None,
    )
    return report_response(query, body.model_dump(mode="json"), entries, COLUMNS)
