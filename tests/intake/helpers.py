"""Small builders and readers shared by intake's real tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from runtime.clock import ManualClock
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas.envelope import CloudEvent
from schemas.registry import decode_event
from schemas.topics import TICKETS
from tests.support.kafka import read_topic
from tests.support.shops import KEY_A, auth
from tests.support.stack import http_client, running_service


@dataclass
class Intake:
    settings: Settings
    app: ServiceApp
    client: httpx.AsyncClient
    clock: ManualClock


@asynccontextmanager
async def running_intake(infra: Settings) -> AsyncIterator[Intake]:
    """The intake service on the test's own topics and schema, its clock driven by hand.
    (A context manager, not a fixture: the lifespan must end in the task that started it.)"""
    async with running_service(infra, "intake") as app:
        clock = ManualClock()
        app.runtime.clock = clock
        async with http_client(app) as client:
            yield Intake(infra, app, client, clock)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def contact(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": "email", "body": "Hello, I have a question."}
    body.update(fields)
    return body


async def post_contact(intake: Intake, key: str = KEY_A, **fields: Any) -> httpx.Response:
    return await intake.client.post("/v1/contacts", json=contact(**fields), headers=auth(key))


async def ticket_events(intake: Intake, ticket_id: str, at_least: int) -> list[CloudEvent[Any]]:
    """The events keyed by `ticket_id` on the run's tickets topic, in order (one key, one partition)."""
    found: list[CloudEvent[Any]] = []
    for _ in range(20):
        records = await read_topic(intake.settings, TICKETS.name, at_least=1, timeout=5.0)
        found = [decode_event(r.value) for r in records if r.key == ticket_id.encode() and r.value]
        if len(found) >= at_least:
            break
    return found


async def events_by_ticket(intake: Intake, at_least: int) -> dict[str, list[CloudEvent[Any]]]:
    """Every event on the run's tickets topic (once `at_least` arrived), grouped by ticket, in order."""
    grouped: dict[str, list[CloudEvent[Any]]] = {}
    for record in await read_topic(intake.settings, TICKETS.name, at_least=at_least):
        if record.key and record.value:
            grouped.setdefault(record.key.decode(), []).append(decode_event(record.value))
    return grouped


def types_of(events: list[CloudEvent[Any]]) -> list[str]:
    return [e.type for e in events]


async def fetchval(intake: Intake, query: str, *args: Any) -> Any:
    async with intake.app.runtime.db.pool.acquire() as conn:
        return await conn.fetchval(query, *args)


async def get_ticket(intake: Intake, ticket_id: str, key: str = KEY_A) -> dict[str, Any]:
    response = await intake.client.get(f"/v1/tickets/{ticket_id}", headers=auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def metric_value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples `name{labels...}` in a Prometheus text exposition (0.0 if none)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        sample, _, value = line.rpartition(" ")
        if sample.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in sample for k, v in labels.items()):
            total += float(value)
    return total
