"""The HTTP and webhook load plumbing without infrastructure: wrk's output parsed into figures, the
receiver's log read as it grows, and the report's load-CPU column."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.common import summarize
from bench.receiver import ReceiverLog, parse_log_line
from bench.report import FIGURE_NAMES, LoadCpu, Report, readme_section
from bench.wrk import SCRIPT, Load, WrkUnavailable, parse_wrk_output, wrk_command

WRK_STDOUT = """Running 5s test @ http://127.0.0.1:41234
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.86ms  512.00us  7.66ms   88.12%
    Req/Sec     8.67k   301.15     9.02k    72.00%
  43120 requests in 5.00s, 9.12MB read
  Non-2xx or 3xx responses: 20
Requests/sec:   8621.30
Transfer/sec:      1.82MB
WRK_JSON {"requests":43120,"duration_us":5001544,"bytes":9563000,"errors":{"connect":0,"read":2,\
"write":0,"status":20,"timeout":1},"latency_us":{"min":410,"mean":1857.2,"p50":1706,"p90":2101,\
"p99":3484,"max":7656}}
"""


def test_wrk_output_gives_rates_over_its_own_duration_and_latency_in_ms() -> None:
    figures = parse_wrk_output(WRK_STDOUT)
    assert figures["requests"] == 43120
    assert figures["status_400_or_more"] == 20
    assert figures["ok"] == 43100
    assert figures["errors"] == 3
    assert figures["socket_errors"] == {"connect": 0, "read": 2, "write": 0, "timeout": 1}
    assert figures["elapsed_seconds"] == 5.002
    assert figures["requests_per_second"] == round(43120 / 5.001544, 1)
    assert figures["ok_per_second"] == round(43100 / 5.001544, 1)
    assert figures["latency_ms"] == {"p50": 1.706, "p90": 2.101, "p99": 3.484, "max": 7.656, "mean": 1.857}


def test_the_last_done_line_counts_and_output_without_one_is_an_error() -> None:
    warmup = WRK_STDOUT.replace('"requests":43120', '"requests":7')
    assert parse_wrk_output(warmup + WRK_STDOUT)["requests"] == 43120
    with pytest.raises(WrkUnavailable, match="no WRK_JSON line"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_the_wrk_command_names_the_script_its_mode_and_a_whole_second_duration(tmp_path: Path) -> None:
    contacts = wrk_command("http://127.0.0.1:9", Load("contacts", 16, 8.0, threads=2), 8.0, "tag1")
    assert contacts[:5] == ["wrk", "--threads=2", "--connections=16", "--duration=8s", "--timeout=10s"]
    assert contacts[5] == f"--script={SCRIPT}"
    assert contacts[6:9] == ["http://127.0.0.1:9", "--", "contacts"]
    assert contacts[9:11] == ["tag1", "2"]
    tokens = Load("tokens", 4, 0.3, token_file=tmp_path / "t")
    assert wrk_command("http://x", tokens, 0.3, "t")[3] == "--duration=1s"
    assert wrk_command("http://x", tokens, 0.3, "t")[-3:] == ["tokens", str(tmp_path / "t"), "1"]
    with pytest.raises(ValueError, match="token file"):
        Load("tokens", 4, 1.0).script_args("t")
    assert SCRIPT.exists()


def test_receiver_log_lines_keep_each_webhook_ids_first_arrival(tmp_path: Path) -> None:
    arrival = parse_log_line("1796544986126616293 msg_1 2026-12-06T08:00:00.5Z")
    assert arrival.webhook_id == "msg_1"
    assert arrival.arrived == pytest.approx(1796544986.126616293)
    assert arrival.event_time == pytest.approx(1796544000.5)
    assert parse_log_line("1 - -").event_time is None

    path = tmp_path / "arrivals.log"
    log = ReceiverLog(path)
    path.write_bytes(
        b"1796544000600000000 a 2026-12-06T08:00:00Z\n"
        b"1796544000700000000 b 2026-12-06T08:00:00Z\n"
        b"1796544000800000000 a 2026-12-06T08:00:00Z\n"
        b"1796544000900000000 c 2026-12-06T0"  # the receiver is still writing this one
    )
    log.read_new()
    assert log.requests == 3
    arrived, event_time = log.first_seen["a"]
    assert arrived == pytest.approx(1796544000.6)
    assert event_time == 1796544000.0
    assert set(log.first_seen) == {"a", "b"}
    with path.open("ab") as more:
        more.write(b"8:00:00Z\n1796544001000000000 d -\n")
    log.read_new()
    assert log.requests == 5
    assert set(log.first_seen) == {"a", "b", "c"}
    assert log.without_time == 1


def test_the_report_shows_the_load_tools_cpu_beside_the_figure_and_its_ceiling() -> None:
    report = Report()
    report.facts = {"machine": {"cores": 2}, "versions": {}, "git": {"commit": "abc"}, "argv": []}
    report.set(
        "intake.contacts_per_s",
        summarize([500.0, 540.0, 560.0]),
        summarize([8600.0]),
        target_met=False,
        load_cpu=LoadCpu("wrk", 0.021, 0.159),
    )
    report.set(
        "e2e.1000.p99_ms", summarize([120.0]), summarize([40.0]), load_cpu=LoadCpu("receiver", 0.01, None)
    )
    report.mark_missing(list(FIGURE_NAMES), "scenario not run")
    markdown = report.markdown()
    row = next(line for line in markdown.splitlines() if "`intake.contacts_per_s`" in line)
    assert row.endswith(
        "| 540 | 560 | 8,600 | 0.063 | >= 0.3 of the constant route | **no** | wrk 0.021 / 0.159 |"
    )
    row = next(line for line in markdown.splitlines() if "`e2e.1000.p99_ms`" in line)
    assert row.endswith("| receiver 0.01 / - |")
    missing = next(line for line in markdown.splitlines() if "`survey.requests_per_s`" in line)
    assert missing.endswith("| **missing** | - | - | - | >= 0.6 of the constant page | - |  |")

    document = report.to_json()
    figure = next(f for f in document["figures"] if f["name"] == "intake.contacts_per_s")
    assert figure["load_cpu"] == {"tool": "wrk", "value": 0.021, "ceiling": 0.159}
    readme = readme_section(document)
    assert "| load CPU (cores) |" in readme
    assert "| wrk 0.021 / 0.159 |" in readme
