"""The agent report over the real Kafka and Postgres: first response and resolution times by agent
and by team, figures computed by hand from tickets worked on a test clock; CSV; shops apart."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.settings import Settings
from tests.intake.helpers import running_intake, ticket_events
from tests.intake.people import create_agent, create_team, open_ticket, post
from tests.support.shops import KEY_A, KEY_B, auth

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PERIOD = {"from": "2026-03-01", "to": "2026-03-04"}


def lines(report: dict[str, Any], dimension: str) -> dict[str, tuple[Any, ...]]:
    return {
        line["id"]: (
            line["first_response"]["count"],
            line["first_response"]["mean_seconds"],
            line["first_response"]["p50_seconds"],
            line["first_response"]["p90_seconds"],
            line["resolution"]["count"],
            line["resolution"]["mean_seconds"],
            line["resolution"]["p50_seconds"],
            line["resolution"]["p90_seconds"],
        )
        for line in report[dimension]
    }


async def test_first_response_and_resolution_by_agent_and_team(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        clock = intake.clock
        clock.set(T0)
        front = await create_team(intake, name="Front", is_default=True)
        returns = await create_team(intake, name="Returns")
        ola = await create_agent(intake, name="Ola", team_ids=[front])
        ewa = await create_agent(intake, name="Ewa", team_ids=[front, returns])
        idle = await create_agent(intake, name="Idle")
        a, b, c, d = [await open_ticket(intake) for _ in range(4)]  # all at T0, in Front

        async def at(seconds: int, path: str, key: str, body: Any = None) -> None:
            clock.set(T0 + timedelta(seconds=seconds))
            response = await post(intake, path, key, body)
            assert response.status_code in (200, 201), response.text

        await at(30, f"/v1/tickets/{d}/replies", KEY_A, {"body": "the shop's key: nobody's"})
        await at(60, f"/v1/tickets/{a}/replies", ola["token"], {"body": "Ola on a"})
        await at(61, f"/v1/tickets/{a}/take", ola["token"])
        await at(180, f"/v1/tickets/{b}/replies", ola["token"], {"body": "Ola on b"})
        await at(181, f"/v1/tickets/{b}/assign", KEY_A, {"agent_id": ewa["id"]})
        await at(300, f"/v1/tickets/{c}/replies", ewa["token"], {"body": "Ewa on c"})
        await at(301, f"/v1/tickets/{c}/assign", KEY_A, {"agent_id": ewa["id"], "team_id": returns})
        await at(600, f"/v1/tickets/{a}/status", ola["token"], {"status": "solved"})
        await at(1200, f"/v1/tickets/{b}/status", ewa["token"], {"status": "solved"})

        solved = [e for e in await ticket_events(intake, a, 8) if e.type == "ticket.solved"]
        assert (solved[0].data.assignee_agent_id, solved[0].data.team_id) == (ola["id"], front)

        response = await intake.client.get("/v1/reports/agents", params=PERIOD, headers=auth(KEY_A))
        assert response.status_code == 200, response.text
        report = response.json()
        # first responses: Ola 60 and 180 (p50 120, p90 60 + 0.9 * 120 = 168), Ewa 300, nobody 30;
        # resolutions by the ticket's agent: Ola's a after 600, Ewa's b after 1200
        assert lines(report, "by_agent") == {
            ewa["id"]: (1, 300.0, 300.0, 300.0, 1, 1200.0, 1200.0, 1200.0),
            idle["id"]: (0, None, None, None, 0, None, None, None),
            ola["id"]: (2, 120.0, 120.0, 168.0, 1, 600.0, 600.0, 600.0),
            "none": (1, 30.0, 30.0, 30.0, 0, None, None, None),
        }
        assert [line["name"] for line in report["by_agent"]] == ["Ewa", "Idle", "Ola", None]
        # by team: Front answered d, a, b (30, 60, 180: p50 60, p90 60 + 0.8 * 120 = 156) and solved a
        # and b (600, 1200: p90 600 + 0.9 * 600 = 1140); c moved to Returns after its first response
        assert lines(report, "by_team") == {
            front: (3, 90.0, 60.0, 156.0, 2, 900.0, 900.0, 1140.0),
            returns: (1, 300.0, 300.0, 300.0, 0, None, None, None),
        }

        as_csv = await intake.client.get(
            "/v1/reports/agents", params={**PERIOD, "format": "csv"}, headers=auth(ola["token"])
        )
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert {(r["dimension"], r["name"], r["first_responses"], r["solved"]) for r in rows} == {
            ("agent", "Ewa", "1", "1"),
            ("agent", "Idle", "0", "0"),
            ("agent", "Ola", "2", "1"),
            ("agent", "", "1", "0"),
            ("team", "Front", "3", "2"),
            ("team", "Returns", "1", "0"),
        }

        # another period sees none of it; another shop sees none of it
        earlier = await intake.client.get(
            "/v1/reports/agents", params={"from": "2026-02-01", "to": "2026-03-01"}, headers=auth(KEY_A)
        )
        assert {line["id"]: line["first_response"]["count"] for line in earlier.json()["by_agent"]} == {
            ewa["id"]: 0,
            idle["id"]: 0,
            ola["id"]: 0,
        }
        theirs = await intake.client.get("/v1/reports/agents", params=PERIOD, headers=auth(KEY_B))
        assert (theirs.json()["by_agent"], theirs.json()["by_team"]) == ([], [])
        snoop = await intake.client.get(
            "/v1/reports/agents", params={**PERIOD, "shop": "shop-a"}, headers=auth(KEY_B)
        )
        assert snoop.status_code == 404
