"""The whole loop an operator relies on: the four services as processes, some of a shop's life as
traffic, the real Prometheus scraping them with CareLoop's rules, and every dashboard panel showing
data (a panel that can never show anything is a bug). Also the scrape targets are healthy, and the
rules evaluate without errors against live data."""

from __future__ import annotations

import asyncio
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from runtime.settings import Settings
from tests.ops.stack import running_stack
from tests.ops.support import (
    PanelQuery,
    Prometheus,
    base_metric_names,
    local_config,
    panel_queries,
    recording_rules,
    running_prometheus,
)
from tests.ops.traffic import ShopLife, stack_env, webhook_receiver

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(420)]

PANELS_DEADLINE_SECONDS = 150.0
SNAPSHOT_ENV = "CARELOOP_OPS_SNAPSHOT"
"""If set, the panels' time series of the run are written there (the picture in the docs comes from it)."""


def has_finite_value(answer: dict[str, Any]) -> bool:
    if answer.get("status") != "success":
        return False
    return any(math.isfinite(float(sample["value"][1])) for sample in answer["data"]["result"])


async def panels_without_data(prometheus: Prometheus, queries: list[PanelQuery]) -> list[PanelQuery]:
    return [q for q in queries if not has_finite_value(await prometheus.query(q.expr))]


async def test_every_dashboard_panel_shows_data_from_the_running_stack(infra: Settings) -> None:
    queries = panel_queries()
    async with (
        webhook_receiver() as receiver,
        running_stack(infra, stack_env()) as services,
        running_prometheus(local_config({n: s.address for n, s in services.items()})) as prometheus,
    ):
        life = ShopLife(infra, services)
        try:
            await life.second_long_policies()
            await life.webhook_endpoints(receiver)
            await life.orders()
            await life.tickets()
            await life.refusals()
            answered = await life.answer_surveys(expected=8)
            assert answered >= 6, "the delivered orders were not surveyed"
        finally:
            await life.close()

        targets = await prometheus.targets()
        careloop_targets = [t for t in targets if t["labels"]["job"] == "careloop"]
        assert {t["labels"]["app"] for t in careloop_targets} == set(services)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + PANELS_DEADLINE_SECONDS
        missing = await panels_without_data(prometheus, queries)
        while missing and loop.time() < deadline:
            await asyncio.sleep(3.0)
            missing = await panels_without_data(prometheus, missing)

        assert all(t["health"] == "up" for t in careloop_targets), [
            t.get("lastError") for t in careloop_targets
        ]
        for group in await prometheus.rule_groups():
            for rule in group["rules"]:
                assert rule["health"] == "ok", f"{rule['name']}: {rule.get('lastError')}"
        if os.environ.get(SNAPSHOT_ENV):
            await write_snapshot(prometheus, queries, Path(os.environ[SNAPSHOT_ENV]))
        assert missing == [], "panels without data:\n" + await explain(prometheus, missing)


async def explain(prometheus: Prometheus, missing: list[PanelQuery]) -> str:
    """Each empty panel with the raw series behind it, so a failure says which metric never moved."""
    recorded = recording_rules()
    lines = []
    for query in missing:
        lines.append(str(query))
        for name in sorted(base_metric_names(query.expr, recorded)):
            result = (await prometheus.query(name)).get("data", {}).get("result", [])
            shown = [f"{s['metric']}={s['value'][1]}" for s in result[:6]]
            lines.append(f"    {name}: {len(result)} series {shown}")
    return "\n".join(lines)


async def write_snapshot(prometheus: Prometheus, queries: list[PanelQuery], path: Path) -> None:
    end = (await prometheus.query("time()"))["data"]["result"][0]
    end_time = float(end)
    panels = []
    for query in queries:
        answer = await prometheus.query_range(query.expr, end_time - 240, end_time, 2)
        panels.append(
            {"dashboard": query.dashboard, "panel": query.panel, "expr": query.expr, "data": answer}
        )
    await asyncio.to_thread(path.write_text, json.dumps(panels))
