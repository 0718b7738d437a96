"""A team's assignments never wait for each other (real Kafka and Postgres): a new ticket whose team
another transaction holds joins the team's queue at once instead of waiting (a wait there could close
a deadlock with the ticket locks the holder takes next), and the sweep hands the queue out later."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from runtime.settings import Settings
from services.intake import sweeps
from tests.intake.helpers import fetchval, running_intake
from tests.intake.people import create_agent, create_team, open_ticket, ticket
from tests.intake.wismo_support import context

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


async def test_a_busy_team_queues_the_ticket_and_the_sweep_hands_it_out(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        team = await create_team(intake, auto_assign=True, is_default=True)
        agent = await create_agent(intake, team_ids=[team])
        db = intake.app.runtime.db
        async with db.transaction() as holder:  # another transaction deciding for the team
            await holder.execute("SELECT 1 FROM teams WHERE id = $1 FOR UPDATE", team)
            waiting = await asyncio.wait_for(open_ticket(intake), timeout=10)  # not blocked
            assert (await ticket(intake, waiting))["assignee_agent_id"] is None
        assert (await ticket(intake, waiting))["team_id"] == team

        # nothing else happens to the team: the sweep is what hands the queue out
        await sweeps.hand_out_queues(db, context(intake))
        assert (await ticket(intake, waiting))["assignee_agent_id"] == agent["id"]
        assert await fetchval(intake, "SELECT last_agent_id FROM teams WHERE id = $1", team) == agent["id"]


async def test_the_sweep_respects_capacity_and_leaves_other_shops_alone(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        team = await create_team(intake, auto_assign=True, is_default=True)
        agent = await create_agent(intake, team_ids=[team], capacity=1)
        opened = []
        for _ in range(3):  # a second apart: the oldest waiting ticket is the second
            intake.clock.advance(timedelta(seconds=1))
            opened.append(await open_ticket(intake))
        first, second, third = opened
        assert [(await ticket(intake, t))["assignee_agent_id"] for t in (first, second, third)] == [
            agent["id"],
            None,
            None,
        ]
        # room for one more, given behind intake's back: only the sweep can see it
        await fetchval(intake, "UPDATE agents SET capacity = 2 WHERE id = $1 RETURNING id", agent["id"])
        await sweeps.hand_out_queues(intake.app.runtime.db, context(intake))
        # the oldest waiting ticket first, and no more than the capacity
        assert [(await ticket(intake, t))["assignee_agent_id"] for t in (second, third)] == [
            agent["id"],
            None,
        ]
