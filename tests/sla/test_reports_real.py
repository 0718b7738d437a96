"""GET /v1/reports/sla over the real Postgres: a known set of one shop's clocks and promises (made by the
domain's own clock functions and written by the service's repository), every figure computed by hand,
the CSV giving the same numbers, and another shop's rows never counted. Then the same report over rows
the service wrote itself from ticket events on the real Kafka."""

from __future__ import annotations

import csv
import io
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
from schemas.v1.sla import PromiseKind, SlaMetric
from schemas.v1.tickets import Author
from services.sla import bootstrap
from services.sla import repository as repo
from services.sla.api import build_api
from services.sla.config import SlaConfig
from services.sla.context import Context
from services.sla.domain import clocks
from services.sla.domain.calendar import CALENDAR_TIME
from services.sla.domain.clocks import Clock
from services.sla.domain.policies import Policy
from services.sla.domain.promises import PromiseRecord, PromiseStatus, StoredPromise
from tests.sla.support import T0, message, running_sla, send, ticket_event, wait_clocks
from tests.support.batches import service_storage
from tests.support.shops import KEY_A, KEY_B, SHOP_A, SHOP_B, auth
from tests.support.stack import http_client
from tests.support.wait import eventually

MIN = timedelta(minutes=1)
STAGES = Policy(id="any").stages()
"""warning at 80%, breach at 100%, escalation 1 at 100% and 2 at 200% (the shipped defaults)."""
PERIOD = {"from": "2026-03-02", "to": "2026-03-05"}
"""Three local days of shop A (Europe/Warsaw, UTC+1 in March): 2, 3 and 4 March."""
NOW = datetime(2026, 3, 10, tzinfo=UTC)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def started(clock_id: str, metric: SlaMetric, target: timedelta, at: datetime) -> Clock:
    return clocks.start(clock_id, metric, target, False, STAGES, at, CALENDAR_TIME)


def met(clock_id: str, metric: SlaMetric, target: timedelta, at: datetime, stop: datetime) -> Clock:
    clock, _ = clocks.stop(started(clock_id, metric, target, at), stop, CALENDAR_TIME)
    return clock


def breached(
    clock_id: str, metric: SlaMetric, target: timedelta, at: datetime, swept: datetime, stop: datetime | None
) -> Clock:
    """Breached by the sweep at `swept` (every stage due then crossed), then stopped at `stop` if given."""
    clock, _ = clocks.fire_due(started(clock_id, metric, target, at), swept)
    if stop is not None:
        clock, _ = clocks.stop(clock, stop, CALENDAR_TIME)
    return clock


def record(clock: Clock, policy: str, shop: str = SHOP_A) -> repo.ClockRecord:
    return repo.ClockRecord(clock, shop, f"t-{clock.id}", policy, "chat", "other", "normal")


FR, RES = SlaMetric.FIRST_RESPONSE, SlaMetric.RESOLUTION
FIVE, HALF_HOUR, HOUR = 5 * MIN, 30 * MIN, 60 * MIN


def shop_a_clocks() -> list[repo.ClockRecord]:
    return [
        # 2 March (local): met at 00:30 local, which is still 1 March in UTC
        record(met("c1", FR, FIVE, utc(1, 23, 28), utc(1, 23, 30)), "chat"),
        # 2 March: breached by the sweep at 5 min (warning, breach, level 1), answered at 7 min
        record(breached("c2", FR, FIVE, utc(2, 10), utc(2, 10, 5), utc(2, 10, 7)), "chat"),
        # 3 March: breached at 30 min, escalated to level 2 at 60 min, still running
        record(breached("c3", FR, HALF_HOUR, utc(3, 8), utc(3, 9), None), "email"),
        # 3 March: resolution met in time
        record(met("c4", RES, HOUR, utc(3, 7), utc(3, 7, 40)), "normal-resolution"),
        # 3 March: resolution stopped late, never swept: breached at its deadline, no escalation
        record(met("c5", RES, HOUR, utc(3, 8), utc(3, 9, 30)), "normal-resolution"),
        # 4 March: breached at 5 min exactly (the breach and level 1 fall due together), running
        record(breached("c9", FR, FIVE, utc(4, 12), utc(4, 12, 5), None), "chat"),
        # not decided: running, cancelled (no outcome)
        record(started("c6", FR, HOUR, utc(3, 10)), "email"),
        record(clocks.cancel(started("c7", FR, HOUR, utc(3, 10)), utc(3, 10, 20)), "email"),
        # decided outside the period: 1 March 23:30 local, and 5 March 00:10 local
        record(met("c8", FR, FIVE, utc(1, 22, 28), utc(1, 22, 30)), "chat"),
        record(breached("c10", FR, FIVE, utc(4, 23, 5), utc(4, 23, 10), None), "chat"),
    ]


def shop_b_clocks() -> list[repo.ClockRecord]:
    """Shop B, same policy ids, same days: never in shop A's report."""
    return [
        record(met("b1", FR, FIVE, utc(2, 10), utc(2, 10, 1)), "chat", SHOP_B),
        record(breached("b2", FR, FIVE, utc(3, 10), utc(3, 10, 11), None), "chat", SHOP_B),
        record(breached("b3", RES, HOUR, utc(3, 10), utc(3, 11), utc(3, 12)), "normal-resolution", SHOP_B),
    ]


def promise(
    pid: str,
    kind: PromiseKind,
    status: PromiseStatus,
    promised: datetime,
    settled: datetime | None,
    breached_at: datetime | None = None,
    shop: str = SHOP_A,
) -> StoredPromise:
    record_ = PromiseRecord(pid, shop, f"o-{pid}", kind, {"id": "c-1"}, promised, status)
    return StoredPromise(record_, settled, breached_at)


SHIP, DELIVERY = PromiseKind.SHIP_BY, PromiseKind.DELIVERY_DATE
KEPT, BROKEN = PromiseStatus.KEPT, PromiseStatus.BREACHED


def promises() -> list[StoredPromise]:
    return [
        promise("p1", SHIP, KEPT, utc(2, 16), utc(2, 11)),  # kept on 2 March
        promise("p2", SHIP, BROKEN, utc(3, 9), None, utc(3, 9)),  # broken on 3 March (the sweep)
        promise("p3", DELIVERY, KEPT, utc(4, 23), utc(4, 15)),  # kept on 4 March
        promise("p7", DELIVERY, BROKEN, utc(3, 12), utc(3, 18), utc(3, 12)),  # delivered late: broken 3 March
        promise("p4", DELIVERY, PromiseStatus.RUNNING, utc(6, 23), None),
        promise("p5", SHIP, PromiseStatus.CANCELLED, utc(3, 23), utc(3, 10)),
        promise("p6", SHIP, KEPT, utc(5, 9), utc(4, 23, 30)),  # 5 March 00:30 local: outside
        promise("b-p1", SHIP, KEPT, utc(3, 16), utc(3, 11), shop=SHOP_B),
        promise("b-p2", SHIP, BROKEN, utc(3, 9), None, utc(3, 9), shop=SHOP_B),
    ]


@pytest.fixture
async def client(pg_infra: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with service_storage(pg_infra, "sla", bootstrap.MIGRATIONS) as runtime:
        async with runtime.db.transaction() as conn:
            await repo.insert_clocks(conn, shop_a_clocks() + shop_b_clocks())
            await repo.save_promises(conn, promises())
        yield report_client(runtime)


def report_client(runtime: ServiceRuntime) -> httpx.AsyncClient:
    ctx = Context(runtime.shops, ManualClock(NOW).now, "unused", SlaConfig())
    api = build_api(runtime.db, ctx)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://careloop.test")


def compliance(met_: int, breached_: int, p50: float | None, p90: float | None) -> dict[str, Any]:
    decided = met_ + breached_
    return {
        "met": met_,
        "breached": breached_,
        "compliance_percent": round(100 * met_ / decided, 2) if decided else None,
        "time_to_breach_p50_seconds": p50,
        "time_to_breach_p90_seconds": p90,
    }


# Times to breach (start to breach instant), by hand: c2 300 s, c3 1800 s, c5 3600 s, c9 300 s.
# percentile_cont: p = values[k] + f * (values[k+1] - values[k]) with k + f = q * (n - 1).
# all [300, 300, 1800, 3600]: p50 at 1.5 → 1050, p90 at 2.7 → 1800 + 0.7 * 1800 = 3060
# first_response [300, 300, 1800]: p50 300, p90 at 1.8 → 300 + 0.8 * 1500 = 1500
# 3 March [1800, 3600]: p50 2700, p90 at 0.9 → 1800 + 0.9 * 1800 = 3420
EXPECTED_OVERALL = compliance(2, 4, 1050.0, 3060.0)
EXPECTED_BY_METRIC = {
    "first_response": compliance(1, 3, 300.0, 1500.0),
    "resolution": compliance(1, 1, 3600.0, 3600.0),
}
EXPECTED_BY_POLICY = {
    "chat": compliance(1, 2, 300.0, 300.0),
    "email": compliance(0, 1, 1800.0, 1800.0),
    "normal-resolution": compliance(1, 1, 3600.0, 3600.0),
}


async def test_every_figure_by_hand_the_csv_agrees_and_shop_b_is_never_counted(
    client: httpx.AsyncClient,
) -> None:
    async with client:
        response = await client.get("/v1/reports/sla", params=PERIOD, headers=auth(KEY_A))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["shop_id"] == SHOP_A
        assert (body["from"], body["to"]) == ("2026-03-01T23:00:00Z", "2026-03-04T23:00:00Z")
        assert body["overall"] == EXPECTED_OVERALL
        assert body["by_metric"] == EXPECTED_BY_METRIC
        assert body["by_policy"] == EXPECTED_BY_POLICY
        # c2: level 1; c3: levels 1 and 2; c9: level 1; c5 was never swept, so never escalated
        assert body["escalations"] == {"total": 4, "by_level": {"1": 3, "2": 1}}
        assert body["promises"] == {
            "kept": 2,
            "broken": 2,
            "kept_percent": 50.0,
            "by_kind": {
                "delivery_date": {"kept": 1, "broken": 1, "kept_percent": 50.0},
                "ship_by": {"kept": 1, "broken": 1, "kept_percent": 50.0},
            },
        }
        assert body["trend"] == {}

        daily = await client.get(
            "/v1/reports/sla", params={**PERIOD, "granularity": "day"}, headers=auth(KEY_A)
        )
        trend = daily.json()["trend"]
        assert trend == {
            "2026-03-02": {
                "clocks": compliance(1, 1, 300.0, 300.0),
                "escalations": 1,
                "promises": {"kept": 1, "broken": 0, "kept_percent": 100.0},
            },
            "2026-03-03": {
                "clocks": compliance(1, 2, 2700.0, 3420.0),
                "escalations": 2,
                "promises": {"kept": 0, "broken": 2, "kept_percent": 0.0},
            },
            "2026-03-04": {
                "clocks": compliance(0, 1, 300.0, 300.0),
                "escalations": 1,
                "promises": {"kept": 1, "broken": 0, "kept_percent": 100.0},
            },
        }

        as_csv = await client.get(
            "/v1/reports/sla",
            params={**PERIOD, "granularity": "day"},
            headers={**auth(KEY_A), "accept": "text/csv"},
        )
        assert as_csv.headers["content-type"].startswith("text/csv")
        rows = {(r["dimension"], r["key"]): r for r in csv.DictReader(io.StringIO(as_csv.text))}
        overall = rows[("overall", "all")]
        assert cells(overall, "met", "breached", "escalations", "promises_kept", "promises_broken") == [
            2,
            4,
            4,
            2,
            2,
        ]
        assert float(overall["compliance_percent"]) == EXPECTED_OVERALL["compliance_percent"]
        assert float(overall["time_to_breach_p90_seconds"]) == 3060.0
        for policy, figures in EXPECTED_BY_POLICY.items():
            assert cells(rows[("policy", policy)], "met", "breached") == [figures["met"], figures["breached"]]
        assert rows[("policy", "chat")]["escalations"] == ""  # not a figure of a policy row
        assert cells(rows[("escalation_level", "1")], "escalations") == [3]
        assert cells(rows[("promise_kind", "ship_by")], "promises_kept", "promises_broken") == [1, 1]
        assert cells(rows[("day", "2026-03-03")], "met", "breached", "escalations", "promises_broken") == [
            1,
            2,
            2,
            2,
        ]
        same = await client.get("/v1/reports/sla", params={**PERIOD, "format": "csv"}, headers=auth(KEY_A))
        assert same.headers["content-type"].startswith("text/csv")

        # Shop B's key sees shop B's rows only (its own zone, Europe/London), and cannot ask for A's
        other = (await client.get("/v1/reports/sla", params=PERIOD, headers=auth(KEY_B))).json()
        # b1 met; b2 breached after 300 s, b3 after 3600 s: p50 1950, p90 300 + 0.9 * 3300 = 3270
        assert other["overall"] == compliance(1, 2, 1950.0, 3270.0)
        assert other["promises"]["kept"] == 1
        # a period with nothing decided
        empty = await client.get(
            "/v1/reports/sla", params={"from": "2026-02-01", "to": "2026-02-02"}, headers=auth(KEY_A)
        )
        assert empty.json()["overall"] == compliance(0, 0, None, None)
        assert empty.json()["promises"]["kept_percent"] is None
        snoop = await client.get("/v1/reports/sla", params={**PERIOD, "shop": SHOP_A}, headers=auth(KEY_B))
        assert snoop.status_code == 404
        assert (await client.get("/v1/reports/sla", params=PERIOD)).status_code == 401
        bad = await client.get("/v1/reports/sla", params={"from": "soon"}, headers=auth(KEY_A))
        assert bad.status_code == 422


def cells(row: dict[str, str], *columns: str) -> list[int]:
    return [int(row[c]) for c in columns]


@pytest.mark.kafka
async def test_the_report_reads_the_rows_the_service_wrote_from_ticket_events(infra: Settings) -> None:
    clock = ManualClock(T0)
    async with running_sla(infra, clock) as app, http_client(app) as client:
        await send(
            infra,
            topics.TICKETS,
            ticket_event("ticket.created", "t-met", T0),
            ticket_event("ticket.created", "t-late", T0),
            ticket_event("ticket.created", "t-b", T0, shop=SHOP_B),
        )
        for ticket in ("t-met", "t-late", "t-b"):
            await wait_clocks(app, ticket, 2)
        await send(infra, topics.TICKETS, message("t-met", T0 + 3 * MIN, Author.AGENT))

        async def met() -> bool:
            return bool(
                await app.runtime.db.pool.fetchval(
                    "SELECT outcome = 'met' FROM clocks"
                    " WHERE ticket_id = 't-met' AND metric = 'first_response'"
                )
            )

        # the answer must be in before the test clock passes its deadline, or the sweep breaches it
        await eventually(met)
        # nobody answers t-late or t-b: at 5 minutes the sweep breaches them and raises level 1
        clock.set(T0 + 5 * MIN)

        async def swept() -> bool:
            return bool(
                await app.runtime.db.pool.fetchval(
                    "SELECT count(*) = 3 FROM clocks WHERE metric = 'first_response' AND outcome IS NOT NULL"
                    " AND stages_done IN (0, 3)"
                )
            )

        await eventually(swept)
        await send(infra, topics.TICKETS, message("t-late", T0 + 6 * MIN, Author.AGENT))

        async def stopped() -> bool:
            return bool(
                await app.runtime.db.pool.fetchval(
                    "SELECT status = 'stopped' FROM clocks"
                    " WHERE ticket_id = 't-late' AND metric = 'first_response'"
                )
            )

        await eventually(stopped)
        period = {"from": T0.date().isoformat(), "to": (T0.date() + timedelta(days=1)).isoformat()}
        body = (await client.get("/v1/reports/sla", params=period, headers=auth(KEY_A))).json()
        # t-met met at 3 min; t-late breached at 5 min (its chat target) and answered late; the
        # resolution clocks still run, so they are not decided yet
        assert body["overall"] == compliance(1, 1, 300.0, 300.0)
        assert body["by_metric"] == {"first_response": compliance(1, 1, 300.0, 300.0)}
        assert body["by_policy"] == {"chat": compliance(1, 1, 300.0, 300.0)}
        assert body["escalations"] == {"total": 1, "by_level": {"1": 1}}
        other = (await client.get("/v1/reports/sla", params=period, headers=auth(KEY_B))).json()
        assert other["overall"] == compliance(0, 1, 300.0, 300.0)


async def test_each_report_query_can_read_one_shops_decided_rows_on_its_index(pg_infra: Settings) -> None:
    """Migration 004's indexes serve the report (asked with sequential scans off: the table is small)."""
    async with (
        service_storage(pg_infra, "sla", bootstrap.MIGRATIONS) as runtime,
        runtime.db.transaction() as conn,
    ):
        await repo.insert_clocks(conn, shop_a_clocks())
        await repo.save_promises(conn, promises())
        await conn.execute("SET LOCAL enable_seqscan = off")
        explained = {
            name: "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
            for name, (sql, args) in (await captured_queries(conn)).items()
        }
    assert "clocks_decided" in explained["clock_counts"]
    assert "clocks_decided" in explained["breach_quantiles"]
    assert "clocks_decided" in explained["escalation_counts"]
    assert "promises_decided" in explained["promise_counts"]


async def captured_queries(conn: Any) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """Each report query's SQL and arguments, as the repository sends them."""
    period = period_of(PERIOD["from"], PERIOD["to"], None, "Europe/Warsaw", NOW)
    captured: dict[str, tuple[str, tuple[Any, ...]]] = {}

    class Recorder:
        name = ""

        async def fetch(self, sql: str, *args: Any) -> list[Any]:
            captured[self.name] = (sql, args)
            return []

    recorder = Recorder()
    for name in ("clock_counts", "breach_quantiles", "escalation_counts", "promise_counts"):
        recorder.name = name
        await getattr(repo, name)(recorder, SHOP_A, period)
    return captured
