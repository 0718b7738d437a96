"""The ticket aggregate: what may happen to a ticket, what it changes and what it announces.

Every operation is pure (time comes with the message or as `at`) and returns a `Change`: the ticket
after it, the fields it changed, the events to publish and the message to store. The handlers load a
ticket, call one operation, save the change and enqueue its events: the rules live here only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from schemas.v1.contacts import Channel
from schemas.v1.tickets import (
    Author,
    Category,
    Priority,
    TicketClosed,
    TicketCreated,
    TicketEventData,
    TicketFirstResponse,
    TicketMerged,
    TicketMessageAdded,
    TicketReopened,
    TicketSolved,
    TicketSource,
    TicketStatus,
    TicketStatusChanged,
)

from .lifecycle import check_transition, is_first_contact_resolution, status_after_customer_message
from .orders import OrderStatus
from .rules import CustomerStanding, RuleTable, categorise, normalise_text, prioritise, raised

S = TicketStatus


class TicketNotFound(LookupError):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"ticket {ticket_id} not found")
        self.ticket_id = ticket_id


class ConflictingChange(Exception):
    """The ticket's state does not allow this change (closed, merged, same ticket)."""


@dataclass(frozen=True)
class TicketCustomer:
    """Who the ticket is for: `key` is the identity threading compares (customers.customer_key)."""

    key: str
    id: str | None = None
    """The shop's own customer id, once known from an order."""
    email: str | None = None
    phone: str | None = None
    handle: str | None = None
    name: str | None = None
    locale: str = "en"
    standing: CustomerStanding | None = None  # their orders and survey answers (domain/customers.py)


@dataclass(frozen=True)
class Message:
    """A message about to be added to a ticket (the ticket it goes to is the change's)."""

    id: str
    author: Author
    body: str
    at: datetime
    internal: bool = False
    channel: str | None = None
    channel_message_id: str | None = None
    author_name: str | None = None
    subject: str = ""
    attachments: tuple[dict[str, Any], ...] = ()
    automatic: bool = False  # written by CareLoop itself to the customer (an answer, a reminder)
    delivery_status: str | None = None  # a public reply's fate on its channel (domain/replies.py)
    agent_id: str | None = None  # the agent whose own token wrote it


@dataclass(frozen=True)
class Opening:
    """What a new ticket starts from: who, about which order, through which channel, and why."""

    ticket_id: str
    shop_id: str
    channel: Channel
    source: TicketSource
    source_ref: str | None
    """The survey answer or broken promise that opened it: one ticket each, however often told."""
    subject: str
    customer: TicketCustomer
    order_id: str | None
    repeat_of: str | None = None
    """The earlier ticket of the same customer and order this one repeats (threading.repeat_of)."""
    team_id: str | None = None
    """The team the source names (else the rule's, else the shop's default team)."""
    category: Category | None = None
    """Given by the source (a broken promise is a delivery or repair matter); else the rule table's."""
    continues_ticket_id: str | None = None
    """The closed ticket the customer wrote on again (threading.continued_ticket)."""


@dataclass(frozen=True)
class Change:
    """One operation's outcome: the ticket after it, the fields it changed (field name -> new value),
    the events it announces in order, and the message it adds. `created`: the ticket is new."""

    ticket: Ticket
    changes: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[TicketEventData, ...] = ()
    message: Message | None = None
    created: bool = False

    def then(self, after: Change) -> Change:
        """This change followed by `after` (an operation on this change's ticket) as one."""
        assert after.ticket.id == self.ticket.id
        assert not after.created
        return Change(
            after.ticket,
            {**self.changes, **after.changes},
            self.events + after.events,
            after.message or self.message,
            self.created,
        )


@dataclass(frozen=True)
class Ticket:
    id: str
    shop_id: str
    status: TicketStatus
    channel: Channel
    category: Category
    priority: Priority
    subject: str
    source: TicketSource
    source_ref: str | None
    customer: TicketCustomer
    order_id: str | None
    is_repeat: bool
    repeat_of: str | None
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    breached: bool = False
    breached_metrics: tuple[str, ...] = ()
    agent_replies: int = 0
    reopen_count: int = 0
    first_response_at: datetime | None = None
    solved_at: datetime | None = None
    closed_at: datetime | None = None
    fcr: bool | None = None
    merged_into: str | None = None
    team_id: str | None = None
    assignee_agent_id: str | None = None
    assigned_at: datetime | None = None
    tags: tuple[str, ...] = ()
    first_response_agent_id: str | None = None
    """Who works it (domain/assignment.py), its tags, and whose reply was its first response."""
    reply_failed_at: datetime | None = None
    """When the reply a gateway reported failed was written (domain/replies.py); None once a later
    reply went out."""
    continues_ticket_id: str | None = None
    pending_since: datetime | None = None
    reminded_at: datetime | None = None
    """When it last went pending, and when the customer was reminded since (domain/housekeeping.py)."""
    deflect_at: datetime | None = None
    """An automatic answer waits for the customer until then (domain/automatic.py); a status change
    clears it."""

    @property
    def closed(self) -> bool:
        """Final: no message, status change or merge takes it anywhere."""
        return self.status is S.CLOSED

    # -- opening -----------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, opening: Opening, first: Message, rules: RuleTable, order_status: OrderStatus | None
    ) -> Change:
        """A new open ticket with its first message. Category: the source's, else the shop's rule
        table over subject and body. Urgent words count only in what the customer wrote: a
        contact's subject and body, a follow-up's body (its subject is intake's own wording). The
        rule that gives the category may also give tags and a team."""
        category = opening.category or categorise(rules, opening.subject, first.body, order_status)
        ruled = None if opening.category else rules.classify(opening.subject, first.body, order_status)
        contact = opening.source is TicketSource.CONTACT
        words = normalise_text(opening.subject, first.body) if contact else first.body
        priority = prioritise(
            rules,
            category,
            opening.channel,
            text=words,
            is_repeat=opening.repeat_of is not None,
            source=opening.source,
        )
        ticket = cls(
            id=opening.ticket_id,
            shop_id=opening.shop_id,
            status=S.OPEN,
            channel=opening.channel,
            category=category,
            priority=priority,
            subject=opening.subject,
            source=opening.source,
            source_ref=opening.source_ref,
            customer=opening.customer,
            order_id=opening.order_id,
            team_id=opening.team_id or (ruled.team_id if ruled else None),
            tags=ruled.tags if ruled else (),
            is_repeat=opening.repeat_of is not None,
            repeat_of=opening.repeat_of,
            continues_ticket_id=opening.continues_ticket_id,
            created_at=first.at,
            updated_at=first.at,
            last_activity_at=first.at,
        )
        created = TicketCreated(
            **ticket._common(),
            subject=ticket.subject,
            is_repeat=ticket.is_repeat,
            source=ticket.source.value,
            source_ref=ticket.source_ref,
            continues_ticket_id=ticket.continues_ticket_id,
            at=first.at,
        )
        return Change(ticket, {}, (created, ticket._message_added(first)), first, created=True)

    # -- messages ----------------------------------------------------------------------------------

    def customer_wrote(self, message: Message) -> Change:
        """The customer's next message: a solved ticket reopens, a pending one is open again (on hold
        stays on hold); the status change is announced before the message. A closed ticket takes
        none: its customer's next message opens a new ticket. Writing back after an automatic answer
        means it did not settle the matter: the ticket goes to an agent one priority step up."""
        self._refuse_if_closed()
        back = self._came_back() if self.deflect_at is not None else Change(self)
        ticket = back.ticket
        if ticket.status is S.SOLVED:
            woken = back.then(ticket.reopen(message.at))
        else:
            woken = back.then(ticket.set_status(status_after_customer_message(ticket.status), message.at))
        return woken.then(woken.ticket._touched(message))

    def _came_back(self) -> Change:
        priority = raised(self.priority)
        return Change(replace(self, priority=priority), {"priority": priority})

    def reply(self, message: Message) -> Change:
        """A public reply. An agent's is counted and the first is the ticket's first response; an
        automatic one (answer, reminder) is neither: no person has responded yet."""
        self._refuse_if_closed()
        if message.automatic:
            return self._touched(message)
        first = self.first_response_at is None
        changes: dict[str, Any] = {"agent_replies": self.agent_replies + 1}
        if first:
            changes |= {"first_response_at": message.at, "first_response_agent_id": message.agent_id}
        change = self._touched(message, changes)
        if not first:
            return change
        responded = TicketFirstResponse(
            **change.ticket._common(),
            at=message.at,
            first_response_seconds=(message.at - self.created_at).total_seconds(),
            author_agent_id=message.agent_id,
        )
        return replace(change, events=(*change.events, responded))

    def note(self, message: Message) -> Change:
        """An internal note: agents see it, the customer does not, and it is not a response."""
        self._refuse_if_closed()
        return self._touched(message)

    def _touched(self, message: Message, changes: Mapping[str, Any] | None = None) -> Change:
        step = {**(changes or {}), "updated_at": message.at, "last_activity_at": message.at}
        ticket = replace(self, **step)
        return Change(ticket, step, (ticket._message_added(message),), message)

    def _refuse_if_closed(self) -> None:
        if self.closed:
            raise ConflictingChange("the ticket is closed; a closed ticket takes no more messages")

    # -- status ------------------------------------------------------------------------------------

    def set_status(self, target: TicketStatus, at: datetime) -> Change:
        """Any allowed status change (lifecycle.ALLOWED); the current status again changes nothing."""
        if not check_transition(self.status, target):
            return Change(self)
        changes: dict[str, Any] = {"status": target, "updated_at": at}
        if target is S.PENDING:
            changes |= {"pending_since": at, "reminded_at": None}
        if self.deflect_at is not None:
            changes["deflect_at"] = None  # what the automatic answer waited for is settled
        if target is S.SOLVED:
            fcr = is_first_contact_resolution(self.agent_replies, self.reopen_count)
            changes |= {"solved_at": at, "fcr": fcr}
        elif target is S.CLOSED:
            changes["closed_at"] = at
        elif self.status is S.SOLVED:
            # back from solved is a reopen, whoever asks: counted, and no longer solved or FCR
            changes |= {"reopen_count": self.reopen_count + 1, "solved_at": None, "fcr": None}
        return self._status_changed(changes, at)

    def solve(self, at: datetime) -> Change:
        return self.set_status(S.SOLVED, at)

    def close(self, at: datetime) -> Change:
        return self.set_status(S.CLOSED, at)

    def reopen(self, at: datetime) -> Change:
        """A solved ticket back to open; any other status refuses (a closed one stays closed)."""
        if self.status is not S.SOLVED:
            raise ConflictingChange(f"only a solved ticket can be reopened; it is {self.status.value}")
        return self.set_status(S.OPEN, at)

    def _status_changed(self, changes: Mapping[str, Any], at: datetime) -> Change:
        after = replace(self, **changes)
        events: list[TicketEventData] = [
            TicketStatusChanged(**after._common(), previous_status=self.status, status=after.status, at=at)
        ]
        if after.status is S.SOLVED:
            resolution = (at - after.created_at).total_seconds()
            fcr = bool(after.fcr)
            events.append(
                TicketSolved(
                    **after._common(), at=at, resolution_seconds=resolution, first_contact_resolution=fcr
                )
            )
        elif after.status is S.CLOSED:
            events.append(TicketClosed(**after._common(), at=at, merged_into_ticket_id=after.merged_into))
        elif self.status is S.SOLVED:
            events.append(TicketReopened(**after._common(), at=at))
        return Change(after, changes, tuple(events))

    # -- merge and SLA -----------------------------------------------------------------------------

    def merge_into(self, target: Ticket, note: Message) -> tuple[Change, Change]:
        """Fold this ticket into `target`: this one is closed for good (merged), the target gets the
        system `note`. Moving the messages and threads is the repository's part."""
        refuse_self_merge(self.id, target.id)
        for ticket in (self, target):
            if ticket.closed:
                raise ConflictingChange(f"ticket {ticket.id} is closed and cannot take part in a merge")
        at = note.at
        changes = {"status": S.CLOSED, "closed_at": at, "updated_at": at, "merged_into": target.id}
        closed = self._status_changed(changes, at)
        merged = TicketMerged(**closed.ticket._common(), merged_into_ticket_id=target.id, at=at)
        return replace(closed, events=(merged, *closed.events)), target._touched(note)

    def mark_breached(self, metric: str) -> Change:
        """An SLA metric of this ticket was breached (each metric listed once, in name order)."""
        metrics = tuple(sorted({*self.breached_metrics, metric}))
        changes: dict[str, Any] = {"breached": True, "breached_metrics": metrics}
        return Change(replace(self, **changes), changes)

    # -- events ------------------------------------------------------------------------------------

    def event_fields(self) -> dict[str, Any]:
        """What every event about this ticket carries (TicketEventData), for events built elsewhere
        in the domain (domain/replies.py)."""
        return self._common()

    def _common(self) -> dict[str, Any]:
        """What every ticket event carries (TicketEventData)."""
        return {
            "shop_id": self.shop_id,
            "ticket_id": self.id,
            "order_id": self.order_id,
            "customer_id": self.customer.id,
            "customer_email": self.customer.email,
            "customer_locale": self.customer.locale,
            "channel": self.channel,
            "category": self.category,
            "priority": self.priority,
            "team_id": self.team_id,
            "assignee_agent_id": self.assignee_agent_id,
        }

    def _message_added(self, message: Message) -> TicketMessageAdded:
        return TicketMessageAdded(
            **self._common(),
            message_id=message.id,
            author=message.author,
            internal=message.internal,
            at=message.at,
            author_agent_id=message.agent_id,
        )


def refuse_self_merge(source_id: str, target_id: str) -> None:
    """Checked before either ticket is looked up: merging a ticket into itself is never a thing."""
    if source_id == target_id:
        raise ConflictingChange("a ticket cannot be merged into itself")
