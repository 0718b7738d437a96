"""Tags (by hand and by the shop's rule table, with its team) and macros (kept per shop, rendered
with the customer's and the order's details in their language, sent as a reply) over the real
Kafka and Postgres."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from runtime.settings import Settings
from tests.intake.helpers import running_intake, ticket_events
from tests.intake.people import create_agent, create_team, listed, open_ticket, post, ticket
from tests.intake.wismo_support import TRACKING_URL, customer, ship
from tests.support.shops import KEY_A, KEY_B, auth

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

MACRO = {
    "name": "Where is it",
    "texts": {
        "en": "Hello {{ customer_name }}, order {{ order_id }} is {{ order_status_text }}"
        "{% if tracking_url %}: {{ tracking_url }}{% endif %}. Expected by {{ promised_date }}."
        " {{ agent_name }}",
        "pl": "Dzień dobry {{ customer_name }}, zamówienie {{ order_id }} jest {{ order_status_text }}"
        "{% if tracking_url %}: {{ tracking_url }}{% endif %}. Termin: {{ promised_date }}. {{ agent_name }}",
    },
}


async def test_tags_are_added_removed_and_filtered(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        first, second = await open_ticket(intake), await open_ticket(intake)
        tagged = await post(intake, f"/v1/tickets/{first}/tags", body={"add": ["VIP", "refund", "vip"]})
        assert tagged.status_code == 200, tagged.text
        assert tagged.json()["tags"] == ["refund", "vip"]
        await post(intake, f"/v1/tickets/{second}/tags", body={"add": ["refund"]})
        assert sorted(await listed(intake, tag="refund")) == sorted([second, first])
        assert await listed(intake, tag="VIP") == [first]
        removed = await post(
            intake, f"/v1/tickets/{first}/tags", body={"remove": ["refund"], "add": ["late"]}
        )
        assert removed.json()["tags"] == ["late", "vip"]
        assert await listed(intake, tag="refund") == [second]
        assert (await ticket(intake, first))["tags"] == ["late", "vip"]
        bad = await post(intake, f"/v1/tickets/{first}/tags", body={"add": ["two words"]})
        assert bad.status_code == 422
        assert await listed(intake, KEY_B, tag="vip") == []


async def test_the_rule_table_sets_tags_and_the_team(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        returns = await create_team(intake, auto_assign=True)
        agent = await create_agent(intake, team_ids=[returns])
        table = (await intake.client.get("/v1/rules", headers=auth(KEY_A))).json()
        table["rules"] = [
            {"category": "return", "keywords": ["zwrot"], "tags": ["Returns", "pl"], "team_id": returns},
            *table["rules"],
        ]
        saved = await intake.client.put("/v1/rules", json=table, headers=auth(KEY_A))
        assert saved.status_code == 200, saved.text
        routed = await open_ticket(intake, body="Chcę zrobić zwrot butów")
        shown = await ticket(intake, routed)
        assert (shown["category"], shown["tags"], shown["team_id"]) == ("return", ["pl", "returns"], returns)
        assert shown["assignee_agent_id"] == agent["id"]  # the team assigns by itself
        created = (await ticket_events(intake, routed, 1))[0]
        assert (created.type, created.data.team_id) == ("ticket.created", returns)
        other = await ticket(intake, await open_ticket(intake, body="Where is my parcel?"))
        assert (other["tags"], other["team_id"]) == ([], None)
        assert await listed(intake, tag="returns") == [routed]
        assert await listed(intake, team=returns) == [routed]

        # a rule may only name the shop's own teams
        theirs = await create_team(intake, KEY_B)
        table["rules"][0]["team_id"] = theirs
        refused = await intake.client.put("/v1/rules", json=table, headers=auth(KEY_A))
        assert refused.status_code == 422
        assert refused.json()["error"] == "unknown_team"


async def test_macros_are_kept_per_shop_and_checked(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        created = await post(intake, "/v1/macros", body=MACRO)
        assert created.status_code == 201, created.text
        macro_id = created.json()["id"]
        listed_macros = (await intake.client.get("/v1/macros", headers=auth(KEY_A))).json()
        assert [m["id"] for m in listed_macros["macros"]] == [macro_id]
        assert "tracking_url" in listed_macros["variables"]
        assert (await intake.client.get("/v1/macros", headers=auth(KEY_B))).json()["macros"] == []
        assert (await intake.client.get(f"/v1/macros/{macro_id}", headers=auth(KEY_B))).status_code == 404

        twice = await post(intake, "/v1/macros", body={**MACRO, "name": "where IS it"})
        assert twice.status_code == 409
        unknown = await post(intake, "/v1/macros", body={"name": "x", "texts": {"en": "{{ secret }}"}})
        broken = await post(intake, "/v1/macros", body={"name": "y", "texts": {"en": "{% if %}"}})
        german = await post(intake, "/v1/macros", body={"name": "z", "texts": {"de": "Hallo"}})
        sandbox = await post(intake, "/v1/macros", body={"name": "w", "texts": {"en": "{{ ''.__class__ }}"}})
        assert [r.status_code for r in (unknown, broken, german, sandbox)] == [422, 422, 422, 422]

        agent = await create_agent(intake)
        lead = await create_agent(intake, role="lead")
        by_agent = await post(intake, "/v1/macros", agent["token"], {"name": "a", "texts": {"en": "Hi"}})
        by_lead = await post(intake, "/v1/macros", lead["token"], {"name": "b", "texts": {"en": "Hi"}})
        assert (by_agent.status_code, by_lead.status_code) == (403, 201)
        renamed = await intake.client.patch(
            f"/v1/macros/{macro_id}", json={"name": "Where is my order"}, headers=auth(KEY_A)
        )
        assert renamed.json()["name"] == "Where is my order"
        assert renamed.json()["texts"] == MACRO["texts"]
        gone = await intake.client.delete(f"/v1/macros/{by_lead.json()['id']}", headers=auth(KEY_B))
        assert gone.status_code == 404
        gone = await intake.client.delete(f"/v1/macros/{by_lead.json()['id']}", headers=auth(KEY_A))
        assert gone.status_code == 204


async def preview(intake: Any, ticket_id: str, macro_id: str, key: str) -> dict[str, Any]:
    response = await intake.client.get(f"/v1/tickets/{ticket_id}/macros/{macro_id}", headers=auth(key))
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


async def test_a_macro_renders_the_order_in_the_customers_language(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        macro_id = (await post(intake, "/v1/macros", body=MACRO)).json()["id"]
        agent = await create_agent(intake, name="Ola")
        await ship(intake, "A-1001", who=customer("anna@example.com", "pl"), promised=date(2026, 1, 9))
        await ship(intake, "A-1002", who=customer("ben@example.com", "en-GB"), promised=date(2026, 1, 9))
        polish = await open_ticket(
            intake, customer_email="anna@example.com", order_id="A-1001", customer_name="Anna"
        )
        english = await open_ticket(
            intake, customer_email="ben@example.com", order_id="A-1002", customer_name="Ben"
        )
        no_order = await open_ticket(intake, customer_name="Cleo", customer_locale="en")

        shown = await preview(intake, polish, macro_id, agent["token"])
        assert shown["language"] == "pl"
        assert shown["text"] == (
            f"Dzień dobry Anna, zamówienie A-1001 jest wysłane: {TRACKING_URL}. Termin: 09.01.2026. Ola"
        )
        shown = await preview(intake, english, macro_id, agent["token"])
        assert shown["language"] == "en"
        assert (
            shown["text"]
            == f"Hello Ben, order A-1002 is shipped: {TRACKING_URL}. Expected by 9 January 2026. Ola"
        )
        # without an order its details are empty, and the shop's key is no agent
        shown = await preview(intake, no_order, macro_id, KEY_A)
        assert shown["text"] == "Hello Cleo, order  is . Expected by ."
        missing = await intake.client.get(f"/v1/tickets/{polish}/macros/mac_nope", headers=auth(KEY_A))
        assert missing.status_code == 404
        theirs = await intake.client.get(f"/v1/tickets/{polish}/macros/{macro_id}", headers=auth(KEY_B))
        assert theirs.status_code == 404
