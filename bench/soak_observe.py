"""After the traffic: wait for the system to drain, then gather the observations in the order that
makes each comparison fair (see bench/soak_verify.py) and turn them into the checks' input."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.soak_collect import (
    SERVICES,
    WEBHOOK_TYPES,
    TopicLog,
    gauge_lag,
    group_lag,
    promise_key,
    read_tables,
)
from bench.soak_infra import Service
from bench.soak_metrics import Counts, compare_metrics
from bench.soak_receiver import SoakReceiver
from bench.soak_traffic import Produced
from bench.soak_verify import Observations, one_each
from services.notify.handlers import webhook_id_for

log = logging.getLogger("bench.soak")

SURVEY_KINDS = ("nps", "csat", "ces")


@dataclass(frozen=True)
class Drain:
    drained: bool
    seconds: float
    note: str


async def _pending(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        state = {f"outbox {s}": await conn.fetchval(f"SELECT count(*) FROM {s}.outbox") for s in SERVICES}  # noqa: S608
        state["deliveries pending"] = await conn.fetchval(
            "SELECT count(*) FROM notify.deliveries WHERE status IN ('pending', 'delivering')"
        )
        return state
    finally:
        await conn.close()


async def drain(database_url: str, bootstrap: str, timeout: float) -> Drain:
    """Until every outbox is empty, every consumer group has caught up and no webhook is pending, all
    at the same reading, twice in a row; at most `timeout` seconds. Timer-driven work (SLA stages,
    survey sweeps) goes on meanwhile, so an empty reading is a moment, not a state."""
    started = time.monotonic()
    calm = 0
    state: dict[str, int] = {}
    while True:
        try:
            state = await _pending(database_url)
            lag = await group_lag(bootstrap)
            state |= {f"lag {g}": n for g, n in lag.items() if n}
        except Exception as exc:  # a server still coming back: not drained yet, try again
            state = {f"unreadable: {type(exc).__name__}": 1}
        calm = calm + 1 if not any(state.values()) else 0
        seconds = time.monotonic() - started
        if calm >= 2:
            return Drain(True, seconds, f"drained in {seconds:.0f} s")
        if seconds > timeout:
            busy = ", ".join(f"{k} {v}" for k, v in sorted(state.items()) if v)
            return Drain(False, seconds, f"NOT drained within {timeout:.0f} s; still: {busy}")
        await asyncio.sleep(1.0)


async def wait_for_webhooks(receiver: SoakReceiver, wanted: set[str], timeout: float) -> None:
    for _ in range(max(1, round(timeout))):
        if wanted <= set(receiver.stats.acknowledged):
            return
        await asyncio.sleep(1.0)


async def report_answers(survey: Service, api_key: str, start: datetime, end: datetime) -> dict[str, int]:
    """How many answers survey's own reports count per kind, over the whole soak."""
    params = {"from": start.isoformat(), "to": end.isoformat()}
    out: dict[str, int] = {}
    async with httpx.AsyncClient(
        base_url=survey.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as client:
        for kind in SURVEY_KINDS:
            response = await client.get(f"/v1/reports/{kind}", params=params)
            response.raise_for_status()
            out[kind] = int(response.json()["overall"]["answers"])
    return out


async def gauge_lags(services: Mapping[str, Service], timeout: float = 30.0) -> dict[str, float]:
    """The services' own lag gauges (refreshed every few seconds), once all read 0 or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        lags = {name: gauge_lag(await s.metrics()) for name, s in services.items()}
        if not any(lags.values()) or time.monotonic() > deadline:
            return lags
        await asyncio.sleep(1.0)


def _keys(events: list[Any], *fields: str) -> list[tuple[str, str]]:
    return [(":".join(str(e.data.get(f) or "") for f in fields), e.id) for e in events]


async def observe(
    *,
    produced: Produced,
    receiver: SoakReceiver,
    services: Mapping[str, Service],
    database_url: str,
    bootstrap: str,
    baselines: Mapping[str, dict[str, Counts]],
    api_key: str,
    period: tuple[datetime, datetime],
    drained: Drain,
    settle_seconds: float,
) -> tuple[Observations, dict[str, Any]]:
    """The observations, and what was read back (events by type) for the report."""
    before = await read_tables(database_url)
    topic_log = TopicLog(bootstrap)
    await topic_log.catch_up()
    must = {webhook_id_for(i): t for i, t in produced.order_events.items()}
    must |= {webhook_id_for(e.id): e.type for e in topic_log.of_type(*WEBHOOK_TYPES)}
    log.warning("soak: waiting for %d webhooks to be acknowledged", len(must))
    await wait_for_webhooks(receiver, set(must), settle_seconds)
    acknowledged = dict(receiver.stats.acknowledged)
    await topic_log.catch_up()
    allowed = set(must) | {webhook_id_for(e.id) for e in topic_log.of_type(*WEBHOOK_TYPES)}
    after = await read_tables(database_url)
    promise_keys = [":".join(k) for k in before.breached_promises]
    observations = Observations(
        webhooks_must=must,
        webhooks_allowed=allowed,
        acknowledged=acknowledged,
        contacts_accepted=set(produced.contacts),
        contacts_filed=after.contacts_filed,
        ticket_created=one_each(
            before.tickets, _keys(topic_log.of_type("ticket.created"), "ticket_id"), after.tickets
        ),
        sla_breached=one_each(
            before.breached_clocks,
            _keys(topic_log.of_type("sla.breached"), "clock_id"),
            after.breached_clocks,
        ),
        promise_breached=one_each(
            promise_keys,
            [
                (":".join(promise_key(d["shop_id"], d["order_id"], d["promise"], d.get("repair_id"))), e.id)
                for e in topic_log.of_type("order.promise_breached")
                for d in (e.data,)
            ],
            {":".join(k) for k in after.breached_promises},
        ),
        survey_invited=one_each(
            before.sent_invitations,
            _keys(topic_log.of_type("survey.invited"), "survey_id"),
            after.sent_invitations,
        ),
        survey_answered=one_each(
            before.answers, _keys(topic_log.of_type("survey.answered"), "survey_id"), set(after.answers)
        ),
        answers_given=dict(produced.answers),
        answer_rows=after.answers,
        report_answers=await report_answers(services["survey"], api_key, *period),
        outbox=after.outbox,
        group_lag=await group_lag(bootstrap),
        gauge_lag=await gauge_lags(services),
        dead_letter_topics=dict(topic_log.dead_letters),
        dead_letter_rows=after.dead_letters,
        deliveries=after.deliveries,
        disabled_endpoints=after.disabled_endpoints,
        success_attempts=before.success_attempts,  # read before the receiver's records
        deliveries_succeeding_twice=after.deliveries_succeeding_twice,
        metric_pairs=await compare_metrics(services, database_url, baselines),
        drained=drained.drained,
        drain_note=drained.note,
        gave_up=dict(produced.gave_up),
        undecodable=topic_log.undecodable,
    )
    read_back = {
        "tickets": len(after.tickets),
        "breached SLA clocks": len(after.breached_clocks),
        "broken order promises": len(after.breached_promises),
        "surveys sent": len(after.sent_invitations),
        "events on the services' topics": dict(sorted(topic_log.counts.items())),
    }
    return observations, read_back


def report_period(origin: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The reports' window: the whole soak in shop time, with a day's margin either side."""
    return origin - timedelta(days=1), now + timedelta(days=1)
