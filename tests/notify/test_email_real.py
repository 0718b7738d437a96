"""Replies reach the customer (issue #14), over real Kafka + Postgres, intake and notify in-process,
a real SMTP server on loopback and a real webhook receiver: an e-mail in becomes a ticket, the agent's
reply arrives as a signed webhook, on support.replies and by SMTP with the threading headers, the
customer's answer to it joins the ticket, an auto-reply goes nowhere. A relay that fails is retried
and dead-lettered with the reason, which flags the ticket. A shop sees and sets only its own relay."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas.registry import decode_event
from schemas.topics import REPLIES
from services.notify.config import NotifyConfig
from tests.intake.helpers import Intake, get_ticket, metric_value, running_intake, unique
from tests.notify.harness import api, config, create_endpoint, running_notify
from tests.notify.receiver import Receiver
from tests.support.kafka import read_topic
from tests.support.net import free_port
from tests.support.shops import KEY_A, KEY_B, auth
from tests.support.smtp import MailServer
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka

PASSWORD = "s3cret-relay-password-never-shown"
SENDER = "help@shop-a.example"


@dataclass
class Stack:
    intake: Intake
    notify: ServiceApp
    client: httpx.AsyncClient
    """notify's API."""


@asynccontextmanager
async def replies_stack(infra: Settings, cfg: NotifyConfig) -> AsyncIterator[Stack]:
    async with running_intake(infra) as intake, running_notify(infra, cfg) as notify, api(notify) as client:
        yield Stack(intake, notify, client)


def relay(port: int, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "username": "shop-a",
        "password": PASSWORD,
        "from_address": SENDER,
        "from_name": "Shop A care",
    }
    return body | fields


async def put_relay(stack: Stack, body: dict[str, Any], key: str = KEY_A) -> httpx.Response:
    return await stack.client.put("/v1/email/relay", json=body, headers=auth(key))


def raw_mail(message_id: str, *extra: str, body: str = "Where is my parcel?") -> bytes:
    head = [
        "From: Anna Kowalska <anna@example.com>",
        "To: help@shop-a.example",
        "Subject: Order 77 has not arrived",
        f"Message-ID: {message_id}",
        "Content-Type: text/plain; charset=utf-8",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode()


async def mail_in(stack: Stack, raw: bytes) -> dict[str, Any]:
    response = await stack.intake.client.post(
        "/v1/inbound/email", content=raw, headers={**auth(KEY_A), "content-type": "message/rfc822"}
    )
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


async def agent_reply(stack: Stack, ticket_id: str, body: str = "It ships today.") -> str:
    response = await stack.intake.client.post(
        f"/v1/tickets/{ticket_id}/replies", json={"body": body}, headers=auth(KEY_A)
    )
    assert response.status_code == 201, response.text
    message_id: str = response.json()["message_id"]
    return message_id


async def delivery_of(stack: Stack, ticket_id: str, message_id: str, status: str) -> dict[str, Any]:
    async def reported() -> dict[str, Any] | None:
        ticket = await get_ticket(stack.intake, ticket_id)
        view = next(m for m in ticket["messages"] if m["id"] == message_id)
        return ticket if (view["delivery"] or {}).get("status") == status else None

    found = await eventually(reported, timeout=40)
    assert found is not None
    return found


async def test_a_reply_goes_out_signed_on_the_topic_and_by_smtp_and_the_answer_joins(
    infra: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    smtp = await MailServer(username="shop-a", password=PASSWORD).start()
    receiver = await Receiver().start()
    try:
        async with replies_stack(infra, config()) as stack:
            endpoint = await create_endpoint(stack.client, receiver.url(), event_types=["ticket.replied"])
            put = await put_relay(stack, relay(smtp.port))
            assert put.status_code == 200, put.text
            shown = (await stack.client.get("/v1/email/relay", headers=auth(KEY_A))).json()
            assert shown["password_set"] is True
            assert PASSWORD not in put.text + str(shown)

            first_id = f"<{unique('c')}@mail.example.com>"
            ticket_id = (await mail_in(stack, raw_mail(first_id)))["ticket_id"]
            message_id = await agent_reply(stack, ticket_id)
            ours = f"<{message_id}@careloop.invalid>"

            # by SMTP, threaded
            await eventually(lambda: _count(smtp.received, 1), timeout=40)
            (sent,) = smtp.received
            assert sent.login == "shop-a"
            assert (sent.mail_from, sent.rcpt_tos) == (SENDER, ["anna@example.com"])
            mail = sent.message()
            assert mail["Message-ID"] == ours
            assert mail["In-Reply-To"] == first_id
            assert mail["References"] == first_id
            assert mail["Subject"] == "Re: Order 77 has not arrived"
            assert mail["From"].addresses[0].addr_spec == SENDER
            assert mail["From"].addresses[0].display_name == "Shop A care"
            assert mail["To"].addresses[0].addr_spec == "anna@example.com"
            assert "Auto-Submitted" not in mail
            body = mail.get_body(("plain",))
            assert body is not None
            assert body.get_content().strip() == "It ships today."

            # as a signed webhook
            await eventually(lambda: _count(receiver.requests, 1), timeout=40)
            payload = Webhook(endpoint["secret"]).verify(
                receiver.requests[0].body, receiver.requests[0].headers
            )
            assert payload["type"] == "ticket.replied"
            data = payload["data"]
            assert (data["ticket_id"], data["message_id"], data["text"]) == (
                ticket_id,
                message_id,
                "It ships today.",
            )
            assert data["threading"] == {
                "message_id": ours,
                "in_reply_to": first_id,
                "references": [first_id],
            }
            assert data["contact"]["email"] == "anna@example.com"

            # on support.replies
            records = await read_topic(stack.intake.settings, REPLIES.name, at_least=1)
            outbound = [decode_event(r.value) for r in records]
            assert [(e.type, e.data.message_id) for e in outbound] == [("reply.requested", message_id)]

            # notify reported it sent; intake recorded it
            await delivery_of(stack, ticket_id, message_id, "sent")
            sends = (await stack.client.get("/v1/email/sends", headers=auth(KEY_A))).json()
            assert [(s["message_id"], s["status"], s["attempts"]) for s in sends] == [(message_id, "sent", 1)]

            # the customer answers our mail: the same ticket
            answer = await mail_in(
                stack,
                raw_mail(
                    f"<{unique('c')}@mail.example.com>",
                    f"In-Reply-To: {mail['Message-ID']}",
                    f"References: {mail['References']} {mail['Message-ID']}",
                    body="Thank you!",
                ),
            )
            assert (answer["outcome"], answer["ticket_id"]) == ("joined", ticket_id)

            # their out-of-office answering our mail: recorded, no ticket message, no mail back
            away = await mail_in(
                stack,
                raw_mail(
                    f"<{unique('ooo')}@mail.example.com>",
                    f"In-Reply-To: {mail['Message-ID']}",
                    "Auto-Submitted: auto-replied",
                    body="I am away until Monday.",
                ),
            )
            assert (away["outcome"], away["ignored_reason"]) == ("ignored", "auto_submitted")
            ticket = await get_ticket(stack.intake, ticket_id)
            assert [m["body"] for m in ticket["messages"]] == [
                "Where is my parcel?",
                "It ships today.",
                "Thank you!",
            ]
            metrics = (await stack.client.get("/metrics")).text
            assert metric_value(metrics, "careloop_notify_emails_total", outcome="sent") >= 1
        assert len(smtp.received) == 1  # nothing more went out: no loop
        assert PASSWORD not in caplog.text
    finally:
        await smtp.stop()
        await receiver.stop()


async def test_a_relay_that_is_down_is_retried_then_dead_lettered_and_the_ticket_flagged(
    infra: Settings,
) -> None:
    down = free_port()  # nobody listens there
    async with replies_stack(infra, config(retry_schedule_seconds=(0, 0.2, 0.2))) as stack:
        before = (await stack.client.get("/metrics")).text
        assert (await put_relay(stack, relay(down))).status_code == 200
        ticket_id = (await mail_in(stack, raw_mail(f"<{unique('c')}@mail.example.com>")))["ticket_id"]
        message_id = await agent_reply(stack, ticket_id)

        ticket = await delivery_of(stack, ticket_id, message_id, "failed")
        assert ticket["reply_failed"] is True
        view = next(m for m in ticket["messages"] if m["id"] == message_id)
        assert view["delivery"]["gateway"] == "careloop-smtp"
        assert "after 3 attempts" in view["delivery"]["reason"]
        assert "connect" in view["delivery"]["reason"].lower()

        (dead,) = (await stack.client.get("/v1/email/sends?status=dead", headers=auth(KEY_A))).json()
        assert (dead["message_id"], dead["attempts"], dead["next_attempt_at"]) == (message_id, 3, None)
        assert "connect" in dead["last_error"].lower()
        after = (await stack.client.get("/metrics")).text
        name = "careloop_notify_emails_total"
        assert (
            metric_value(after, name, outcome="dead_lettered")
            - metric_value(before, name, outcome="dead_lettered")
            == 1
        )
        attempts = "careloop_notify_email_attempts_total"
        assert (
            metric_value(after, attempts, outcome="temporary")
            - metric_value(before, attempts, outcome="temporary")
            == 3
        )


async def test_a_permanent_refusal_is_not_retried(infra: Settings) -> None:
    smtp = await MailServer(refuse_recipients={"anna@example.com"}).start()
    try:
        async with replies_stack(infra, config(retry_schedule_seconds=(0, 0.2, 0.2))) as stack:
            assert (await put_relay(stack, relay(smtp.port, username=None, password=None))).status_code == 200
            ticket_id = (await mail_in(stack, raw_mail(f"<{unique('c')}@mail.example.com>")))["ticket_id"]
            message_id = await agent_reply(stack, ticket_id)
            ticket = await delivery_of(stack, ticket_id, message_id, "failed")
            reason = next(m for m in ticket["messages"] if m["id"] == message_id)["delivery"]["reason"]
            assert "550" in reason
            assert "after 1 attempts" in reason
    finally:
        await smtp.stop()


async def test_the_relay_host_is_checked_by_the_egress_policy_now_and_on_connect(infra: Settings) -> None:
    async with replies_stack(infra, config(allow_loopback=False, retry_schedule_seconds=(0,))) as stack:
        refused = await put_relay(stack, relay(free_port()))
        assert refused.status_code == 422
        assert refused.json()["error"] == "relay_refused"
        # a relay stored before the policy changed is refused when the send connects
        await stack.notify.runtime.db.pool.execute(
            """INSERT INTO email_relays (shop_id, host, port, starttls, from_address, created_at, updated_at)
               VALUES ('shop-a', '127.0.0.1', $1, false, 'help@shop-a.example', now(), now())""",
            free_port(),
        )
        ticket_id = (await mail_in(stack, raw_mail(f"<{unique('c')}@mail.example.com>")))["ticket_id"]
        message_id = await agent_reply(stack, ticket_id)
        ticket = await delivery_of(stack, ticket_id, message_id, "failed")
        reason = next(m for m in ticket["messages"] if m["id"] == message_id)["delivery"]["reason"]
        assert "refused by egress policy" in reason


async def test_a_shop_sees_and_sets_only_its_own_relay(infra: Settings) -> None:
    async with replies_stack(infra, config()) as stack:
        assert (await put_relay(stack, relay(2525))).status_code == 200
        assert (await stack.client.get("/v1/email/relay", headers=auth(KEY_B))).status_code == 404
        assert (await stack.client.delete("/v1/email/relay", headers=auth(KEY_B))).status_code == 404
        mine = relay(2526, from_address="care@shop-b.example", username=None, password=None)
        assert (await put_relay(stack, mine, key=KEY_B)).status_code == 200
        a = (await stack.client.get("/v1/email/relay", headers=auth(KEY_A))).json()
        b = (await stack.client.get("/v1/email/relay", headers=auth(KEY_B))).json()
        assert (a["port"], a["from_address"], a["password_set"]) == (2525, SENDER, True)
        assert (b["port"], b["from_address"], b["password_set"]) == (2526, "care@shop-b.example", False)
        assert (await stack.client.get("/v1/email/sends", headers=auth(KEY_B))).json() == []
        assert (await stack.client.delete("/v1/email/relay", headers=auth(KEY_A))).status_code == 204
        assert (await stack.client.get("/v1/email/relay", headers=auth(KEY_A))).status_code == 404
        assert (await stack.client.get("/v1/email/relay", headers=auth(KEY_B))).status_code == 200
        unauthenticated = await stack.client.get("/v1/email/relay")
        assert unauthenticated.status_code == 401


async def _count(items: list[Any], n: int) -> bool:
    return len(items) >= n
