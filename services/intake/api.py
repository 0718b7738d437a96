"""Intake's HTTP API under /v1: contacts in, tickets read and worked on, the shop's rule table."""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from pydantic import ValidationError

from runtime.db import Connection, Database
from runtime.http_api import CurrentShop, Db, api_context, make_api
from runtime.metrics import counted_on_commit
from runtime.service import ServiceRuntime
from schemas.v1.contacts import Channel, ContactReceived
from schemas.v1.tickets import Category, Priority, TicketStatus

from . import customers_api, handlers, metrics, reports_api
from .admin_api import router as admin
from .agents_api import install_people
from .api_models import (
    ContactAccepted,
    ContactSubmission,
    InboundEmailAccepted,
    MergeIn,
    Problem,
    StatusIn,
    TicketDetail,
    TicketPage,
    message_view,
    refused,
    sla_view,
    ticket_view,
)
from .audit_api import Auditor
from .audit_api import router as audit
from .auth import AssigneeFilter
from .context import Context
from .domain.agents import PeopleRefused
from .domain.customers import NoCustomerIdentity
from .domain.email import EmailRefused, parse_email
from .domain.lifecycle import TransitionRefused
from .domain.rules import DEFAULT_RULES, RuleTable
from .domain.threading import RouteKind
from .domain.ticket import ConflictingChange, TicketNotFound
from .platforms_api import router as platforms
from .privacy_api import router as privacy
from .repository import shop_rules, sla_state
from .repository import tickets as repo
from .settings_api import router as settings
from .workspace.pages import mount as mount_workspace

SERVICE = "intake"
MAX_BODY_BYTES = 256 * 1024

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "the body could not be read (not UTF-8 JSON)"},
    401: {"model": Problem, "description": "missing or unknown API key"},
    404: {"model": Problem, "description": "no such ticket in the caller's shop"},
    409: {"model": Problem, "description": "the ticket's state does not allow this"},
    413: {"model": Problem, "description": "request body too large"},
    422: {"model": Problem, "description": "invalid body or parameters"},
}

REFUSALS: dict[type[Exception], tuple[int, str]] = {
    TicketNotFound: (404, "not_found"),
    ConflictingChange: (409, "conflict"),
    TransitionRefused: (409, "invalid_transition"),
    NoCustomerIdentity: (422, "no_customer_identity"),
    PeopleRefused: (422, "unknown_team"),
}
"""How the domain's refusals are answered: status and error code (the detail is the message)."""


@contextmanager
def domain_refusals() -> Iterator[None]:
    try:
        yield
    except tuple(REFUSALS) as exc:
        status, error = REFUSALS[type(exc)]
        raise refused(status, error, str(exc)) from None


# -- dependencies: what build_api put on the app ---------------------------------------------------

ContextDep = Annotated[Context, Depends(api_context)]


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[Connection]:
    """One use case's transaction; its metrics count only if it commits, its refusals are answered."""
    with domain_refusals(), counted_on_commit():
        async with db.transaction() as conn:
            yield conn


async def _detail(db: Database, shop_id: str, ticket_id: str) -> dict[str, Any]:
    with domain_refusals():
        async with db.pool.acquire() as conn:
            row = await repo.ticket_with_order(conn, shop_id, ticket_id)
            if row is None:
                raise TicketNotFound(ticket_id)
            messages = await repo.messages_of(conn, shop_id, ticket_id)
            clocks = await sla_state.clocks_of(conn, shop_id, [ticket_id])
    return {
        **ticket_view(row),
        "sla": sla_view(clocks.get(ticket_id, [])),
        "messages": [message_view(m, ticket_id) for m in messages],
    }


# -- contacts --------------------------------------------------------------------------------------

contacts = APIRouter(tags=["contacts"])


@contacts.post(
    "/v1/contacts",
    response_model=ContactAccepted,
    status_code=201,
    responses={
        200: {"model": ContactAccepted, "description": "joined, reopened or duplicate"},
        403: {"model": Problem, "description": "shop_id is not the API key's shop"},
        **ERRORS,
    },
)
async def post_contact(
    submission: ContactSubmission, shop: CurrentShop, response: Response, db: Db, ctx: ContextDep
) -> ContactAccepted:
    """A customer's message from any channel. 201 if it opened a ticket, 200 otherwise."""
    if submission.shop_id is not None and submission.shop_id != shop.id:
        raise refused(403, "shop_mismatch", "shop_id does not match the shop of the API key")
    contact = ContactReceived.model_validate(
        {**submission.model_dump(exclude={"shop_id"}, exclude_unset=True), "shop_id": shop.id}
    )
    try:
        async with unit_of_work(db) as conn:
            result = await handlers.receive_contact(contact, conn, ctx)
    except asyncpg.UniqueViolationError:
        # The same channel message id raced in under another customer identity (other locks):
        # the unique index kept it once; the retry finds it and answers "duplicate".
        async with unit_of_work(db) as conn:
            result = await handlers.receive_contact(contact, conn, ctx)
    if result.outcome is not RouteKind.NEW:
        response.status_code = 200
    outcome = "duplicate" if result.outcome is None else result.outcome.value
    return ContactAccepted(outcome=outcome, ticket_id=result.ticket_id, message_id=result.message_id)


# -- e-mail ----------------------------------------------------------------------------------------

RAW_EMAIL = {
    "requestBody": {
        "required": True,
        "description": "the raw RFC 5322 message, as an e-mail provider's inbound webhook delivers it",
        "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@contacts.post(
    "/v1/inbound/email",
    response_model=InboundEmailAccepted,
    status_code=201,
    openapi_extra=RAW_EMAIL,
    responses={
        200: {"model": InboundEmailAccepted, "description": "joined, reopened, duplicate or ignored"},
        **ERRORS,
        422: {
            "model": Problem,
            "description": "unparseable_email (not an e-mail), no_sender (no From address), "
            "invalid_sender (a From address that cannot be answered)",
        },
    },
)
async def inbound_email(
    request: Request, shop: CurrentShop, response: Response, db: Db, ctx: ContextDep
) -> InboundEmailAccepted:
    """A customer's e-mail: it becomes a contact of the shop's (201 if it opened a ticket), threaded
    into the ticket whose messages it answers (In-Reply-To, References). An automatic mail
    (auto-reply, bounce, our own reply come back) is recorded, never a ticket, never answered."""
    try:
        mail = parse_email(await request.body())
        async with unit_of_work(db) as conn:
            result = await handlers.receive_email(mail, shop.id, conn, ctx)
    except EmailRefused as exc:
        raise refused(422, exc.code, exc.detail) from None
    except ValidationError as exc:
        raise refused(422, "invalid_sender", _first_problem(exc)) from None
    contact = result.contact
    outcome = (
        "ignored" if contact is None else "duplicate" if contact.outcome is None else contact.outcome.value
    )
    metrics.INBOUND_EMAILS.labels(outcome).inc()
    if outcome != RouteKind.NEW.value:
        response.status_code = 200
    return InboundEmailAccepted(
        outcome=outcome,
        ticket_id=contact.ticket_id if contact else None,
        message_id=contact.message_id if contact else None,
        ignored_reason=result.ignored,
    )


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


# -- tickets ---------------------------------------------------------------------------------------

tickets = APIRouter(tags=["tickets"])


@tickets.get("/v1/tickets", response_model=TicketPage, responses=ERRORS)
async def list_tickets(
    shop: CurrentShop,
    db: Db,
    assigned: AssigneeFilter,
    status: TicketStatus | None = None,
    channel: Channel | None = None,
    category: Category | None = None,
    priority: Priority | None = None,
    order_id: Annotated[str | None, Query(max_length=128)] = None,
    customer: Annotated[
        str | None, Query(max_length=320, description="customer id, e-mail, phone or handle")
    ] = None,
    breached: bool | None = None,
    is_repeat: bool | None = None,
    team: Annotated[str | None, Query(max_length=64, description="a team's id")] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    sort: Annotated[
        Literal["newest", "due"],
        Query(description="newest first, or due: unfinished tickets by their nearest SLA deadline"),
    ] = "newest",
) -> dict[str, Any]:
    """The shop's tickets, newest first; with `sort=due` its unfinished tickets (open, pending, on
    hold) by the nearest deadline of a running SLA clock, the most overdue first and those without a
    running clock last."""
    wanted = repo.TicketFilter(
        status=status.value if status else None,
        channel=channel.value if channel else None,
        category=category.value if category else None,
        priority=priority.value if priority else None,
        order_id=order_id,
        customer=customer,
        breached=breached,
        is_repeat=is_repeat,
        **assigned,
        team_id=team,
        tag=tag.strip().lower() if tag else None,
    )
    async with db.pool.acquire() as conn:
        rows = await repo.list_tickets(conn, shop.id, wanted, limit + 1, offset, sort)
        clocks = await sla_state.clocks_of(conn, shop.id, [r["id"] for r in rows[:limit]])
    return {
        "tickets": [{**ticket_view(r), "sla": sla_view(clocks.get(r["id"], []))} for r in rows[:limit]],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if len(rows) > limit else None,
    }


@tickets.get("/v1/tickets/{ticket_id}", response_model=TicketDetail, responses=ERRORS)
async def get_ticket(ticket_id: str, shop: CurrentShop, db: Db) -> dict[str, Any]:
    """One ticket with its whole conversation (internal notes included) and its order's status."""
    return await _detail(db, shop.id, ticket_id)


@tickets.post("/v1/tickets/{ticket_id}/status", response_model=TicketDetail, responses=ERRORS)
async def set_status(
    ticket_id: str, body: StatusIn, shop: CurrentShop, db: Db, ctx: ContextDep, who: Auditor
) -> dict[str, Any]:
    """open, pending (on the customer), on_hold (on a third party), solved, closed (final)."""
    async with unit_of_work(db) as conn:
        await handlers.change_status(conn, ctx, shop.id, ticket_id, body.status)
        await who.record(conn, f"ticket.{body.status.value}", f"ticket:{ticket_id}")
    return await _detail(db, shop.id, ticket_id)


@tickets.post("/v1/tickets/{ticket_id}/reopen", response_model=TicketDetail, responses=ERRORS)
async def reopen(ticket_id: str, shop: CurrentShop, db: Db, ctx: ContextDep, who: Auditor) -> dict[str, Any]:
    """A solved ticket back to open (a closed one stays closed: 409)."""
    async with unit_of_work(db) as conn:
        await handlers.reopen(conn, ctx, shop.id, ticket_id)
        await who.record(conn, "ticket.reopen", f"ticket:{ticket_id}")
    return await _detail(db, shop.id, ticket_id)


@tickets.post("/v1/tickets/{ticket_id}/merge", response_model=TicketDetail, responses=ERRORS)
async def merge(
    ticket_id: str, body: MergeIn, shop: CurrentShop, db: Db, ctx: ContextDep, who: Auditor
) -> dict[str, Any]:
    """Merge this ticket into `into_ticket_id`; returns the surviving ticket."""
    async with unit_of_work(db) as conn:
        await handlers.merge_tickets(conn, ctx, shop.id, ticket_id, body.into_ticket_id)
        await who.record(conn, "ticket.merge", f"ticket:{ticket_id}")
    return await _detail(db, shop.id, body.into_ticket_id)


# -- the shop's rule table -------------------------------------------------------------------------

rules = APIRouter(tags=["rules"])


@rules.get("/v1/rules", response_model=RuleTable, responses=ERRORS)
async def get_rules(shop: CurrentShop, db: Db) -> RuleTable:
    """The category/priority rule table in force for the shop (the default one unless changed)."""
    async with db.pool.acquire() as conn:
        return await shop_rules.rules_in_force(conn, shop.id)


@rules.put("/v1/rules", response_model=RuleTable, responses=ERRORS)
async def put_rules(table: RuleTable, shop: CurrentShop, db: Db, ctx: ContextDep, who: Auditor) -> RuleTable:
    """Replace the shop's rule table; it applies to tickets opened from now on."""
    async with unit_of_work(db) as conn:
        await shop_rules.save_shop_rules(conn, shop.id, table, ctx.now())
        await who.record(conn, "rules.update", f"shop:{shop.id}")
    return table


@rules.delete("/v1/rules", response_model=RuleTable, responses=ERRORS)
async def reset_rules(shop: CurrentShop, db: Db, who: Auditor) -> RuleTable:
    """Back to the default rule table."""
    async with unit_of_work(db) as conn:
        await shop_rules.delete_shop_rules(conn, shop.id)
        await who.record(conn, "rules.reset", f"shop:{shop.id}")
    return DEFAULT_RULES


def build_api(runtime: ServiceRuntime, ctx: Context) -> FastAPI:
    api = make_api(
        SERVICE,
        "CareLoop intake",
        "Customer contacts from every channel become tickets; agents reply, note, solve, reopen, merge.",
        db=runtime.db,
        shops=ctx.shops,
        context=ctx,
        max_body_bytes=MAX_BODY_BYTES,
        path_body_bytes={"/v1/inbound/email": ctx.config.inbound_email_max_bytes},
    )
    for router in (contacts, tickets, rules, settings, platforms, audit, admin, customers_api.router):
        api.include_router(router)
    api.include_router(privacy)
    api.include_router(reports_api.router)
    install_people(api)
    mount_workspace(api, lambda: runtime.clock)
    return api
