"""The Prometheus config and rules: promtool's own checks and unit tests, and our conventions on top."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ops.support import (
    PROMETHEUS_DIR,
    RULE_TESTS_DIR,
    alerting_rules,
    load_yaml,
    recording_rules,
    rule_files,
    run_promtool,
)

SEVERITIES = {"critical", "warning", "info"}


def test_promtool_accepts_the_config() -> None:
    result = run_promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_every_rule_file() -> None:
    files = rule_files()
    assert len(files) >= 1
    result = run_promtool("check", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    test_files = sorted(RULE_TESTS_DIR.glob("*.yml"))
    assert test_files
    result = run_promtool("test", "rules", *(p.name for p in test_files), cwd=RULE_TESTS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(test_files), result.stdout


def test_the_unit_tests_load_every_rule_file() -> None:
    loaded = set()
    for path in RULE_TESTS_DIR.glob("*.yml"):
        loaded |= {(RULE_TESTS_DIR / f).resolve() for f in load_yaml(path)["rule_files"]}
    assert loaded == {p.resolve() for p in rule_files()}


def _alert_cases() -> dict[str, list[list[Any]]]:
    """alertname → the exp_alerts lists the unit tests check it against."""
    cases: dict[str, list[list[Any]]] = {}
    for path in RULE_TESTS_DIR.glob("*.yml"):
        for test in load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.setdefault(case["alertname"], []).append(case.get("exp_alerts") or [])
    return cases


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda r: r["alert"])
def test_every_alert_is_tested_firing_and_not_firing(rule: dict[str, Any]) -> None:
    cases = _alert_cases().get(rule["alert"], [])
    assert any(expected == [] for expected in cases), f"{rule['alert']}: no case where it stays silent"
    assert any(expected != [] for expected in cases), f"{rule['alert']}: no case where it fires"


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda r: r["alert"])
def test_every_alert_has_severity_summary_and_a_runbook_in_the_operations_guide(rule: dict[str, Any]) -> None:
    assert rule["alert"].startswith("CareLoop")
    assert rule.get("labels", {}).get("severity") in SEVERITIES
    annotations = rule.get("annotations", {})
    assert annotations.get("summary")
    runbook = annotations.get("runbook", "")
    anchor = f"docs/operations.md#{rule['alert'].lower()}"
    assert anchor in runbook, f"runbook line must point at {anchor}"
    guide = (PROMETHEUS_DIR.parents[1] / "docs" / "operations.md").read_text()
    assert f"### {rule['alert']}" in guide, f"docs/operations.md does not explain {rule['alert']}"


def test_recording_rules_follow_the_level_metric_operations_convention() -> None:
    for name in recording_rules():
        level, _, rest = name.partition(":")
        assert level == "careloop", name
        assert rest.count(":") == 1, name
