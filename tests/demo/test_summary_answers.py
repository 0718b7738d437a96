"""The demo's live summary shows intake's automatic answers to "where is my order?", read from the
counters intake exposes (summed over shops and categories)."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter

from demo.summary import Snapshot, automatic_answers, parse_metrics, render

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def exposition() -> str:
    registry = CollectorRegistry()
    sent = PromCounter(
        "careloop_intake_automatic_answers_total", "a", ["shop", "category"], registry=registry
    )
    sent.labels("demo-shop", "order_status").inc(5)
    sent.labels("demo-shop", "delivery_delay").inc(2)
    outcomes = PromCounter(
        "careloop_intake_automatic_answer_outcomes_total", "o", ["shop", "outcome"], registry=registry
    )
    outcomes.labels("demo-shop", "deflected").inc(4)
    outcomes.labels("demo-shop", "came_back").inc(1)
    after = PromCounter(
        "careloop_intake_contacts_after_notice_total", "n", ["shop", "answered"], registry=registry
    )
    after.labels("demo-shop", "true").inc(2)
    return generate_latest(registry).decode()


def test_the_summary_shows_the_automatic_answers_from_intakes_counters() -> None:
    counted = automatic_answers(parse_metrics(exposition(), "careloop_intake_"))
    assert counted == {"sent": 7, "deflected": 4, "came_back": 1, "after_notice": 2}
    text = render(Snapshot(domain_now=NOW, speed=600, answers=counted))
    assert (
        "answers     7 automatic answers to 'where is my order?' · 4 deflected · 1 came back to an agent"
        " · 2 asked after a delay notice"
    ) in text
    assert "answers     0 automatic answers" in render(Snapshot(domain_now=NOW, speed=600))
