"""Replies without Postgres (services/intake/domain/replies.py): what a public message announces and
sends, its e-mail threading, and what a gateway's report does to the message and the ticket."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas.v1.contacts import Channel
from schemas.v1.replies import ReplyDelivery, ReplyStatusReported
from schemas.v1.tickets import Author, TicketFirstResponse, TicketReplied, TicketReplyFailed
from services.intake.domain.replies import (
    MAX_REFERENCES,
    Conversation,
    reply,
    reported,
    requested,
    takes_effect,
    threading,
)
from services.intake.domain.ticket import Message
from tests.intake.test_domain_ticket import T0, opened

DOMAIN = "replies.shop.example"
EARLIER = Conversation(
    thread_id="<root@mail.example.com>",
    email_ids=("<root@mail.example.com>", "<msg_0@replies.shop.example>", "<c2@mail.example.com>"),
    parent_email_id="<c2@mail.example.com>",
)


def answer(at_minutes: int = 5, automatic: bool = False, message_id: str = "msg_1") -> Message:
    author = Author.SYSTEM if automatic else Author.AGENT
    return Message(
        message_id, author, "It ships today.", T0 + timedelta(minutes=at_minutes), automatic=automatic
    )


def test_an_email_reply_has_its_own_message_id_and_answers_the_customers_latest_mail() -> None:
    change = reply(opened(), answer(), EARLIER, DOMAIN, [])
    replied = change.events[-1]
    assert isinstance(replied, TicketReplied)
    assert replied.threading.message_id == "<msg_1@replies.shop.example>"
    assert replied.threading.in_reply_to == "<c2@mail.example.com>"
    assert replied.threading.references == list(EARLIER.email_ids)
    assert replied.contact.email == "anna@example.com"
    assert replied.contact.thread_id == "<root@mail.example.com>"
    assert (replied.text, replied.subject, replied.author, replied.automatic) == (
        "It ships today.",
        "Question",
        Author.AGENT,
        False,
    )
    stored = change.message
    assert stored is not None
    assert (stored.channel, stored.channel_message_id, stored.delivery_status) == (
        "email",
        "<msg_1@replies.shop.example>",
        "queued",
    )


def test_a_reply_is_the_tickets_reply_first_then_announced() -> None:
    change = reply(opened(), answer(), Conversation(), DOMAIN, [])
    assert [type(e).__name__ for e in change.events] == [
        "TicketMessageAdded",
        "TicketFirstResponse",
        "TicketReplied",
    ]
    assert isinstance(change.events[1], TicketFirstResponse)
    assert change.ticket.agent_replies == 1


def test_an_automatic_answer_is_marked_so_everywhere() -> None:
    change = reply(opened(), answer(automatic=True), Conversation(), DOMAIN, [])
    replied = change.events[-1]
    assert isinstance(replied, TicketReplied)
    assert replied.automatic
    assert replied.author is Author.SYSTEM
    assert change.message is not None
    assert change.message.automatic
    assert requested(replied).automatic


def test_other_channels_carry_no_email_threading() -> None:
    refs = threading(Channel.CHAT, "msg_1", Conversation(thread_id="sess-9"), DOMAIN)
    assert (refs.message_id, refs.in_reply_to, refs.references) == (None, None, [])


def test_a_long_chain_keeps_its_root_and_the_latest() -> None:
    ids = tuple(f"<m{n}@x.example>" for n in range(60))
    refs = threading(Channel.EMAIL, "msg_1", Conversation(email_ids=ids), DOMAIN).references
    assert len(refs) == MAX_REFERENCES
    assert refs[0] == "<m0@x.example>"
    assert refs[-1] == "<m59@x.example>"


def test_the_outbound_message_is_the_same_reply() -> None:
    replied = reply(opened(), answer(), EARLIER, DOMAIN, []).events[-1]
    assert isinstance(replied, TicketReplied)
    out = requested(replied)
    assert (out.shop_id, out.ticket_id, out.channel, out.message_id, out.text) == (
        replied.shop_id,
        replied.ticket_id,
        replied.channel,
        replied.message_id,
        replied.text,
    )
    assert out.threading == replied.threading
    assert out.contact == replied.contact


STATUSES = st.sampled_from(list(ReplyDelivery))


@given(
    st.lists(st.sampled_from([ReplyDelivery.SENT, ReplyDelivery.DELIVERED, ReplyDelivery.FAILED]), max_size=8)
)
def test_reports_in_any_order_never_go_back_from_a_final_status(reports: list[ReplyDelivery]) -> None:
    current: str | None = ReplyDelivery.QUEUED.value
    for status in reports:
        if takes_effect(current, status):
            current = status.value
    if any(s is not ReplyDelivery.SENT for s in reports):
        assert current in ("delivered", "failed")
    elif reports:
        assert current == "sent"


def test_the_same_report_twice_changes_nothing() -> None:
    assert not takes_effect("failed", ReplyDelivery.FAILED)
    assert not takes_effect("delivered", ReplyDelivery.SENT)
    assert takes_effect("sent", ReplyDelivery.FAILED)  # a bounce after the relay took it


def report(status: ReplyDelivery, message_id: str = "msg_1") -> ReplyStatusReported:
    return ReplyStatusReported(
        shop_id="shop-a",
        ticket_id="t-1",
        message_id=message_id,
        status=status,
        reason="550 mailbox unavailable" if status is ReplyDelivery.FAILED else None,
        gateway="smtp",
        at=T0 + timedelta(hours=1),
    )


def test_a_failed_reply_flags_the_ticket_and_is_announced_a_later_reply_sent_clears_it() -> None:
    written = T0 + timedelta(minutes=5)
    failed = reported(opened(), written, report(ReplyDelivery.FAILED))
    assert failed.ticket.reply_failed_at == written
    assert failed.changes == {"reply_failed_at": written}
    (event,) = failed.events
    assert isinstance(event, TicketReplyFailed)
    assert (event.message_id, event.reason, event.gateway) == ("msg_1", "550 mailbox unavailable", "smtp")

    older_sent = reported(failed.ticket, written - timedelta(minutes=1), report(ReplyDelivery.SENT, "msg_0"))
    assert older_sent.ticket.reply_failed_at == written
    assert not older_sent.changes

    later_sent = reported(failed.ticket, written + timedelta(minutes=9), report(ReplyDelivery.SENT, "msg_2"))
    assert later_sent.ticket.reply_failed_at is None
    assert later_sent.changes == {"reply_failed_at": None}
    assert not later_sent.events


def test_an_earlier_replys_failure_after_a_later_one_went_out_is_announced_but_flags_nothing() -> None:
    written = T0 + timedelta(minutes=5)
    late_news = reported(opened(), written, report(ReplyDelivery.FAILED), later_went_out=True)
    assert late_news.ticket.reply_failed_at is None
    assert not late_news.changes
    assert [type(e).__name__ for e in late_news.events] == ["TicketReplyFailed"]


def test_an_earlier_replys_failure_never_moves_a_later_ones_flag() -> None:
    later = T0 + timedelta(minutes=20)
    flagged = reported(opened(), later, report(ReplyDelivery.FAILED, "msg_2")).ticket
    earlier = reported(flagged, T0 + timedelta(minutes=5), report(ReplyDelivery.FAILED))
    assert earlier.ticket.reply_failed_at == later
    assert not earlier.changes
