"""Closing the loop end to end: a detractor answer in survey becomes intake's high-priority follow-up
ticket, linked to the order and the answer, and survey then knows the customer has an open ticket."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runtime.settings import Settings
from tests.support.shops import KEY_A, KEY_B, auth
from tests.support.stack import http_client, running_service
from tests.support.wait import eventually
from tests.survey.support import clock_of, customer, invite, rows

pytestmark = pytest.mark.kafka


async def _follow_ups(intake: httpx.AsyncClient, key: str, order_id: str) -> list[dict[str, Any]]:
    response = await intake.get("/v1/tickets", params={"order_id": order_id}, headers=auth(key))
    assert response.status_code == 200, response.text
    return [t for t in response.json()["tickets"] if t["source"] == "survey_detractor"]


@pytest.mark.timeout(120)
async def test_detractor_becomes_a_high_priority_follow_up_ticket_in_intake(
    infra: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SURVEY_SWEEP_SECONDS", "0.1")
    async with (
        running_service(infra, "survey") as survey,
        running_service(infra, "intake") as intake,
        http_client(survey) as survey_api,
        http_client(intake) as intake_api,
    ):
        clock = clock_of(survey)
        who = customer("c-e2e", "ewa@example.com")
        survey_id, token = await invite(infra, survey, clock, "shop-a", "o-e2e", who)
        answer = {"token": token, "score": 2, "comment": "Paczka uszkodzona, nikt nie odpisuje"}
        assert (await survey_api.post("/v1/answers", json=answer)).status_code == 201

        async def follow_up() -> list[dict[str, Any]]:
            return await _follow_ups(intake_api, KEY_A, "o-e2e")

        tickets = await eventually(follow_up, timeout=40.0, interval=0.25)
        assert len(tickets) == 1
        ticket = tickets[0]
        assert ticket["priority"] == "high"
        assert ticket["source_ref"] == survey_id  # linked to the answer
        assert ticket["order"]["id"] == "o-e2e"  # linked to the order (intake saw it delivered)
        assert ticket["customer"]["email"] == "ewa@example.com"
        assert ticket["status"] == "open"
        detail = (await intake_api.get(f"/v1/tickets/{ticket['id']}", headers=auth(KEY_A))).json()
        assert any("Paczka uszkodzona, nikt nie odpisuje" in m["body"] for m in detail["messages"])

        # another shop's key never sees it
        assert await _follow_ups(intake_api, KEY_B, "o-e2e") == []

        # intake's ticket.created comes back: survey now counts the customer as having an open ticket
        async def survey_saw_it() -> bool:
            found = await rows(survey, "SELECT is_open FROM tickets WHERE ticket_id = $1", ticket["id"])
            return bool(found and found[0]["is_open"])

        await eventually(survey_saw_it, timeout=30.0)
