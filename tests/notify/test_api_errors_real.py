"""Every error the notify API answers carries a code in `error` beside `detail`, its own checks'
included: a URL it refuses, a template that does not parse, a field sent as null. Over the real
Postgres (the API's own app, no Kafka)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from services.notify import bootstrap
from services.notify.api import build_api
from services.notify.config import NotifyConfig
from services.notify.context import Context
from tests.support.batches import service_storage
from tests.support.shops import KEY_A, KEY_B, auth

PUBLIC = "https://93.184.216.34/hook"  # a public address literal: nothing to resolve, nothing refused


@pytest.fixture
async def client(pg_infra: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with service_storage(pg_infra, "notify", bootstrap.MIGRATIONS) as runtime:
        yield _client(runtime)


def _client(runtime: ServiceRuntime) -> httpx.AsyncClient:
    ctx = Context(
        runtime.shops, runtime.clock.now, runtime.topic(topics.NOTIFY), NotifyConfig(allow_loopback=False)
    )
    api = build_api(runtime.db, ctx)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://careloop.test")


def answer(response: httpx.Response) -> tuple[int, str, Any]:
    body = response.json()
    assert set(body) == {"error", "detail"}
    return response.status_code, body["error"], body["detail"]


async def test_refused_urls_say_why_in_their_code(client: httpx.AsyncClient) -> None:
    for url, error, detail in (
        ("http://10.1.2.3/hook", "url_refused", "url refused: 10.1.2.3 resolves to 10.1.2.3, a private"),
        (
            "http://127.0.0.1:9/hook",
            "url_refused",
            "url refused: 127.0.0.1 resolves to 127.0.0.1, a loopback",
        ),
        ("http://0.0.0.0/", "url_refused", "url refused: 0.0.0.0 is a unspecified address"),
        ("file:///etc/passwd", "invalid_url", "invalid url: the URL must be http or https"),
        ("http://user:pw@example.com/", "invalid_url", "invalid url: credentials in the URL are not allowed"),
    ):
        response = await client.post("/v1/endpoints", json={"url": url}, headers=auth(KEY_A))
        status, code, said = answer(response)
        assert (status, code) == (422, error), url
        assert said.startswith(detail), url

    created = await client.post("/v1/endpoints", json={"url": PUBLIC}, headers=auth(KEY_A))
    assert created.status_code == 201
    endpoint = created.json()["id"]
    moved = await client.patch(
        f"/v1/endpoints/{endpoint}", json={"url": "http://10.0.0.1/"}, headers=auth(KEY_A)
    )
    assert answer(moved)[:2] == (422, "url_refused")


async def test_a_field_sent_as_null_is_an_invalid_request_naming_the_field(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/endpoints", json={"url": PUBLIC}, headers=auth(KEY_A))
    endpoint = created.json()["id"]
    for field in ("url", "description", "event_types", "enabled"):
        response = await client.patch(f"/v1/endpoints/{endpoint}", json={field: None}, headers=auth(KEY_A))
        assert answer(response) == (422, "invalid_request", [{"field": field, "message": "cannot be null"}])


async def test_a_template_that_does_not_parse_is_an_invalid_template(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/v1/templates/order.created/pl", json={"subject": "ok", "text": "{{ x"}, headers=auth(KEY_A)
    )
    status, code, detail = answer(response)
    assert (status, code) == (422, "invalid_template")
    assert detail.startswith("text: ")


async def test_the_other_errors_keep_their_codes(client: httpx.AsyncClient) -> None:
    assert answer(await client.get("/v1/endpoints")) == (
        401,
        "unauthorized",
        "missing API key: send Authorization: Bearer <key>",
    )
    created = await client.post("/v1/endpoints", json={"url": PUBLIC}, headers=auth(KEY_A))
    endpoint = created.json()["id"]
    # another shop's endpoint is one that does not exist
    assert answer(await client.get(f"/v1/endpoints/{endpoint}", headers=auth(KEY_B))) == (
        404,
        "not_found",
        f"no endpoint {endpoint}",
    )
    schema = await client.post("/v1/endpoints", json={"url": PUBLIC, "extra": 1}, headers=auth(KEY_A))
    assert answer(schema)[:2] == (422, "invalid_request")
