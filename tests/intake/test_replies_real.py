"""Replies and e-mail through intake over the real Kafka and Postgres: a raw e-mail becomes a ticket,
a public reply is announced (ticket.replied) and handed to the gateways (support.replies) with its
e-mail threading, the customer's answer joins the same ticket, automatic mails go nowhere, and the
gateways' reports are recorded (a failure flags the ticket). Shop B never reaches shop A's ticket."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from runtime.settings import Settings
from schemas.envelope import CloudEvent
from schemas.registry import decode_event, make_event
from schemas.topics import REPLIES, REPLY_STATUS
from schemas.v1.replies import ReplyDelivery, ReplyStatusReported
from tests.intake.helpers import (
    Intake,
    fetchval,
    get_ticket,
    metric_value,
    running_intake,
    ticket_events,
    unique,
)
from tests.support.kafka import produce, read_topic
from tests.support.shops import KEY_A, KEY_B, SHOP_A, auth
from tests.support.wait import eventually

DOMAIN = "careloop.invalid"  # intake's default Message-ID domain


def raw_mail(
    message_id: str, *extra: str, sender: str = "Anna Kowalska <anna@example.com>", body: str = "Hello"
) -> bytes:
    head = [
        f"From: {sender}",
        "To: help@shop-a.example",
        "Subject: Order 77 has not arrived",
        f"Message-ID: {message_id}",
        "Content-Type: text/plain; charset=utf-8",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode()


async def send_mail(intake: Intake, raw: bytes, key: str = KEY_A) -> tuple[int, dict[str, Any]]:
    response = await intake.client.post(
        "/v1/inbound/email", content=raw, headers={**auth(key), "content-type": "message/rfc822"}
    )
    return response.status_code, response.json()


async def reply(intake: Intake, ticket_id: str, body: str = "Your parcel ships today.") -> str:
    response = await intake.client.post(
        f"/v1/tickets/{ticket_id}/replies", json={"body": body, "author_name": "Ola"}, headers=auth(KEY_A)
    )
    assert response.status_code == 201, response.text
    message_id: str = response.json()["message_id"]
    return message_id


async def outbound(settings: Settings, message_id: str) -> CloudEvent[Any]:
    async def found() -> CloudEvent[Any] | None:
        for record in await read_topic(settings, REPLIES.name, at_least=1, timeout=3.0):
            event = decode_event(record.value)
            if event.data.message_id == message_id:
                return event
        return None

    event = await eventually(found, timeout=30)
    assert event is not None
    return event


async def test_an_email_in_a_reply_out_and_the_answer_joins_the_ticket(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        first_id = f"<{unique('c')}@mail.example.com>"
        status, created = await send_mail(intake, raw_mail(first_id, body="Where is my parcel?"))
        assert status == 201
        assert created["outcome"] == "created"
        ticket_id = created["ticket_id"]

        again_status, again = await send_mail(intake, raw_mail(first_id, body="Where is my parcel?"))
        assert again_status == 200
        assert again == {**created, "outcome": "duplicate"}

        intake.clock.advance(timedelta(minutes=5))
        message_id = await reply(intake, ticket_id)
        ours = f"<{message_id}@{DOMAIN}>"

        events = await ticket_events(intake, ticket_id, at_least=4)
        replied = [e for e in events if e.type == "ticket.replied"]
        assert len(replied) == 1
        data = replied[0].data
        assert (data.message_id, data.text, data.author_name, data.automatic) == (
            message_id,
            "Your parcel ships today.",
            "Ola",
            False,
        )
        assert data.contact.email == "anna@example.com"
        assert data.contact.name == "Anna Kowalska"
        assert data.threading.message_id == ours
        assert data.threading.in_reply_to == first_id
        assert data.threading.references == [first_id]

        sent = await outbound(intake.settings, message_id)
        assert sent.type == "reply.requested"
        assert sent.subject == ticket_id
        assert sent.data.channel.value == "email"
        assert sent.data.threading == data.threading

        detail = await get_ticket(intake, ticket_id)
        ours_view = next(m for m in detail["messages"] if m["id"] == message_id)
        assert ours_view["delivery"]["status"] == "queued"
        assert ours_view["channel_message_id"] == ours
        assert ours_view["automatic"] is False

        # days later, from another address, answering our mail: the same ticket
        intake.clock.advance(timedelta(days=9))
        answer_id = f"<{unique('c')}@other.example>"
        status, joined = await send_mail(
            intake,
            raw_mail(
                answer_id,
                f"In-Reply-To: {ours}",
                f"References: {first_id} {ours}",
                sender="anna.k@other.example",
                body="Thanks!",
            ),
        )
        assert status == 200
        assert joined["outcome"] == "joined"
        assert joined["ticket_id"] == ticket_id
        bodies = [m["body"] for m in (await get_ticket(intake, ticket_id))["messages"]]
        assert bodies == ["Where is my parcel?", "Your parcel ships today.", "Thanks!"]


async def test_automatic_mails_are_recorded_never_tickets(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        before = await fetchval(intake, "SELECT count(*) FROM tickets")
        metrics_before = (await intake.client.get("/metrics")).text
        out_of_office = raw_mail(
            f"<{unique('ooo')}@mail.example.com>", "Auto-Submitted: auto-replied", body="I am away"
        )
        for _ in range(2):
            status, answer = await send_mail(intake, out_of_office)
            assert status == 200
            assert answer == {
                "outcome": "ignored",
                "ticket_id": None,
                "message_id": None,
                "ignored_reason": "auto_submitted",
            }
        loop = raw_mail(f"<msg_{unique('x')}@{DOMAIN}>", body="our own reply, back again")
        assert (await send_mail(intake, loop))[1]["ignored_reason"] == "own_message"
        bounce = raw_mail(f"<{unique('b')}@mx.example>", sender="MAILER-DAEMON@mx.example", body="failed")
        assert (await send_mail(intake, bounce))[1]["ignored_reason"] == "mailer_daemon"

        assert await fetchval(intake, "SELECT count(*) FROM tickets") == before
        rows = await intake.app.runtime.db.pool.fetch(
            "SELECT reason, shop_id FROM ignored_emails ORDER BY id"
        )
        assert [(r["reason"], r["shop_id"]) for r in rows] == [
            ("auto_submitted", SHOP_A),
            ("own_message", SHOP_A),
            ("mailer_daemon", SHOP_A),
        ]
        text = (await intake.client.get("/metrics")).text
        name = "careloop_intake_inbound_emails_ignored_total"
        for reason in ("auto_submitted", "own_message", "mailer_daemon"):
            grew = metric_value(text, name, reason=reason) - metric_value(metrics_before, name, reason=reason)
            assert grew == 1, reason


async def test_what_is_not_an_email_is_refused_with_a_code(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        assert await send_mail(intake, b"") == (
            422,
            {"error": "unparseable_email", "detail": "the body is empty: send the raw RFC 5322 message"},
        )
        status, answer = await send_mail(intake, b"Subject: hi\r\n\r\nno sender here")
        assert (status, answer["error"]) == (422, "no_sender")
        status, answer = await send_mail(intake, raw_mail("<z@x.example>", sender="anna@@bad"))
        assert (status, answer["error"]) == (422, "no_sender")
        response = await intake.client.post("/v1/inbound/email", content=raw_mail("<z@x.example>"))
        assert response.status_code == 401


async def status_report(
    intake: Intake, ticket_id: str, message_id: str, status: ReplyDelivery, reason: str | None = None
) -> None:
    data = ReplyStatusReported(
        shop_id=SHOP_A,
        ticket_id=ticket_id,
        message_id=message_id,
        status=status,
        reason=reason,
        gateway="test-gateway",
        at=intake.clock.now(),
    )
    await produce(
        intake.settings, REPLY_STATUS.name, make_event("reply.status", "gw", data, subject=ticket_id)
    )


async def test_gateway_reports_are_recorded_and_a_failure_flags_the_ticket(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        _status, created = await send_mail(intake, raw_mail(f"<{unique('c')}@mail.example.com>"))
        ticket_id = created["ticket_id"]
        first = await reply(intake, ticket_id, "First answer")
        await status_report(intake, ticket_id, first, ReplyDelivery.FAILED, "550 5.1.1 no such mailbox")
        await status_report(intake, ticket_id, first, ReplyDelivery.SENT)  # late: changes nothing

        async def flagged() -> dict[str, Any] | None:
            ticket = await get_ticket(intake, ticket_id)
            return ticket if ticket["reply_failed"] else None

        ticket = await eventually(flagged, timeout=30)
        assert ticket is not None
        view = next(m for m in ticket["messages"] if m["id"] == first)
        assert view["delivery"]["status"] == "failed"
        assert view["delivery"]["reason"] == "550 5.1.1 no such mailbox"
        assert view["delivery"]["gateway"] == "test-gateway"
        failed_events = [
            e for e in await ticket_events(intake, ticket_id, 6) if e.type == "ticket.reply_failed"
        ]
        assert [(e.data.message_id, e.data.reason) for e in failed_events] == [
            (first, "550 5.1.1 no such mailbox")
        ]
        listed = (await intake.client.get("/v1/tickets", headers=auth(KEY_A))).json()["tickets"]
        assert next(t for t in listed if t["id"] == ticket_id)["reply_failed"] is True

        intake.clock.advance(timedelta(minutes=10))
        second = await reply(intake, ticket_id, "Second answer, to the right address")
        await status_report(intake, ticket_id, second, ReplyDelivery.DELIVERED)

        async def cleared() -> bool:
            return not (await get_ticket(intake, ticket_id))["reply_failed"]

        await eventually(cleared, timeout=30)
        assert (
            await fetchval(intake, "SELECT delivery_status FROM messages WHERE id = $1", second)
            == "delivered"
        )


async def test_shop_b_never_threads_into_shop_a(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        first_id = f"<{unique('c')}@mail.example.com>"
        _, created = await send_mail(intake, raw_mail(first_id))
        message_id = await reply(intake, created["ticket_id"])
        ours = f"<{message_id}@{DOMAIN}>"
        status, theirs = await send_mail(
            intake, raw_mail(f"<{unique('c')}@mail.example.com>", f"In-Reply-To: {ours}"), key=KEY_B
        )
        assert status == 201
        assert theirs["outcome"] == "created"
        assert theirs["ticket_id"] != created["ticket_id"]
        a = await get_ticket(intake, created["ticket_id"])
        assert len(a["messages"]) == 2
        other = await intake.client.get(f"/v1/tickets/{created['ticket_id']}", headers=auth(KEY_B))
        assert other.status_code == 404


async def test_a_chat_reply_names_the_chat_session_and_carries_no_email_threading(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        session = unique("sess")
        response = await intake.client.post(
            "/v1/contacts",
            json={"channel": "chat", "customer_handle": "@anna_k", "body": "Hi!", "thread_id": session},
            headers=auth(KEY_A),
        )
        assert response.status_code == 201, response.text
        ticket_id = response.json()["ticket_id"]
        message_id = await reply(intake, ticket_id, "Hello from the shop")
        sent = await outbound(intake.settings, message_id)
        assert sent.data.channel.value == "chat"
        assert (sent.data.contact.handle, sent.data.contact.thread_id) == ("@anna_k", session)
        assert sent.data.threading.model_dump() == {"message_id": None, "in_reply_to": None, "references": []}
        view = next(m for m in (await get_ticket(intake, ticket_id))["messages"] if m["id"] == message_id)
        assert (view["channel"], view["channel_message_id"], view["delivery"]["status"]) == (
            "chat",
            None,
            "queued",
        )
