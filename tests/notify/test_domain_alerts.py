"""The staff alerts of SLA events: their default messages in both languages, the deadline in the shop's
own time, the minutes left or gone, and the same override path as every other message."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.v1.sla import SlaMetric
from schemas.v1.tickets import Priority
from services.notify.domain.alerts import STAFF_EVENT_TYPES, alert_fields, local_time
from services.notify.domain.payload import message_context, webhook_body
from services.notify.domain.templates import (
    DEFAULT_TEMPLATES,
    LANGUAGES,
    MessageTemplate,
    audience,
    message_event_types,
    render_message,
)

T0 = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)
"""10:00 in Warsaw."""
WARSAW = "Europe/Warsaw"


def clock_data(**extra: Any) -> dict[str, Any]:
    """An SLA clock event's data as notify sees it (JSON mode)."""
    return {
        "shop_id": "shop-a",
        "ticket_id": "tkt_1",
        "clock_id": "c-1",
        "metric": "first_response",
        "policy_id": "chat",
        "channel": "chat",
        "priority": "high",
        "target_seconds": 300,
        "deadline": (T0 + timedelta(minutes=5)).isoformat(),
        "category": "other",
        "business_hours": True,
        **extra,
    }


def render(event_type: str, lang: str, data: dict[str, Any], timezone: str = WARSAW) -> tuple[str, str]:
    context = message_context(data, "Sklep A") | alert_fields(event_type, data, timezone)
    message = render_message(event_type, lang, context, None)
    assert message is not None
    assert message.source == "default"
    return message.subject, message.text


WARNING = clock_data(at=(T0 + timedelta(minutes=4)).isoformat(), share_of_target=0.8)
BREACHED = clock_data(at=(T0 + timedelta(minutes=5, seconds=30)).isoformat(), lag_seconds=30.0)
ESCALATED = clock_data(
    at=(T0 + timedelta(minutes=10)).isoformat(), level=2, escalate_to="manager", metric="resolution"
)


def test_a_warning_says_when_the_target_breaches_in_the_shops_time() -> None:
    assert render("sla.warning", "en", WARNING) == (
        "Ticket tkt_1: first-response target due at 10:05 (in 1 min)",
        "Ticket tkt_1 (high priority, chat) will breach its first-response target at 10:05 (in 1 min).",
    )
    assert render("sla.warning", "pl", WARNING) == (
        "Zgłoszenie tkt_1: termin pierwszej odpowiedzi o 10:05 (za 1 min)",
        "Zgłoszenie tkt_1 (priorytet wysoki, kanał chat) przekroczy termin pierwszej odpowiedzi o 10:05 "
        "(za 1 min).",
    )


def test_a_breach_and_an_escalation_say_what_passed_and_to_whom_it_goes() -> None:
    assert render("sla.breached", "en", BREACHED) == (
        "Ticket tkt_1 breached its first-response target",
        "Ticket tkt_1 (high priority, chat) breached its first-response target at 10:05.",
    )
    assert render("sla.escalated", "en", ESCALATED) == (
        "Ticket tkt_1 escalated to manager (level 2)",
        "Ticket tkt_1 (high priority, chat) is escalated to manager (level 2): its resolution target "
        "passed at 10:05, 5 min ago.",
    )
    assert render("sla.escalated", "pl", ESCALATED) == (
        "Zgłoszenie tkt_1 eskalowane do manager (poziom 2)",
        "Zgłoszenie tkt_1 (priorytet wysoki, kanał chat) zostało eskalowane do manager (poziom 2): "
        "termin rozwiązania minął o 10:05, 5 min temu.",
    )


def test_a_deadline_on_another_day_of_the_shop_carries_its_date() -> None:
    late_evening = T0.replace(hour=22, minute=50)  # 23:50 in Warsaw; the deadline is past midnight there
    data = clock_data(
        deadline=(late_evening + timedelta(minutes=20)).isoformat(), at=late_evening.isoformat()
    )
    assert render("sla.warning", "en", data)[0] == (
        "Ticket tkt_1: first-response target due at 2026-01-08 00:10 (in 20 min)"
    )
    assert local_time(T0, T0, "America/New_York") == "04:00"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event_type", sorted(STAFF_EVENT_TYPES))
@pytest.mark.parametrize("metric", list(SlaMetric))
@pytest.mark.parametrize("priority", list(Priority))
def test_every_alert_renders_for_every_metric_and_priority(
    event_type: str, lang: str, metric: SlaMetric, priority: Priority
) -> None:
    data = {**ESCALATED, "metric": metric.value, "priority": priority.value}
    subject, text = render(event_type, lang, data)
    assert "tkt_1" in subject
    assert "tkt_1" in text
    assert "_" not in text.replace("tkt_1", ""), "a code was left untranslated"
    assert "Sklep A" not in text, "an alert to the shop's people is not signed by the shop"


def test_alerts_are_listed_beside_the_customer_messages_for_their_own_audience() -> None:
    assert {"sla.warning", "sla.breached", "sla.escalated"} == STAFF_EVENT_TYPES
    assert set(message_event_types()) == set(DEFAULT_TEMPLATES) | STAFF_EVENT_TYPES
    assert {audience(t) for t in STAFF_EVENT_TYPES} == {"staff"}
    assert {audience(t) for t in DEFAULT_TEMPLATES} == {"customer"}
    assert alert_fields("order.shipped", WARNING, WARSAW) == {}


def test_a_shop_template_overrides_an_alert_and_a_broken_one_falls_back() -> None:
    context = message_context(WARNING, "Sklep A") | alert_fields("sla.warning", WARNING, WARSAW)
    own = MessageTemplate("{{ ticket_id }} @ {{ deadline_local }}", "{{ minutes_left }} min, {{ policy_id }}")
    message = render_message("sla.warning", "pl", context, own)
    assert message is not None
    assert (message.subject, message.text, message.source) == ("tkt_1 @ 10:05", "1 min, chat", "shop")
    broken = render_message("sla.warning", "pl", context, MessageTemplate("{{ nope }}", "x"))
    assert broken is not None
    assert broken.source.startswith("default (shop template failed")
    assert broken.subject.startswith("Zgłoszenie tkt_1")


def test_the_body_carries_an_alert_as_the_staff_message() -> None:
    context = message_context(WARNING, "A") | alert_fields("sla.warning", WARNING, WARSAW)
    message = render_message("sla.warning", "en", context, None)
    body = json.loads(webhook_body("sla.warning", T0, "ev-1", WARNING, message))
    assert body["data"]["customer_message"] is None
    assert body["data"]["staff_message"]["subject"].startswith("Ticket tkt_1")
    assert body["data"]["staff_message"]["locale"] == "en"
    shipped = json.loads(webhook_body("order.shipped", T0, "ev-2", {"order_id": "1"}, message))
    assert shipped["data"]["staff_message"] is None
    assert shipped["data"]["customer_message"] is not None


@given(
    deadline=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    offset=st.integers(min_value=-3 * 24 * 3600, max_value=3 * 24 * 3600),
)
def test_minutes_left_and_late_bound_the_time_to_the_deadline(deadline: datetime, offset: int) -> None:
    at = deadline - timedelta(seconds=offset)
    fields = alert_fields("sla.warning", {"deadline": deadline.isoformat(), "at": at.isoformat()}, WARSAW)
    left, late = fields["minutes_left"], fields["minutes_late"]
    assert left == 0 or late == 0
    if offset > 0:
        assert (left - 1) * 60 < offset <= left * 60
    else:
        assert late * 60 <= -offset < (late + 1) * 60
    assert fields["deadline_local"][-5:] == deadline.astimezone(ZoneInfo(WARSAW)).strftime("%H:%M")
