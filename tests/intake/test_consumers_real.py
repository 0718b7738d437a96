"""What intake does with other services' events: survey detractors and broken promises open
follow-up tickets, SLA breaches mark tickets; and the metrics operations watch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runtime.kafka import DLQ_REASON
from runtime.settings import Settings
from schemas.registry import make_event
from schemas.topics import SLA, SURVEYS
from schemas.v1.common import Customer
from schemas.v1.sla import OrderPromiseBreached, PromiseKind, SlaBreached, SlaMetric
from schemas.v1.surveys import SurveyDetractor, SurveyKind
from tests.intake.helpers import (
    fetchval,
    get_ticket,
    metric_value,
    post_contact,
    running_intake,
    ticket_events,
    types_of,
)
from tests.support.kafka import produce, read_topic
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka

AT = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
NINA = Customer(id="cust-5", email="nina@example.com", locale="pl-PL", name="Nina")


def detractor(survey_id: str, shop_id: str = SHOP_A) -> SurveyDetractor:
    return SurveyDetractor(
        shop_id=shop_id,
        survey_id=survey_id,
        kind=SurveyKind.CSAT,
        score=1,
        comment="The blender broke after a day and nobody answered.",
        customer=NINA,
        order_id="o-55",
        ticket_id="tkt_earlier",
        at=AT,
    )


def breach(ticket_id: str, metric: SlaMetric = SlaMetric.FIRST_RESPONSE) -> SlaBreached:
    return SlaBreached(
        shop_id=SHOP_A,
        ticket_id=ticket_id,
        clock_id=f"clk-{metric.value}",
        metric=metric,
        policy_id="default",
        channel="email",
        priority="normal",
        target_seconds=3600,
        deadline=AT,
        at=AT,
        lag_seconds=0.2,
    )


def promise(order_id: str, kind: PromiseKind, repair_id: str | None = None) -> OrderPromiseBreached:
    return OrderPromiseBreached(
        shop_id=SHOP_A,
        order_id=order_id,
        customer=NINA,
        promise=kind,
        promised_at=AT,
        at=AT + timedelta(days=1),
        repair_id=repair_id,
    )


async def test_a_detractor_opens_one_high_priority_follow_up_carrying_the_answer(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        for _ in range(2):  # the survey service re-publishes (a new event id): still one ticket
            await produce(
                infra,
                SURVEYS.name,
                make_event("survey.detractor", "careloop/survey", detractor("srv-1"), subject="srv-1"),
            )

        async def one_ticket() -> bool:
            seen = await fetchval(
                intake, "SELECT count(*) FROM processed_events WHERE consumer = 'intake-surveys'"
            )
            return bool(seen == 2)

        await eventually(one_ticket)
        rows = await intake.app.runtime.db.fetch("SELECT id FROM tickets WHERE source = 'survey_detractor'")
        assert len(rows) == 1
        ticket = await get_ticket(intake, rows[0]["id"])
        assert (ticket["priority"], ticket["source"], ticket["source_ref"]) == (
            "high",
            "survey_detractor",
            "srv-1",
        )
        assert ticket["order"]["id"] == "o-55"
        assert ticket["customer"] == {
            "id": "cust-5",
            "email": "nina@example.com",
            "phone": None,
            "handle": None,
            "name": "Nina",
            "locale": "pl-PL",
        }
        assert ticket["category"] == "complaint_repair"  # categorised from the comment
        first = ticket["messages"][0]
        assert first["author"] == "system"
        assert "srv-1" in first["body"]
        assert "score 1" in first["body"]
        assert "blender broke" in first["body"]
        events = await ticket_events(intake, ticket["id"], at_least=2)
        assert types_of(events) == ["ticket.created", "ticket.message_added"]
        assert (events[0].data.source, events[0].data.source_ref, events[0].data.customer_id) == (
            "survey_detractor",
            "srv-1",
            "cust-5",
        )

        await produce(infra, SURVEYS.name, make_event("survey.detractor", "s", detractor("srv-2", "shop-zz")))
        dlq = await read_topic(infra, SURVEYS.dlq, at_least=1)
        assert dict(dlq[0].headers)[DLQ_REASON] == b"unprocessable: unknown shop 'shop-zz'"


async def test_broken_promises_open_tickets_for_the_order_once(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        late = promise("o-70", PromiseKind.DELIVERY_DATE)
        repair = promise("o-71", PromiseKind.REPAIR_TURNAROUND, "rep-1")
        for data in (late, late, repair):
            await produce(
                infra,
                SLA.name,
                make_event("order.promise_breached", "careloop/sla", data, subject=data.order_id),
            )

        async def all_seen() -> bool:
            return bool(
                await fetchval(intake, "SELECT count(*) FROM processed_events WHERE consumer = 'intake-sla'")
                == 3
            )

        await eventually(all_seen)
        rows = await intake.app.runtime.db.fetch(
            "SELECT order_id, category, priority, source FROM tickets ORDER BY order_id"
        )
        assert [dict(r) for r in rows] == [
            {"order_id": "o-70", "category": "delivery_delay", "priority": "high", "source": "sla_promise"},
            {"order_id": "o-71", "category": "complaint_repair", "priority": "high", "source": "sla_promise"},
        ]


async def test_sla_breaches_mark_tickets_for_the_breached_filter(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        late = (await post_contact(intake, customer_email="slow@example.com")).json()["ticket_id"]
        fine = (await post_contact(intake, customer_email="fast@example.com")).json()["ticket_id"]
        for metric in (SlaMetric.FIRST_RESPONSE, SlaMetric.RESOLUTION, SlaMetric.FIRST_RESPONSE):
            await produce(
                infra,
                SLA.name,
                make_event("sla.breached", "careloop/sla", breach(late, metric), subject=late),
            )
        await produce(
            infra, SLA.name, make_event("sla.breached", "careloop/sla", breach("tkt_unknown"), subject="x")
        )

        async def marked() -> bool:
            listed = await intake.client.get("/v1/tickets", params={"breached": "true"}, headers=auth(KEY_A))
            both = (await get_ticket(intake, late))["breached_metrics"] == ["first_response", "resolution"]
            return both and [t["id"] for t in listed.json()["tickets"]] == [late]

        await eventually(marked)
        assert (await get_ticket(intake, fine))["breached"] is False
        dlq = await read_topic(infra, SLA.dlq, at_least=1)
        assert (
            dict(dlq[0].headers)[DLQ_REASON]
            .decode()
            .startswith("unprocessable: unknown ticket 'tkt_unknown'")
        )


async def test_metrics_count_contacts_tickets_responses_fcr_repeats_and_rejections(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        c, a = intake.client, auth(KEY_A)

        async def scrape() -> str:
            return (await c.get("/metrics")).text

        before = await scrape()
        t = (
            await post_contact(intake, channel="chat", customer_email="p@example.com", order_id="o-1")
        ).json()["ticket_id"]
        await post_contact(
            intake, channel="chat", customer_email="p@example.com", order_id="o-1", body="more"
        )
        intake.clock.advance(timedelta(minutes=15))
        await c.post(f"/v1/tickets/{t}/replies", json={"body": "done"}, headers=a)
        intake.clock.advance(timedelta(minutes=15))
        await c.post(f"/v1/tickets/{t}/status", json={"status": "solved"}, headers=a)
        intake.clock.advance(timedelta(days=4))
        await post_contact(
            intake, channel="chat", customer_email="p@example.com", order_id="o-1", body="again"
        )
        await c.post("/v1/contacts", json={"channel": "chat", "body": "x"}, headers=a)
        await c.get("/v1/tickets/tkt_missing", headers=a)

        async def gauges_current() -> bool:
            # both come from one sweep over Postgres that ran after the last request
            text = await scrape()
            open_now = metric_value(text, "careloop_intake_open_tickets", shop="shop-a", status="open")
            return open_now == 1 and metric_value(text, "careloop_intake_fcr_ratio") == 1.0

        await eventually(gauges_current, timeout=10)
        after = await scrape()

        def delta(name: str, **labels: str) -> float:
            return metric_value(after, name, **labels) - metric_value(before, name, **labels)

        assert delta("careloop_intake_contacts_total", channel="chat", outcome="created") == 2
        assert delta("careloop_intake_contacts_total", channel="chat", outcome="joined") == 1
        assert (
            delta(
                "careloop_intake_tickets_created_total", channel="chat", category="other", priority="normal"
            )
            == 1
        )
        assert delta("careloop_intake_repeat_contacts_total", channel="chat") == 1
        assert delta("careloop_intake_first_response_seconds_count", shop="shop-a", channel="chat") == 1
        assert delta("careloop_intake_first_response_seconds_sum", shop="shop-a", channel="chat") == 900
        assert delta("careloop_intake_resolution_seconds_sum", channel="chat", category="other") == 1800
        assert delta("careloop_intake_tickets_solved_total", fcr="true") == 1
        assert delta("careloop_intake_rejected_inputs_total", source="http", reason="not_found") == 1
        assert delta("careloop_http_rejected_total", service="intake", reason="invalid_body") == 1
        assert "nina@" not in after
        assert t not in after
