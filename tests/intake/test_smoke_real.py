from __future__ import annotations

import pytest

from runtime.settings import Settings
from tests.intake.helpers import post_contact, running_intake, ticket_events, types_of, unique

pytestmark = pytest.mark.kafka


async def test_smoke(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        r = await post_contact(intake, customer_email=f"{unique('a')}@example.com", order_id="o-1")
        assert r.status_code == 201, r.text
        events = await ticket_events(intake, r.json()["ticket_id"], 2)
        assert types_of(events) == ["ticket.created", "ticket.message_added"]
