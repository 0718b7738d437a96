from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client import Counter as PromCounter

from demo.prometheus import OPS_CONFIG, RULES, demo_config
from demo.run import demo_environment, service_logs
from demo.summary import Score, Snapshot, by_label, parse_metrics, render, total

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def exposition() -> str:
    registry = CollectorRegistry()
    created = PromCounter(
        "careloop_intake_tickets_created_total", "t", ["channel", "category"], registry=registry
    )
    created.labels("email", "delivery").inc(3)
    created.labels("email", "returns").inc(2)
    created.labels("chat", "delivery").inc(1)
    Gauge("careloop_intake_open_tickets", "o", ["shop", "status"], registry=registry).labels("s", "open").set(
        4
    )
    PromCounter("careloop_sla_breaches_total", "b", ["metric"], registry=registry).labels(
        "first_response"
    ).inc(2)
    return generate_latest(registry).decode()


def test_metrics_are_read_per_service_and_summed_over_other_labels() -> None:
    samples = parse_metrics(exposition(), "careloop_intake_")
    assert by_label(samples, "careloop_intake_tickets_created_total", "channel") == Counter(email=5, chat=1)
    assert total(samples, "careloop_intake_open_tickets") == 4
    assert total(samples, "careloop_intake_tickets_created_total", channel="chat") == 1
    # another service's families are not this service's
    assert total(samples, "careloop_sla_breaches_total") == 0


def test_the_summary_shows_every_figure_and_where_to_look() -> None:
    snapshot = Snapshot(
        domain_now=NOW,
        speed=600,
        orders_created=12,
        order_events=40,
        contacts_sent=7,
        tickets_by_channel=Counter(email=5, chat=1),
        open_tickets=4,
        agent={"replies": 3, "solved": 2, "pending": 1},
        sla_open_clocks=6,
        sla_warnings=2,
        sla_breaches_by_metric=Counter(first_response=2),
        promise_breaches=1,
        deliveries=Counter(succeeded=30, dead_lettered=1),
        failed_attempts=3,
        queue_depth=2,
        receiver={"verified": 33, "bad_signature": 0, "answered_500": 3},
        nps=Score(42.0, 10, 55.0),
        csat=Score(),
        customers={"invited": 12, "answered:nps": 10, "unhappy": 2},
        links={"tickets": "http://127.0.0.1:8001/v1/tickets"},
    )
    text = render(snapshot)
    assert "12 created, 40 journey events" in text
    assert "6 created: email 5  chat 1  web_form 0  phone 0  social 0" in text
    assert "4 open · agents: 3 replies, 1 set pending, 2 solved" in text
    assert "2 breached (first_response 2)" in text
    assert "30 delivered, 1 dead-lettered, 3 failed attempts retried" in text
    assert "33 signatures verified (standardwebhooks), 0 failed, 3 answered 500" in text
    assert "NPS +42  (10 answers, 55% responded)" in text
    assert "CSAT —  (0 answers)" in text
    assert "12 invited, 10 answered, 2 unhappy" in text
    assert "http://127.0.0.1:8001/v1/tickets" in text
    assert "unreachable" not in text
    snapshot.unreachable = ["sla"]
    assert "unreachable sla" in render(snapshot)


def test_the_demo_environment_shares_accelerated_time_and_allows_the_loopback_receiver() -> None:
    env = demo_environment({"DEMO_SPEED": "600"}, NOW, tty=True)
    assert env["CARELOOP_TIME_FACTOR"] == "600"
    assert env["CARELOOP_TIME_ORIGIN"] == NOW.isoformat()
    assert env["NOTIFY_ALLOW_LOOPBACK"] == "true"
    assert env["DEMO_SUMMARY_CLEAR_SCREEN"] == "true"
    real_time = demo_environment({"DEMO_SPEED": "1"}, NOW, tty=False)
    assert "CARELOOP_TIME_FACTOR" not in real_time
    assert "CARELOOP_TIME_ORIGIN" not in real_time
    assert real_time["DEMO_SUMMARY_CLEAR_SCREEN"] == "false"
    # an origin given by the caller is kept, so processes started apart still agree
    assert (
        demo_environment({"CARELOOP_TIME_ORIGIN": "2026-01-01T00:00:00+00:00"}, NOW, tty=False)[
            "CARELOOP_TIME_ORIGIN"
        ]
        == "2026-01-01T00:00:00+00:00"
    )
    assert service_logs({}) is not None
    assert service_logs({"DEMO_SERVICE_LOGS": "terminal"}) is None


def test_the_demo_prometheus_config_is_the_ops_config_with_make_runs_targets(tmp_path: Path) -> None:
    services = {"intake": "127.0.0.1:23451", "survey": "127.0.0.1:23454"}
    config = demo_config(services, "127.0.0.1:8009", "127.0.0.1:9191")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["careloop"]["static_configs"] == [
        {"targets": ["127.0.0.1:23451"], "labels": {"app": "intake"}},
        {"targets": ["127.0.0.1:23454"], "labels": {"app": "survey"}},
    ]
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["127.0.0.1:9191"]}]
    assert jobs["careloop-demo"]["static_configs"][0]["targets"] == ["127.0.0.1:8009"]
    assert config["rule_files"] == [str(RULES)]
    # the rules and dashboards rely on the ops file's job and label names: they are kept as they are
    ops = yaml.safe_load(OPS_CONFIG.read_text())
    assert config["global"] == ops["global"]
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool missing: bash deploy/local/prometheus.sh"
    checked = subprocess.run([promtool, "check", "config", str(config_file)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
