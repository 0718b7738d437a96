"""Reports over the real Kafka and Postgres: hand-computed NPS/CSAT and response rate, per channel,
one shop never seeing another's data, and the score gauges on /metrics."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from runtime.settings import Settings
from schemas import topics
from schemas.v1.contacts import Channel
from schemas.v1.tickets import Category
from tests.support.shops import KEY_A, KEY_B, auth
from tests.support.stack import http_client, running_service
from tests.support.wait import eventually
from tests.survey.support import (
    T0,
    clock_of,
    customer,
    delivered,
    invitation_link,
    send,
    survey_events,
    ticket_solved,
    wait_rows,
)

pytestmark = pytest.mark.kafka


@pytest.fixture(autouse=True)
def fast_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURVEY_SWEEP_SECONDS", "0.1")
    monkeypatch.setenv("SURVEY_SCORE_GAUGE_SECONDS", "0.2")


async def test_reports_compute_scores_by_channel_and_keep_shops_apart(infra: Settings) -> None:
    async with running_service(infra, "survey") as app, http_client(app) as client:
        clock = clock_of(app)
        orders = [f"o-r{i}" for i in range(5)]
        await send(infra, topics.ORDERS, *(delivered("shop-a", o, customer(f"c-{o}"), T0) for o in orders))
        await wait_rows(app, "SELECT 1 FROM invitations", count=5)
        clock.advance(timedelta(days=7))
        await send(
            infra,
            topics.TICKETS,
            ticket_solved(
                "shop-a",
                "t-chat",
                clock.now(),
                customer_id="c-chat",
                email="chat@example.com",
                channel=Channel.CHAT,
                category=Category.RETURN,
            ),
            ticket_solved(
                "shop-a",
                "t-mail",
                clock.now(),
                customer_id="c-mail",
                email="mail@example.com",
                channel=Channel.EMAIL,
                category=Category.PAYMENT,
            ),
        )
        sent = await wait_rows(
            app, "SELECT survey_id, order_id, ticket_id FROM invitations WHERE status = 'sent'", count=7
        )
        token = {
            (r["order_id"] if r["ticket_id"] is None else r["ticket_id"]): (
                await invitation_link(infra, r["survey_id"])
            ).rsplit("/s/", 1)[1]
            for r in sent
        }
        # NPS: 10, 9 promoters, 7 passive, 3 detractor, one not answered: (2 - 1) / 4 = 25; 4 of 5 answered
        for order, score in zip(orders, [10, 9, 7, 3], strict=False):
            answer = await client.post("/v1/answers", json={"token": token[order], "score": score})
            assert answer.status_code == 201
        # CSAT: chat 5 (satisfied), e-mail 2 (not): 50%; sub-ratings on the chat answer
        chat = {"token": token["t-chat"], "score": 5, "speed": 4, "accuracy": 5}
        assert (await client.post("/v1/answers", json=chat)).status_code == 201
        assert (
            await client.post("/v1/answers", json={"token": token["t-mail"], "score": 2})
        ).status_code == 201
        speed_for_nps = {"token": token["o-r4"], "score": 8, "speed": 3}
        rejected = await client.post("/v1/answers", json=speed_for_nps)
        assert rejected.status_code == 422  # sub-ratings belong to CSAT only

        unhappy = [e.data for e in await survey_events(infra, at_least=14) if e.type == "survey.detractor"]
        assert sorted((d.kind.value, d.score, d.ticket_id) for d in unhappy) == [
            ("csat", 2, "t-mail"),
            ("nps", 3, None),
        ]

        period = {"from": T0.date().isoformat(), "to": (clock.now() + timedelta(hours=1)).isoformat()}
        nps = await client.get("/v1/reports/nps", params=period, headers=auth(KEY_A))
        assert nps.status_code == 200, nps.text
        body = nps.json()
        assert body["shop_id"] == "shop-a"
        assert body["overall"]["score"] == 25.0
        assert body["overall"]["answers"] == 4
        assert body["overall"]["invited"] == 5
        assert body["overall"]["response_rate"] == 80.0
        assert body["overall"]["distribution"] == {"3": 1, "7": 1, "9": 1, "10": 1}
        assert set(body["by_channel"]) == {"none"}  # NPS after delivery has no originating ticket

        csat = (await client.get("/v1/reports/csat", params=period, headers=auth(KEY_A))).json()
        assert csat["overall"]["score"] == 50.0
        assert csat["overall"]["response_rate"] == 100.0
        assert csat["by_channel"]["chat"]["score"] == 100.0
        assert csat["by_channel"]["email"]["score"] == 0.0
        assert csat["by_category"]["payment"]["answers"] == 1

        ces = (await client.get("/v1/reports/ces", params=period, headers=auth(KEY_A))).json()
        assert ces["overall"]["score"] is None
        assert ces["overall"]["response_rate"] is None

        # A trend per local day of the shop (Europe/Warsaw): every day of the period listed, the
        # answers on the day they were given, the same totals as overall; and the same numbers as CSV
        daily = await client.get(
            "/v1/reports/nps", params={**period, "granularity": "day"}, headers=auth(KEY_A)
        )
        trend = daily.json()["trend"]
        assert list(trend) == sorted(trend)
        assert len(trend) == (clock.now().date() - T0.date()).days + 1
        assert trend[clock.now().date().isoformat()]["answers"] == 4
        assert sum(f["answers"] for f in trend.values()) == 4
        assert sum(f["invited"] for f in trend.values()) == 5
        assert trend[T0.date().isoformat()]["invited"] == 0  # sent when due, a week after delivery
        as_csv = await client.get(
            "/v1/reports/nps",
            params={**period, "granularity": "day"},
            headers={**auth(KEY_A), "accept": "text/csv"},
        )
        assert as_csv.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(as_csv.text)))
        overall_row = next(r for r in table if r["dimension"] == "overall")
        assert (float(overall_row["score"]), int(overall_row["answers"]), int(overall_row["invited"])) == (
            25.0,
            4,
            5,
        )
        day_rows = {r["key"]: int(r["answers"]) for r in table if r["dimension"] == "day"}
        assert day_rows == {day: f["answers"] for day, f in trend.items()}
        same = await client.get("/v1/reports/nps", params={**period, "format": "csv"}, headers=auth(KEY_A))
        assert same.headers["content-type"].startswith("text/csv")

        # Shop B's key sees only shop B (nothing), and cannot ask for shop A
        other = (await client.get("/v1/reports/nps", params=period, headers=auth(KEY_B))).json()
        assert other["shop_id"] == "shop-b"
        assert other["overall"]["answers"] == 0
        assert other["overall"]["invited"] == 0
        snoop = await client.get("/v1/reports/nps", params={**period, "shop": "shop-a"}, headers=auth(KEY_B))
        assert snoop.status_code == 404
        own = await client.get("/v1/reports/nps", params={**period, "shop": "shop-a"}, headers=auth(KEY_A))
        assert own.json()["overall"]["score"] == 25.0
        assert (await client.get("/v1/decisions", headers=auth(KEY_B))).json() == []
        assert len((await client.get("/v1/decisions", headers=auth(KEY_A))).json()) == 7
        assert (await client.get("/v1/reports/nps", params=period)).status_code == 401
        assert (await client.get("/v1/reports/nps", headers=auth("clk_wrong"))).status_code == 401
        bad = await client.get("/v1/reports/nps", params={"from": "yesterday"}, headers=auth(KEY_A))
        assert bad.status_code == 422
        backwards = await client.get(
            "/v1/reports/nps", params={"from": "2026-03-10", "to": "2026-03-01"}, headers=auth(KEY_A)
        )
        assert backwards.status_code == 422

        async def gauges_show_the_scores() -> bool:
            text = (await client.get("/metrics")).text
            return (
                'careloop_survey_score{kind="nps",shop="shop-a"} 25.0' in text
                and 'careloop_survey_score{kind="csat",shop="shop-a"} 50.0' in text
            )

        await eventually(gauges_show_the_scores, timeout=10.0, interval=0.2)
        metrics = (await client.get("/metrics")).text
        assert 'careloop_survey_answers_total{kind="nps",via="api"}' in metrics
        assert 'careloop_survey_decisions_total{kind="nps",reason="sent"}' in metrics
