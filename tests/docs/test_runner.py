"""The runner with real bash and curl against a local HTTP server (no CareLoop): statuses are read
from the requests actually made, a wrong one or an early stop is reported at its document line, and
nothing but the stack's ports is ever called."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.docs.runner import run_examples
from tests.support.net import free_port


class Answers(BaseHTTPRequestHandler):
    """Answers the status named by the path's first part (`/201/…` → 201), and counts the requests."""

    requests: list[str] = []

    def _answer(self) -> None:
        Answers.requests.append(f"{self.command} {self.path}")
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        status = int(self.path.split("/")[1])
        body = b'{"id": "x1"}'
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    Answers.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Answers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def ports(intake: int) -> dict[str, int]:
    return {"intake": intake, "sla": free_port(), "notify": free_port(), "survey": free_port()}


def md(*lines: str) -> str:
    return "\n".join(["```bash", *lines, "```"]) + "\n"


async def test_documented_statuses_pass(server: int, tmp_path: Path) -> None:
    text = md(
        "BASE=http://127.0.0.1:8001",
        "ID=$(curl -s -X POST $BASE/201/things -d '{",
        '  "name": "# 500 inside a body"',
        "}' | jq -r .id)",
        "# 201 created",
        'curl -s "$BASE/200/things/$ID" | jq . > /dev/null   # 200',
        "curl -s $BASE/200/a | curl -s -X PUT $BASE/200/b -d @- > /dev/null",
        "# 200",
    )
    run = await run_examples("doc.md", "Intro\n\n" + text, ports(server), tmp_path, 30)
    assert run.problems == []
    assert run.checked == 3
    assert Answers.requests[:2] == ["POST /201/things", "GET /200/things/x1"]
    assert sorted(Answers.requests[2:]) == ["GET /200/a", "PUT /200/b"]


async def test_a_wrong_status_and_an_early_stop_name_their_lines(server: int, tmp_path: Path) -> None:
    text = md(
        "curl -s http://127.0.0.1:8001/404/missing   # 200",
        "curl -s http://127.0.0.1:8001/200/$UNSET   # 200",
        "curl -s http://127.0.0.1:8001/200/never   # 200",
    )
    run = await run_examples("doc.md", text, ports(server), tmp_path, 30)
    assert run.problems[:2] == [
        "doc.md:2: documented 200, got 404 GET http://127.0.0.1:" + str(server) + "/404/missing",
        "the examples stopped with exit code 1 after doc.md:2",
    ]
    assert "doc.md:3: UNSET: unbound variable" in run.problems[2]
    assert Answers.requests == ["GET /404/missing"]


async def test_nothing_but_the_stack_is_called(server: int, tmp_path: Path) -> None:
    text = md(
        "curl -s https://example.com/   # 200",
    )
    run = await run_examples("doc.md", text, ports(server), tmp_path, 30)
    assert "curl to https://example.com/: the examples may only call the local services" in run.problems
    other = md(f"curl -s http://127.0.0.1:{server}/200/direct   # 200")  # not one of the stack's ports
    run = await run_examples("doc.md", other, ports(free_port()), tmp_path, 30)
    assert any("may only call the local services" in p for p in run.problems)
    assert Answers.requests == []


async def test_a_failing_command_is_named(server: int, tmp_path: Path) -> None:
    text = md("curl -s http://127.0.0.1:8001/200/x | jq -e .missing   # 200", "echo never")
    run = await run_examples("doc.md", text, ports(server), tmp_path, 30)
    assert run.problems[:2] == [
        "doc.md:2: the command exited 1",
        "no status comment checked this request: 200 GET http://127.0.0.1:" + str(server) + "/200/x",
    ]


async def test_a_run_that_hangs_is_stopped(tmp_path: Path) -> None:
    text = md("sleep 30", "curl -s http://127.0.0.1:8001/200/x   # 200")
    run = await run_examples("doc.md", text, ports(free_port()), tmp_path, 1)
    assert run.checked == 0
    assert "did not finish within 1 s" in run.problems[0]
