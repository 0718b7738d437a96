"""Intake's HTTP API under /v1: contacts in, tickets read and worked on, the shop's rule table."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from runtime.db import Connection
from runtime.http_api import make_api, shop_auth
from runtime.metrics import counted_on_commit
from runtime.service import ServiceRuntime
from runtime.shops import Shop
from schemas.v1.common import PlainText
from schemas.v1.contacts import Attachment, Channel, ContactFields, ContactReceived
from schemas.v1.tickets import Category, Priority, TicketStatus

from . import handlers, metrics, tickets
from . import repository as repo
from .domain.customers import NoCustomerIdentity
from .domain.lifecycle import TransitionRefused
from .domain.rules import DEFAULT_RULES, RuleTable
from .domain.threading import RouteKind

SERVICE = "intake"
MAX_BODY_BYTES = 256 * 1024


class ContactSubmission(ContactFields):
    """`POST /v1/contacts`: the contact.received fields; the shop is the API key's (shop_id optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shop_id: str | None = Field(default=None, max_length=64)


class ContactAccepted(BaseModel):
    outcome: Literal["created", "joined", "reopened", "duplicate"]
    """created: a new ticket; joined: next message of an open ticket; reopened: it reopened a solved
    ticket; duplicate: this channel_message_id was already received (nothing changed)."""
    ticket_id: str
    message_id: str


class CustomerView(BaseModel):
    id: str | None
    email: str | None
    phone: str | None
    handle: str | None
    name: str | None
    locale: str


class OrderView(BaseModel):
    id: str
    status: str | None = Field(description="latest status from orders.events; null if none seen yet")
    status_at: datetime | None
    promised_delivery_date: date | None


class TicketView(BaseModel):
    id: str
    status: TicketStatus
    channel: Channel
    category: Category
    priority: Priority
    subject: str
    source: str
    source_ref: str | None
    customer: CustomerView
    order: OrderView | None
    is_repeat: bool
    repeat_of: str | None
    breached: bool
    breached_metrics: list[str]
    agent_replies: int
    reopen_count: int
    first_contact_resolution: bool | None
    merged_into: str | None
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    first_response_at: datetime | None
    solved_at: datetime | None
    closed_at: datetime | None


class MessageView(BaseModel):
    id: str
    author: Literal["customer", "agent", "system"]
    internal: bool
    channel: str | None
    channel_message_id: str | None
    author_name: str | None
    subject: str
    body: str
    attachments: list[Attachment]
    at: datetime
    merged_from: str | None = Field(description="the ticket it was written on, if merged into this one")


class TicketDetail(TicketView):
    messages: list[MessageView]


class TicketPage(BaseModel):
    tickets: list[TicketView]
    limit: int
    offset: int
    next_offset: int | None


class _Strict(PlainText):
    model_config = ConfigDict(extra="forbid")


class ReplyIn(_Strict):
    body: str = Field(min_length=1, max_length=20_000)
    author_name: str | None = Field(default=None, max_length=200)
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)


class NoteIn(_Strict):
    body: str = Field(min_length=1, max_length=20_000)
    author_name: str | None = Field(default=None, max_length=200)


class StatusIn(_Strict):
    status: TicketStatus


class MergeIn(_Strict):
    into_ticket_id: str = Field(min_length=1, max_length=100)


class MessageCreated(BaseModel):
    ticket_id: str
    message_id: str


class Problem(BaseModel):
    error: str
    detail: Any


def ticket_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": row["status"],
        "channel": row["channel"],
        "category": row["category"],
        "priority": row["priority"],
        "subject": row["subject"],
        "source": row["source"],
        "source_ref": row["source_ref"],
        "customer": {
            "id": row["customer_id"],
            "email": row["customer_email"],
            "phone": row["customer_phone"],
            "handle": row["customer_handle"],
            "name": row["customer_name"],
            "locale": row["customer_locale"],
        },
        "order": None
        if row["order_id"] is None
        else {
            "id": row["order_id"],
            "status": row["order_status"],
            "status_at": row["order_status_at"],
            "promised_delivery_date": row["order_promised_delivery_date"],
        },
        "is_repeat": row["is_repeat"],
        "repeat_of": row["repeat_of"],
        "breached": row["breached"],
        "breached_metrics": list(row["breached_metrics"]),
        "agent_replies": row["agent_replies"],
        "reopen_count": row["reopen_count"],
        "first_contact_resolution": row["fcr"],
        "merged_into": row["merged_into"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "last_activity_at": row["last_activity_at"],
        "first_response_at": row["first_response_at"],
        "solved_at": row["solved_at"],
        "closed_at": row["closed_at"],
    }


def message_view(row: asyncpg.Record, ticket_id: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "author": row["author"],
        "internal": row["internal"],
        "channel": row["channel"],
        "channel_message_id": row["channel_message_id"],
        "author_name": row["author_name"],
        "subject": row["subject"],
        "body": row["body"],
        "attachments": row["attachments"],
        "at": row["at"],
        "merged_from": row["original_ticket_id"] if row["original_ticket_id"] != ticket_id else None,
    }


def _problem(status: int, error: str, detail: str) -> JSONResponse:
    metrics.REJECTED.labels("http", error).inc()
    return JSONResponse({"error": error, "detail": detail}, status)


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "the body could not be read (not UTF-8 JSON)"},
    401: {"model": Problem, "description": "missing or unknown API key"},
    404: {"model": Problem, "description": "no such ticket in the caller's shop"},
    409: {"model": Problem, "description": "the ticket's state does not allow this"},
    413: {"model": Problem, "description": "request body too large"},
    422: {"model": Problem, "description": "invalid body or parameters"},
}


def build_api(runtime: ServiceRuntime, intake: tickets.Intake) -> FastAPI:
    api = make_api(
        SERVICE,
        "CareLoop intake",
        "Customer contacts from every channel become tickets; agents reply, note, solve, reopen, merge.",
        max_body_bytes=MAX_BODY_BYTES,
    )
    current_shop = shop_auth(runtime.shops, SERVICE)

    @asynccontextmanager
    async def unit_of_work() -> AsyncIterator[Connection]:
        """One use case's transaction; its metrics count only if it commits."""
        with counted_on_commit():
            async with runtime.db.transaction() as conn:
                yield conn

    ShopDep = Annotated[Shop, Depends(current_shop)]  # noqa: N806 (a type alias)

    @api.exception_handler(tickets.TicketNotFound)
    async def not_found(request: Request, exc: tickets.TicketNotFound) -> JSONResponse:
        return _problem(404, "not_found", f"ticket {exc} not found")

    @api.exception_handler(tickets.ConflictingChange)
    async def conflict(request: Request, exc: tickets.ConflictingChange) -> JSONResponse:
        return _problem(409, "conflict", str(exc))

    @api.exception_handler(TransitionRefused)
    async def refused(request: Request, exc: TransitionRefused) -> JSONResponse:
        return _problem(409, "invalid_transition", str(exc))

    @api.exception_handler(NoCustomerIdentity)
    async def nobody(request: Request, exc: NoCustomerIdentity) -> JSONResponse:
        return _problem(422, "no_customer_identity", str(exc))

    @api.post(
        "/v1/contacts",
        response_model=ContactAccepted,
        status_code=201,
        responses={
            200: {"model": ContactAccepted, "description": "joined, reopened or duplicate"},
            403: {"model": Problem, "description": "shop_id is not the API key's shop"},
            **ERRORS,
        },
        tags=["contacts"],
    )
    async def post_contact(
        submission: ContactSubmission, shop: ShopDep, response: Response
    ) -> ContactAccepted | JSONResponse:
        """A customer's message from any channel. 201 if it opened a ticket, 200 otherwise."""
        if submission.shop_id is not None and submission.shop_id != shop.id:
            return _problem(403, "shop_mismatch", "shop_id does not match the shop of the API key")
        contact = ContactReceived.model_validate(
            {**submission.model_dump(exclude={"shop_id"}, exclude_unset=True), "shop_id": shop.id}
        )
        try:
            async with unit_of_work() as conn:
                result = await handlers.receive_contact(contact, conn, intake)
        except asyncpg.UniqueViolationError:
            # The same channel message id raced in under another customer identity (other locks):
            # the unique index kept it once; the retry finds it and answers "duplicate".
            async with unit_of_work() as conn:
                result = await handlers.receive_contact(contact, conn, intake)
        if result.outcome is not RouteKind.NEW:
            response.status_code = 200
        outcome = "duplicate" if result.outcome is None else result.outcome.value
        return ContactAccepted(outcome=outcome, ticket_id=result.ticket_id, message_id=result.message_id)

    @api.get("/v1/tickets", response_model=TicketPage, responses=ERRORS, tags=["tickets"])
    async def list_tickets(
        shop: ShopDep,
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
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> dict[str, Any]:
        """The shop's tickets, newest first."""
        wanted = repo.TicketFilter(
            status=status.value if status else None,
            channel=channel.value if channel else None,
            category=category.value if category else None,
            priority=priority.value if priority else None,
            order_id=order_id,
            customer=customer,
            breached=breached,
            is_repeat=is_repeat,
        )
        async with runtime.db.pool.acquire() as conn:
            rows = await repo.list_tickets(conn, shop.id, wanted, limit + 1, offset)
        return {
            "tickets": [ticket_view(r) for r in rows[:limit]],
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if len(rows) > limit else None,
        }

    async def _detail(shop_id: str, ticket_id: str) -> dict[str, Any]:
        async with runtime.db.pool.acquire() as conn:
            row = await repo.ticket_with_order(conn, shop_id, ticket_id)
            if row is None:
                raise tickets.TicketNotFound(ticket_id)
            messages = await repo.messages_of(conn, ticket_id)
        return {**ticket_view(row), "messages": [message_view(m, ticket_id) for m in messages]}

    @api.get("/v1/tickets/{ticket_id}", response_model=TicketDetail, responses=ERRORS, tags=["tickets"])
    async def get_ticket(ticket_id: str, shop: ShopDep) -> dict[str, Any]:
        """One ticket with its whole conversation (internal notes included) and its order's status."""
        return await _detail(shop.id, ticket_id)

    @api.post(
        "/v1/tickets/{ticket_id}/replies",
        response_model=MessageCreated,
        status_code=201,
        responses=ERRORS,
        tags=["tickets"],
    )
    async def reply(ticket_id: str, body: ReplyIn, shop: ShopDep) -> MessageCreated:
        """An agent's public reply to the customer (the first one is the ticket's first response)."""
        async with unit_of_work() as conn:
            message_id = await handlers.add_agent_message(
                conn,
                intake,
                shop.id,
                ticket_id,
                body.body,
                internal=False,
                author_name=body.author_name,
                attachments=tuple(a.model_dump(mode="json") for a in body.attachments),
            )
        return MessageCreated(ticket_id=ticket_id, message_id=message_id)

    @api.post(
        "/v1/tickets/{ticket_id}/notes",
        response_model=MessageCreated,
        status_code=201,
        responses=ERRORS,
        tags=["tickets"],
    )
    async def note(ticket_id: str, body: NoteIn, shop: ShopDep) -> MessageCreated:
        """An internal note: agents see it, the customer does not, and it is not a response."""
        async with unit_of_work() as conn:
            message_id = await handlers.add_agent_message(
                conn, intake, shop.id, ticket_id, body.body, internal=True, author_name=body.author_name
            )
        return MessageCreated(ticket_id=ticket_id, message_id=message_id)

    @api.post(
        "/v1/tickets/{ticket_id}/status", response_model=TicketDetail, responses=ERRORS, tags=["tickets"]
    )
    async def set_status(ticket_id: str, body: StatusIn, shop: ShopDep) -> dict[str, Any]:
        """open, pending (on the customer), on_hold (on a third party), solved, closed (final)."""
        async with unit_of_work() as conn:
            await handlers.change_status(conn, intake, shop.id, ticket_id, body.status)
        return await _detail(shop.id, ticket_id)

    @api.post(
        "/v1/tickets/{ticket_id}/reopen", response_model=TicketDetail, responses=ERRORS, tags=["tickets"]
    )
    async def reopen(ticket_id: str, shop: ShopDep) -> dict[str, Any]:
        """A solved ticket back to open (a closed one stays closed: 409)."""
        async with unit_of_work() as conn:
            ticket = await repo.ticket_for_update(conn, shop.id, ticket_id)
            if ticket is None:
                raise tickets.TicketNotFound(ticket_id)
            if ticket["status"] != TicketStatus.SOLVED:
                raise tickets.ConflictingChange(
                    f"only a solved ticket can be reopened; it is {ticket['status']}"
                )
            await handlers.change_status(conn, intake, shop.id, ticket_id, TicketStatus.OPEN)
        return await _detail(shop.id, ticket_id)

    @api.post(
        "/v1/tickets/{ticket_id}/merge", response_model=TicketDetail, responses=ERRORS, tags=["tickets"]
    )
    async def merge(ticket_id: str, body: MergeIn, shop: ShopDep) -> dict[str, Any]:
        """Merge this ticket into `into_ticket_id`; returns the surviving ticket."""
        async with unit_of_work() as conn:
            await handlers.merge_tickets(conn, intake, shop.id, ticket_id, body.into_ticket_id)
        return await _detail(shop.id, body.into_ticket_id)

    @api.get("/v1/rules", response_model=RuleTable, responses=ERRORS, tags=["rules"])
    async def get_rules(shop: ShopDep) -> RuleTable:
        """The category/priority rule table in force for the shop (the default one unless changed)."""
        async with runtime.db.pool.acquire() as conn:
            return await tickets.rules_for(conn, shop.id)

    @api.put("/v1/rules", response_model=RuleTable, responses=ERRORS, tags=["rules"])
    async def put_rules(rules: RuleTable, shop: ShopDep) -> RuleTable:
        """Replace the shop's rule table; it applies to tickets opened from now on."""
        async with unit_of_work() as conn:
            await repo.save_shop_rules(conn, shop.id, rules, intake.now())
        return rules

    @api.delete("/v1/rules", response_model=RuleTable, responses=ERRORS, tags=["rules"])
    async def reset_rules(shop: ShopDep) -> RuleTable:
        """Back to the default rule table."""
        async with unit_of_work() as conn:
            await repo.delete_shop_rules(conn, shop.id)
        return DEFAULT_RULES

    return api
