"""The soak's verdict logic without infrastructure: produced and received ids into lost, unexpected and
duplicates; one event per row; metrics against rows with a restarted process's baseline; the checks'
verdicts; the fault schedule; and the report as the lead reads it."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bench.soak_chaos import FAULT_KINDS, fault_schedule
from bench.soak_metrics import MetricPair, difference, metric_counts
from bench.soak_settings import parse_args
from bench.soak_verify import (
    Observations,
    SoakReport,
    compare_ids,
    evaluate,
    one_each,
    render,
    webhook_figures,
)

ids = st.sets(st.text("abcdef0123456789", min_size=4, max_size=8), max_size=30)


def test_lost_extra_and_duplicates_are_told_apart() -> None:
    result = compare_ids(
        must={"a", "b", "c"}, allowed={"a", "b", "c", "d"}, acknowledged={"a": 1, "b": 3, "d": 1, "x": 2}
    )
    assert result.lost == ["c"]
    assert result.extra == ["x"]  # d was read back later: allowed, not unexpected
    assert result.duplicates == 2  # b and x came more than once
    assert result.repeat_deliveries == 3
    assert (result.expected, result.received) == (3, 4)


@given(ids, ids, st.dictionaries(st.text("abcdef0123456789", min_size=4, max_size=8), st.integers(0, 4)))
def test_every_expected_id_is_either_received_or_lost(
    must: set[str], later: set[str], acknowledged: dict[str, int]
) -> None:
    result = compare_ids(must, must | later, acknowledged)
    received = {i for i, n in acknowledged.items() if n}
    assert set(result.lost) == must - received
    assert set(result.lost).isdisjoint(received)
    assert set(result.extra) == received - must - later
    assert result.duplicates == sum(1 for n in acknowledged.values() if n > 1)


def test_one_event_per_row() -> None:
    result = one_each(
        keys={"t1", "t2", "t3"},
        events=[("t1", "e1"), ("t1", "e1"), ("t2", "e2"), ("t2", "e9"), ("t4", "e4"), ("t5", "e5")],
        known_later={"t1", "t2", "t3", "t4"},
    )
    assert result.missing == ["t3"]
    assert result.doubled == {"t2": 2}  # the same id twice (t1) is a redelivery, not a double
    assert result.orphans == ["t5"]  # t4's row appeared after the first read: not an orphan
    assert not result.passed
    assert one_each({"t1"}, [("t1", "e1")], {"t1"}).passed


def test_a_restarted_counter_is_compared_with_the_rows_since_its_restart() -> None:
    pair = MetricPair("notify", "careloop_notify_attempts_total", "outcome", "")
    samples = {
        "careloop_notify_attempts_total": [
            ({"outcome": "success"}, 40.0),
            ({"outcome": "http_error"}, 2.0),
        ]
    }
    metric = metric_counts(samples, pair)
    assert metric == {"success": 40.0, "http_error": 2.0}
    assert difference(metric, {"success": 100.0, "http_error": 2.0}, {"success": 60.0}) == {}
    assert difference(metric, {"success": 100.0, "http_error": 3.0}, {"success": 60.0}) == {
        "http_error": (2.0, 3.0)
    }


def test_a_label_filter_keeps_only_the_matching_series() -> None:
    pair = MetricPair("intake", "careloop_events_consumed_total", "consumer", "", (("outcome", "applied"),))
    samples = {
        "careloop_events_consumed_total": [
            ({"consumer": "intake-orders", "type": "order.paid", "outcome": "applied"}, 5.0),
            ({"consumer": "intake-orders", "type": "order.created", "outcome": "applied"}, 7.0),
            ({"consumer": "intake-orders", "type": "order.paid", "outcome": "duplicate"}, 3.0),
        ]
    }
    assert metric_counts(samples, pair) == {"intake-orders": 12.0}


def healthy(**changes: Any) -> Observations:
    values: dict[str, Any] = {
        "webhooks_must": {"w1": "order.created", "w2": "ticket.created"},
        "webhooks_allowed": {"w1", "w2", "w3"},
        "acknowledged": {"w1": 1, "w2": 2},
        "contacts_accepted": {("email", "m1")},
        "contacts_filed": {("email", "m1"): 1},
        "ticket_created": one_each({"t1"}, [("t1", "e1")], {"t1"}),
        "sla_breached": one_each(set(), [], set()),
        "promise_breached": one_each(set(), [], set()),
        "survey_invited": one_each({"s1"}, [("s1", "i1")], {"s1"}),
        "survey_answered": one_each({"s1"}, [("s1", "a1")], {"s1"}),
        "answers_given": {"s1": "nps"},
        "answer_rows": {"s1": "nps"},
        "report_answers": {"nps": 1, "csat": 0, "ces": 0},
        "outbox": {"intake": 0, "sla": 0},
        "group_lag": {"careloop-intake.intake-orders": 0},
        "gauge_lag": {"intake": 0.0},
        "dead_letter_topics": {},
        "dead_letter_rows": {"intake": 0},
        "deliveries": {"succeeded": 3},
        "disabled_endpoints": 0,
        "success_attempts": 3,
        "deliveries_succeeding_twice": 0,
        "metric_pairs": [
            {
                "check": "notify: attempts",
                "metric": {"success": 3.0},
                "rows": {"success": 3.0},
                "differences": {},
                "agreed": True,
            }
        ],
        "drained": True,
        "drain_note": "drained in 2 s",
        "gave_up": {},
    }
    values.update(changes)
    return Observations(**values)


def failing(observations: Observations) -> list[str]:
    return [c.name for c in evaluate(observations) if not c.passed]


def test_a_healthy_run_passes_every_check() -> None:
    assert failing(healthy()) == []


def test_each_kind_of_damage_fails_its_own_check() -> None:
    cases = {
        "every expected webhook": healthy(acknowledged={"w1": 1}, success_attempts=1),
        "none unexpected": healthy(acknowledged={"w1": 1, "w2": 1, "w9": 1}),
        "every contact filed": healthy(contacts_filed={}),
        "ticket.created": healthy(ticket_created=one_each({"t1"}, [("t1", "e1"), ("t1", "e2")], {"t1"})),
        "counted once": healthy(report_answers={"nps": 2}),
        "outboxes empty": healthy(outbox={"intake": 0, "sla": 3}),
        "no consumer lag": healthy(group_lag={"g": 4}),
        "no dead letters": healthy(deliveries={"succeeded": 2, "dead": 1}),
        "given up": healthy(gave_up={"contact": 1}),
        "recorded as successful": healthy(success_attempts=4),
        "drained": healthy(drained=False, drain_note="NOT drained"),
        "metrics = tables": healthy(
            metric_pairs=[
                {
                    "check": "x",
                    "metric": {},
                    "rows": {"a": 1.0},
                    "differences": {"a": [0, 1]},
                    "agreed": False,
                }
            ]
        ),
    }
    for words, observations in cases.items():
        failed = failing(observations)
        assert len(failed) == 1, (words, failed)
        assert words in failed[0], (words, failed)


def test_an_answer_lost_or_never_given_fails() -> None:
    assert failing(healthy(answer_rows={}, report_answers={"nps": 0})) != []
    assert (
        failing(healthy(answer_rows={"s1": "nps", "s2": "csat"}, report_answers={"nps": 1, "csat": 1})) != []
    )


def test_the_report_shows_the_verdict_faults_and_findings() -> None:
    observations = healthy(acknowledged={"w1": 3})
    report = SoakReport(
        meta={"started": "2026-01-01T00:00:00+00:00", "commit": "abc", "minutes": 3, "seed": 7},
        faults={"kill": 2, "kafka": 1, "postgres": 0, "http500": 1, "hang": 1},
        fault_log=[{"kind": "kill", "target": "notify", "at_s": 60.0, "seconds": 8.2}],
        produced={"order events": 10, "order events by type": {"order.created": 10}},
        webhooks=webhook_figures(observations) | {"answered_500": 4, "hung": 2, "bad_signature": 0},
    )
    report.checks = evaluate(observations)
    text = render(report)
    assert not report.passed
    assert text.startswith("# Soak with chaos: FAIL")
    assert "| kill | 2 |" in text
    assert "| **total** | 5 |" in text
    assert "| 60.0 | kill | notify | 8.2 |" in text
    assert "| 2 | 1 | 1 | 0 | 1 | 2 | 4 | 2 | 0 |" in text  # expected, received, lost, …, duplicates
    assert "ticket.created" in text
    assert "**FAIL**" in text
    assert report.as_json()["verdict"] == "FAIL"
    report.checks = evaluate(healthy())
    assert render(report).startswith("# Soak with chaos: PASS")


def test_faults_come_in_shuffled_rounds_so_every_kind_is_seen() -> None:
    schedule = fault_schedule(random.Random(7), FAULT_KINDS)
    first = [next(schedule) for _ in range(3 * len(FAULT_KINDS))]
    for start in range(0, len(first), len(FAULT_KINDS)):
        assert sorted(first[start : start + len(FAULT_KINDS)]) == sorted(FAULT_KINDS)
    again = fault_schedule(random.Random(7), FAULT_KINDS)
    assert [next(again) for _ in range(len(first))] == first  # a fixed seed repeats the run's faults
    assert Counter(first) == dict.fromkeys(FAULT_KINDS, 3)


def test_settings_come_from_the_environment_and_the_rate_from_shop_time() -> None:
    settings = parse_args(
        [],
        {
            "SOAK_MINUTES": "3",
            "SOAK_CHAOS_SECONDS": "10",
            "SOAK_FAULTS": "kill,hang",
            "SOAK_ORDERS_PER_MINUTE": "300",
        },
    )
    assert settings.minutes == 3
    assert settings.chaos.interval == 10
    assert settings.chaos.kinds == ("kill", "hang")
    # 300 orders a wall minute at 600x shop time: a shop day (144 s) holds 720 orders
    assert settings.orders_per_day == 720
    assert parse_args(["--minutes", "1"], {"SOAK_MINUTES": "3"}).minutes == 1
    assert parse_args([], {}).minutes == 20
