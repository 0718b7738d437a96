"""The ticket page's view-model: the conversation (each message labelled by who wrote it and whether
it reached the customer), the order beside it, the customer's other orders, tickets and survey
answers, and the actions the ticket's state allows. Pure, like views.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal

from schemas.v1.tickets import TicketStatus

from ..domain.lifecycle import ALLOWED
from ..domain.orders import Contents, OrderContext
from ..domain.sla_state import ClockState
from .texts import WORDS, name_of
from .views import Countdown, Row, assignee_label, countdown, customer_label, local_time

KIND_OF_AUTHOR = {"customer": "customer", "agent": "agent", "system": "system"}


@dataclass(frozen=True)
class Entry:
    """One message of the conversation. `kind` is customer, agent, automatic, note (an agent's
    internal note) or system (CareLoop's own record: a merge, what opened a ticket it opened itself);
    `label` says it in words, so nothing depends on colour alone; `internal` entries never reached
    the customer."""

    id: str
    kind: str
    label: str
    internal: bool
    author: str
    at: str
    at_iso: str
    body: str
    merged_from: str | None
    delivery: str | None
    failed: bool
    attachments: tuple[str, ...]


def entry_kind(message: Row) -> str:
    """Who wrote it and whether the customer got it: an internal note (an agent's) or CareLoop's own
    record (a merge, what opened a ticket CareLoop opened itself) never reached them; an automatic
    answer did."""
    if message.get("automatic"):
        return "automatic"
    if message["internal"]:
        return "note" if message["author"] == "agent" else "system"
    return KIND_OF_AUTHOR.get(message["author"], "system")


def entry(message: Row, ticket_id: str, lang: str, zone: tzinfo) -> Entry:
    words = WORDS[lang]
    kind = entry_kind(message)
    status = message.get("delivery_status")
    original = message.get("original_ticket_id")
    return Entry(
        id=message["id"],
        kind=kind,
        label=words[f"kind_{kind}"],
        internal=bool(message["internal"]),
        author=message.get("author_name") or "",
        at=local_time(message["at"], zone),
        at_iso=message["at"].isoformat(),
        body=message["body"],
        merged_from=original if original and original != ticket_id else None,
        delivery=words["delivery"].format(status=name_of(lang, "delivery", status)) if status else None,
        failed=status == "failed",
        attachments=tuple(
            str(a.get("filename") or a.get("url") or "") for a in message.get("attachments") or ()
        ),
    )


@dataclass(frozen=True)
class Line:
    sku: str
    name: str
    quantity: int
    unit_price: str


@dataclass(frozen=True)
class OrderPanel:
    id: str
    status: str
    status_at: str
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    """Only an http(s) address: anything else is shown as text, never a link."""
    promised: str | None
    delay_notice: str | None
    """When the customer was told of the last delay, and why."""
    lines: tuple[Line, ...]
    total: str | None


def money(amount: Decimal, currency: str | None) -> str:
    return f"{amount:.2f} {currency or ''}".strip()


def safe_link(url: str | None) -> str | None:
    return url if url and url.lower().startswith(("https://", "http://")) else None


def order_panel(order_id: str, order: OrderContext, lang: str, zone: tzinfo) -> OrderPanel:
    shipment, contents = order.shipment, order.contents
    delay = None
    if order.delayed_at is not None:
        delay = local_time(order.delayed_at, zone) + (f": {order.delay_reason}" if order.delay_reason else "")
    return OrderPanel(
        id=order_id,
        status=name_of(lang, "order", order.status.value),
        status_at=local_time(order.status_at, zone),
        carrier=shipment.carrier if shipment else None,
        tracking_number=shipment.tracking_number if shipment else None,
        tracking_url=safe_link(shipment.tracking_url) if shipment else None,
        promised=order.promised_delivery_date.isoformat() if order.promised_delivery_date else None,
        delay_notice=delay,
        lines=_lines(contents),
        total=money(contents.total, contents.currency) if contents else None,
    )


def _lines(contents: Contents | None) -> tuple[Line, ...]:
    if contents is None:
        return ()
    return tuple(
        Line(i.sku, i.name, i.quantity, money(i.unit_price, contents.currency)) for i in contents.lines
    )


@dataclass(frozen=True)
class Link:
    href: str
    """A ticket's id (the page links it), empty for an order (shown, not linked)."""
    text: str
    detail: str


@dataclass(frozen=True)
class Clock:
    name: str
    state: str
    countdown: Countdown | None
    breached: bool


def clock_line(clock: ClockState, now: datetime, lang: str) -> Clock:
    words = WORDS[lang]
    running = clock.status == "running"
    return Clock(
        name=words.get(f"clock_{clock.metric}", clock.metric),
        state=words.get(f"clock_{clock.status}", clock.status),
        countdown=countdown(clock.due_at, now, lang) if running else None,
        breached=clock.breached_at is not None,
    )


@dataclass(frozen=True)
class StatusButton:
    value: str
    label: str


def status_buttons(status: str, lang: str) -> list[StatusButton]:
    """What the ticket may become (domain/lifecycle.py), in the lifecycle's order; a solved ticket
    goes back to open by a reopen."""
    allowed = {s.value for s in ALLOWED[TicketStatus(status)]}
    order = ("open", "pending", "on_hold", "solved", "closed")
    return [
        StatusButton(
            s, WORDS[lang]["reopen"] if s == "open" and status == "solved" else name_of(lang, "status", s)
        )
        for s in order
        if s in allowed
    ]


@dataclass(frozen=True)
class TicketPage:
    id: str
    subject: str
    status: str
    status_code: str
    channel: str
    category: str
    priority: str
    customer: str
    customer_email: str | None
    opened: str
    repeat: bool
    reply_failed: bool
    merged_into: str | None
    countdown: Countdown | None
    breached: bool
    clocks: list[Clock]
    entries: list[Entry]
    order: OrderPanel | None
    other_orders: list[Link]
    other_tickets: list[Link]
    survey_answers: list[Link]
    status_buttons: list[StatusButton]
    can_reply: bool
    assignee: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Customer:
    """What the shop knows of the ticket and its customer: the ticket's order in full, and the
    customer's orders, tickets and survey answers as their Customer 360 lists them."""

    order: OrderContext | None = None
    orders: Sequence[Row] = ()
    tickets: Sequence[Row] = ()
    answers: Sequence[Row] = ()


def ticket_page(
    ticket: Row,
    messages: Sequence[Row],
    clocks: Sequence[ClockState],
    customer: Customer,
    now: datetime,
    lang: str,
    zone: tzinfo,
    agent_id: str | None = None,
    names: Mapping[str, str] | None = None,
) -> TicketPage:
    ticket_id = ticket["id"]
    own_order: str | None = ticket.get("order_id")
    due = countdown(ticket.get("sla_due_at"), now, lang)
    names = names or {}
    return TicketPage(
        id=ticket_id,
        subject=ticket["subject"] or WORDS[lang]["no_subject"],
        status=name_of(lang, "status", ticket["status"]),
        status_code=ticket["status"],
        channel=name_of(lang, "channel", ticket["channel"]),
        category=name_of(lang, "category", ticket["category"]),
        priority=name_of(lang, "priority", ticket["priority"]),
        customer=customer_label(ticket),
        customer_email=ticket.get("customer_email"),
        opened=local_time(ticket["created_at"], zone),
        repeat=bool(ticket.get("is_repeat")),
        reply_failed=ticket.get("reply_failed_at") is not None,
        merged_into=ticket.get("merged_into"),
        countdown=due,
        breached=bool(ticket.get("breached")) or (due is not None and due.late),
        clocks=[clock_line(c, now, lang) for c in clocks],
        entries=[entry(m, ticket_id, lang, zone) for m in messages],
        order=order_panel(own_order, customer.order, lang, zone)
        if own_order is not None and customer.order is not None
        else None,
        other_orders=[_order_link(o, lang, zone) for o in customer.orders if o["order_id"] != own_order],
        other_tickets=[_ticket_link(t, lang, zone) for t in customer.tickets if t["id"] != ticket_id],
        survey_answers=[_answer_link(a, lang, zone) for a in customer.answers],
        status_buttons=status_buttons(ticket["status"], lang),
        can_reply=ticket["status"] != "closed",
        assignee=assignee_label(ticket, agent_id, names, lang) if "assignee_agent_id" in ticket else None,
        tags=tuple(ticket.get("tags") or ()),
    )


def _ticket_link(row: Row, lang: str, zone: tzinfo) -> Link:
    subject = row["subject"] or WORDS[lang]["no_subject"]
    detail = f"{name_of(lang, 'status', row['status'])}, {local_time(row['created_at'], zone)}"
    return Link(row["id"], subject, detail)


def _order_link(row: Row, lang: str, zone: tzinfo) -> Link:
    """An order of the customer: its status, when it was placed, its total."""
    parts = [name_of(lang, "order", row["status"]), local_time(row.get("placed_at"), zone)]
    if row.get("total") is not None:
        parts.append(money(row["total"], row.get("currency")))
    return Link("", row["order_id"], ", ".join(p for p in parts if p))


def _answer_link(row: Row, lang: str, zone: tzinfo) -> Link:
    """A survey answer: kind and score, when, whether unhappy; linked to the ticket it was about."""
    words = WORDS[lang]
    text = f"{row['kind'].upper()} {row['score']}"
    detail = local_time(row["at"], zone) + (f", {words['unhappy']}" if row.get("detractor") else "")
    return Link(row.get("ticket_id") or "", text, detail)
