"""SLA events built from clocks: still validated against their contract, and counted once each."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from schemas.registry import decode_event, encode_event
from schemas.v1.sla import SlaMetric
from services.sla import repository as repo
from services.sla.domain import clocks
from services.sla.domain.calendar import CALENDAR_TIME
from services.sla.domain.clocks import Crossed, Stage, StageKind
from services.sla.domain.policies import DEFAULT_POLICIES
from services.sla.events import clock_changed_event, crossed_event

T0 = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)
TARGET = timedelta(minutes=5)


def record(policy: str = "chat") -> repo.ClockRecord:
    stages = DEFAULT_POLICIES.policies[0].stages()
    clock = clocks.start("c-1", SlaMetric.FIRST_RESPONSE, TARGET, False, stages, T0, CALENDAR_TIME)
    return repo.ClockRecord(clock, "shop-a", "t-1", policy, "chat", "other", "normal")


def test_clock_events_are_validated_against_their_contract() -> None:
    due = T0 + TARGET
    with pytest.raises(ValidationError, match="level"):
        crossed_event(record(), Crossed(Stage(StageKind.ESCALATION, 1.0, level=0), due), due, due, due)
    negative = replace(
        record(), clock=clocks.start("c-2", SlaMetric.FIRST_RESPONSE, -TARGET, False, (), T0, CALENDAR_TIME)
    )
    with pytest.raises(ValidationError, match="target_seconds"):
        crossed_event(negative, Crossed(Stage(StageKind.BREACH, 1.0), due), due, due, due)


def test_each_committed_event_is_counted_once() -> None:
    policy = "counted-once"  # a label no other test uses, so the counts start at zero

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    fired, crossed = clocks.fire_due(record(policy).clock, T0 + TARGET)
    outgoing = [crossed_event(record(policy), c, T0 + TARGET, T0 + TARGET, T0 + TARGET) for c in crossed]
    lag_before = sample("careloop_sla_timer_lag_seconds_count", timer="breach")
    for _ in range(2):
        for item in outgoing:
            item.observe(T0 + TARGET + timedelta(seconds=1))
    breaches = {"shop": "shop-a", "metric": "first_response", "policy": policy, "channel": "chat"}
    assert sample("careloop_sla_breaches_total", **breaches) == 2.0
    assert sample("careloop_sla_timer_lag_seconds_count", timer="breach") == lag_before + 2
    assert [decode_event(encode_event(o.event)).type for o in outgoing] == [
        "sla.warning",
        "sla.breached",
        "sla.escalated",
    ]
    assert fired.outcome is not None


def test_a_clock_change_carries_its_state_and_counts_nothing() -> None:
    policy = "changes-uncounted"  # a label no other test uses, so every count starts at zero
    running = record(policy)
    paused, _ = clocks.pause(running.clock, T0 + timedelta(minutes=2), CALENDAR_TIME)
    started = clock_changed_event(running, T0, T0, CALENDAR_TIME)
    pause = clock_changed_event(replace(running, clock=paused), T0 + timedelta(minutes=2), T0, CALENDAR_TIME)
    decoded = [decode_event(encode_event(o.event)) for o in (started, pause)]
    assert [(e.type, e.data.status.value, e.data.deadline, e.data.elapsed_seconds) for e in decoded] == [
        ("sla.clock_changed", "running", T0 + TARGET, 0.0),
        ("sla.clock_changed", "paused", None, 120.0),
    ]
    assert {o.key for o in (started, pause)} == {"t-1"}
    for item in (started, pause):
        item.observe(T0)
    labels = {"shop": "shop-a", "metric": "first_response", "policy": policy, "channel": "chat"}
    assert REGISTRY.get_sample_value("careloop_sla_met_total", labels) is None
