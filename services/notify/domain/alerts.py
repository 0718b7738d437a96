"""Ready-to-send alerts for the people who act on a ticket's deadline: the default staff messages of
`sla.warning`, `sla.breached` and `sla.escalated` (Polish and English), and what they need beside the
event's data: the deadline in the shop's own time and the minutes left or gone.

Rendered by the same sandbox, per-shop overrides and fallback as the customer messages
(`templates.py`); only who reads them differs, so the webhook carries them as `staff_message`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

_WHAT_PL = (
    "{% set what = {'first_response': 'pierwszej odpowiedzi', 'next_response': 'kolejnej odpowiedzi',"
    " 'resolution': 'rozwiązania'}.get(metric, metric) %}"
)
_WHAT_EN = (
    "{% set what = {'first_response': 'first-response', 'next_response': 'next-response',"
    " 'resolution': 'resolution'}.get(metric, metric) %}"
)
_TICKET_PL = (
    "{% set level_of = {'urgent': 'pilny', 'high': 'wysoki', 'normal': 'normalny', 'low': 'niski'} %}"
    "Zgłoszenie {{ ticket_id }} (priorytet {{ level_of.get(priority, priority) }}, kanał {{ channel }})"
)
_TICKET_EN = "Ticket {{ ticket_id }} ({{ priority }} priority, {{ channel }})"

STAFF_TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "sla.warning": {
        "pl": (
            _WHAT_PL + "Zgłoszenie {{ ticket_id }}: termin {{ what }} o {{ deadline_local }} "
            "(za {{ minutes_left }} min)",
            _WHAT_PL + _TICKET_PL + " przekroczy termin {{ what }} o {{ deadline_local }} "
            "(za {{ minutes_left }} min).",
        ),
        "en": (
            _WHAT_EN + "Ticket {{ ticket_id }}: {{ what }} target due at {{ deadline_local }} "
            "(in {{ minutes_left }} min)",
            _WHAT_EN + _TICKET_EN + " will breach its {{ what }} target at {{ deadline_local }} "
            "(in {{ minutes_left }} min).",
        ),
    },
    "sla.breached": {
        "pl": (
            _WHAT_PL + "Zgłoszenie {{ ticket_id }}: przekroczony termin {{ what }}",
            _WHAT_PL + _TICKET_PL + " przekroczyło termin {{ what }} o {{ deadline_local }}"
            "{% if minutes_late %} ({{ minutes_late }} min temu){% endif %}.",
        ),
        "en": (
            _WHAT_EN + "Ticket {{ ticket_id }} breached its {{ what }} target",
            _WHAT_EN + _TICKET_EN + " breached its {{ what }} target at {{ deadline_local }}"
            "{% if minutes_late %} ({{ minutes_late }} min ago){% endif %}.",
        ),
    },
    "sla.escalated": {
        "pl": (
            "Zgłoszenie {{ ticket_id }} eskalowane do {{ escalate_to }} (poziom {{ level }})",
            _WHAT_PL + _TICKET_PL + " zostało eskalowane do {{ escalate_to }} (poziom {{ level }}): "
            "termin {{ what }} minął o {{ deadline_local }}"
            "{% if minutes_late %}, {{ minutes_late }} min temu{% endif %}.",
        ),
        "en": (
            "Ticket {{ ticket_id }} escalated to {{ escalate_to }} (level {{ level }})",
            _WHAT_EN + _TICKET_EN + " is escalated to {{ escalate_to }} (level {{ level }}): "
            "its {{ what }} target passed at {{ deadline_local }}"
            "{% if minutes_late %}, {{ minutes_late }} min ago{% endif %}.",
        ),
    },
}
"""event type -> language -> (subject, text) Jinja sources."""

STAFF_EVENT_TYPES = frozenset(STAFF_TEMPLATES)


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def local_time(instant: datetime, now: datetime, timezone: str) -> str:
    """`14:30` in the shop's time zone, with the date when it is not the day of `now` there."""
    zone = ZoneInfo(timezone)
    local = instant.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def alert_fields(event_type: str, data: Mapping[str, Any], timezone: str) -> dict[str, Any]:
    """The template variables a staff alert adds to the event's data: `deadline_local`,
    `minutes_left` (whole minutes, rounded up, until the deadline) and `minutes_late` (whole
    minutes since it passed), each as of the event's `at`. Nothing for other event types."""
    if event_type not in STAFF_EVENT_TYPES:
        return {}
    deadline, at = _instant(data.get("deadline")), _instant(data.get("at"))
    if deadline is None or at is None:
        return {}
    seconds = (deadline - at).total_seconds()
    return {
        "deadline_local": local_time(deadline, at, timezone),
        "minutes_left": max(0, math.ceil(seconds / 60)),
        "minutes_late": max(0, math.floor(-seconds / 60)),
    }
