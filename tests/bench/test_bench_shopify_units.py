"""The Shopify adapter's bench load without infrastructure: the signed delivery files (their signatures
checked with the adapter's own verification, their bodies mapped by the adapter's own mapping), the
signed wrk mode's arguments, the adapter's outcomes read from /metrics, the constant route, and the
figures in the report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, generate_latest

from bench.common import DEMO_SHOP, summarize
from bench.http_bench import SHOPIFY_FIGURES, shopify_note
from bench.intake_api import constant_app, delivery_outcomes
from bench.report import FIGURE_NAMES, LoadCpu, Report, readme_section
from bench.run import SCENARIOS
from bench.shopify_orders import Deliveries, delivery_line, order
from bench.wrk import Load, parse_wrk_output, wrk_command
from schemas.v1.orders import OrderCreated
from services.intake.domain.platforms import shopify
from services.intake.domain.platforms.deliveries import (
    Delivery,
    Incoming,
    OrderState,
    Outcome,
    Platform,
    ShopTerms,
    apply_delivery,
)
from services.intake.domain.platforms.signatures import verify

TERMS = ShopTerms(locale="pl", timezone="Europe/Warsaw", delivery_days=3)
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def fields(line: str) -> tuple[str, str, str, bytes]:
    signature, event_id, triggered, body = line.rstrip("\n").split("\t")
    return signature, event_id, triggered, body.encode()


def test_every_line_is_signed_with_the_secret_the_adapter_checks_it_against(tmp_path: Path) -> None:
    deliveries = Deliveries(tmp_path, per_second=10, slack=3)
    lines = deliveries.file_for(2).read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) == 23
    event_ids = set()
    for line in lines:
        signature, event_id, triggered, raw = fields(line)
        assert verify(raw, signature, [deliveries.secret])
        assert verify(raw, signature, ["shpss_an_old_secret", deliveries.secret])
        assert not verify(raw, signature, ["shpss_another_shop_s_secret"])
        assert not verify(raw + b" ", signature, [deliveries.secret])
        assert datetime.fromisoformat(triggered).tzinfo is not None
        event_ids.add(event_id)
    assert len(event_ids) == len(lines)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=10_000_000))
def test_each_body_is_a_new_order_the_adapter_turns_into_a_valid_order_created(n: int) -> None:
    _, _, triggered, raw = fields(delivery_line(n, AT, "shpss_bench_secret"))
    body = json.loads(raw)
    assert b"\n" not in raw
    assert b"\t" not in raw
    assert 5_000 < len(raw) < 10_000  # the size of what Shopify sends for an order of a few lines
    mapped = shopify.map_delivery(
        Delivery(Platform.SHOPIFY, "orders/create", f"k{n}", body, AT, datetime.fromisoformat(triggered)),
        TERMS,
    )
    assert mapped is not None
    assert mapped.platform_order_id == str(body["id"])
    applied = apply_delivery(OrderState(), Incoming(f"k{n}", mapped), DEMO_SHOP, Platform.SHOPIFY)
    assert applied.outcome is Outcome.APPLIED
    (event,) = applied.events
    assert event.event_type == "order.created"
    assert isinstance(event.data, OrderCreated)
    assert event.data.order_id == body["name"]
    assert event.data.customer.email == body["email"]
    assert str(event.data.total) == body["total_price"]
    assert sum(line.quantity for line in event.data.lines) == sum(i["quantity"] for i in body["line_items"])


def test_orders_never_repeat_within_a_file_or_across_the_files_of_one_scenario(tmp_path: Path) -> None:
    deliveries = Deliveries(tmp_path, per_second=50, slack=0)
    first = [json.loads(fields(x)[3]) for x in deliveries.file_for(1).read_text().splitlines()]
    second = [json.loads(fields(x)[3]) for x in deliveries.file_for(1).read_text().splitlines()]
    every = first + second
    assert len(every) == 100
    assert len({o["id"] for o in every}) == 100
    assert len({o["name"] for o in every}) == 100
    assert len({o["email"] for o in every}) == 100
    assert deliveries.next_order == 100
    assert order(7, AT) == order(7, AT)  # a body depends on its number and time only


def test_the_signed_mode_writes_a_file_for_each_run_s_whole_seconds(tmp_path: Path) -> None:
    deliveries = Deliveries(tmp_path, per_second=5, slack=1)
    load = Load("signed", 16, 8.0, threads=2, deliveries=deliveries)
    argv = wrk_command("http://127.0.0.1:9", load, 1.4, "tag")
    assert argv[3] == "--duration=1s"
    (written,) = tmp_path.iterdir()
    assert argv[-4:] == ["signed", str(written), "2", DEMO_SHOP]
    assert len(written.read_text().splitlines()) == 6
    assert load.script_args("tag")[0] == "signed"  # the load's own 8 s by default
    assert len(written.read_text().splitlines()) == 41
    assert load.describe() == {
        "mode": "signed",
        "concurrency": 16,
        "seconds": 8.0,
        "threads": 2,
        "warmup": 1.0,
        "shop": DEMO_SHOP,
    }


def test_wrk_s_done_line_says_how_often_a_delivery_file_wrapped() -> None:
    line = (
        'WRK_JSON {"requests":10,"duration_us":1000000,"bytes":1,"errors":{"connect":0,"read":0,'
        '"write":0,"status":0,"timeout":0},"latency_us":{"min":1,"mean":1.0,"p50":1,"p90":1,'
        '"p99":1,"max":1}%s}'
    )
    assert parse_wrk_output(line % ',"wrapped":3')["wrapped"] == 3
    assert parse_wrk_output(line % "")["wrapped"] == 0


def test_the_adapter_s_outcomes_are_summed_over_topics_from_its_metrics() -> None:
    registry = CollectorRegistry()
    deliveries = Counter(
        "careloop_intake_platform_deliveries",
        "deliveries",
        ["platform", "topic", "outcome"],
        registry=registry,
    )
    deliveries.labels("shopify", "orders/create", "applied").inc(120)
    deliveries.labels("shopify", "other", "applied").inc(2)
    deliveries.labels("shopify", "orders/create", "duplicate").inc(5)
    deliveries.labels("woocommerce", "order.created", "applied").inc(7)
    text = generate_latest(registry).decode()
    assert delivery_outcomes(text) == {"applied": 122, "duplicate": 5}
    assert delivery_outcomes(text, "woocommerce") == {"applied": 7}
    assert delivery_outcomes("") == {}


def test_the_note_warns_when_part_of_the_load_was_not_new_orders() -> None:
    load = Load("signed", 16, 8.0)
    run = {"status_400_or_more": 0, "errors": 0, "server": {"cpu_share_of_one_core": 0.9}, "wrapped": 0}
    clean = shopify_note(load, [run], {"applied": 4000})
    assert "applied 4000" in clean
    assert "NOT all new orders" not in clean
    assert "NOT all new orders" in shopify_note(load, [run | {"wrapped": 1}], {"applied": 4000})
    assert "NOT all new orders" in shopify_note(load, [run], {"applied": 3000, "duplicate": 9})


async def test_the_constant_route_reads_the_body_on_the_adapter_s_path_and_answers_applied() -> None:
    transport = httpx.ASGITransport(app=constant_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://constant") as client:
        raw = json.dumps(order(1, AT)).encode()
        answer = await client.post(f"/v1/platforms/shopify/{DEMO_SHOP}", content=raw)
        assert answer.status_code == 200
        assert answer.json() == {"outcome": "applied"}
        too_big = await client.post(f"/v1/platforms/shopify/{DEMO_SHOP}", content=b"x" * 300_000)
        assert too_big.status_code == 413  # the same body-size limit as intake's


def test_the_adapter_s_figures_are_a_scenario_of_their_own_in_the_report_and_readme() -> None:
    assert set(SHOPIFY_FIGURES) <= set(FIGURE_NAMES)
    assert SCENARIOS["intake_shopify"] == SHOPIFY_FIGURES
    report = Report()
    report.facts = {"machine": {}, "versions": {}, "git": {}, "argv": []}
    cpu = LoadCpu("wrk", 0.05, 0.31)
    report.set(
        "intake.shopify.deliveries_per_s", summarize([500.0, 520.0]), summarize([5000.0]), load_cpu=cpu
    )
    report.set("intake.shopify.p99_ms", summarize([80.0]), summarize([20.0]), load_cpu=cpu)
    report.mark_unset(list(FIGURE_NAMES), "not measured in this test")
    markdown = report.markdown()
    assert (
        "| `intake.shopify.deliveries_per_s` | deliveries/s | 2 | 500 | 510 | 520 | 5,000 | 0.102 |"
        in markdown
    )
    assert "| `intake.shopify.p99_ms` | ms | 1 | 80 | 80 | 80 | 20 | 4 |" in markdown
    readme = readme_section(report.to_json())
    assert "deliveries/s) | 510 (500-520, n=2) | 5,000 | 0.102 |  | wrk 0.05 / 0.31 |" in readme
