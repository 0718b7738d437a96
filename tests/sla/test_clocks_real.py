"""Ticket clocks over the real Kafka and Postgres, time driven by a ManualClock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.clock import ManualClock
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from schemas.v1.tickets import Author
from services.sla.config import SlaConfig
from services.sla.context import Context
from services.sla.sweeps import measure_clocks
from tests.sla.support import (
    T0,
    clock_rows,
    counted,
    kinds,
    message,
    running_sla,
    send,
    sla_events,
    status,
    ticket_event,
    wait_clocks,
)
from tests.support.shops import KEY_A, auth
from tests.support.stack import http_client
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka
MIN = timedelta(minutes=1)


async def wait_for(app: ServiceApp, ticket_id: str, predicate: Any) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]]:
        rows = await clock_rows(app, ticket_id)
        return rows if predicate(rows) else []

    return await eventually(check)


async def wait_clock(app: ServiceApp, ticket_id: str, metric: str, index: int = 0, **expected: Any) -> None:
    """Until the ticket's `index`-th clock of `metric` has the expected column values."""

    def reached(rows: list[dict[str, Any]]) -> bool:
        found = by_metric(rows, metric)
        return len(found) > index and all(found[index][k] == v for k, v in expected.items())

    await wait_for(app, ticket_id, reached)


def by_metric(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["metric"] == metric]


async def test_first_response_met_and_breached(infra: Settings) -> None:
    clock = ManualClock(T0)
    async with running_sla(infra, clock) as app, http_client(app) as client:
        await send(
            infra,
            topics.TICKETS,
            # intake stamps the envelope with wall time and adds `at` in domain time: `at` counts
            ticket_event("ticket.created", "t-met", datetime.now(UTC), at=T0),
            ticket_event("ticket.created", "t-late", T0),
        )
        await wait_clocks(app, "t-met", 2)
        await wait_clocks(app, "t-late", 2)

        # t-met: an agent answers after 3 minutes (chat target: 5 business minutes)
        await send(infra, topics.TICKETS, message("t-met", T0 + 3 * MIN, Author.AGENT))
        await wait_clock(app, "t-met", "first_response", outcome="met")

        # t-late: nobody answers; the warning fires at 4 minutes, the breach at 5, the manager at 10
        clock.set(T0 + 4 * MIN)
        await wait_clock(app, "t-late", "first_response", stages_done=1)
        clock.set(T0 + 5 * MIN)
        await wait_for(
            app, "t-late", lambda rows: by_metric(rows, "first_response")[0]["outcome"] == "breached"
        )
        clock.set(T0 + 10 * MIN)
        await wait_clock(app, "t-late", "first_response", due_at=None)

        met = await sla_events(infra, app, "t-met")
        assert kinds(met) == [("sla.met", "first_response")]
        assert met[0].data.elapsed_seconds == 180
        assert met[0].data.policy_id == "chat"
        assert met[0].data.deadline == T0 + 5 * MIN

        late = await sla_events(infra, app, "t-late")
        assert kinds(late) == [
            ("sla.warning", "first_response"),
            ("sla.breached", "first_response"),
            ("sla.escalated", "first_response:1"),
            ("sla.escalated", "first_response:2"),
        ]
        breach = late[1].data
        assert breach.deadline == T0 + 5 * MIN
        assert breach.lag_seconds == 0
        assert breach.target_seconds == 300
        assert [e.data.escalate_to for e in late[2:]] == ["team_lead", "manager"]
        assert all(e.subject == "t-late" for e in late)

        # the agent finally answers: the clock stops as breached, and no sla.met goes out
        await send(infra, topics.TICKETS, message("t-late", T0 + 12 * MIN, Author.AGENT))
        await wait_for(
            app, "t-late", lambda rows: by_metric(rows, "first_response")[0]["status"] == "stopped"
        )
        assert kinds(await sla_events(infra, app, "t-late"))[-1] == ("sla.escalated", "first_response:2")

        response = await client.get("/v1/sla/tickets/t-late/clocks", headers=auth(KEY_A))
        assert response.status_code == 200, response.text
        body = response.json()
        first = next(c for c in body["clocks"] if c["metric"] == "first_response")
        assert (first["status"], first["outcome"], first["elapsed_seconds"]) == ("stopped", "breached", 720.0)
        # the gauges are refreshed from the database (every 15 s in the service; here on demand)
        await measure_clocks(app.runtime.db, Context(app.runtime.shops, clock.now, "unused", SlaConfig()))
        metrics = (await client.get("/metrics")).text
        # the KPI series carry their shop: policy ids repeat from shop to shop
        series = 'channel="chat",metric="first_response",policy="chat",shop="shop-a"'
        assert f"careloop_sla_breaches_total{{{series}}}" in metrics
        assert f"careloop_sla_met_total{{{series}}}" in metrics
        # one met, one not
        assert 'careloop_sla_compliance_ratio{metric="first_response",shop="shop-a"} 0.5' in metrics
        assert 'careloop_sla_open_clocks{metric="first_response"} 0.0' in metrics
        assert 'careloop_sla_open_clocks{metric="resolution"} 2.0' in metrics
        assert 'careloop_sla_timer_lag_seconds_count{timer="breach"}' in metrics


async def test_pending_pauses_the_clock_and_open_resumes_it(infra: Settings) -> None:
    clock = ManualClock(T0)
    async with running_sla(infra, clock) as app, http_client(app) as client:
        await send(infra, topics.TICKETS, ticket_event("ticket.created", "t-pause", T0))
        await wait_clocks(app, "t-pause", 2)
        await send(infra, topics.TICKETS, status("t-pause", T0 + 2 * MIN, "open", "pending"))
        await wait_for(app, "t-pause", lambda rows: all(r["status"] == "paused" for r in rows))

        clock.set(T0 + 60 * MIN)  # an hour on hold: nothing may fire
        paused = (await client.get("/v1/sla/tickets/t-pause/clocks", headers=auth(KEY_A))).json()
        first = next(c for c in paused["clocks"] if c["metric"] == "first_response")
        assert (first["status"], first["deadline"], first["elapsed_seconds"]) == ("paused", None, 120.0)

        await send(infra, topics.TICKETS, status("t-pause", T0 + 60 * MIN, "pending", "open"))
        await wait_for(app, "t-pause", lambda rows: all(r["status"] == "running" for r in rows))
        running = (await client.get("/v1/sla/tickets/t-pause/clocks", headers=auth(KEY_A))).json()
        first = next(c for c in running["clocks"] if c["metric"] == "first_response")
        assert first["deadline"] == (T0 + 63 * MIN).isoformat().replace("+00:00", "Z")

        clock.set(T0 + 63 * MIN - timedelta(seconds=1))
        await wait_clock(app, "t-pause", "first_response", stages_done=1)
        assert kinds(await sla_events(infra, app, "t-pause")) == [("sla.warning", "first_response")]
        clock.set(T0 + 63 * MIN)
        await wait_for(
            app, "t-pause", lambda rows: by_metric(rows, "first_response")[0]["outcome"] == "breached"
        )
        found = await sla_events(infra, app, "t-pause")
        assert kinds(found)[:2] == [("sla.warning", "first_response"), ("sla.breached", "first_response")]
        assert found[1].data.deadline == T0 + 63 * MIN

        # merged away: what still waits is cancelled, with no sla.met
        closed = ticket_event("ticket.closed", "t-pause", T0 + 70 * MIN, merged_into_ticket_id="t-main")
        await send(infra, topics.TICKETS, closed)
        rows = await wait_for(app, "t-pause", lambda rows: all(r["status"] == "cancelled" for r in rows))
        assert [(r["metric"], r["outcome"]) for r in rows] == [
            ("first_response", "breached"),
            ("resolution", None),
        ] or [(r["metric"], r["outcome"]) for r in rows] == [
            ("resolution", None),
            ("first_response", "breached"),
        ]
        assert "sla.met" not in {e.type for e in await sla_events(infra, app, "t-pause")}


async def test_next_response_clocks_follow_the_conversation(infra: Settings) -> None:
    clock = ManualClock(T0)
    async with running_sla(infra, clock) as app:
        email: dict[str, Any] = {"channel": "email"}
        await send(infra, topics.TICKETS, ticket_event("ticket.created", "t-next", T0, **email))
        await wait_clocks(app, "t-next", 2)
        await send(
            infra,
            topics.TICKETS,
            # a customer follow-up before any answer starts nothing; the agent's note is no answer
            message("t-next", T0 + 5 * MIN, Author.CUSTOMER, **email),
            message("t-next", T0 + 8 * MIN, Author.AGENT, internal=True, **email),
            message("t-next", T0 + 10 * MIN, Author.AGENT, **email),
            message("t-next", T0 + 20 * MIN, Author.CUSTOMER, **email),
            message("t-next", T0 + 21 * MIN, Author.CUSTOMER, **email),  # still one clock
            message("t-next", T0 + 30 * MIN, Author.AGENT, **email),
            message("t-next", T0 + 40 * MIN, Author.CUSTOMER, **email),
            message("t-next", T0 + 41 * MIN, Author.SYSTEM, **email),
        )
        rows = await wait_clocks(app, "t-next", 4)
        nexts = by_metric(rows, "next_response")
        assert [(r["status"], r["outcome"]) for r in nexts] == [("stopped", "met"), ("running", None)]

        # e-mail next response: 4 business hours from 10:40 Warsaw -> 14:40 local = 13:40 UTC
        clock.set(T0 + 40 * MIN + timedelta(hours=4))
        await wait_for(
            app, "t-next", lambda rows: by_metric(rows, "next_response")[1]["outcome"] == "breached"
        )
        found = await sla_events(infra, app, "t-next")
        assert kinds(found)[:4] == [
            ("sla.met", "first_response"),
            ("sla.met", "next_response"),
            ("sla.warning", "next_response"),
            ("sla.breached", "next_response"),
        ]
        assert found[0].data.elapsed_seconds == 600
        assert found[1].data.elapsed_seconds == 600
        assert found[3].data.deadline == T0 + 40 * MIN + timedelta(hours=4)
        assert found[3].data.policy_id == "email"

        # solving the ticket stops what is left: the resolution target is met
        await send(
            infra,
            topics.TICKETS,
            ticket_event(
                "ticket.solved",
                "t-next",
                T0 + 5 * 60 * MIN,
                resolution_seconds=1.0,
                first_contact_resolution=False,
                **email,
            ),
        )
        await wait_for(app, "t-next", lambda rows: all(r["status"] == "stopped" for r in rows))
        assert counted(await sla_events(infra, app, "t-next"))[("sla.met", "resolution")] == 1
