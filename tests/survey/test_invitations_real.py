"""Invitations over the real Kafka and Postgres: the NPS delay on a test clock, throttling with
recorded reasons, CSAT after a solved ticket, CES after a return or repair, bad input dead-lettered."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from runtime.kafka import DLQ_REASON
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from schemas.v1.contacts import Channel
from schemas.v1.tickets import Category
from tests.support.kafka import read_topic
from tests.support.stack import running_service
from tests.survey.support import (
    T0,
    cancelled,
    clock_of,
    customer,
    delivered,
    repair_completed,
    return_received,
    rows,
    send,
    survey_events,
    ticket_created,
    ticket_solved,
    wait_rows,
)

pytestmark = pytest.mark.kafka


@pytest.fixture(autouse=True)
def fast_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURVEY_SWEEP_SECONDS", "0.1")
    monkeypatch.setenv("SURVEY_NPS_DELAY_DAYS_BY_SHOP", '{"shop-b": 2}')


async def test_delivered_order_gets_its_nps_invitation_only_after_the_delay(infra: Settings) -> None:
    async with running_service(infra, "survey") as survey:
        clock = clock_of(survey)
        anna = customer("c-anna", "Anna@Example.com", locale="pl-PL")
        await send(infra, topics.ORDERS, delivered("shop-a", "o-1", anna, T0))
        scheduled = await wait_rows(survey, "SELECT * FROM invitations WHERE order_id = 'o-1'")
        assert scheduled[0]["status"] == "scheduled"
        assert scheduled[0]["due_at"] == T0 + timedelta(days=7)
        assert scheduled[0]["customer_email"] == "anna@example.com"

        clock.advance(timedelta(days=6, hours=23, minutes=59))
        await _sweeps_pass(survey)
        assert (await rows(survey, "SELECT status FROM invitations"))[0]["status"] == "scheduled"
        assert await rows(survey, "SELECT * FROM decisions") == []

        clock.advance(timedelta(minutes=2))
        sent = await wait_rows(survey, "SELECT * FROM invitations WHERE status = 'sent'")
        assert sent[0]["sent_at"] == T0 + timedelta(days=7, minutes=1)
        assert sent[0]["expires_at"] == sent[0]["sent_at"] + timedelta(days=30)

        events = await survey_events(infra, at_least=1)
        assert [e.type for e in events] == ["survey.invited"]
        invited = events[0].data
        assert invited.shop_id == "shop-a"
        assert invited.order_id == "o-1"
        assert invited.kind == "nps"
        assert invited.locale == "pl"
        assert invited.customer.email == "Anna@example.com"  # EmailStr lower-cases the domain
        assert invited.link.startswith(infra.public_base_url + "/s/")
        token = invited.link.rsplit("/s/", 1)[1]
        assert len(token) >= 40
        # stored only as a hash: the token itself is nowhere in the survey schema
        stored = await rows(survey, "SELECT token_sha256 FROM invitations")
        assert stored[0]["token_sha256"] != token
        assert len(stored[0]["token_sha256"]) == 64
        decisions = await rows(survey, "SELECT decision, reason FROM decisions")
        assert [(d["decision"], d["reason"]) for d in decisions] == [("sent", "sent")]

        # a redelivered or repeated order.delivered does not survey the same order twice
        await send(infra, topics.ORDERS, delivered("shop-a", "o-1", anna, T0))
        await send(infra, topics.ORDERS, delivered("shop-b", "o-b1", customer("c-b"), clock.now()))
        shop_b = await wait_rows(survey, "SELECT due_at FROM invitations WHERE order_id = 'o-b1'")
        assert shop_b[0]["due_at"] == clock.now() + timedelta(days=2)  # the per-shop delay
        assert len(await rows(survey, "SELECT 1 FROM invitations WHERE order_id = 'o-1'")) == 1


async def test_throttling_decisions_are_recorded_with_their_reasons(infra: Settings) -> None:
    async with running_service(infra, "survey") as survey:
        clock = clock_of(survey)
        repeat, busy, gone, by_mail = (
            customer("c-repeat"),
            customer("c-busy"),
            customer("c-gone"),
            customer("c-mail", "mail@example.com"),
        )
        await send(
            infra,
            topics.TICKETS,
            ticket_created("shop-a", "t-busy", customer_id="c-busy", email=None),
            # matched on the e-mail alone: intake did not know the customer id
            ticket_created("shop-a", "t-mail", customer_id=None, email="MAIL@example.com"),
        )
        await wait_rows(survey, "SELECT 1 FROM tickets WHERE is_open", count=2)
        await send(
            infra,
            topics.ORDERS,
            delivered("shop-a", "o-first", repeat, T0),
            delivered("shop-a", "o-busy", busy, T0),
            cancelled("shop-a", "o-gone", gone),
            delivered("shop-a", "o-gone", gone, T0),
            delivered("shop-a", "o-mail", by_mail, T0),
        )
        await wait_rows(survey, "SELECT 1 FROM invitations", count=4)
        clock.advance(timedelta(days=7))
        await wait_rows(survey, "SELECT 1 FROM decisions", count=4)

        # a second order 30 days later: inside the 90-day window
        await send(infra, topics.ORDERS, delivered("shop-a", "o-second", repeat, T0 + timedelta(days=30)))
        await wait_rows(survey, "SELECT 1 FROM invitations WHERE order_id = 'o-second'")
        clock.set(T0 + timedelta(days=37))
        await wait_rows(survey, "SELECT 1 FROM decisions", count=5)

        # the same customer's order after the window gets a survey again
        await send(infra, topics.ORDERS, delivered("shop-a", "o-third", repeat, T0 + timedelta(days=100)))
        await wait_rows(survey, "SELECT 1 FROM invitations WHERE order_id = 'o-third'")
        clock.set(T0 + timedelta(days=107))
        await wait_rows(survey, "SELECT 1 FROM decisions", count=6)

        decided = {
            r["order_id"]: (r["decision"], r["reason"])
            for r in await rows(
                survey, "SELECT i.order_id, d.* FROM decisions d JOIN invitations i USING (survey_id)"
            )
        }
        assert decided == {
            "o-first": ("sent", "sent"),
            "o-busy": ("suppressed", "open_ticket"),
            "o-gone": ("suppressed", "order_cancelled"),
            "o-mail": ("suppressed", "open_ticket"),
            "o-second": ("suppressed", "throttled_window"),
            "o-third": ("sent", "sent"),
        }
        invited = [
            e.data.order_id for e in await survey_events(infra, at_least=2) if e.type == "survey.invited"
        ]
        assert sorted(invited) == ["o-first", "o-third"]


async def test_csat_after_a_solved_ticket_and_ces_after_a_return_or_repair(
    infra: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CES a day after the return/repair: the ticket events (another consumer) are in by then
    monkeypatch.setenv("SURVEY_CES_DELAY_DAYS", "1")
    async with running_service(infra, "survey") as survey:
        clock = clock_of(survey)
        buyer = customer("c-ces", locale="en-GB")
        await send(
            infra,
            topics.TICKETS,
            ticket_created(
                "shop-a",
                "t-ret",
                customer_id="c-ces",
                email=None,
                order="o-ret",
                channel=Channel.CHAT,
                category=Category.RETURN,
            ),
            ticket_solved(
                "shop-a",
                "t-ret",
                T0,
                customer_id="c-ces",
                email="c-ces@example.com",
                channel=Channel.CHAT,
                category=Category.RETURN,
            ),
        )
        await send(
            infra,
            topics.ORDERS,
            return_received("shop-a", "o-ret", buyer, "r-1"),
            return_received("shop-a", "o-ret", buyer, "r-1"),  # the same return twice: one survey
            repair_completed("shop-a", "o-rep", buyer, "rep-1"),
        )
        await wait_rows(survey, "SELECT 1 FROM invitations", count=3)
        clock.advance(timedelta(days=1, minutes=1))
        await wait_rows(survey, "SELECT 1 FROM decisions", count=3)
        found = await rows(survey, "SELECT kind, origin, channel, category FROM invitations ORDER BY origin")
        assert [(r["kind"], r["origin"], r["channel"], r["category"]) for r in found] == [
            ("ces", "repair:rep-1", None, None),
            ("ces", "return:r-1", "chat", "return"),  # the order's ticket is the survey's origin
            ("csat", "ticket:t-ret", "chat", "return"),
        ]
        decided = await rows(
            survey, "SELECT i.origin, d.reason FROM decisions d JOIN invitations i USING (survey_id)"
        )
        reasons = {r["origin"]: r["reason"] for r in decided}
        # one CSAT goes out; of two CES surveys for one customer in one window, one
        assert reasons["ticket:t-ret"] == "sent"
        assert sorted([reasons["return:r-1"], reasons["repair:rep-1"]]) == ["sent", "throttled_window"]
        kinds = sorted(
            e.data.kind.value for e in await survey_events(infra, at_least=2) if e.type == "survey.invited"
        )
        assert kinds == ["ces", "csat"]


async def test_events_for_unknown_shops_are_dead_lettered_and_nothing_is_stored(infra: Settings) -> None:
    async with running_service(infra, "survey") as survey:
        clock_of(survey)
        await send(infra, topics.ORDERS, delivered("shop-zzz", "o-x", customer("c-x"), T0))
        dlq = await read_topic(infra, topics.ORDERS.dlq, at_least=1)
        assert dict(dlq[0].headers)[DLQ_REASON] == b"unprocessable: unknown shop shop-zzz"
        assert await rows(survey, "SELECT * FROM invitations") == []


async def _sweeps_pass(app: ServiceApp) -> None:
    """Let a few sweep intervals (0.1 s each) go by: proof by absence needs the sweep to have run."""
    await asyncio.sleep(0.5)
