"""CSAT per person over the real Kafka and Postgres: a solved ticket's agent and team (on
ticket.solved) stay with its survey, and the CSAT report reads by agent and by team, figures computed
by hand."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from runtime.settings import Settings
from schemas import topics
from tests.support.shops import KEY_A, auth
from tests.support.stack import http_client, running_service
from tests.survey.support import clock_of, invitation_link, send, ticket_solved, wait_rows

pytestmark = pytest.mark.kafka


@pytest.fixture(autouse=True)
def fast_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURVEY_SWEEP_SECONDS", "0.1")


SOLVED = [  # ticket, agent, team, CSAT score (4 and 5 are satisfied)
    ("t-1", "agt_ola", "team_front", 5),
    ("t-2", "agt_ola", "team_front", 4),
    ("t-3", "agt_ola", "team_front", 2),
    ("t-4", "agt_ewa", "team_returns", 5),
    ("t-5", None, None, 1),
]


async def test_csat_by_agent_and_team(infra: Settings) -> None:
    async with running_service(infra, "survey") as app, http_client(app) as client:
        clock = clock_of(app)
        events = []
        for ticket, agent, team, _ in SOLVED:
            event = ticket_solved(
                "shop-a", ticket, clock.now(), customer_id=f"c-{ticket}", email=f"{ticket}@example.com"
            )
            data = event.data.model_copy(update={"assignee_agent_id": agent, "team_id": team})
            events.append(event.model_copy(update={"data": data}))
        await send(infra, topics.TICKETS, *events)
        await wait_rows(app, "SELECT 1 FROM invitations", count=len(SOLVED))
        stored = await wait_rows(
            app, "SELECT ticket_id, agent_id, team_id FROM invitations", count=len(SOLVED)
        )
        assert {(r["ticket_id"], r["agent_id"], r["team_id"]) for r in stored} == {s[:3] for s in SOLVED}

        clock.advance(timedelta(days=2))
        sent = await wait_rows(
            app, "SELECT survey_id, ticket_id FROM invitations WHERE status = 'sent'", count=len(SOLVED)
        )
        link = {r["ticket_id"]: await invitation_link(infra, r["survey_id"]) for r in sent}
        for ticket, _, _, score in SOLVED:
            token = link[ticket].rsplit("/s/", 1)[1]
            answered = await client.post("/v1/answers", json={"token": token, "score": score})
            assert answered.status_code == 201, answered.text

        period = {
            "from": (clock.now() - timedelta(days=7)).isoformat(),
            "to": (clock.now() + timedelta(hours=1)).isoformat(),
        }
        report = await client.get("/v1/reports/csat", params=period, headers=auth(KEY_A))
        assert report.status_code == 200, report.text
        body: dict[str, Any] = report.json()
        # by hand: Ola 2 of 3 satisfied = 66.7 %; Ewa 1 of 1 = 100 %; nobody's 0 of 1; all 3 of 5 = 60 %
        assert body["overall"]["score"] == 60.0
        by_agent = {k: (v["answers"], v["score"], v["invited"]) for k, v in body["by_agent"].items()}
        assert by_agent == {"agt_ola": (3, 66.67, 3), "agt_ewa": (1, 100.0, 1), "none": (1, 0.0, 1)}
        by_team = {k: (v["answers"], v["score"]) for k, v in body["by_team"].items()}
        assert by_team == {"team_front": (3, 66.67), "team_returns": (1, 100.0), "none": (1, 0.0)}

        as_csv = await client.get("/v1/reports/csat", params={**period, "format": "csv"}, headers=auth(KEY_A))
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        agents = {r["key"]: int(r["answers"]) for r in rows if r["dimension"] == "agent"}
        teams = {r["key"]: int(r["answers"]) for r in rows if r["dimension"] == "team"}
        assert (agents, teams) == (
            {"agt_ewa": 1, "agt_ola": 3, "none": 1},
            {"none": 1, "team_front": 3, "team_returns": 1},
        )
