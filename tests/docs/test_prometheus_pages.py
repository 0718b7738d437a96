"""The Prometheus pages docs/operations.md links to exist in the Prometheus `make tools` installs
(Debian's build serves only the classic UI, under /classic/)."""

from __future__ import annotations

import re

from tests.ops.support import REPO, local_config, running_prometheus

OPERATIONS = REPO / "docs" / "operations.md"
PAGE = re.compile(r"http://127\.0\.0\.1:9090(/[\w/-]*)")


def linked_pages() -> list[str]:
    return sorted(set(PAGE.findall(OPERATIONS.read_text())))


def test_the_guide_links_the_classic_pages() -> None:
    assert {"/classic/alerts", "/classic/graph"} <= set(linked_pages())


async def test_every_linked_prometheus_page_answers() -> None:
    pages = linked_pages()
    async with running_prometheus(local_config({})) as prometheus:
        answers = {
            page: (await prometheus.http.get(page, follow_redirects=True)).status_code for page in pages
        }
        # What the guide says is not there, so that the sentence saying so stays true as well.
        missing = (await prometheus.http.get("/alerts")).status_code
    assert answers == dict.fromkeys(pages, 200)
    assert missing == 404
