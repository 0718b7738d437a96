from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client import Counter as PromCounter

from demo.prometheus import OPS_CONFIG, RULES, demo_config
from demo.run import LOCAL_ADMIN_TOKEN, demo_environment, service_logs
from demo.summary import (
    CLEAR_BELOW,
    CLEAR_LINE,
    CLEAR_SCREEN,
    HOME,
    NO_GRAFANA,
    Score,
    Snapshot,
    answers,
    by_label,
    frame,
    parse_metrics,
    render,
    total,
    where_to_look,
)
from tests.support.net import free_port

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


def snapshot(**changes: Any) -> Snapshot:
    figures: dict[str, Any] = {
        "domain_now": NOW,
        "speed": 600,
        "orders_created": 12,
        "order_events": 40,
        "contacts_sent": 7,
        "tickets_by_channel": Counter(email=5, chat=1),
        "unsolved": {"demo": 3, "others": 0},
        "agent": {"replies": 3, "solved": 2, "pending": 1},
        "sla_open_clocks": 6,
        "sla_warnings": 2,
        "sla_breaches_by_metric": Counter(first_response=2),
        "promise_breaches": 1,
        "deliveries": Counter(succeeded=30, dead_lettered=1),
        "failed_attempts": 3,
        "queue_depth": 2,
        "receiver": {"verified": 33, "bad_signature": 0, "answered_500": 3},
        "nps": Score(42.0, 10, 55.0),
        "csat": Score(),
        "customers": {"invited": 12, "answered:nps": 10, "unhappy": 2},
        "links": {"tickets": "http://127.0.0.1:8001/v1/tickets"},
    }
    return Snapshot(**(figures | changes))


def test_the_summary_shows_every_figure_and_where_to_look() -> None:
    text = render(snapshot())
    assert "12 created, 40 journey events" in text
    assert "6 created this run: email 5  chat 1  web_form 0  phone 0  social 0" in text
    assert "the demo's: 3 open or pending · agents: 3 replies, 1 set pending, 2 solved" in text
    assert "not the demo's" not in text  # nobody else's tickets: no line about them
    assert "2 breached (first_response 2)" in text
    assert "30 delivered, 1 dead-lettered, 3 failed attempts retried" in text
    assert "33 signatures verified (standardwebhooks), 0 failed, 3 answered 500" in text
    assert "NPS +42  (10 answers, 55% responded)" in text
    assert "CSAT —  (0 answers)" in text
    assert "12 invited, 10 answered (NPS 10, CSAT 0, CES 0), 2 unhappy" in text
    assert "http://127.0.0.1:8001/v1/tickets" in text
    assert "unreachable" not in text
    assert "unreachable sla" in render(snapshot(unreachable=["sla"]))


def test_the_summary_says_what_persists() -> None:
    fresh = render(snapshot())
    assert "this run's only: earlier runs' deleted at start (DEMO_KEEP_DATA=1 keeps them)" in fresh
    assert "include earlier runs" not in fresh
    kept = render(snapshot(kept_data=True))
    assert "earlier runs' kept (DEMO_KEEP_DATA=1): open tickets, clocks, reports include them" in kept
    assert "NPS +42  (10 answers, 55% responded) · CSAT —  (0 answers) (reports include earlier runs)" in kept


def test_tickets_the_demo_does_not_work_are_counted_apart_from_this_runs() -> None:
    """The first summary of the issue: "2 created · 10 open" (9 of them from earlier runs), agents
    "40 solved against 27 created" (earlier runs' tickets and re-solved ones)."""
    text = render(
        snapshot(
            tickets_by_channel=Counter(email=2),
            unsolved={"demo": 1, "others": 9},
            agent={"replies": 2, "solved": 1, "solved_again": 1},
            customers={"invited": 3, "answered:csat": 1, "not_ours": 2},
        )
    )
    assert "2 created this run" in text
    # a ticket solved, reopened by its customer and solved again counts once
    assert "the demo's: 1 open or pending · agents: 2 replies, 0 set pending, 1 solved\n" in text
    assert "not the demo's (created by hand): 9 open or pending, left alone" in text
    assert "10 open" not in text
    assert "2 invitations for somebody else's tickets, left alone" in text
    kept = render(snapshot(kept_data=True, unsolved={"demo": 0, "others": 9}))
    assert "not the demo's (yours or earlier runs'): 9 open or pending, left alone" in kept


def number(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found is not None, (pattern, text)
    return int(found.group(1))


@given(
    demo_created=st.integers(0, 300),
    by_hand=st.integers(0, 50),
    earlier=st.integers(0, 500),
    kept=st.booleans(),
    data=st.data(),
)
def test_the_ticket_and_survey_counts_never_contradict_each_other(
    demo_created: int, by_hand: int, earlier: int, kept: bool, data: st.DataObject
) -> None:
    """A run as the sources see it: intake counts what it created this run (the demo's and by hand);
    the agents see the demo's open ones (all of this run) apart from everybody else's (by hand, and
    earlier runs' when kept); each ticket is solved once at most, maybe again after a reopen."""
    demo_open = data.draw(st.integers(0, demo_created))
    solved = data.draw(st.integers(0, demo_created))
    others = data.draw(st.integers(0, by_hand + (earlier if kept else 0)))
    invited = data.draw(st.integers(0, demo_created + 100))
    answered = [data.draw(st.integers(0, invited)) for _ in range(3)]
    answered = [a * invited // max(1, sum(answered)) for a in answered]
    text = render(
        snapshot(
            kept_data=kept,
            tickets_by_channel=Counter(email=demo_created, web_form=by_hand),
            unsolved={"demo": demo_open, "others": others},
            agent={"replies": solved, "solved": solved, "solved_again": data.draw(st.integers(0, 5))},
            customers={"invited": invited}
            | {f"answered:{k}": a for k, a in zip(("nps", "csat", "ces"), answered, strict=True)},
        )
    )
    created = number(r"(\d+) created this run", text)
    assert number(r"the demo's: (\d+) open", text) <= created
    assert number(r"(\d+) solved", text) <= created
    assert number(r"(\d+) answered \(", text) <= number(r"(\d+) invited", text)
    assert number(r"(\d+) answered \(", text) == sum(
        number(rf"{kind} (\d+)[,)]", text) for kind in ("NPS", "CSAT", "CES")
    )
    if others:
        assert f"not the demo's ({'yours or earlier runs' if kept else 'created by hand'}" in text


def test_in_a_terminal_the_summary_redraws_in_place_without_scrolling() -> None:
    text = render(snapshot())
    lines = text.splitlines()
    first, later = frame(text, in_place=True, first=True), frame(text, in_place=True, first=False)
    assert first.startswith(CLEAR_SCREEN + HOME)
    assert later.startswith(HOME)
    assert CLEAR_SCREEN not in later  # a full clear pushes each summary into the scrollback
    # every line overwrites the previous summary's and clears what is left of it; the end clears below
    assert later == HOME + "\n".join(line + CLEAR_LINE for line in lines) + CLEAR_BELOW + "\n"
    # as many line feeds as lines: the next frame, from the top left again, covers this one exactly
    assert later.count("\n") == len(lines)
    # piped or in a file: appended, one block after another
    assert frame(text, in_place=False, first=True) == "\n" + text


URLS = {n: f"http://127.0.0.1:800{i}" for i, n in enumerate(("intake", "sla", "notify", "survey"), start=1)}


def test_only_addresses_that_answer_are_shown_as_places_to_look() -> None:
    def look(**kwargs: Any) -> dict[str, str]:
        return where_to_look(URLS, "ep_1", "http://127.0.0.1:8009", **kwargs)

    answering = look(prometheus="http://127.0.0.1:9090", prometheus_answers=True, grafana=None)
    assert answering["prometheus"] == "http://127.0.0.1:9090"
    assert answering["workspace"].startswith(
        "http://127.0.0.1:8001/workspace/  (sign in with an agent's token"
    )
    assert answering["webhooks"] == "http://127.0.0.1:8003/v1/endpoints/ep_1/deliveries"
    assert answering["receiver"] == "http://127.0.0.1:8009/stats"
    assert answering["metrics"] == "http://127.0.0.1:8001/metrics  (also on :8002, :8003, :8004)"
    # no Grafana runs locally: how to get one instead of an address that answers nothing
    assert answering["dashboards"] == NO_GRAFANA
    assert "http" not in NO_GRAFANA
    assert "deploy/compose/compose.yml" in NO_GRAFANA
    silent = look(prometheus="http://127.0.0.1:9090", prometheus_answers=False, grafana="http://g:3000")
    assert silent["prometheus"].startswith("http://127.0.0.1:9090 does not answer")
    assert silent["dashboards"] == "http://g:3000  (Grafana)"
    missing = look(
        prometheus="not installed (bash deploy/local/prometheus.sh ...)",
        prometheus_answers=False,
        grafana=None,
    )
    assert missing["prometheus"] == "not installed (bash deploy/local/prometheus.sh ...)"


async def test_an_address_answers_if_anything_answers_there() -> None:
    async def http_404(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http_404, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, httpx.AsyncClient() as client:
        assert await answers(client, f"http://127.0.0.1:{port}/api/health")
        assert not await answers(client, f"http://127.0.0.1:{free_port()}/api/health")


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
    # the operator API gets the local-only token unless the caller set one
    assert env["CARELOOP_ADMIN_TOKEN"] == LOCAL_ADMIN_TOKEN
    chosen = demo_environment({"CARELOOP_ADMIN_TOKEN": "mine"}, NOW, tty=False)
    assert chosen["CARELOOP_ADMIN_TOKEN"] == "mine"


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
