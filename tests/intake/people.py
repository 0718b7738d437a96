"""Builders for the tests of agents, teams, assignment, tags and macros."""

from __future__ import annotations

from typing import Any

from tests.intake.helpers import Intake, post_contact, unique
from tests.support.shops import KEY_A, auth


async def create_agent(intake: Intake, key: str = KEY_A, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("agent"), **fields}
    response = await intake.client.post("/v1/agents", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_team(intake: Intake, key: str = KEY_A, **fields: Any) -> str:
    body = {"name": unique("team"), **fields}
    response = await intake.client.post("/v1/teams", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def open_ticket(intake: Intake, key: str = KEY_A, **fields: Any) -> str:
    """A new ticket of another customer each (no contact joins another's ticket)."""
    fields.setdefault("customer_email", f"{unique('c')}@example.com")
    response = await post_contact(intake, key, **fields)
    assert response.status_code == 201, response.text
    return str(response.json()["ticket_id"])


async def ticket(intake: Intake, ticket_id: str, key: str = KEY_A) -> dict[str, Any]:
    response = await intake.client.get(f"/v1/tickets/{ticket_id}", headers=auth(key))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def listed(intake: Intake, key: str = KEY_A, **params: Any) -> list[str]:
    response = await intake.client.get("/v1/tickets", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["tickets"]]


async def post(intake: Intake, path: str, key: str = KEY_A, body: Any = None) -> Any:
    return await intake.client.post(path, json=body, headers=auth(key))
