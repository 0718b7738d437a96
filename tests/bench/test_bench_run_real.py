"""`python -m bench.run --quick` against the real Kafka and Postgres: the report is written with every
figure, each either measured beside its ceiling or marked missing with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.plan import QUICK
from bench.report import FIGURE_NAMES
from runtime.settings import Settings

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
OWNED_BY_THE_HARNESS = (
    *(f"ingest.{s}" for s in ("intake", "sla", "notify", "survey")),
    "intake.contacts_per_s",
    "intake.p99_ms",
    "intake.shopify.deliveries_per_s",
    "intake.shopify.p99_ms",
    "intake.prefilled.contacts_per_s",
    "intake.prefilled.p99_ms",
    "scale.notify_1_per_s",
    "scale.notify_2_per_s",
    *(f"memory.{s}_mib" for s in ("intake", "sla", "notify", "survey")),
)
"""Figures measured by bench/ itself (not by a service engineer's script): they must have numbers."""


@pytest.mark.timeout(420)
def test_quick_run_writes_every_figure_with_its_ceiling(infra: Settings, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "DATABASE_URL": infra.database_url.get_secret_value(),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    document = json.loads((tmp_path / "latest.json").read_text())
    markdown = (tmp_path / "latest.md").read_text()
    figures = {f["name"]: f for f in document["figures"]}
    assert tuple(figures) == FIGURE_NAMES
    for name in FIGURE_NAMES:
        assert f"`{name}`" in markdown
        figure = figures[name]
        if figure["missing"]:
            assert "missing" in markdown
            assert figure["missing"] in markdown
        else:
            assert figure["value"]["n"] >= 1
            assert figure["value"]["min"] <= figure["value"]["median"] <= figure["value"]["max"]
            if figure["ceiling"] is not None:  # a figure whose spec has no ceiling gets none
                assert figure["ceiling_value"]["median"] is not None, name
            else:
                assert figure["ceiling_value"] is None, name
    for name in OWNED_BY_THE_HARNESS:
        assert not figures[name]["missing"], (name, figures[name]["missing"])
        assert figures[name]["value"]["median"] > 0
        assert figures[name]["ratio"] is not None
        assert figures[name]["ratio"] > 0

    assert document["quick"] is True
    assert document["machine"]["cores"] == os.cpu_count()
    assert document["versions"]["kafka"]
    assert document["versions"]["postgres"]
    assert len(document["git"]["commit"]) == 40
    ingest = document["scenarios"]["ingest"]
    assert ingest["prefill"]["events"] == QUICK.ingest_events
    for runs in ingest["services"].values():
        assert runs["runs"][0]["committed"] > 0
        assert runs["runs"][0]["dead_letters"] == 0
    shopify = document["scenarios"]["intake_shopify"]
    # every signed delivery was a new order the adapter applied: none a duplicate of a wrapped file
    assert set(shopify["outcomes"]) == {"applied"}
    assert shopify["outcomes"]["applied"] >= sum(r["requests"] for r in shopify["shopify"])
    assert [r["wrapped"] for r in shopify["shopify"]] == [0] * QUICK.repeats
    prefill = document["scenarios"]["intake_size"]["prefill"]
    assert prefill["rows"]["tickets"] == QUICK.intake_prefill_tickets
    assert prefill["demo_shop_tickets"] > 0
    for instances, runs in document["scenarios"]["scale"]["runs"].items():
        for run in runs:
            assert run["undelivered"] == 0, (instances, run)
            if instances == "2":  # both processes of the group consumed events and delivered some
                assert [i["successful_attempts"] > 0 for i in run["per_instance"]] == [True, True]
                assert sum(i["successful_attempts"] for i in run["per_instance"]) == run["events"]
    assert "quick smoke run" in markdown
