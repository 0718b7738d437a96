"""GET /v1/reports/deliveries over the real Postgres: a known set of one shop's endpoints, deliveries
and attempts (queued, claimed and recorded through the worker's own repository functions), every
figure computed by hand, the CSV giving the same numbers, and another shop's rows never counted. Then
the same report over a delivery the service made itself from an event on the real Kafka."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from runtime.clock import ManualClock
from runtime.reports import period_of
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from services.notify import bootstrap
from services.notify.api import build_api
from services.notify.config import NotifyConfig
from services.notify.context import Context
from services.notify.domain.outcome import HEALTHY
from services.notify.domain.queue import DeliveryStatus
from services.notify.domain.signing import new_secret
from services.notify.repository import attempts, deliveries, endpoints
from services.notify.repository import reports as sql
from services.notify.repository.attempts import Success
from services.notify.repository.deliveries import NewDelivery
from services.notify.repository.endpoints import Endpoint
from tests.notify.harness import api, config, create_endpoint, order_event, running_notify
from tests.notify.receiver import Receiver
from tests.support.batches import service_storage
from tests.support.kafka import produce
from tests.support.shops import KEY_A, KEY_B, SHOP_A, SHOP_B, auth
from tests.support.wait import eventually

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
PERIOD = {"from": "2026-03-02", "to": "2026-03-04"}
"""Two local days of shop A (Europe/Warsaw, UTC+1 in March): 2 and 3 March."""


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


def endpoint(
    eid: str, shop: str, *, failures: int = 0, open_until: datetime | None = None, disabled: str | None = None
) -> Endpoint:
    at = utc(1, 8)
    return Endpoint(
        eid, shop, f"https://{eid}.example/hook", "", ["*"], None, disabled is None, disabled,
        at if disabled else None, new_secret(b"k" * 24), None, None, at if failures else None, failures,
        open_until, at, at,
    )  # fmt: skip


ENDPOINTS = [
    endpoint("e1", SHOP_A),
    # failing: its breaker open until after "now"
    endpoint("e2", SHOP_A, failures=6, open_until=NOW + timedelta(minutes=1)),
    endpoint("e3", SHOP_A, disabled="the receiver answered 410 Gone"),
    endpoint("eb", SHOP_B),
]


async def queue(conn: Any, did: str, eid: str, shop: str, event_type: str, created: datetime) -> None:
    """Queue one delivery whose event happened 10 s before it was queued."""
    async with conn.transaction():
        await deliveries.insert_deliveries(
            conn,
            [
                NewDelivery(
                    did, shop, eid, f"msg_{did}", f"ev-{did}", event_type,
                    created - timedelta(seconds=10), f"order-{did}", b"{}", created,
                )
            ],
        )  # fmt: skip


async def succeed(conn: Any, did: str, attempted: datetime, latency_ms: float) -> None:
    token = uuid.uuid4().hex
    assert [c.id for c in await attempts.claim(conn, [did], token, 60)] == [did]
    finished = attempted + timedelta(milliseconds=latency_ms)
    success = Success(did, token, attempted, finished, 200, latency_ms, "ok", HEALTHY)
    await attempts.record_successes(conn, [success])
    assert await conn.fetchval("SELECT status FROM deliveries WHERE id = $1", did) == "succeeded"


async def fail(conn: Any, did: str, attempted: datetime, outcome: str, *, dead: bool = False) -> None:
    token = uuid.uuid4().hex
    assert [c.id for c in await attempts.claim(conn, [did], token, 60)] == [did]
    code = 410 if outcome == "gone" else 500 if outcome == "http_error" else None
    async with conn.transaction():
        await attempts.lock_lane(conn, did)
        await attempts.insert_attempt(conn, did, attempted, outcome, code, 100.0, None, outcome)
        if dead:
            await attempts.finish_delivery(conn, did, DeliveryStatus.DEAD, attempted, code, outcome)
        else:
            await attempts.reschedule_delivery(conn, did, attempted + timedelta(hours=1), code, outcome)


async def seed(runtime: ServiceRuntime) -> None:
    async with runtime.db.pool.acquire() as conn:
        for e in ENDPOINTS:
            await endpoints.insert_endpoint(conn, e)
        # 2 March: d1 delivered 11.5 s after its event (first 2xx 1.5 s after queueing)
        await queue(conn, "d1", "e1", SHOP_A, "order.paid", utc(2, 10))
        await succeed(conn, "d1", utc(2, 10, 0, 1), 500)
        # 2 March: d2 failed once, then delivered: 2xx at 62 s + 1 s after queueing → 73 s after its event
        await queue(conn, "d2", "e1", SHOP_A, "order.shipped", utc(2, 12))
        await fail(conn, "d2", utc(2, 12, 0, 2), "http_error")
        await succeed(conn, "d2", utc(2, 12, 1, 2), 1000)
        # 2 March 00:30 local (still 1 March in UTC): delivered 2 s after queueing → 12 s after its event
        await queue(conn, "d5", "e1", SHOP_A, "order.delivered", utc(1, 23, 30))
        await succeed(conn, "d5", utc(1, 23, 30), 2000)
        # 3 March: d3 timed out three times and is dead; d4 timed out once and waits for its retry
        await queue(conn, "d3", "e2", SHOP_A, "order.paid", utc(3, 9))
        for second in (0, 10):
            await fail(conn, "d3", utc(3, 9, 0, second), "timeout")
        await fail(conn, "d3", utc(3, 9, 0, 30), "timeout", dead=True)
        await queue(conn, "d4", "e2", SHOP_A, "order.paid", utc(3, 10))
        await fail(conn, "d4", utc(3, 10, 0, 1), "timeout")
        # 3 March: d7's receiver answered 410 (dead); d8 queued, not attempted yet
        await queue(conn, "d7", "e3", SHOP_A, "order.paid", utc(3, 11))
        await fail(conn, "d7", utc(3, 11, 0, 1), "gone", dead=True)
        await queue(conn, "d8", "e1", SHOP_A, "order.paid", utc(3, 15))
        # outside the period: 1 March 23:30 local, 4 March 00:30 local
        await queue(conn, "d6", "e1", SHOP_A, "order.paid", utc(1, 22, 30))
        await succeed(conn, "d6", utc(1, 22, 30, 1), 100)
        await queue(conn, "d9", "e1", SHOP_A, "order.paid", utc(3, 23, 30))
        # shop B, the same days
        await queue(conn, "db1", "eb", SHOP_B, "order.paid", utc(2, 10))
        await succeed(conn, "db1", utc(2, 10, 0, 5), 100)
        await queue(conn, "db2", "eb", SHOP_B, "order.paid", utc(3, 10))
        await fail(conn, "db2", utc(3, 10, 0, 1), "http_error", dead=True)


@pytest.fixture
async def client(pg_infra: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with service_storage(pg_infra, "notify", bootstrap.MIGRATIONS) as runtime:
        await seed(runtime)
        ctx = Context(runtime.shops, ManualClock(NOW).now, "unused", NotifyConfig())
        transport = httpx.ASGITransport(app=build_api(runtime.db, ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://careloop.test") as http:
            yield http


def figures(succeeded: int, dead: int, pending: int) -> dict[str, Any]:
    finished = succeeded + dead
    return {
        "succeeded": succeeded,
        "dead": dead,
        "pending": pending,
        "total": succeeded + dead + pending,
        "succeeded_percent": round(100 * succeeded / finished, 2) if finished else None,
    }


# Latency (event time → first 2xx), by hand: d1 11.5 s, d2 73 s, d5 12 s; sorted [11.5, 12, 73].
# percentile_cont: p50 = 12; p90 at 1.8 → 12 + 0.8 * 61 = 60.8; p99 at 1.98 → 12 + 0.98 * 61 = 71.78
LATENCY = {"delivered": 3, "p50_seconds": 12.0, "p90_seconds": 60.8, "p99_seconds": 71.78}
NO_LATENCY = {"delivered": 0, "p50_seconds": None, "p90_seconds": None, "p99_seconds": None}


async def test_every_figure_by_hand_the_csv_agrees_and_shop_b_is_never_counted(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/reports/deliveries", params=PERIOD, headers=auth(KEY_A))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["shop_id"] == SHOP_A
    # d1, d2, d5 succeeded; d3, d7 dead; d4, d8 pending
    assert body["deliveries"] == figures(3, 2, 2)
    # success: d1, d2, d5; http_error: d2; timeout: d3 three times, d4; gone: d7
    assert body["attempts"] == {
        "total": 9,
        "success_percent": 33.33,
        "by_outcome": {"gone": 1, "http_error": 1, "success": 3, "timeout": 4},
    }
    assert body["latency"] == pytest.approx(LATENCY)
    assert body["by_event_type"] == {
        "order.delivered": figures(1, 0, 0),
        "order.paid": figures(1, 2, 2),
        "order.shipped": figures(1, 0, 0),
    }
    e1, e2, e3 = body["endpoints"]
    assert (e1["endpoint_id"], e1["enabled"], e1["breaker"]) == ("e1", True, "closed")
    assert e1["deliveries"] == figures(3, 0, 1)
    assert (e1["attempts"]["total"], e1["attempts"]["success_percent"]) == (4, 75.0)
    assert (e2["breaker"], e2["failing_since"], e2["deliveries"]) == (
        "open",
        "2026-03-01T08:00:00Z",
        figures(0, 1, 1),
    )
    assert e2["attempts"] == {"total": 4, "success_percent": 0.0, "by_outcome": {"timeout": 4}}
    assert (e3["enabled"], e3["disabled_reason"]) == (False, "the receiver answered 410 Gone")
    assert e3["attempts"]["by_outcome"] == {"gone": 1}
    assert body["trend"] == {}

    daily = await client.get(
        "/v1/reports/deliveries", params={**PERIOD, "granularity": "day"}, headers=auth(KEY_A)
    )
    trend = daily.json()["trend"]
    assert list(trend) == ["2026-03-02", "2026-03-03"]
    assert trend["2026-03-02"]["deliveries"] == figures(3, 0, 0)
    assert trend["2026-03-02"]["attempts"]["total"] == 4
    assert trend["2026-03-02"]["latency"] == pytest.approx(LATENCY)
    assert trend["2026-03-03"]["deliveries"] == figures(0, 2, 2)
    assert trend["2026-03-03"]["attempts"]["by_outcome"] == {"gone": 1, "timeout": 4}
    assert trend["2026-03-03"]["latency"] == NO_LATENCY

    as_csv = await client.get(
        "/v1/reports/deliveries",
        params={**PERIOD, "granularity": "day"},
        headers={**auth(KEY_A), "accept": "text/csv"},
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = {(r["dimension"], r["key"]): r for r in csv.DictReader(io.StringIO(as_csv.text))}
    overall = rows[("overall", "all")]
    assert cells(overall, "succeeded", "dead", "pending", "total", "attempts", "delivered") == [
        3,
        2,
        2,
        7,
        9,
        3,
    ]
    assert float(overall["latency_p90_seconds"]) == pytest.approx(60.8)
    assert float(overall["attempt_success_percent"]) == 33.33
    assert cells(rows[("attempt_outcome", "timeout")], "attempts") == [4]
    assert cells(rows[("event_type", "order.paid")], "succeeded", "dead", "pending") == [1, 2, 2]
    assert (rows[("endpoint", "e2")]["breaker"], rows[("endpoint", "e3")]["enabled"]) == ("open", "False")
    assert cells(rows[("day", "2026-03-03")], "dead", "pending", "attempts", "delivered") == [2, 2, 5, 0]
    assert rows[("day", "2026-03-03")]["latency_p50_seconds"] == ""
    same = await client.get("/v1/reports/deliveries", params={**PERIOD, "format": "csv"}, headers=auth(KEY_A))
    assert same.headers["content-type"].startswith("text/csv")

    # Shop B's key sees shop B's endpoint and deliveries only, and cannot ask for shop A's
    other = (await client.get("/v1/reports/deliveries", params=PERIOD, headers=auth(KEY_B))).json()
    assert other["deliveries"] == figures(1, 1, 0)
    assert [e["endpoint_id"] for e in other["endpoints"]] == ["eb"]
    assert other["attempts"]["by_outcome"] == {"http_error": 1, "success": 1}
    snoop = await client.get("/v1/reports/deliveries", params={**PERIOD, "shop": SHOP_A}, headers=auth(KEY_B))
    assert snoop.status_code == 404
    assert (await client.get("/v1/reports/deliveries", params=PERIOD)).status_code == 401


def cells(row: dict[str, str], *columns: str) -> list[int]:
    return [int(row[c]) for c in columns]


@pytest.mark.kafka
async def test_the_report_reads_a_delivery_the_service_made_from_an_event(infra: Settings) -> None:
    receiver = await Receiver().start()
    try:
        async with running_notify(infra, config()) as app, api(app) as http:
            await create_endpoint(http, receiver.url(), event_types=["order.*"])
            await produce(infra, topics.ORDERS.name, order_event("order.shipped", "PL-7"))
            await produce(infra, topics.ORDERS.name, order_event("order.shipped", "B-7", shop_id=SHOP_B))

            async def delivered() -> list[Any]:
                return await app.runtime.db.pool.fetch(
                    "SELECT d.event_time, a.attempted_at, a.latency_ms FROM deliveries d"
                    " JOIN attempts a ON a.delivery_id = d.id AND a.outcome = 'success'"
                )

            [row] = await eventually(delivered)
            # by hand from the rows the worker wrote
            seconds = max(
                0.0, (row["attempted_at"] - row["event_time"]).total_seconds() + row["latency_ms"] / 1000
            )
            body = (await http.get("/v1/reports/deliveries", headers=auth(KEY_A))).json()
            assert body["deliveries"] == figures(1, 0, 0)
            assert body["attempts"]["by_outcome"] == {"success": 1}
            # Postgres keeps instants to the microsecond: the 2xx instant is rounded to it
            expected = {
                "delivered": 1,
                "p50_seconds": seconds,
                "p90_seconds": seconds,
                "p99_seconds": seconds,
            }
            assert body["latency"] == pytest.approx(expected, abs=1e-6)
            assert body["by_event_type"] == {"order.shipped": figures(1, 0, 0)}
            other = (await http.get("/v1/reports/deliveries", headers=auth(KEY_B))).json()
            assert (other["deliveries"]["total"], other["endpoints"]) == (0, [])
    finally:
        await receiver.stop()


async def test_each_report_query_reads_the_shops_deliveries_on_their_endpoint_index(
    pg_infra: Settings,
) -> None:
    """The deliveries by (endpoint_id, created_at), their attempts by delivery: never the whole table
    (asked with sequential scans off: the tables are small)."""
    period = period_of(PERIOD["from"], PERIOD["to"], None, "Europe/Warsaw", NOW)
    async with service_storage(pg_infra, "notify", bootstrap.MIGRATIONS) as runtime:
        await seed(runtime)
        captured: dict[str, tuple[str, tuple[Any, ...]]] = {}

        class Recorder:
            name = ""

            async def fetch(self, query: str, *args: Any) -> list[Any]:
                captured[self.name] = (query, args)
                return []

        recorder = Recorder()
        for name in ("delivery_counts", "attempt_counts", "latency_quantiles"):
            recorder.name = name
            await getattr(sql, name)(recorder, SHOP_A, ["e1", "e2", "e3"], period)
        async with runtime.db.transaction() as conn:
            await conn.execute("SET LOCAL enable_seqscan = off")
            for name, (query, args) in captured.items():
                plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {query}", *args))
                assert "deliveries_by_endpoint" in plan, f"{name}:\n{plan}"
                if name != "delivery_counts":
                    assert "attempts_by_delivery" in plan, f"{name}:\n{plan}"
