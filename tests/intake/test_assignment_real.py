"""Assignment over the real Kafka and Postgres: a team's policy on new tickets (round robin, least
open with capacity, only available agents), the unassigned queue and its hand-out when someone has
room, manual assign and take, release on deactivation, an SLA escalation reassigning the ticket to
its team lead, and shops kept apart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from runtime.clock import ManualClock
from runtime.settings import Settings
from tests.intake.helpers import fetchval, metric_value, running_intake, ticket_events, types_of
from tests.intake.people import create_agent, create_team, listed, open_ticket, post, ticket
from tests.sla.support import T0, running_sla
from tests.support.shops import KEY_A, KEY_B, auth
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]
MIN = timedelta(minutes=1)


def assigned(events: list[Any]) -> list[dict[str, Any]]:
    return [e.data.model_dump(mode="json") for e in events if e.type == "ticket.assigned"]


async def test_round_robin_takes_turns_among_available_agents_only(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        team = await create_team(intake, policy="round_robin", auto_assign=True, is_default=True)
        ids = sorted([(await create_agent(intake, team_ids=[team]))["id"] for _ in range(3)])
        away = await create_agent(intake, team_ids=[team], available=False)
        other_team = await create_agent(intake)  # in no team: never gets the team's tickets
        tickets = [await open_ticket(intake) for _ in range(7)]
        got = [(await ticket(intake, t))["assignee_agent_id"] for t in tickets]
        assert got == [ids[0], ids[1], ids[2], ids[0], ids[1], ids[2], ids[0]]
        assert away["id"] not in got
        assert other_team["id"] not in got
        assert {(await ticket(intake, t))["team_id"] for t in tickets} == {team}

        events = await ticket_events(intake, tickets[1], 3)
        assert types_of(events)[:3] == ["ticket.created", "ticket.message_added", "ticket.assigned"]
        (event,) = assigned(events)
        assert (event["assignee_agent_id"], event["team_id"], event["reason"]) == (ids[1], team, "auto")
        assert (event["previous_agent_id"], event["previous_team_id"]) == (None, None)
        assert await fetchval(intake, "SELECT last_agent_id FROM teams WHERE id = $1", team) == ids[0]
        metrics = (await intake.client.get("/metrics")).text
        assert metric_value(metrics, "careloop_intake_assignments_total", reason="auto") >= 7


async def test_least_open_respects_capacity_and_the_queue_is_handed_out_when_room_frees(
    infra: Settings,
) -> None:
    async with running_intake(infra) as intake:
        team = await create_team(intake, policy="least_open", auto_assign=True, is_default=True)
        busy = await create_agent(intake, team_ids=[team], capacity=2)
        idle = await create_agent(intake, team_ids=[team], capacity=1)
        first = await open_ticket(intake)
        await post(intake, f"/v1/tickets/{first}/assign", body={"agent_id": busy["id"]})
        # busy has 1 of 2, idle 0 of 1: least open gives idle the next, then busy, then nobody
        second, third, fourth = [await open_ticket(intake) for _ in range(3)]
        assert (await ticket(intake, second))["assignee_agent_id"] == idle["id"]
        assert (await ticket(intake, third))["assignee_agent_id"] == busy["id"]
        assert (await ticket(intake, fourth))["assignee_agent_id"] is None
        assert await listed(intake, assignee="none") == [fourth]
        assert sorted(await listed(intake, assignee=busy["id"])) == sorted([third, first])
        mine = await intake.client.get("/v1/tickets?assignee=me", headers=auth(idle["token"]))
        assert [t["id"] for t in mine.json()["tickets"]] == [second]

        # idle solves theirs: the waiting ticket goes to them, in the same transaction
        solved = await post(intake, f"/v1/tickets/{second}/status", idle["token"], {"status": "solved"})
        assert solved.status_code == 200, solved.text
        assert (await ticket(intake, fourth))["assignee_agent_id"] == idle["id"]
        assert await listed(intake, assignee="none") == []
        assert (await ticket(intake, second))["assignee_agent_id"] == idle["id"]  # a solved one stays theirs


async def test_a_queue_waits_for_an_agent_to_come_back(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        team = await create_team(intake, auto_assign=True, is_default=True)
        agent = await create_agent(intake, team_ids=[team], available=False)
        waiting = await open_ticket(intake)
        assert (await ticket(intake, waiting))["assignee_agent_id"] is None
        metrics = (await intake.client.get("/metrics")).text
        assert metric_value(metrics, "careloop_intake_assignments_total", reason="queued") >= 1
        back = await intake.client.patch(
            f"/v1/agents/{agent['id']}", json={"available": True}, headers=auth(agent["token"])
        )
        assert back.status_code == 200, back.text
        assert (await ticket(intake, waiting))["assignee_agent_id"] == agent["id"]


async def test_manual_assign_take_and_release(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        front = await create_team(intake, is_default=True)  # assigns nobody by itself
        returns = await create_team(intake)
        ola = await create_agent(intake, team_ids=[front])
        ewa = await create_agent(intake, team_ids=[returns], capacity=0)
        t = await open_ticket(intake)
        shown = await ticket(intake, t)
        assert (shown["team_id"], shown["assignee_agent_id"]) == (front, None)
        assert await listed(intake, assignee="none", team=front) == [t]

        taken = await post(intake, f"/v1/tickets/{t}/take", ola["token"])
        assert taken.status_code == 200, taken.text
        assert (taken.json()["assignee_agent_id"], taken.json()["team_id"]) == (ola["id"], front)
        # a manual assignment is a person's decision: capacity 0 does not stop it
        moved = await post(
            intake, f"/v1/tickets/{t}/assign", body={"agent_id": ewa["id"], "team_id": returns}
        )
        assert moved.status_code == 200, moved.text
        assert (moved.json()["assignee_agent_id"], moved.json()["team_id"]) == (ewa["id"], returns)
        to_team = await post(intake, f"/v1/tickets/{t}/assign", ola["token"], {"team_id": front})
        assert (to_team.json()["assignee_agent_id"], to_team.json()["team_id"]) == (None, front)

        events = assigned(await ticket_events(intake, t, 6))
        assert [(e["reason"], e["assignee_agent_id"], e["by_agent_id"]) for e in events] == [
            ("auto", None, None),
            ("take", ola["id"], ola["id"]),
            ("manual", ewa["id"], None),
            ("manual", None, ola["id"]),
        ]

        refused = {
            "take with the shop's key": (await post(intake, f"/v1/tickets/{t}/take"), 403),
            "an unknown agent": (
                await post(intake, f"/v1/tickets/{t}/assign", body={"agent_id": "agt_x"}),
                422,
            ),
            "an unknown team": (
                await post(intake, f"/v1/tickets/{t}/assign", body={"team_id": "team_x"}),
                422,
            ),
            "nobody": (await post(intake, f"/v1/tickets/{t}/assign", body={}), 422),
        }
        assert {what: r.status_code for what, (r, _) in refused.items()} == {
            what: status for what, (_, status) in refused.items()
        }

        # deactivating an agent puts their unfinished tickets back in their teams' queues
        await post(intake, f"/v1/tickets/{t}/take", ola["token"])
        gone = await intake.client.delete(f"/v1/agents/{ola['id']}", headers=auth(KEY_B))
        assert gone.status_code == 404  # not shop B's to deactivate
        gone = await intake.client.delete(f"/v1/agents/{ola['id']}", headers=auth(ewa["token"]))
        assert gone.status_code == 403  # nor an agent's
        gone = await intake.client.delete(f"/v1/agents/{ola['id']}", headers=auth(KEY_A))
        assert gone.status_code == 200
        assert (await ticket(intake, t))["assignee_agent_id"] is None
        released = assigned(await ticket_events(intake, t, 8))[-1]
        assert (released["reason"], released["previous_agent_id"]) == ("released", ola["id"])


async def test_an_agent_token_never_reaches_another_shops_tickets(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        theirs = await open_ticket(intake, KEY_B)
        mine = await create_agent(intake)
        for path, body in (
            (f"/v1/tickets/{theirs}/take", None),
            (f"/v1/tickets/{theirs}/assign", {"agent_id": mine["id"]}),
            (f"/v1/tickets/{theirs}/tags", {"add": ["vip"]}),
            (f"/v1/tickets/{theirs}/notes", {"body": "shop A was here"}),
            (f"/v1/tickets/{theirs}/replies", {"body": "shop A was here"}),
        ):
            response = await post(intake, path, mine["token"], body)
            assert response.status_code == 404, (path, response.text)
        assert (
            await intake.client.get(f"/v1/tickets/{theirs}", headers=auth(mine["token"]))
        ).status_code == 404
        assert await listed(intake, mine["token"]) == []
        shown = await ticket(intake, theirs, KEY_B)
        assert (shown["assignee_agent_id"], shown["tags"], len(shown["messages"])) == (None, [], 1)


async def test_an_sla_escalation_reassigns_the_ticket_to_its_team_lead(infra: Settings) -> None:
    sla_clock = ManualClock(T0)
    async with running_intake(infra) as intake, running_sla(infra, sla_clock):
        intake.clock.set(T0)
        team = await create_team(intake, auto_assign=True, is_default=True)
        agent = await create_agent(intake, team_ids=[team])
        lead = await create_agent(intake, team_ids=[team], role="lead", available=False)
        await create_agent(intake, role="admin")
        other_lead = await create_agent(intake, role="lead")  # leads no team of the ticket
        t = await open_ticket(intake, channel="chat")  # first response due in 5 minutes
        assert (await ticket(intake, t))["assignee_agent_id"] == agent["id"]

        async def clocks_known() -> bool:
            return bool((await ticket(intake, t))["sla"]["clocks"])

        await eventually(clocks_known, timeout=60)
        sla_clock.set(T0 + 5 * MIN)  # breached, and escalated (level 1) to the team lead

        async def reassigned() -> dict[str, Any]:
            shown = await ticket(intake, t)
            return shown if shown["assignee_agent_id"] != agent["id"] else {}

        shown = await eventually(reassigned, timeout=60)
        assert (shown["assignee_agent_id"], shown["team_id"]) == (lead["id"], team)
        assert shown["sla"]["escalation_level"] == 1
        event = assigned(await ticket_events(intake, t, 4))[-1]
        assert (event["reason"], event["escalation_level"], event["previous_agent_id"]) == (
            "escalation",
            1,
            agent["id"],
        )
        assert other_lead["id"] not in {
            e["assignee_agent_id"] for e in assigned(await ticket_events(intake, t, 4))
        }


async def test_a_deactivated_agents_tickets_go_to_whoever_has_room(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        team = await create_team(intake, auto_assign=True, is_default=True)
        first, second = sorted([(await create_agent(intake, team_ids=[team]))["id"] for _ in range(2)])
        mine, theirs = await open_ticket(intake), await open_ticket(intake)
        assert [(await ticket(intake, t))["assignee_agent_id"] for t in (mine, theirs)] == [first, second]
        gone = await intake.client.delete(f"/v1/agents/{first}", headers=auth(KEY_A))
        assert gone.status_code == 200
        assert (await ticket(intake, mine))["assignee_agent_id"] == second
        moves = [
            (e["reason"], e["assignee_agent_id"]) for e in assigned(await ticket_events(intake, mine, 5))
        ]
        assert moves == [("auto", first), ("released", None), ("auto", second)]
