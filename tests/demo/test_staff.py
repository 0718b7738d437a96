"""The summary's line to sign in to the workspace with, as one of the demo shop's agents."""

from __future__ import annotations

from demo.summary import where_to_look


def test_the_summary_says_whom_to_sign_in_as() -> None:
    urls = {
        n: f"http://127.0.0.1:800{i}" for i, n in enumerate(("intake", "sla", "notify", "survey"), start=1)
    }
    links = where_to_look(
        urls,
        "ep_1",
        "http://r",
        prometheus="p",
        prometheus_answers=False,
        grafana=None,
        sign_in=("Ty", "cla_x"),
    )
    assert links["sign in"] == "cla_x  (as Ty)"
    assert "sign in" not in where_to_look(
        urls, None, "http://r", prometheus="p", prometheus_answers=False, grafana=None
    )
