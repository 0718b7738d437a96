"""A 422 names the offending field as the client wrote it, a field called `body` included. Over the
real Postgres (intake's API app alone, no Kafka)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from runtime.clock import SystemClock
from runtime.http_api import field_of
from runtime.settings import Settings
from services.intake.api import build_api
from services.intake.bootstrap import MIGRATIONS
from services.intake.context import Context
from tests.support.batches import service_storage
from tests.support.shops import KEY_A, auth

CONTACT = {"channel": "email", "customer_email": "x@example.com", "body": "hello"}


@pytest.fixture
async def client(pg_infra: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with service_storage(pg_infra, "intake", MIGRATIONS) as runtime:
        ctx = Context(SystemClock().now, "tickets.events", runtime.shops)
        api = build_api(runtime, ctx)
        yield httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://careloop.test")


def fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    return [problem["field"] for problem in body["detail"]]


async def test_an_empty_body_field_is_named_body(client: httpx.AsyncClient) -> None:
    empty = await client.post("/v1/contacts", json={**CONTACT, "body": ""}, headers=auth(KEY_A))
    assert fields(empty) == ["body"]
    assert "at least 1 character" in empty.json()["detail"][0]["message"]
    reply = await client.post("/v1/tickets/tkt_1/replies", json={"body": ""}, headers=auth(KEY_A))
    assert fields(reply) == ["body"]
    note = await client.post("/v1/tickets/tkt_1/notes", json={}, headers=auth(KEY_A))
    assert fields(note) == ["body"]  # missing


async def test_other_fields_and_parameters_keep_their_names(client: httpx.AsyncClient) -> None:
    channel = await client.post("/v1/contacts", json={**CONTACT, "channel": "pigeon"}, headers=auth(KEY_A))
    assert fields(channel) == ["channel"]
    attachment = await client.post(
        "/v1/tickets/tkt_1/replies", json={"body": "hi", "attachments": [{}]}, headers=auth(KEY_A)
    )
    assert all(field.startswith("attachments.0.") for field in fields(attachment))
    limit = await client.get("/v1/tickets", params={"limit": 0}, headers=auth(KEY_A))
    assert fields(limit) == ["query.limit"]
    # an error about the whole body names no field
    nobody = await client.post("/v1/contacts", json={"channel": "email", "body": "hi"}, headers=auth(KEY_A))
    assert fields(nobody) == [""]


def test_only_the_leading_location_is_dropped() -> None:
    assert field_of(("body", "body")) == "body"
    assert field_of(("body", "attachments", 0, "body")) == "attachments.0.body"
    assert field_of(("body",)) == ""
    assert field_of(("query", "limit")) == "query.limit"
    assert field_of(()) == ""
