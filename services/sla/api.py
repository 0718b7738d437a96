"""HTTP API: a shop's policies and calendar (read and replace) and a ticket's clocks.

No `from __future__ import annotations` here: FastAPI resolves the dependency annotations, which
refer to a name local to build_api, at runtime.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel

from runtime.http_api import make_api, shop_auth
from runtime.service import ServiceRuntime
from runtime.shops import Shop
from services.sla import repository as repo
from services.sla.domain.calendar_document import CalendarDocument
from services.sla.domain.clocks import StageKind
from services.sla.domain.policies import PolicySet


class StageView(BaseModel):
    kind: StageKind
    share_of_target: float
    level: int | None
    escalate_to: str | None
    due_at: datetime | None
    fired: bool


class ClockView(BaseModel):
    clock_id: str
    metric: str
    policy_id: str
    status: str
    outcome: str | None
    business_hours: bool
    target_seconds: float
    started_at: datetime
    deadline: datetime | None
    """The breach instant while running; null while paused or stopped."""
    elapsed_seconds: float
    remaining_seconds: float
    breached_at: datetime | None
    stopped_at: datetime | None
    stages: list[StageView]


class TicketClocks(BaseModel):
    ticket_id: str
    clocks: list[ClockView]


def _view(record: repo.ClockRecord, now: datetime, calendar: Any) -> ClockView:
    clock = record.clock
    elapsed = clock.elapsed_at(now, calendar)
    stages = [
        StageView(
            kind=stage.kind,
            share_of_target=stage.share,
            level=stage.level or None,
            escalate_to=stage.escalate_to or None,
            due_at=clock.stage_at[i] if clock.stage_at else None,
            fired=i < clock.stages_done,
        )
        for i, stage in enumerate(clock.stages)
    ]
    return ClockView(
        clock_id=clock.id,
        metric=clock.metric.value,
        policy_id=record.policy_id,
        status=clock.status.value,
        outcome=clock.outcome.value if clock.outcome else None,
        business_hours=clock.business_hours,
        target_seconds=clock.target.total_seconds(),
        started_at=clock.started_at,
        deadline=clock.deadline,
        elapsed_seconds=elapsed.total_seconds(),
        remaining_seconds=(clock.target - elapsed).total_seconds(),
        breached_at=clock.breached_at,
        stopped_at=clock.stopped_at,
        stages=stages,
    )


def build_api(runtime: ServiceRuntime) -> FastAPI:
    api = make_api(
        "sla",
        "CareLoop SLA",
        "Per-shop SLA policies and business calendars, and the live clocks of each ticket.",
    )
    CurrentShop = Annotated[Shop, Depends(shop_auth(runtime.shops, "sla"))]  # noqa: N806

    @api.get("/v1/sla/policies", response_model=PolicySet)
    async def get_policies(shop: CurrentShop) -> PolicySet:
        async with runtime.db.pool.acquire() as conn:
            return await repo.load_policies(conn, shop.id)

    @api.put("/v1/sla/policies", response_model=PolicySet)
    async def put_policies(policies: PolicySet, shop: CurrentShop) -> PolicySet:
        """Replace the shop's policies. Running clocks keep the targets they started with."""
        async with runtime.db.transaction() as conn:
            await repo.save_policies(conn, shop.id, policies)
        return policies

    @api.get("/v1/sla/calendar", response_model=CalendarDocument)
    async def get_calendar(shop: CurrentShop) -> CalendarDocument:
        async with runtime.db.pool.acquire() as conn:
            return await repo.load_calendar(conn, shop.id, shop.timezone)

    @api.put("/v1/sla/calendar", response_model=CalendarDocument)
    async def put_calendar(calendar: CalendarDocument, shop: CurrentShop) -> CalendarDocument:
        """Replace the shop's business calendar; deadlines computed from now on use it."""
        async with runtime.db.transaction() as conn:
            await repo.save_calendar(conn, shop.id, calendar)
        return calendar

    @api.get("/v1/sla/tickets/{ticket_id}/clocks", response_model=TicketClocks)
    async def get_ticket_clocks(ticket_id: str, shop: CurrentShop) -> TicketClocks:
        async with runtime.db.pool.acquire() as conn:
            records = await repo.ticket_clocks(conn, shop.id, ticket_id)
            if not records:
                raise HTTPException(404, f"no SLA clocks for ticket {ticket_id}")
            calendar = (await repo.load_calendar(conn, shop.id, shop.timezone)).to_calendar()
        now = runtime.clock.now()
        return TicketClocks(ticket_id=ticket_id, clocks=[_view(r, now, calendar) for r in records])

    return api
