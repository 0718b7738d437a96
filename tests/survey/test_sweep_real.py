"""The send sweep on the real Postgres: one failing invitation never holds back the others, and
concurrent sweeps (replicas) send each invitation exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from services.survey import repository, sweeps
from services.survey.bootstrap import MIGRATIONS
from services.survey.config import SurveyConfig
from services.survey.context import Context
from services.survey.domain.kinds import SurveyKind
from tests.support.batches import service_storage
from tests.support.stack import running_service
from tests.survey.support import T0, clock_of, rows, survey_events, wait_rows

pytestmark = pytest.mark.kafka


def scheduled(n: int, customer: dict[str, str] | None = None) -> repository.NewInvitation:
    return repository.NewInvitation(
        survey_id=f"s-{n:03d}",
        shop_id="shop-a",
        kind=SurveyKind.NPS,
        origin=f"order:o-{n:03d}",
        customer=customer if customer is not None else {"id": f"c-{n}", "email": f"c{n}@example.com"},
        customer_id=f"c-{n}",
        customer_email=f"c{n}@example.com",
        order_id=f"o-{n:03d}",
        ticket_id=None,
        channel=None,
        category=None,
        locale="en",
        due_at=T0,
    )


async def schedule_all(app: ServiceApp, invitations: list[repository.NewInvitation]) -> None:
    async with app.runtime.db.transaction() as conn:
        for inv in invitations:
            assert await repository.schedule(conn, inv, T0)


async def test_a_failing_invitation_is_retried_then_parked_and_the_others_go_out(
    infra: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SURVEY_SWEEP_SECONDS", "0.05")
    monkeypatch.setenv("SURVEY_MAX_SEND_ATTEMPTS", "3")
    async with running_service(infra, "survey") as app:
        clock = clock_of(app, T0 - timedelta(hours=1))
        # a stored customer that no longer validates (no id): building its survey.invited raises
        await schedule_all(
            app, [scheduled(1), scheduled(2, customer={"email": "x@example.com"}), scheduled(3)]
        )
        clock.set(T0)
        await wait_rows(app, "SELECT 1 FROM invitations WHERE status = 'failed'")
        state = {r["survey_id"]: r for r in await rows(app, "SELECT * FROM invitations")}
        assert state["s-001"]["status"] == "sent"
        assert state["s-003"]["status"] == "sent"
        assert state["s-002"]["attempts"] == 3
        assert state["s-002"]["last_error"].startswith("ValidationError")
        # the failed attempts left no decision and no token behind: their savepoints rolled back
        assert [r["survey_id"] for r in await rows(app, "SELECT survey_id FROM decisions ORDER BY 1")] == [
            "s-001",
            "s-003",
        ]
        assert state["s-002"]["token_sha256"] is None
        invited = {e.data.survey_id for e in await survey_events(infra, at_least=2)}
        assert invited == {"s-001", "s-003"}


async def test_concurrent_sweeps_send_every_invitation_exactly_once(
    infra: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SURVEY_SWEEP_SECONDS", "0.05")
    monkeypatch.setenv("SURVEY_SWEEP_BATCH", "7")
    async with running_service(infra, "survey") as app:
        clock = clock_of(app, T0 - timedelta(hours=1))
        count = 60
        await schedule_all(app, [scheduled(n) for n in range(count)])
        replica = Context(
            shops=app.runtime.shops,
            config=SurveyConfig(sweep_batch=5),
            topic=app.runtime.topic(topics.SURVEYS),
            public_base_url=infra.public_base_url,
            now=clock.now,
        )
        clock.set(T0)

        async def replica_sweeps() -> int:
            sent = 0
            for _ in range(20):
                async with app.runtime.db.transaction() as conn:
                    sent += await sweeps.send_batch(conn, replica, replica.now())
                await asyncio.sleep(0)
            return sent

        # three more "replicas" racing the service's own sweep loop
        sent_by_replicas = sum(await asyncio.gather(*(replica_sweeps() for _ in range(3))))
        await wait_rows(app, "SELECT 1 FROM decisions", count=count)
        decided = await rows(app, "SELECT survey_id, count(*) AS n FROM decisions GROUP BY survey_id")
        assert len(decided) == count
        assert {r["n"] for r in decided} == {1}
        events = await survey_events(infra, at_least=count)
        # Every decided invitation must reach Kafka. Outbox rows are written by concurrent transactions
        # here, so this also checks that the relay never deletes a row it has not published.
        assert sorted(e.data.survey_id for e in events) == [f"s-{n:03d}" for n in range(count)]
        assert 0 <= sent_by_replicas <= count


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_invitation_rolled_back_counts_its_failure_and_no_decision(pg_infra: Settings) -> None:
    sent = ("careloop_survey_decisions_total", {"kind": "nps", "reason": "sent"})
    failed = ("careloop_survey_send_failures_total", {"kind": "nps"})
    async with service_storage(pg_infra, "survey", MIGRATIONS) as runtime:
        async with runtime.db.transaction() as conn:
            # the second one's stored customer no longer validates: its decision is made, then rolled back
            for inv in (scheduled(1), scheduled(2, customer={"email": "x@example.com"})):
                assert await repository.schedule(conn, inv, T0)
        ctx = Context(
            shops=runtime.shops,
            config=SurveyConfig(),
            topic=runtime.topic(topics.SURVEYS),
            public_base_url="http://survey.test",
            now=lambda: T0,
        )
        before = sample(*sent), sample(*failed)

        await sweeps.send_due(runtime.db, ctx)

        decided = await runtime.db.pool.fetch("SELECT survey_id, decision FROM decisions")
        assert [(r["survey_id"], r["decision"]) for r in decided] == [("s-001", "sent")]
        assert (sample(*sent), sample(*failed)) == (before[0] + 1, before[1] + 1)
