"""Every `curl` example of README.md and docs/*.md, run as written with real curl against the whole
CareLoop (`python -m tools.stack run` with the demo shop's registry), answers the status its document
shows, so an example cannot rot unnoticed. The docs' 127.0.0.1:8001-8004 are rewritten to the test
stack's own ports (a `make run` may be using those); each document runs in one bash process, in order.
How to write an example: docs/development.md, "Curl examples in the docs"."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from runtime.settings import Settings
from tests.docs.examples import documents, examples_of
from tests.docs.runner import run_examples, tools_present
from tests.docs.stack import running_careloop
from tests.ops.support import REPO

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(420)]

DOC_SECONDS = 120.0
"""How long one document's examples may take (some wait for an event to cross Kafka)."""


async def test_every_curl_example_answers_its_documented_status(infra: Settings) -> None:
    tools_present()
    docs = {str(p.relative_to(REPO)): p.read_text() for p in documents(REPO)}
    docs = {doc: text for doc, text in docs.items() if examples_of(doc, text)}
    assert {Path(doc).name for doc in docs} >= {"README.md", "intake.md", "sla.md", "notify.md", "survey.md"}
    expected = {doc: sum(len(e.checks) for e in examples_of(doc, text)) for doc, text in docs.items()}
    checked: dict[str, int] = {}
    problems: list[str] = []
    async with running_careloop(infra) as ports:
        with tempfile.TemporaryDirectory(prefix="careloop-doc-examples-") as tmp:
            # README, then docs/ by name, one after another on one stack, as a reader on one `make run`
            for doc, text in docs.items():
                run = await run_examples(doc, text, ports, Path(tmp), DOC_SECONDS)
                checked[doc] = run.checked
                problems.extend(run.problems)
    assert not problems, "\n".join(problems)
    assert checked == expected  # every status comment of every document was reached
