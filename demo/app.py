"""The demo shop as one process: its platform (orders, contacts), its webhook receiver, its agents, its
customers and the live summary, wired to the four services over HTTP and Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TextIO

import httpx

from demo.agents import Agents
from demo.config import DemoSettings
from demo.customers import Customers
from demo.people import OwnCustomers
from demo.receiver import ReceiverServer, WebhookReceiver
from demo.shop import ShopGenerator, ShopTimeline
from demo.shopify import ShopifyStore
from demo.staff import Staff, sign_in_staff
from demo.summary import Snapshot, answers, frame, gather, render, where_to_look
from runtime.clock import Clock
from runtime.settings import Settings

log = logging.getLogger("demo")
ENDPOINT_DESCRIPTION = "CareLoop demo receiver"


def first_order_no(start: datetime) -> int:
    """Order numbers of this run: apart from earlier runs' (same seed, new ids), by the start minute."""
    return int(start.timestamp()) // 60 * 100_000 + 1


class DemoShop:
    def __init__(
        self,
        settings: Settings,
        demo: DemoSettings,
        clock: Clock,
        *,
        urls: Mapping[str, str],
        clients: Mapping[str, httpx.AsyncClient],
        pages: httpx.AsyncClient,
        speed: float = 1.0,
        out: TextIO = sys.stdout,
    ) -> None:
        """`clients` per service (base URL and the shop's API key set), `urls` their base URLs for the
        summary, `pages` a client without credentials for the links customers follow."""
        self._demo = demo
        self._clock = clock
        self._urls = urls
        self._clients = clients
        self._speed = speed
        self._out = out
        self._pages = pages
        start = clock.now()
        self.receiver = WebhookReceiver(demo.receiver_failure_ratio, random.Random(demo.seed + 1))
        self.server = ReceiverServer(self.receiver, demo.receiver_host, demo.receiver_port)
        self.own = OwnCustomers()
        """Every customer this run made up: its agents and customers act on theirs only."""
        timeline = ShopTimeline(
            random.Random(demo.seed),
            demo.shop_id,
            start - timedelta(days=demo.history_days),
            demo.orders_per_day,
            first_order_no=first_order_no(start),
            locale=demo.locale,
            customers=self.own,
        )
        store = None
        if demo.platform == "shopify":
            store = ShopifyStore(demo.shop_id, demo.shopify_secret.get_secret_value())
        self.shop = ShopGenerator(settings, timeline, clock, clients["intake"], shopify=store)
        self.agents = Agents(clients["intake"], clock, demo.seed, demo.agent_poll_seconds, ours=self.own.owns)
        self.customers = Customers(self.receiver.invitations, pages, clock, demo.seed, ours=self.own.owns)
        self.endpoint_id: str | None = None
        self.staff: Staff | None = None
        """The shop's team and agents in CareLoop, once signed in (demo/staff.py)."""

    # -- the notify subscription ------------------------------------------------------------
    async def subscribe(self, attempts: int = 20) -> None:
        """Subscribe the receiver at notify (after removing earlier demo runs' endpoints: their
        secrets are gone, so their deliveries could never verify)."""
        notify = self._clients["notify"]
        for attempt in range(attempts):
            try:
                listed = await notify.get("/v1/endpoints")
                listed.raise_for_status()
                for endpoint in listed.json():
                    if endpoint["description"] == ENDPOINT_DESCRIPTION:
                        await notify.delete(f"/v1/endpoints/{endpoint['id']}")
                created = await notify.post(
                    "/v1/endpoints",
                    json={"url": self.server.url, "description": ENDPOINT_DESCRIPTION, "event_types": ["*"]},
                )
                created.raise_for_status()
                body = created.json()
                self.receiver.use_secret(body["secret"])
                self.endpoint_id = body["id"]
                log.warning("webhooks: receiver %s subscribed as %s", self.server.url, self.endpoint_id)
                return
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code < 500:
                    raise RuntimeError(f"notify refused the demo endpoint: {exc.response.text}") from exc
            except httpx.HTTPError:
                pass
            await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
        raise RuntimeError("notify did not accept the demo endpoint")

    async def answer_where_is_my_order(self, attempts: int = 20) -> None:
        """Turn on the demo shop's automatic answers to "where is my order?" (the clean slate removed
        its settings). Its endpoint takes every event type, order.delayed included: the shop tells
        its customers of delays, so a delay counts as a notice sent."""
        settings = {"enabled": True, "delay_notices": True}
        for attempt in range(attempts):
            try:
                response = await self._clients["intake"].put("/v1/settings/automatic-answers", json=settings)
                response.raise_for_status()
                return
            except httpx.HTTPError:
                await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
        raise RuntimeError("intake did not take the demo shop's automatic-answer settings")

    async def sign_in_staff(self, attempts: int = 20) -> None:
        """The demo's agents become agents of the shop, each with a token, and work through them."""
        for attempt in range(attempts):
            try:
                self.staff = await sign_in_staff(self._clients["intake"], self._demo.locale)
                self.agents.take_seats(list(self.staff.bots))
                return
            except httpx.HTTPError:
                await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
        raise RuntimeError("intake did not take the demo shop's agents")

    async def unsubscribe(self) -> None:
        if self.endpoint_id is None:
            return
        with contextlib.suppress(httpx.HTTPError):
            await self._clients["notify"].delete(f"/v1/endpoints/{self.endpoint_id}")
        self.endpoint_id = None

    # -- the summary ------------------------------------------------------------------------
    async def links(self) -> dict[str, str]:
        """Where to look next (summary.where_to_look), after asking Prometheus and Grafana whether they answer
        (the services are asked by the summary, which lists those that do not)."""
        prometheus, grafana = self._demo.prometheus_url, self._demo.grafana_url
        return where_to_look(
            self._urls,
            self.endpoint_id,
            f"http://{self.server.host}:{self.server.port}",
            prometheus=prometheus,
            prometheus_answers=prometheus.startswith("http")
            and await answers(self._pages, f"{prometheus}/-/ready"),
            grafana=grafana if grafana and await answers(self._pages, f"{grafana}/api/health") else None,
            sign_in=(self.staff.you.name, self.staff.you.token) if self.staff else None,
        )

    async def snapshot(self) -> Snapshot:
        # The shop's own counts first, the services' after: what the agents saw open is then never
        # more recent than intake's count of tickets created.
        shop = self.shop.stats
        snap = Snapshot(
            domain_now=self._clock.now(),
            speed=self._speed,
            kept_data=self._demo.keep_data,
            orders_created=shop.orders_created,
            order_events=sum(shop.order_events.values()),
            contacts_sent=sum(shop.contacts.values()),
            lost=sum(shop.lost.values()),
            unsolved=dict(self.agents.unsolved),
            agent=dict(self.agents.stats),
            receiver={
                "verified": self.receiver.stats.verified,
                "bad_signature": self.receiver.stats.bad_signature,
                "answered_500": self.receiver.stats.answered_500,
            },
            customers=dict(self.customers.stats),
            links=await self.links(),
        )
        return await gather(self._clients, self._urls, self._demo.api_key.get_secret_value(), snap)

    async def show_summary(self) -> None:
        first = True
        while True:
            await asyncio.sleep(self._demo.summary_seconds)
            text = render(await self.snapshot())
            self._out.write(frame(text, in_place=self._demo.summary_clear_screen, first=first))
            self._out.flush()
            first = False

    # -- running ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Until cancelled; the endpoint is removed on the way out."""
        server = asyncio.create_task(self.server.serve(), name="demo:receiver")
        tasks: list[asyncio.Task[None]] = [server]
        try:
            while not self.server.server.started:
                if server.done():
                    server.result()  # the receiver could not start: say why
                await asyncio.sleep(0.05)
            await self.subscribe()
            await self.answer_where_is_my_order()
            await self.sign_in_staff()
            for name, work in (
                ("shop", self.shop.run),
                ("agents", self.agents.run),
                ("customers", self.customers.run),
                ("summary", self.show_summary),
            ):
                tasks.append(asyncio.create_task(work(), name=f"demo:{name}"))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks[1:]:
                task.cancel()
            await asyncio.gather(*tasks[1:], return_exceptions=True)
            await self.unsubscribe()
            self.server.stop()
            await asyncio.gather(server, return_exceptions=True)
