"""The provisioned Grafana dashboards: generated from code, wired to the provisioned datasource, and
every query valid PromQL for the real Prometheus (with the recording rules loaded)."""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from tests.ops.support import (
    DASHBOARDS_DIR,
    GRAFANA_DIR,
    base_metric_names,
    dashboard_files,
    load_yaml,
    local_config,
    metric_names,
    panel_queries,
    recording_rules,
    running_prometheus,
)

EXPECTED_DASHBOARDS = {
    "careloop-care-overview",
    "careloop-sla",
    "careloop-webhooks",
    "careloop-satisfaction",
    "careloop-platform",
}


@pytest.fixture(scope="module")
def generator() -> Iterator[ModuleType]:
    sys.path.insert(0, str(GRAFANA_DIR))
    try:
        yield importlib.import_module("generate")
    finally:
        sys.path.remove(str(GRAFANA_DIR))


def test_committed_dashboards_are_what_the_generator_renders(generator: ModuleType) -> None:
    rendered: dict[str, str] = generator.rendered()
    committed = {p.name: p.read_text() for p in dashboard_files()}
    assert set(committed) == set(rendered), "run: python deploy/grafana/generate.py"
    for name, text in rendered.items():
        assert committed[name] == text, f"{name} is stale: run python deploy/grafana/generate.py"


def test_the_expected_dashboards_exist_with_unique_uids_and_panel_ids() -> None:
    uids = []
    for path in dashboard_files():
        dashboard = json.loads(path.read_text())
        uids.append(dashboard["uid"])
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), path.name
        assert all(p["targets"] for p in dashboard["panels"]), f"{path.name}: a panel without a query"
    assert set(uids) == EXPECTED_DASHBOARDS


def test_every_panel_uses_the_provisioned_datasource() -> None:
    provisioned = load_yaml(GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml")
    uid = provisioned["datasources"][0]["uid"]
    for path in dashboard_files():
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["datasource"]["uid"] == uid, f"{path.name}: {panel['title']}"
            assert all(t["datasource"]["uid"] == uid for t in panel["targets"])


def test_the_dashboard_provider_points_at_where_compose_mounts_the_json() -> None:
    provider = load_yaml(GRAFANA_DIR / "provisioning" / "dashboards" / "careloop.yml")["providers"][0]
    compose = load_yaml(GRAFANA_DIR.parent / "compose" / "compose.yml")
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"../grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert DASHBOARDS_DIR.is_dir()


def test_metric_names_sees_through_functions_labels_and_grouping() -> None:
    expr = (
        'histogram_quantile(0.9, sum by (le, channel) (rate(careloop_x_seconds_bucket{a="b or c"}[5m])))'
        " / on (channel) group_left careloop:y:rate5m offset 1h or vector(0) and up{job='careloop'}"
    )
    assert metric_names(expr) == {"careloop_x_seconds_bucket", "careloop:y:rate5m", "up"}
    recorded = {"careloop:y:rate5m": "sum(rate(careloop_y_total[5m]))"}
    assert base_metric_names(expr, recorded) == {"careloop_x_seconds_bucket", "careloop_y_total", "up"}


def test_every_recording_rule_a_panel_reads_exists() -> None:
    recorded = recording_rules()
    for query in panel_queries():
        for name in metric_names(query.expr):
            if ":" in name:
                assert name in recorded, f"{query}: no recording rule {name}"


async def test_every_panel_query_and_rule_is_valid_promql_for_the_real_prometheus() -> None:
    queries = panel_queries()
    assert queries
    async with running_prometheus(local_config({})) as prometheus:
        for query in queries:
            answer = await prometheus.query(query.expr)
            assert answer["status"] == "success", f"{query}: {answer.get('error')}"
        # the rule files loaded, and each rule evaluates without error
        groups = await prometheus.rule_groups()
        loaded = {rule["name"] for group in groups for rule in group["rules"]}
        assert set(recording_rules()) <= loaded
        for group in groups:
            for rule in group["rules"]:
                assert rule.get("health") in {"ok", "unknown"}, f"{rule['name']}: {rule.get('lastError')}"


def test_the_rendered_key_panels_exist_on_the_dashboards(generator: ModuleType) -> None:
    renderer = importlib.import_module("render_snapshot")
    panels = {(q.dashboard, q.panel) for q in panel_queries()}
    assert set(renderer.KEY_PANELS) <= panels
    assert (GRAFANA_DIR.parents[1] / "docs" / "img" / "dashboards.png").is_file()


PER_SHOP_DASHBOARDS = {"careloop-care-overview", "careloop-sla", "careloop-webhooks", "careloop-satisfaction"}


def _base(name: str) -> str:
    for suffix in ("_total", "_bucket", "_sum", "_count"):
        name = name.removesuffix(suffix)
    return name


def shop_labelled_names() -> set[str]:
    """The services' series that carry a shop, and the recording rules that keep it (directly, or by
    reading such a rule)."""
    names = set()
    for service in ("intake", "sla", "notify", "survey"):
        module = importlib.import_module(f"services.{service}.metrics")
        for value in vars(module).values():
            if "shop" in getattr(value, "_labelnames", ()):
                names.add(value._name)
    recorded = recording_rules()
    kept = {n for n, expr in recorded.items() if re.search(r"\bby \([^)]*\bshop\b", expr)}
    while more := {n for n, e in recorded.items() if n not in kept and metric_names(e) & kept}:
        kept |= more
    return names | kept


def test_the_per_shop_dashboards_have_a_shop_selector_and_filter_every_shop_series_by_it() -> None:
    shop_series = shop_labelled_names()
    assert {"careloop_sla_breaches", "careloop_notify_attempts", "careloop:sla_breach:ratio1h"} <= shop_series
    dashboards = {json.loads(p.read_text())["uid"]: json.loads(p.read_text()) for p in dashboard_files()}
    for uid in PER_SHOP_DASHBOARDS:
        [variable] = dashboards[uid]["templating"]["list"]
        assert (variable["name"], variable["type"], variable["query"]["query"]) == (
            "shop",
            "query",
            "label_values(shop)",
        )
        assert (variable["multi"], variable["includeAll"], variable["allValue"]) == (True, True, ".*")
    assert dashboards["careloop-platform"]["templating"]["list"] == []
    filtered = 0
    for query in panel_queries(as_templates=True):
        reads_a_shops_series = any(_base(n) in shop_series for n in metric_names(query.expr))
        if query.dashboard == "CareLoop / Platform" or not reads_a_shops_series:
            continue
        assert 'shop=~"$shop"' in query.expr, f"{query}: a shop's series not filtered by the selector"
        filtered += 1
    assert filtered >= 25
