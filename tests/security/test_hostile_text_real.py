"""Free text that Postgres cannot store or that a page must not execute: NUL characters are refused
with a 4xx (never a 500 that leaves the caller guessing), markup comes back escaped."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.settings import Settings
from tests.security.world import World, running_world
from tests.support.shops import KEY_A, auth

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

NUL = "before\x00after"


async def own_ticket(world: World) -> str:
    created = await world.clients["intake"].post(
        "/v1/contacts",
        json={"channel": "chat", "customer_handle": "a-customer", "body": "hello"},
        headers=auth(KEY_A),
    )
    assert created.status_code == 201, created.text
    return str(created.json()["ticket_id"])


def nul_inputs(world: World, ticket_id: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    contact = {"channel": "email", "customer_email": "a@example.com", "body": "hello"}
    return [
        ("intake", "POST", "/v1/contacts", {**contact, "body": NUL}),
        ("intake", "POST", "/v1/contacts", {**contact, "subject": NUL}),
        ("intake", "POST", "/v1/contacts", {**contact, "customer_name": NUL}),
        (
            "intake",
            "POST",
            "/v1/contacts",
            {**contact, "attachments": [{"filename": NUL, "content_type": "text/plain", "size_bytes": 1}]},
        ),
        ("intake", "POST", f"/v1/tickets/{ticket_id}/replies", {"body": NUL}),
        ("intake", "POST", f"/v1/tickets/{ticket_id}/notes", {"body": "note", "author_name": NUL}),
        ("notify", "POST", "/v1/endpoints", {"url": world.receiver.url("/a"), "description": NUL}),
        ("notify", "PUT", "/v1/templates/order.shipped/en", {"subject": NUL, "text": "t"}),
        ("survey", "POST", "/v1/answers", {"token": NUL, "score": 5, "comment": NUL}),
    ]


async def test_nul_characters_are_refused_with_a_client_error_on_every_service(infra: Settings) -> None:
    async with running_world(infra) as world:
        ticket_id = await own_ticket(world)
        failures = []
        for service, method, path, body in nul_inputs(world, ticket_id):
            where = f"{service} {method} {path} {sorted(body)}"
            try:
                response = await world.clients[service].request(method, path, json=body, headers=auth(KEY_A))
            except Exception as exc:  # the in-process transport re-raises what would be a 500
                failures.append(f"{where}: 500 ({type(exc).__name__})")
                continue
            if not 400 <= response.status_code < 500:
                failures.append(f"{where}: {response.status_code}")
        assert not failures, "\n".join(failures)
