"""The ticket aggregate without Postgres: what each operation changes and announces, and that no
sequence of operations leaves a ticket in a state its rules forbid."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.v1.contacts import Channel
from schemas.v1.tickets import (
    Author,
    Category,
    Priority,
    TicketClosed,
    TicketCreated,
    TicketFirstResponse,
    TicketMessageAdded,
    TicketReopened,
    TicketSolved,
    TicketSource,
    TicketStatus,
    TicketStatusChanged,
)
from services.intake.domain.customers import contact_locale, known_customer_key
from services.intake.domain.lifecycle import ACTIVE, TransitionRefused
from services.intake.domain.orders import OrderStatus
from services.intake.domain.rules import DEFAULT_RULES
from services.intake.domain.ticket import (
    Change,
    ConflictingChange,
    Message,
    Opening,
    Ticket,
    TicketCustomer,
    refuse_self_merge,
)

S = TicketStatus
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANNA = TicketCustomer(key="email:anna@example.com", id="c-1", email="anna@example.com", locale="pl-PL")


def opening(ticket_id: str = "t-1", **fields: Any) -> Opening:
    values: dict[str, Any] = {
        "ticket_id": ticket_id,
        "shop_id": "shop-a",
        "channel": Channel.EMAIL,
        "source": TicketSource.CONTACT,
        "source_ref": None,
        "subject": "Question",
        "customer": ANNA,
        "order_id": "o-1",
    }
    return Opening(**(values | fields))


def customer(body: str = "Hello", at: datetime = T0, message_id: str = "m-c") -> Message:
    return Message(message_id, Author.CUSTOMER, body, at, channel="email")


def agent(body: str = "On it", at: datetime = T0, message_id: str = "m-a", internal: bool = False) -> Message:
    return Message(message_id, Author.AGENT, body, at, internal=internal)


def opened(body: str = "Hello", **fields: Any) -> Ticket:
    return Ticket.open(opening(**fields), customer(body), DEFAULT_RULES, None).ticket


def types(change: Change) -> list[str]:
    return [type(e).__name__ for e in change.events]


def test_a_new_ticket_is_open_with_its_first_message_and_announced_in_that_order() -> None:
    change = Ticket.open(opening(), customer("Where is my parcel?"), DEFAULT_RULES, OrderStatus.SHIPPED)
    ticket = change.ticket
    assert change.created
    assert change.message is not None
    assert change.message.body == "Where is my parcel?"
    assert (ticket.status, ticket.category, ticket.priority) == (
        S.OPEN,
        Category.ORDER_STATUS,
        Priority.NORMAL,
    )
    assert ticket.created_at == ticket.updated_at == ticket.last_activity_at == T0
    assert types(change) == ["TicketCreated", "TicketMessageAdded"]
    created, added = change.events
    assert isinstance(created, TicketCreated)
    assert (created.ticket_id, created.customer_id, created.source, created.at) == (
        "t-1",
        "c-1",
        "contact",
        T0,
    )
    assert isinstance(added, TicketMessageAdded)
    assert (added.message_id, added.author, added.internal) == ("m-c", Author.CUSTOMER, False)


def test_the_category_and_priority_of_a_new_ticket_follow_the_rule_table() -> None:
    late = Ticket.open(opening(), customer("Where is my parcel?"), DEFAULT_RULES, OrderStatus.DELAYED)
    assert late.ticket.category is Category.DELIVERY_DELAY
    repeat = Ticket.open(opening(repeat_of="t-0"), customer("hello"), DEFAULT_RULES, None).ticket
    assert (repeat.is_repeat, repeat.repeat_of, repeat.priority) == (True, "t-0", Priority.HIGH)
    phone = Ticket.open(opening(channel=Channel.PHONE), customer("hello"), DEFAULT_RULES, None).ticket
    assert phone.priority is Priority.HIGH
    urgent_subject = Ticket.open(opening(subject="Chargeback!"), customer("hi"), DEFAULT_RULES, None)
    assert urgent_subject.ticket.priority is Priority.URGENT


def test_a_follow_up_is_at_least_high_and_only_its_body_can_make_it_urgent() -> None:
    follow_up = opening(
        source=TicketSource.SLA_PROMISE,
        source_ref="o-1:delivery_date:",
        subject="the lawyer word in intake's own subject",
        category=Category.DELIVERY_DELAY,
    )
    system = Message("m-s", Author.SYSTEM, "The shop promised to deliver by Monday.", T0)
    ticket = Ticket.open(follow_up, system, DEFAULT_RULES, None).ticket
    assert (ticket.category, ticket.priority, ticket.source_ref) == (
        Category.DELIVERY_DELAY,
        Priority.HIGH,
        "o-1:delivery_date:",
    )
    angry = replace(system, body="My lawyer will call.")
    assert Ticket.open(follow_up, angry, DEFAULT_RULES, None).ticket.priority is Priority.URGENT


def test_a_customer_message_reopens_a_solved_ticket_before_the_message_is_announced() -> None:
    ticket = opened()
    ticket = ticket.reply(agent(at=T0 + timedelta(minutes=5))).ticket
    solved = ticket.solve(T0 + timedelta(minutes=10)).ticket
    assert (solved.fcr, solved.solved_at) == (True, T0 + timedelta(minutes=10))
    back = solved.customer_wrote(customer("It broke again", T0 + timedelta(hours=1), "m-2"))
    assert types(back) == ["TicketStatusChanged", "TicketReopened", "TicketMessageAdded"]
    assert (back.ticket.status, back.ticket.reopen_count, back.ticket.fcr, back.ticket.solved_at) == (
        S.OPEN,
        1,
        None,
        None,
    )
    assert back.ticket.last_activity_at == T0 + timedelta(hours=1)
    assert set(back.changes) == {
        "status",
        "reopen_count",
        "solved_at",
        "fcr",
        "updated_at",
        "last_activity_at",
    }


def test_a_customer_message_wakes_a_pending_ticket_but_not_one_on_hold() -> None:
    pending = opened().set_status(S.PENDING, T0).ticket
    woken = pending.customer_wrote(customer(at=T0 + timedelta(hours=1)))
    assert types(woken) == ["TicketStatusChanged", "TicketMessageAdded"]
    assert woken.ticket.status is S.OPEN
    on_hold = opened().set_status(S.ON_HOLD, T0).ticket
    still = on_hold.customer_wrote(customer(at=T0 + timedelta(hours=1)))
    assert types(still) == ["TicketMessageAdded"]
    assert still.ticket.status is S.ON_HOLD


def test_the_first_public_reply_is_the_first_response_and_a_note_is_none() -> None:
    ticket = opened()
    note = ticket.note(agent("checking", T0 + timedelta(minutes=10), internal=True))
    assert types(note) == ["TicketMessageAdded"]
    assert (note.ticket.agent_replies, note.ticket.first_response_at) == (0, None)
    first = note.ticket.reply(agent(at=T0 + timedelta(minutes=30)))
    assert types(first) == ["TicketMessageAdded", "TicketFirstResponse"]
    responded = first.events[1]
    assert isinstance(responded, TicketFirstResponse)
    assert responded.first_response_seconds == 30 * 60
    second = first.ticket.reply(agent(at=T0 + timedelta(minutes=40), message_id="m-a2"))
    assert types(second) == ["TicketMessageAdded"]
    assert (second.ticket.agent_replies, second.ticket.first_response_at) == (2, T0 + timedelta(minutes=30))


def test_an_automatic_reply_is_neither_a_response_nor_an_agent_reply() -> None:
    # An automatic answer or reminder reaches the customer, but no person has responded: the
    # first-response clock keeps running and a later agent reply is still the first response.
    automatic = Message("m-auto", Author.SYSTEM, "Your parcel is on its way", T0, automatic=True)
    answered = opened().reply(automatic)
    assert types(answered) == ["TicketMessageAdded"]
    assert (answered.ticket.agent_replies, answered.ticket.first_response_at) == (0, None)
    person = answered.ticket.reply(agent(at=T0 + timedelta(minutes=5)))
    assert types(person) == ["TicketMessageAdded", "TicketFirstResponse"]
    assert person.ticket.agent_replies == 1
    assert person.ticket.solve(T0 + timedelta(hours=1)).ticket.fcr is True


def test_solving_says_whether_it_was_a_first_contact_resolution() -> None:
    once = opened().reply(agent()).ticket.solve(T0 + timedelta(hours=2))
    assert types(once) == ["TicketStatusChanged", "TicketSolved"]
    solved = once.events[1]
    assert isinstance(solved, TicketSolved)
    assert (solved.first_contact_resolution, solved.resolution_seconds) == (True, 7200)
    unanswered = opened().solve(T0)
    assert unanswered.ticket.fcr is False
    reopened = once.ticket.reopen(T0 + timedelta(hours=3)).ticket
    again = reopened.solve(T0 + timedelta(hours=4))
    assert again.ticket.fcr is False  # reopened once: not a first-contact resolution any more


def test_reopen_is_only_for_solved_tickets_and_closed_is_final() -> None:
    with pytest.raises(ConflictingChange, match="only a solved ticket can be reopened; it is open"):
        opened().reopen(T0)
    closed = opened().close(T0)
    assert types(closed) == ["TicketStatusChanged", "TicketClosed"]
    ticket = closed.ticket
    assert (ticket.status, ticket.closed_at) == (S.CLOSED, T0)
    with pytest.raises(ConflictingChange, match="a closed ticket takes no more messages"):
        ticket.reply(agent())
    with pytest.raises(ConflictingChange):
        ticket.note(agent(internal=True))
    with pytest.raises(ConflictingChange):
        ticket.customer_wrote(customer())
    with pytest.raises(ConflictingChange, match="it is closed"):
        ticket.reopen(T0)
    with pytest.raises(TransitionRefused, match="a closed ticket cannot become open"):
        ticket.set_status(S.OPEN, T0)
    assert ticket.close(T0) == Change(ticket)  # the same status again changes nothing


def test_merging_closes_the_source_and_notes_it_on_the_target() -> None:
    source, target = opened(ticket_id="t-src"), opened(ticket_id="t-dst")
    note = Message("m-n", Author.SYSTEM, "Ticket t-src was merged into this ticket.", T0, internal=True)
    closed, kept = source.merge_into(target, note)
    assert types(closed) == ["TicketMerged", "TicketStatusChanged", "TicketClosed"]
    assert (closed.ticket.status, closed.ticket.merged_into) == (S.CLOSED, "t-dst")
    assert all(e.ticket_id == "t-src" for e in closed.events)
    final = closed.events[-1]
    assert isinstance(final, TicketClosed)
    assert final.merged_into_ticket_id == "t-dst"
    assert types(kept) == ["TicketMessageAdded"]
    assert kept.message == note
    with pytest.raises(ConflictingChange, match="into itself"):
        refuse_self_merge("t-1", "t-1")
    with pytest.raises(ConflictingChange, match="ticket t-src is closed"):
        closed.ticket.merge_into(target, note)
    with pytest.raises(ConflictingChange, match="ticket t-src is closed"):
        target.merge_into(closed.ticket, note)


def test_breached_metrics_are_listed_once_in_name_order() -> None:
    ticket = opened()
    once = ticket.mark_breached("resolution").ticket.mark_breached("first_response")
    twice = once.ticket.mark_breached("resolution")
    assert twice.ticket.breached is True
    assert twice.ticket.breached_metrics == ("first_response", "resolution")
    assert twice.events == ()


# -- any sequence of operations --------------------------------------------------------------------

OPERATIONS = ("customer", "reply", "note", "pending", "on_hold", "open", "solve", "close", "reopen", "breach")


def step(ticket: Ticket, operation: str, at: datetime, n: int) -> Change:
    """One operation as the handlers call it; the refusals are part of the rules."""
    message_id = f"m-{n}"
    if operation == "customer":
        return ticket.customer_wrote(customer(at=at, message_id=message_id))
    if operation in ("reply", "note"):
        message = agent(at=at, message_id=message_id, internal=operation == "note")
        return ticket.note(message) if operation == "note" else ticket.reply(message)
    if operation == "solve":
        return ticket.solve(at)
    if operation == "close":
        return ticket.close(at)
    if operation == "reopen":
        return ticket.reopen(at)
    if operation == "breach":
        return ticket.mark_breached("first_response")
    return ticket.set_status(S(operation), at)


def check_invariants(ticket: Ticket) -> None:
    # solved: when and whether FCR; still being worked on: neither (a closed ticket keeps its solve)
    assert (ticket.solved_at is not None) == (ticket.fcr is not None)
    if ticket.status is S.SOLVED:
        assert ticket.solved_at is not None
    if ticket.status in ACTIVE:
        assert ticket.solved_at is None
    assert (ticket.status is S.CLOSED) == (ticket.closed_at is not None)
    assert (ticket.agent_replies > 0) == (ticket.first_response_at is not None)
    assert ticket.created_at <= ticket.last_activity_at <= ticket.updated_at


@settings(max_examples=300)
@given(operations=st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 600)), max_size=25))
def test_no_sequence_of_operations_leaves_an_invalid_ticket(operations: list[tuple[str, int]]) -> None:
    ticket, at = opened(), T0
    reopens = 0
    for n, (operation, minutes) in enumerate(operations):
        at += timedelta(minutes=minutes)
        before = ticket
        try:
            change = step(ticket, operation, at, n)
        except (ConflictingChange, TransitionRefused):
            # refused: only a closed ticket refuses messages, only a non-solved one a reopen
            assert before.closed or operation in ("reopen", "pending", "on_hold")
            continue
        ticket = change.ticket
        # saving the changed fields alone reproduces the ticket: what the repository writes
        assert replace(before, **change.changes) == ticket
        assert all(e.ticket_id == ticket.id and e.shop_id == ticket.shop_id for e in change.events)
        for event in change.events:
            if isinstance(event, TicketStatusChanged):
                assert (event.previous_status, event.status) == (before.status, ticket.status)
            if isinstance(event, TicketSolved):  # FCR is decided when solved (later replies keep it)
                first_contact = (ticket.agent_replies, ticket.reopen_count) == (1, 0)
                assert event.first_contact_resolution is ticket.fcr is first_contact
        assert before.closed <= ticket.closed  # nothing leaves closed
        reopens += sum(isinstance(e, TicketReopened) for e in change.events)
        check_invariants(ticket)
    assert ticket.reopen_count == reopens


@given(
    operations=st.lists(st.sampled_from(("reply", "note", "pending", "on_hold", "solve")), max_size=8),
    late=st.integers(1, 10_000),
)
def test_a_solved_ticket_reopened_by_its_customer_is_open_and_counted(
    operations: list[str], late: int
) -> None:
    ticket, at = opened(), T0
    for n, operation in enumerate(operations):
        at += timedelta(minutes=1)
        with contextlib.suppress(TransitionRefused):  # solved cannot become pending or on hold
            ticket = step(ticket, operation, at, n).ticket
    ticket = ticket.solve(at).ticket
    back = ticket.customer_wrote(customer(at=at + timedelta(minutes=late)))
    assert back.ticket.status is S.OPEN
    assert back.ticket.reopen_count == ticket.reopen_count + 1
    assert types(back) == ["TicketStatusChanged", "TicketReopened", "TicketMessageAdded"]


def test_who_a_ticket_is_for_and_in_which_language() -> None:
    assert known_customer_key("c-9", "Nina@Example.com", None) == "email:nina@example.com"
    assert known_customer_key("c-9", None, "+48 600 100 200") == "phone:48600100200"
    assert known_customer_key("c-9", None, None) == "customer:c-9"
    assert contact_locale("uk-UA", "de-DE", "pl", "en") == "uk-UA"
    assert contact_locale(None, "de-DE", "pl", "en") == "de-DE"
    assert contact_locale(None, None, "pl", "en") == "pl"
    assert contact_locale(None, None, None, "en") == "en"
