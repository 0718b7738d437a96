"""The demo shop's webhook receiver: a loopback HTTP server notify delivers to.

Every request is verified with the reference `standardwebhooks` package (signature over id, timestamp
and body with the endpoint's secret, timestamp within its replay window); a small share of verified
requests is answered 500 on purpose, so notify's retries (same webhook-id) show in the summary.
Survey invitations are handed to the demo's customers, who follow their links.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
from collections import Counter as Tally
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from prometheus_client import Counter
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime.metrics import METRICS_CONTENT_TYPE, render

WEBHOOK_REQUESTS = Counter(
    "careloop_demo_webhook_requests_total",
    "Webhook requests the demo receiver got, by outcome (verified, bad_signature, not_ready, answered_500)",
    ["outcome"],
)
PATH = "/webhooks/careloop"


@dataclass
class ReceiverStats:
    verified: int = 0
    """Requests whose signature standardwebhooks accepted (retries included)."""
    bad_signature: int = 0
    answered_500: int = 0
    unique_deliveries: int = 0
    """Distinct webhook-ids verified and acknowledged with 2xx."""
    by_type: Tally[str] = field(default_factory=Tally)


class WebhookReceiver:
    def __init__(self, failure_ratio: float, rng: random.Random) -> None:
        self.failure_ratio = failure_ratio
        self.stats = ReceiverStats()
        self.invitations: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        """`data` of each verified survey.invited webhook, once per webhook-id."""
        self._rng = rng
        self._webhook: Webhook | None = None
        self._acknowledged: set[str] = set()

    def use_secret(self, secret: str) -> None:
        self._webhook = Webhook(secret)

    async def receive(self, request: Request) -> Response:
        if self._webhook is None:
            # Subscribed but the secret is not known yet: notify retries later.
            WEBHOOK_REQUESTS.labels("not_ready").inc()
            return JSONResponse({"error": "not ready"}, 503)
        body = await request.body()
        try:
            payload = self._webhook.verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            self.stats.bad_signature += 1
            WEBHOOK_REQUESTS.labels("bad_signature").inc()
            return JSONResponse({"error": "bad signature", "detail": str(exc)}, 400)
        self.stats.verified += 1
        WEBHOOK_REQUESTS.labels("verified").inc()
        if self._rng.random() < self.failure_ratio:
            self.stats.answered_500 += 1
            WEBHOOK_REQUESTS.labels("answered_500").inc()
            return JSONResponse({"error": "demo: simulated outage"}, 500)
        webhook_id = request.headers["webhook-id"]
        if webhook_id not in self._acknowledged:
            self._acknowledged.add(webhook_id)
            self.stats.unique_deliveries += 1
            event_type = str(payload.get("type", "?"))
            self.stats.by_type[event_type] += 1
            if event_type == "survey.invited":
                self.invitations.put_nowait(payload["data"])
        return Response(status_code=204)

    def app(self) -> Starlette:
        async def stats(request: Request) -> Response:
            s = self.stats
            body = {
                "verified": s.verified,
                "bad_signature": s.bad_signature,
                "answered_500": s.answered_500,
                "unique_deliveries": s.unique_deliveries,
                "by_type": dict(s.by_type),
            }
            return Response(json.dumps(body), media_type="application/json")

        async def metrics(request: Request) -> Response:
            return Response(render(), media_type=METRICS_CONTENT_TYPE)

        return Starlette(
            routes=[
                Route(PATH, self.receive, methods=["POST"]),
                Route("/stats", stats),
                Route("/metrics", metrics),
            ]
        )


class _NoSignalServer(uvicorn.Server):
    """The demo process handles SIGINT/SIGTERM itself; uvicorn must not take them over."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ReceiverServer:
    """Serves a WebhookReceiver on a socket bound up front, so port 0 yields a known free port."""

    def __init__(self, receiver: WebhookReceiver, host: str, port: int) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host = host
        self.port: int = self.socket.getsockname()[1]
        config = uvicorn.Config(receiver.app(), log_config=None, access_log=False, lifespan="off")
        self.server = _NoSignalServer(config)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{PATH}"

    async def serve(self) -> None:
        await self.server.serve(sockets=[self.socket])

    def stop(self) -> None:
        self.server.should_exit = True
