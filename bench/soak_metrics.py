"""Metrics against tables: each service's /metrics beside the rows its own schema holds. A counter
starts from zero in every life of its process, so it is compared with the rows added since that
life began (the table counts noted while the killed process was down); a gauge with the rows now."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from bench.soak_collect import SERVICES
from bench.soak_infra import Samples, Service


@dataclass(frozen=True)
class MetricPair:
    """A metric summed by `label` (None: one total) beside a query giving (key, rows) per key."""

    service: str
    metric: str
    label: str | None
    sql: str
    where: tuple[tuple[str, str], ...] = ()
    gauge: bool = False
    """A gauge shows the table's current state; a counter the rows added in the process's life."""

    @property
    def name(self) -> str:
        return f"{self.service}: {self.metric}" + (f" by {self.label}" if self.label else "")


def _runtime_pairs(service: str) -> tuple[MetricPair, ...]:
    return (
        MetricPair(
            service,
            "careloop_events_consumed_total",
            "consumer",
            f"SELECT consumer, count(*) FROM {service}.processed_events GROUP BY 1",  # noqa: S608
            (("outcome", "applied"),),
        ),
        MetricPair(
            service,
            "careloop_dead_letters_total",
            "consumer",
            f"SELECT consumer, count(*) FROM {service}.dead_letters GROUP BY 1",  # noqa: S608
        ),
        MetricPair(
            service,
            "careloop_outbox_backlog",
            None,
            f"SELECT 'all', count(*) FROM {service}.outbox",  # noqa: S608
            gauge=True,
        ),
    )


METRIC_PAIRS: tuple[MetricPair, ...] = (
    *(p for s in SERVICES for p in _runtime_pairs(s)),
    MetricPair(
        "intake",
        "careloop_intake_tickets_created_total",
        "source",
        "SELECT source, count(*) FROM intake.tickets GROUP BY 1",
    ),
    MetricPair(
        "intake",
        "careloop_intake_open_tickets",
        "status",
        "SELECT status, count(*) FROM intake.tickets"
        " WHERE status IN ('open', 'pending', 'on_hold') GROUP BY 1",
        gauge=True,
    ),
    MetricPair(
        "sla",
        "careloop_sla_breaches_total",
        "metric",
        "SELECT metric, count(*) FROM sla.clocks WHERE outcome = 'breached' GROUP BY 1",
    ),
    MetricPair(
        "sla",
        "careloop_sla_promise_breaches_total",
        "promise",
        "SELECT kind, count(*) FROM sla.promises WHERE breached_at IS NOT NULL GROUP BY 1",
    ),
    MetricPair(
        "sla",
        "careloop_sla_open_clocks",
        "metric",
        "SELECT metric, count(*) FROM sla.clocks WHERE status IN ('running', 'paused') GROUP BY 1",
        gauge=True,
    ),
    MetricPair(
        "notify",
        "careloop_notify_attempts_total",
        "outcome",
        "SELECT outcome, count(*) FROM notify.attempts GROUP BY 1",
    ),
    MetricPair(
        "notify",
        "careloop_notify_deliveries_queued_total",
        None,
        "SELECT 'all', count(*) FROM notify.deliveries",
    ),
    MetricPair(
        "notify",
        "careloop_notify_queue_depth",
        None,
        "SELECT 'all', count(*) FROM notify.deliveries WHERE status IN ('pending', 'delivering')",
        gauge=True,
    ),
    MetricPair(
        "survey",
        "careloop_survey_answers_total",
        "kind",
        "SELECT kind, count(*) FROM survey.answers GROUP BY 1",
    ),
    MetricPair(
        "survey",
        "careloop_survey_scheduled_total",
        "kind",
        "SELECT kind, count(*) FROM survey.invitations GROUP BY 1",
    ),
)

Counts = dict[str, float]


def metric_counts(samples: Samples, pair: MetricPair) -> Counts:
    out: Counts = defaultdict(float)
    for labels, value in samples.get(pair.metric, []):
        if all(labels.get(k) == v for k, v in pair.where):
            out[labels.get(pair.label, "") if pair.label else "all"] += value
    return dict(out)


async def table_counts(conn: asyncpg.Connection, pairs: tuple[MetricPair, ...]) -> dict[str, Counts]:
    return {p.name: {str(r[0]): float(r[1]) for r in await conn.fetch(p.sql)} for p in pairs}


async def baseline(database_url: str, service: str) -> dict[str, Counts]:
    """The counter pairs' table counts of `service` while no process of it runs: its next life's
    counters start from zero against these rows."""
    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        return await table_counts(
            conn, tuple(p for p in METRIC_PAIRS if p.service == service and not p.gauge)
        )
    finally:
        await conn.close()


def difference(metric: Counts, table: Counts, base: Counts) -> dict[str, tuple[float, float]]:
    """Keys where the metric and the table's rows (less the baseline) disagree: key -> (metric, rows)."""
    keys = set(metric) | set(table) | set(base)
    rows = {k: table.get(k, 0.0) - base.get(k, 0.0) for k in keys}
    return {k: (metric.get(k, 0.0), rows[k]) for k in sorted(keys) if metric.get(k, 0.0) != rows[k]}


async def compare_metrics(
    services: Mapping[str, Service],
    database_url: str,
    baselines: Mapping[str, dict[str, Counts]],
    timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """Each pair, read metric-table-metric until the two metric reads agree with each other and with
    the rows (counters move with the rows they count, gauges are refreshed every few seconds).
    A pair that never agrees within `timeout` is reported with its last reading."""
    pending = {p.name: p for p in METRIC_PAIRS}
    results: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        while pending:
            before = {s: await services[s].metrics() for s in SERVICES}
            tables = await table_counts(conn, tuple(pending.values()))
            after = {s: await services[s].metrics() for s in SERVICES}
            for name, pair in list(pending.items()):
                first = metric_counts(before[pair.service], pair)
                second = metric_counts(after[pair.service], pair)
                base = {} if pair.gauge else baselines.get(pair.service, {}).get(name, {})
                diff = difference(second, tables[name], base)
                agreed = first == second and not diff
                results[name] = {
                    "check": name,
                    "kind": "gauge" if pair.gauge else "counter",
                    "metric": second,
                    "rows": {
                        k: tables[name].get(k, 0.0) - base.get(k, 0.0) for k in set(tables[name]) | set(base)
                    },
                    "differences": {k: list(v) for k, v in diff.items()},
                    "agreed": agreed,
                }
                if agreed:
                    del pending[name]
            if pending:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(1.0)
    finally:
        await conn.close()
    return [results[p.name] for p in METRIC_PAIRS]
