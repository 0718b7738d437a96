"""The demo shop's care team in CareLoop (demo/staff.py), over the real Kafka and Postgres: its agents
with their own tokens, signed in again (DEMO_KEEP_DATA=1) as the same agents with new tokens."""

from __future__ import annotations

import pytest

from demo.staff import BOT_CAPACITY, sign_in_staff
from runtime.settings import Settings
from tests.intake.helpers import running_intake
from tests.support.shops import KEY_A, auth

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


async def test_the_demo_agents_are_agents_of_the_shop_with_their_own_tokens(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        intake.client.headers.update(auth(KEY_A))
        staff = await sign_in_staff(intake.client, "pl-PL")
        agents = {a["id"]: a for a in (await intake.client.get("/v1/agents")).json()["agents"]}
        assert set(agents) == {s.agent_id for s in (*staff.bots, staff.you)}
        assert [agents[s.agent_id]["role"] for s in staff.bots] == ["agent", "agent", "lead"]
        assert all(agents[s.agent_id]["capacity"] == BOT_CAPACITY for s in staff.bots)
        assert agents[staff.you.agent_id]["role"] == "admin"
        assert agents[staff.you.agent_id]["available"] is False
        team = (await intake.client.get(f"/v1/teams/{staff.team_id}")).json()
        assert (team["name"], team["is_default"], team["auto_assign"]) == ("Obsługa klienta", True, True)
        for seat in (*staff.bots, staff.you):
            me = await intake.client.get("/v1/agents/me", headers=seat.auth)
            assert me.json()["id"] == seat.agent_id

        again = await sign_in_staff(intake.client, "pl-PL")  # a run that kept the data
        assert [s.agent_id for s in again.bots] == [s.agent_id for s in staff.bots]
        assert again.team_id == staff.team_id
        assert len((await intake.client.get("/v1/agents")).json()["agents"]) == 4
        old = await intake.client.get("/v1/agents/me", headers=staff.you.auth)
        new = await intake.client.get("/v1/agents/me", headers=again.you.auth)
        assert (old.status_code, new.status_code) == (401, 200)
