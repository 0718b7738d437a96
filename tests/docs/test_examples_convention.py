"""The docs' curl examples follow the convention the examples test runs them by (no servers needed:
a missing status fails here, in `make unit`), and the parser reads bash as bash does."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.examples import (
    ConventionError,
    Line,
    Script,
    documents,
    examples_of,
    lex,
    problems_in_log,
    rewrite_ports,
    script_for,
)
from tests.ops.support import REPO

PORTS = {"intake": 18001, "sla": 18002, "notify": 18003, "survey": 18004}


def md(*lines: str) -> str:
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("path", documents(REPO), ids=lambda p: p.name)
def test_every_document_follows_the_convention(path: Path) -> None:
    examples_of(str(path.relative_to(REPO)), path.read_text())  # raises ConventionError


def test_the_documents_with_api_examples_have_them() -> None:
    found = {p.name for p in documents(REPO) if examples_of(p.name, p.read_text())}
    assert found >= {"README.md", "intake.md", "sla.md", "notify.md", "survey.md"}


def test_status_on_the_next_line_or_at_the_end_of_the_command() -> None:
    text = md(
        "```bash",
        'curl -s -X POST $BASE/v1/contacts -H "$AUTH" -d \'{',
        '  "body": "# 500 is not a comment in a body"',
        "}'",
        '# 201 {"outcome": "created"}',
        'curl -s $BASE/v1/tickets -H "$AUTH"   # 200 the list',
        "```",
    )
    (example,) = examples_of("doc.md", text)
    assert example.checks == {5: 201, 6: 200}


def test_prose_comments_are_not_statuses() -> None:
    text = md("```bash", "# remember the id", 'curl -s "$BASE/x" | jq .id', "# 200", "```")
    (example,) = examples_of("doc.md", text)
    assert example.checks == {4: 200}


def test_a_curl_without_a_status_is_refused() -> None:
    with pytest.raises(ConventionError, match="no status comment"):
        examples_of("doc.md", md("```bash", "curl -s $BASE/a  # 200", "curl -s $BASE/b", "```"))


def test_a_status_without_a_curl_is_refused() -> None:
    with pytest.raises(ConventionError, match="follows no curl"):
        examples_of("doc.md", md("```sh", "curl -s $BASE/a", "# 200", "# 404", "```"))


def test_a_status_inside_an_unfinished_command_is_refused() -> None:
    with pytest.raises(ConventionError, match="unfinished"):
        examples_of("doc.md", md("```bash", "curl -s $BASE/a |  # 200", "  jq .", "```"))


def test_variable_blocks_run_other_blocks_do_not() -> None:
    text = md(
        "```bash",
        "KEY=secret",
        'AUTH="Authorization: Bearer $KEY"',
        "```",
        "```bash",
        "make run    # 200 is not checked here: no curl",
        "```",
        "```bash",
        "KAFKA_BOOTSTRAP_SERVERS=k:9092 \\",
        "  make run",
        "```",
        "```python",
        "curl = 1",
        "```",
        "```bash",
        'curl -s $BASE/a -H "$AUTH"  # 200',
        "```",
    )
    assert [e.block.lines[0].text for e in examples_of("doc.md", text)] == [
        "KEY=secret",
        'curl -s $BASE/a -H "$AUTH"  # 200',
    ]


def test_a_document_without_curl_examples_runs_nothing() -> None:
    assert examples_of("doc.md", md("```bash", "BASE=http://127.0.0.1:8001", "```")) == []


def test_lexing_keeps_quotes_across_lines() -> None:
    lines = (Line(1, "curl -d '{"), Line(2, '  "a": "b" # not a comment'), Line(3, "}'  # 200 ok"))
    lexed = lex(lines)
    assert [entry.comment for entry in lexed] == [None, None, "# 200 ok"]
    assert [entry.open_at_end for entry in lexed] == [True, True, False]


def test_ports_are_rewritten_to_the_stack_s() -> None:
    text = "BASE=http://127.0.0.1:8003\ncurl http://127.0.0.1:8001/v1 http://127.0.0.1:8009/x"
    assert rewrite_ports(text, PORTS) == (
        "BASE=http://127.0.0.1:18003\ncurl http://127.0.0.1:18001/v1 http://127.0.0.1:8009/x"
    )


def test_the_script_checks_after_each_status() -> None:
    text = md("```bash", "curl -s http://127.0.0.1:8002/a  # 200", "curl -s $B/b", "# 404", "```")
    script = script_for(examples_of("doc.md", text), PORTS)
    body = script.text.splitlines()
    assert body[-5:] == [
        "curl -s http://127.0.0.1:18002/a  # 200",
        "__expect 200 doc.md:2",
        "curl -s $B/b",
        "# 404",
        "__expect 404 doc.md:4",
    ]
    assert "18001|18002|18003|18004" in script.text


def test_the_log_tells_each_mismatch() -> None:
    script = Script("", {7: "doc.md:3"})
    log = md(
        "201 POST http://127.0.0.1:18001/v1/contacts",
        "EXPECT 201 doc.md:2",
        "200 GET http://127.0.0.1:18001/v1/rules",
        "422 PUT http://127.0.0.1:18001/v1/rules",
        "EXPECT 200 doc.md:5",
        "EXPECT 204 doc.md:6",
        "REFUSED https://example.com/",
        "404 GET http://127.0.0.1:18001/v1/tickets/null",
        "FAILED 1 7",
    )
    assert problems_in_log(log, script, 1) == [
        "doc.md:5: documented 200, got 422 PUT http://127.0.0.1:18001/v1/rules",
        "doc.md:6: no request answered before its status comment 204",
        "curl to https://example.com/: the examples may only call the local services",
        "doc.md:3: the command exited 1",
        "no status comment checked this request: 404 GET http://127.0.0.1:18001/v1/tickets/null",
    ]
    assert problems_in_log("200 GET http://x/\nEXPECT 200 doc.md:1\n", script, 0) == []
    assert problems_in_log("", script, 2) == [
        "the examples stopped with exit code 2 before the first status comment"
    ]
