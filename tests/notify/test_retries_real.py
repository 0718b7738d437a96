"""Retries, dead letters, replay and endpoint disabling, with time driven by a ManualClock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event
from services.notify.handlers import webhook_id_for
from tests.notify.harness import (
    api,
    attempt_rows,
    config,
    create_endpoint,
    delivery_rows,
    manual_clock_at_wall_now,
    order_event,
    running_notify,
)
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.kafka import produce, read_topic
from tests.support.shops import KEY_A, KEY_B, auth
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka


class Script:
    """Replies in the given order, then the last one forever."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)

    async def __call__(self, request: Received) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


async def _one_delivery(app: Any, **expected: Any) -> dict[str, Any]:
    async def matching() -> dict[str, Any]:
        rows = await delivery_rows(app)
        if len(rows) == 1 and all(rows[0][k] == v for k, v in expected.items()):
            return rows[0]
        return {}

    found: dict[str, Any] = await eventually(matching)
    return found


async def test_retries_on_500_timeout_and_refused_connection_follow_the_schedule(infra: Settings) -> None:
    clock = manual_clock_at_wall_now()
    t0 = clock.now()
    receiver = await Receiver(Script(Reply(500, b"boom"), Reply(hang=True), Reply(200))).start()
    cfg = config(retry_schedule_seconds=(0, 5, 300, 1800, 7200), timeout_seconds=1.0)
    try:
        async with running_notify(infra, cfg, clock) as app, api(app) as client:
            await create_endpoint(client, receiver.url())
            event = order_event("order.paid", "PL-7")
            await produce(infra, topics.ORDERS.name, event)

            row = await _one_delivery(app, total_attempts=1, status="pending")
            assert row["next_attempt_at"] == t0 + timedelta(seconds=5)
            clock.advance(timedelta(seconds=4))
            await asyncio.sleep(0.4)  # several poll rounds: nothing is due yet
            assert len(receiver.requests) == 1

            clock.advance(timedelta(seconds=1))  # t0+5: the receiver hangs, the attempt times out
            row = await _one_delivery(app, total_attempts=2, status="pending")
            assert row["next_attempt_at"] == t0 + timedelta(seconds=305)

            await receiver.stop()  # nobody listens: connection refused
            clock.advance(timedelta(seconds=300))
            row = await _one_delivery(app, total_attempts=3, status="pending")
            assert row["next_attempt_at"] == t0 + timedelta(seconds=2105)

            await receiver.start()
            clock.advance(timedelta(seconds=1800))
            row = await _one_delivery(app, total_attempts=4, status="succeeded")

            attempts = await attempt_rows(app, row["id"])
            assert [a["outcome"] for a in attempts] == ["http_error", "timeout", "connect_error", "success"]
            assert [a["status_code"] for a in attempts] == [500, None, None, 200]
            assert [a["attempted_at"] - t0 for a in attempts] == [
                timedelta(0),
                timedelta(seconds=5),
                timedelta(seconds=305),
                timedelta(seconds=2105),
            ]
            assert attempts[0]["response_body"] == "boom"
            assert "within 1 s" in attempts[1]["error"]
            # one webhook-id for every attempt: the receiver's idempotency key never changes
            assert {r.webhook_id for r in receiver.requests} == {webhook_id_for(event.id)}
    finally:
        await receiver.stop()


async def test_dead_letter_after_the_last_attempt_then_replay_one_and_all_failed(infra: Settings) -> None:
    clock = manual_clock_at_wall_now()
    t0 = clock.now()
    failing = Script(Reply(500))
    receiver = await Receiver(failing).start()
    try:
        cfg = config(retry_schedule_seconds=(0, 5))
        async with running_notify(infra, cfg, clock) as app, api(app) as client:
            endpoint = await create_endpoint(client, receiver.url())
            for order_id in ("o-1", "o-2", "o-3"):
                await produce(infra, topics.ORDERS.name, order_event("order.created", order_id))

            async def attempts_made(n: int) -> bool:
                rows = await delivery_rows(app)
                return len(rows) == 3 and all(r["total_attempts"] == n for r in rows)

            await eventually(lambda: attempts_made(1))
            clock.advance(timedelta(seconds=5))
            await eventually(lambda: attempts_made(2))
            rows = await eventually(lambda: _all_with_status(app, "dead", 3))

            dead_events = await read_topic(infra, topics.NOTIFY.name, at_least=3)
            dead = [decode_event(r.value) for r in dead_events]
            assert {e.type for e in dead} == {"webhook.delivery_dead_lettered"}
            assert {e.data.delivery_id for e in dead} == {r["id"] for r in rows}
            assert {e.data.attempts for e in dead} == {2}
            assert {e.data.last_error for e in dead} == {"HTTP 500"}

            # another shop sees none of it
            ep, first = endpoint["id"], rows[0]["id"]
            b = auth(KEY_B)
            for method, path, body in (
                ("GET", f"/v1/endpoints/{ep}", None),
                ("PATCH", f"/v1/endpoints/{ep}", {"enabled": False}),
                ("DELETE", f"/v1/endpoints/{ep}", None),
                ("POST", f"/v1/endpoints/{ep}/secret/rotate", {}),
                ("GET", f"/v1/endpoints/{ep}/deliveries", None),
                ("POST", f"/v1/endpoints/{ep}/replay-failed", {"since": t0.isoformat()}),
                ("GET", f"/v1/deliveries/{first}", None),
                ("POST", f"/v1/deliveries/{first}/replay", None),
            ):
                response = await client.request(method, path, json=body, headers=b)
                assert response.status_code == 404, (method, path, response.text)
            assert (await client.get("/v1/endpoints", headers=b)).json() == []
            assert (await delivery_rows(app, "status = 'dead'")).__len__() == 3

            failing.replies = [Reply(200)]
            # six failures in a row opened the endpoint's breaker: let its cooldown pass first
            clock.advance(timedelta(seconds=30))
            replayed = await client.post(f"/v1/deliveries/{first}/replay", headers=auth(KEY_A))
            assert replayed.status_code == 202
            await eventually(lambda: _all_with_status(app, "succeeded", 1))
            webhook_id = rows[0]["webhook_id"]
            assert [r.webhook_id for r in receiver.requests].count(webhook_id) == 3  # same id again

            none = await client.post(
                f"/v1/endpoints/{ep}/replay-failed",
                json={"since": (t0 + timedelta(hours=1)).isoformat()},
                headers=auth(KEY_A),
            )
            assert none.json() == {"replayed": 0}
            every = await client.post(
                f"/v1/endpoints/{ep}/replay-failed", json={"since": t0.isoformat()}, headers=auth(KEY_A)
            )
            assert every.json() == {"replayed": 2}
            await eventually(lambda: _all_with_status(app, "succeeded", 3))
            again = await client.post(f"/v1/deliveries/{first}/replay", headers=auth(KEY_A))
            assert again.status_code == 202  # a succeeded delivery may be sent again on request
    finally:
        await receiver.stop()


async def _all_with_status(app: Any, status: str, count: int) -> list[dict[str, Any]]:
    rows = await delivery_rows(app, "status = $1", status)
    return rows if len(rows) == count else []


async def test_410_gone_and_continuous_failure_disable_endpoints_and_tell_the_shop(infra: Settings) -> None:
    clock = manual_clock_at_wall_now()
    fail_path = "/failing"

    async def by_path(request: Received) -> Reply:
        return Reply(410) if request.path == "/gone" else Reply(500 if request.path == fail_path else 200)

    receiver = await Receiver(by_path).start()
    cfg = config(retry_schedule_seconds=(0, 60, 60, 60, 60), disable_after_seconds=120, breaker_threshold=50)
    try:
        async with running_notify(infra, cfg, clock) as app, api(app) as client:
            gone = await create_endpoint(client, receiver.url("/gone"))
            failing = await create_endpoint(client, receiver.url(fail_path))
            await produce(infra, topics.ORDERS.name, order_event("order.created", "o-9"))

            async def disabled(endpoint_id: str) -> dict[str, Any]:
                body: dict[str, Any] = (
                    await client.get(f"/v1/endpoints/{endpoint_id}", headers=auth(KEY_A))
                ).json()
                return {} if body["enabled"] else body

            gone_state = await eventually(lambda: disabled(gone["id"]))
            assert gone_state["disabled_reason"] == "the receiver answered 410 Gone"
            for made in (1, 2):  # t0, t0+60: inside the period; the attempt at t0+120 ends it

                async def attempted(made: int = made) -> bool:
                    return await _failing_attempts(app, failing["id"], made)

                await eventually(attempted)
                assert (await disabled(failing["id"])) == {}
                clock.advance(timedelta(seconds=60))
            failing_state = await eventually(lambda: disabled(failing["id"]))
            assert failing_state["disabled_reason"].startswith("failing continuously since ")

            events = [decode_event(r.value) for r in await read_topic(infra, topics.NOTIFY.name, at_least=2)]
            disabled_events = {
                e.data.endpoint_id: e.data for e in events if e.type == "webhook.endpoint_disabled"
            }
            assert set(disabled_events) == {gone["id"], failing["id"]}
            assert disabled_events[gone["id"]].url == receiver.url("/gone")

            # the shop fixes its receiver and re-enables: the waiting delivery goes out
            fail_path = "/fixed"
            patched = await client.patch(
                f"/v1/endpoints/{failing['id']}", json={"enabled": True}, headers=auth(KEY_A)
            )
            assert patched.json()["enabled"] is True
            clock.advance(timedelta(seconds=60))
            await eventually(lambda: _status_of(app, failing["id"], "succeeded"))
    finally:
        await receiver.stop()


async def _failing_attempts(app: Any, endpoint_id: str, count: int) -> bool:
    rows = await delivery_rows(app, "endpoint_id = $1", endpoint_id)
    return bool(rows) and rows[0]["total_attempts"] >= count


async def _status_of(app: Any, endpoint_id: str, status: str) -> bool:
    rows = await delivery_rows(app, "endpoint_id = $1", endpoint_id)
    return bool(rows) and rows[0]["status"] == status
