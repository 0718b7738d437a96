"""Every metric a rule or dashboard panel reads is exported by the running services (a panel reading a
name nobody exports can never show anything), and the exported names follow Prometheus conventions."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack

import pytest

from runtime.settings import Settings
from services import SERVICE_NAMES
from tests.ops.support import (
    all_rules,
    base_metric_names,
    exported_names,
    is_exported,
    panel_queries,
    recording_rules,
)
from tests.support.stack import http_client, isolated_infra, running_service

pytestmark = pytest.mark.kafka

UNIT_SUFFIXES = ("_seconds", "_bytes", "_records", "_percent", "_ratio")
UNBOUNDED_LABELS = {"ticket_id", "order_id", "customer", "email", "url", "endpoint_id", "survey_id", "token"}


@pytest.fixture(scope="module")
async def exposition(base_settings: Settings) -> str:
    """/metrics of the four services started together (each process exports its runtime's and its own).
    Read and stopped within the fixture: only the text outlives it."""
    pages = []
    async with isolated_infra(base_settings) as settings, AsyncExitStack() as stack:
        for name in SERVICE_NAMES:
            app = await stack.enter_async_context(running_service(settings, name))
            async with http_client(app) as client:
                response = await client.get("/metrics")
                assert response.status_code == 200
                pages.append(response.text)
    return "\n".join(pages)


async def test_every_metric_a_rule_or_panel_reads_is_exported(exposition: str) -> None:
    families = exported_names(exposition)
    recorded = recording_rules()
    readers = [(f"rule {r.get('record') or r.get('alert')}", r["expr"]) for r in all_rules()]
    readers += [(str(q), q.expr) for q in panel_queries()]
    missing = []
    for who, expr in readers:
        for name in sorted(base_metric_names(expr, recorded)):
            if not is_exported(name, families):
                missing.append(f"{name} (read by {who})")
    assert missing == []


async def test_careloop_metrics_follow_the_naming_conventions(exposition: str) -> None:
    families = exported_names(exposition)
    ours = {name: kind for name, kind in families.items() if name.startswith("careloop_")}
    assert len(ours) > 10
    for name, kind in ours.items():
        assert re.fullmatch(r"careloop_[a-z0-9_]+", name), name
        if kind == "counter":
            assert name.endswith("_total"), f"counter {name} must end in _total"
        else:
            assert not name.endswith("_total"), f"{kind} {name} must not end in _total"
        if kind == "histogram":
            assert name.endswith(UNIT_SUFFIXES), f"histogram {name} needs a base unit suffix"
        not_base_unit = re.search(r"_(milliseconds|ms|minutes|hours|kilobytes|mb)(_|$)", name)
        assert not not_base_unit, f"{name}: not a base unit"


async def test_no_metric_is_labelled_by_an_unbounded_identifier(exposition: str) -> None:
    labels = set(re.findall(r"[{,]([a-zA-Z_][a-zA-Z0-9_]*)=", exposition))
    assert labels & UNBOUNDED_LABELS == set()
