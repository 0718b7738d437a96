"""Agents and teams through intake's API, and agent tokens, over the real Kafka and Postgres."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from runtime.settings import Settings
from tests.intake.helpers import Intake, fetchval, post_contact, running_intake
from tests.support.shops import KEY_A, KEY_B, auth

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


async def create_agent(intake: Intake, key: str = KEY_A, **fields: Any) -> dict[str, Any]:
    body = {"name": "Ola", **fields}
    response = await intake.client.post("/v1/agents", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_an_agent_is_created_with_a_token_kept_only_as_its_hash(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        created = await create_agent(intake, name="Ola Nowak", email="Ola@Shop-A.example", capacity=3)
        token = created["token"]
        assert token.startswith("cla_")
        assert len(token) > 40
        assert created["role"] == "agent"
        assert created["capacity"] == 3
        assert created["available"]
        assert created["email"] == "Ola@shop-a.example"  # the domain normalised, the local part kept
        stored = await fetchval(intake, "SELECT token_sha256 FROM agents WHERE id = $1", created["id"])
        assert stored == hashlib.sha256(token.encode()).hexdigest()
        assert await fetchval(intake, "SELECT count(*) FROM agents WHERE token_sha256 = $1", token) == 0

        me = await intake.client.get("/v1/agents/me", headers=auth(token))
        assert me.status_code == 200
        assert me.json()["id"] == created["id"]
        assert "token" not in me.json()
        listed = await intake.client.get("/v1/agents", headers=auth(KEY_A))
        assert [a["id"] for a in listed.json()["agents"]] == [created["id"]]
        assert "token" not in listed.text
        # the shop's key is no agent
        shop_me = await intake.client.get("/v1/agents/me", headers=auth(KEY_A))
        assert shop_me.status_code == 404
        assert shop_me.json()["error"] == "not_an_agent"


async def test_an_agent_token_works_like_the_shop_key_for_its_own_shop_only(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        token = (await create_agent(intake))["token"]
        mine = await post_contact(intake, customer_email="anna@example.com", body="Where is my parcel?")
        theirs = await post_contact(intake, KEY_B, customer_email="bob@example.com", body="Hello")
        own = await intake.client.get(f"/v1/tickets/{mine.json()['ticket_id']}", headers=auth(token))
        assert own.status_code == 200
        listed = await intake.client.get("/v1/tickets", headers=auth(token))
        assert [t["id"] for t in listed.json()["tickets"]] == [mine.json()["ticket_id"]]
        other = await intake.client.get(f"/v1/tickets/{theirs.json()['ticket_id']}", headers=auth(token))
        assert other.status_code == 404
        # shop B's key does not see shop A's agents, nor can it change one
        agent_id = (await intake.client.get("/v1/agents/me", headers=auth(token))).json()["id"]
        assert (await intake.client.get("/v1/agents", headers=auth(KEY_B))).json()["agents"] == []
        patched = await intake.client.patch(
            f"/v1/agents/{agent_id}", json={"capacity": 99}, headers=auth(KEY_B)
        )
        assert patched.status_code == 404
        assert await fetchval(intake, "SELECT capacity FROM agents WHERE id = $1", agent_id) == 10
        # a token of the right form that nobody holds
        unknown = await intake.client.get("/v1/tickets", headers=auth("cla_" + "x" * 43))
        assert unknown.status_code == 401
        assert unknown.json()["error"] == "unauthorized"


async def test_rotation_and_deactivation_end_the_old_token(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        created = await create_agent(intake)
        old = created["token"]
        rotated = await intake.client.post(f"/v1/agents/{created['id']}/token", headers=auth(KEY_A))
        assert rotated.status_code == 200
        new = rotated.json()["token"]
        assert new != old
        assert (await intake.client.get("/v1/tickets", headers=auth(old))).status_code == 401
        assert (await intake.client.get("/v1/tickets", headers=auth(new))).status_code == 200

        gone = await intake.client.delete(f"/v1/agents/{created['id']}", headers=auth(KEY_A))
        assert gone.status_code == 200
        assert gone.json()["active"] is False
        assert (await intake.client.get("/v1/tickets", headers=auth(new))).status_code == 401
        listed = await intake.client.get("/v1/agents", headers=auth(KEY_A))
        assert listed.json()["agents"] == []
        everyone = await intake.client.get("/v1/agents?inactive=true", headers=auth(KEY_A))
        assert [a["id"] for a in everyone.json()["agents"]] == [created["id"]]
        again = await intake.client.patch(
            f"/v1/agents/{created['id']}", json={"available": True}, headers=auth(KEY_A)
        )
        assert again.status_code == 409
        assert again.json()["error"] == "deactivated"


async def test_roles_decide_who_manages_people(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        admin = await create_agent(intake, name="Admin", role="admin")
        agent = await create_agent(intake, name="Agent", role="agent", available=False)
        by_agent = await intake.client.post("/v1/agents", json={"name": "X"}, headers=auth(agent["token"]))
        assert by_agent.status_code == 403
        assert by_agent.json()["error"] == "forbidden"
        by_admin = await intake.client.post(
            "/v1/agents", json={"name": "Lead", "role": "lead"}, headers=auth(admin["token"])
        )
        assert by_admin.status_code == 201
        # an agent changes their own availability, nothing else and nobody else's
        own = await intake.client.patch(
            f"/v1/agents/{agent['id']}", json={"available": True}, headers=auth(agent["token"])
        )
        assert own.status_code == 200
        assert own.json()["available"] is True
        capacity = await intake.client.patch(
            f"/v1/agents/{agent['id']}", json={"capacity": 50}, headers=auth(agent["token"])
        )
        other = await intake.client.patch(
            f"/v1/agents/{admin['id']}", json={"available": False}, headers=auth(agent["token"])
        )
        assert (capacity.status_code, other.status_code) == (403, 403)
        assert await fetchval(intake, "SELECT capacity FROM agents WHERE id = $1", agent["id"]) == 10
        rotate = await intake.client.post(f"/v1/agents/{admin['id']}/token", headers=auth(agent["token"]))
        assert rotate.status_code == 403


async def test_teams_and_membership(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        team = await intake.client.post(
            "/v1/teams",
            json={"name": "Returns", "policy": "least_open", "auto_assign": True},
            headers=auth(KEY_A),
        )
        assert team.status_code == 201, team.text
        team_id = team.json()["id"]
        agent = await create_agent(intake, team_ids=[team_id])
        assert agent["team_ids"] == [team_id]
        shown = await intake.client.get(f"/v1/teams/{team_id}", headers=auth(KEY_A))
        assert shown.json()["agent_ids"] == [agent["id"]]
        assert shown.json()["policy"] == "least_open"

        unknown = await intake.client.post(
            "/v1/agents", json={"name": "Y", "team_ids": ["team_nope"]}, headers=auth(KEY_A)
        )
        assert unknown.status_code == 422
        assert unknown.json()["error"] == "unknown_team"
        twice = await intake.client.post("/v1/teams", json={"name": "returns"}, headers=auth(KEY_A))
        assert twice.status_code == 409
        assert twice.json()["error"] == "duplicate"
        # shop B may use the same name, and never sees shop A's team
        assert (
            await intake.client.post("/v1/teams", json={"name": "Returns"}, headers=auth(KEY_B))
        ).status_code == 201
        assert (await intake.client.get(f"/v1/teams/{team_id}", headers=auth(KEY_B))).status_code == 404

        # one default team per shop
        first = await intake.client.patch(
            f"/v1/teams/{team_id}", json={"is_default": True}, headers=auth(KEY_A)
        )
        second = await intake.client.post(
            "/v1/teams", json={"name": "Front", "is_default": True}, headers=auth(KEY_A)
        )
        assert first.json()["is_default"]
        assert second.json()["is_default"]
        teams = (await intake.client.get("/v1/teams", headers=auth(KEY_A))).json()["teams"]
        assert {t["name"]: t["is_default"] for t in teams} == {"Front": True, "Returns": False}

        moved = await intake.client.patch(
            f"/v1/agents/{agent['id']}", json={"team_ids": [second.json()["id"]]}, headers=auth(KEY_A)
        )
        assert moved.json()["team_ids"] == [second.json()["id"]]
        assert (await intake.client.get(f"/v1/teams/{team_id}", headers=auth(KEY_A))).json()[
            "agent_ids"
        ] == []
