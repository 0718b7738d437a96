"""The HTTP API: policies and calendar per shop, ticket clocks, and what bad requests get."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from runtime.clock import ManualClock
from runtime.settings import Settings
from schemas import topics
from services.sla.domain.policies import PolicySet
from tests.sla.support import T0, running_sla, send, ticket_event, wait_clocks
from tests.support.shops import KEY_A, KEY_B, auth
from tests.support.stack import http_client

pytestmark = pytest.mark.kafka

CUSTOM = {
    "policies": [
        {
            "id": "vip-chat",
            "name": "VIP chat",
            "conditions": {"channels": ["chat"], "priorities": ["urgent"]},
            "first_response": {"seconds": 60, "business_hours": False},
            "warning_share": 0.5,
            "escalations": [{"level": 1, "after_share": 1.5, "escalate_to": "duty_manager"}],
        },
        {"id": "everything", "first_response": {"seconds": 7200}, "resolution": {"seconds": 86400}},
    ],
    "default_ship_by_business_hours": 24,
}


async def test_policies_default_replace_and_apply_to_new_clocks_only(infra: Settings) -> None:
    async with running_sla(infra, ManualClock(T0)) as app, http_client(app) as client:
        defaults = (await client.get("/v1/sla/policies", headers=auth(KEY_A))).json()
        chat = next(p for p in defaults["policies"] if p["id"] == "chat")
        assert chat["first_response"] == {"seconds": 300, "business_hours": True}
        assert defaults["default_ship_by_business_hours"] == 48

        await send(infra, topics.TICKETS, ticket_event("ticket.created", "t-old", T0, priority="urgent"))
        await wait_clocks(app, "t-old", 2)

        put = await client.put("/v1/sla/policies", headers=auth(KEY_A), json=CUSTOM)
        assert put.status_code == 200, put.text
        stored = (await client.get("/v1/sla/policies", headers=auth(KEY_A))).json()
        assert stored == put.json() == PolicySet.model_validate(CUSTOM).model_dump(mode="json")
        assert stored["policies"][1]["conditions"] == {"priorities": [], "channels": [], "categories": []}
        # shop B still sees the defaults
        assert (await client.get("/v1/sla/policies", headers=auth(KEY_B))).json() == defaults

        await send(infra, topics.TICKETS, ticket_event("ticket.created", "t-new", T0, priority="urgent"))
        await wait_clocks(app, "t-new", 2)

        old = (await client.get("/v1/sla/tickets/t-old/clocks", headers=auth(KEY_A))).json()["clocks"]
        new = (await client.get("/v1/sla/tickets/t-new/clocks", headers=auth(KEY_A))).json()["clocks"]
        assert {(c["metric"], c["policy_id"], c["target_seconds"]) for c in old} == {
            ("first_response", "chat", 300.0),
            ("resolution", "urgent-resolution", 14400.0),
        }
        assert {(c["metric"], c["policy_id"], c["target_seconds"]) for c in new} == {
            ("first_response", "vip-chat", 60.0),
            ("resolution", "everything", 86400.0),
        }
        vip = next(c for c in new if c["metric"] == "first_response")
        assert vip["business_hours"] is False
        assert [(s["kind"], s["share_of_target"], s["escalate_to"]) for s in vip["stages"]] == [
            ("warning", 0.5, None),
            ("breach", 1.0, None),
            ("escalation", 1.5, "duty_manager"),
        ]
        assert vip["deadline"] == "2026-01-07T09:01:00Z"

        # another shop's key does not see the ticket; no key or a wrong key is refused
        assert (await client.get("/v1/sla/tickets/t-new/clocks", headers=auth(KEY_B))).status_code == 404
        assert (await client.get("/v1/sla/tickets/t-nope/clocks", headers=auth(KEY_A))).status_code == 404
        assert (await client.get("/v1/sla/policies")).status_code == 401
        assert (await client.get("/v1/sla/policies", headers=auth("clk_wrong_key_123456"))).status_code == 401


async def test_invalid_documents_get_precise_422s_and_change_nothing(infra: Settings) -> None:
    async with running_sla(infra, ManualClock(T0)) as app, http_client(app) as client:
        bad_policies: dict[str, Any] = {
            "duplicate ids": {"policies": [CUSTOM["policies"][1], CUSTOM["policies"][1]]},  # type: ignore[index]
            "typo": {"policies": [{"id": "x", "frist_response": {"seconds": 5}}]},
            "no target seconds": {"policies": [{"id": "x", "first_response": {"seconds": 0}}]},
            "empty": {"policies": []},
        }
        for name, body in bad_policies.items():
            response = await client.put("/v1/sla/policies", headers=auth(KEY_A), json=body)
            assert response.status_code == 422, name
            assert response.json()["error"] == "invalid_request"
        bad_calendars: dict[str, dict[str, Any]] = {
            "zone": {
                "timezone": "Mars/Olympus",
                "weekly_hours": {"mon": [{"start": "09:00", "end": "17:00"}]},
            },
            "order": {"timezone": "UTC", "weekly_hours": {"mon": [{"start": "17:00", "end": "09:00"}]}},
            "overlap": {
                "timezone": "UTC",
                "weekly_hours": {
                    "mon": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]
                },
            },
            "closed week": {"timezone": "UTC", "weekly_hours": {}},
            "country": {
                "timezone": "UTC",
                "weekly_hours": {"mon": [{"start": "09:00", "end": "17:00"}]},
                "holiday_country": "XX",
            },
        }
        for name, body in bad_calendars.items():
            response = await client.put("/v1/sla/calendar", headers=auth(KEY_A), json=body)
            assert response.status_code == 422, name
        detail = (
            await client.put("/v1/sla/calendar", headers=auth(KEY_A), json=bad_calendars["zone"])
        ).json()
        assert "unknown time zone 'Mars/Olympus'" in str(detail["detail"])
        oversized = {"policies": [{"id": "x", "name": "a" * 300_000}]}
        assert (await client.put("/v1/sla/policies", headers=auth(KEY_A), json=oversized)).status_code == 413
        assert (await client.get("/v1/sla/policies", headers=auth(KEY_A))).json()["policies"][0][
            "id"
        ] == "chat"


async def test_calendar_replacement_moves_new_business_hour_deadlines(infra: Settings) -> None:
    async with running_sla(infra, ManualClock(T0)) as app, http_client(app) as client:
        calendar = (await client.get("/v1/sla/calendar", headers=auth(KEY_A))).json()
        assert calendar["timezone"] == "Europe/Warsaw"
        assert calendar["holiday_country"] == "PL"
        assert calendar["weekly_hours"]["mon"] == [{"start": "09:00", "end": "17:00"}]
        assert "sat" not in calendar["weekly_hours"]
        london = (await client.get("/v1/sla/calendar", headers=auth(KEY_B))).json()
        assert (london["timezone"], london["holiday_country"]) == ("Europe/London", "GB")

        # Wednesday closes at 10:02 Warsaw time: a 5-minute chat target runs into Thursday morning
        short_day: dict[str, Any] = {
            "timezone": "Europe/Warsaw",
            "weekly_hours": {
                "wed": [{"start": "08:00", "end": "10:02"}],
                "thu": [{"start": "08:00", "end": "16:00"}],
            },
            "holiday_country": "PL",
            "closed_dates": ["2026-01-08"],
        }
        put = await client.put("/v1/sla/calendar", headers=auth(KEY_A), json=short_day)
        assert put.status_code == 200, put.text
        assert (await client.get("/v1/sla/calendar", headers=auth(KEY_A))).json() == short_day
        await send(infra, topics.TICKETS, ticket_event("ticket.created", "t-cal", T0))
        await wait_clocks(app, "t-cal", 2)
        clocks = (await client.get("/v1/sla/tickets/t-cal/clocks", headers=auth(KEY_A))).json()["clocks"]
        first = next(c for c in clocks if c["metric"] == "first_response")
        # 2 minutes on Wednesday, the 8th is closed, 3 more minutes on Wednesday the 14th at 08:00
        assert first["deadline"] == (T0 + timedelta(days=7, hours=-2, minutes=3)).isoformat().replace(
            "+00:00", "Z"
        )
