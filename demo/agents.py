"""The demo shop's support agents: they poll intake for open and pending tickets and work them through
its API with realistic delays (demo.behaviour.agent_plan), some slow enough to breach an SLA, answering
on each ticket's topic. They work the tickets of the demo's own customers only: a ticket somebody
created by hand with the shop's key is left to that person.

Each is an agent of the demo shop with their own token (demo/staff.py): a ticket is worked by the
agent it is assigned to (intake's team assigns new ones by itself), an unassigned one is taken first,
and one assigned to anybody else (the person in the workspace) is left to them."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter as Tally
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from demo.behaviour import agent_plan
from demo.staff import BOTS, Seat
from runtime.clock import Clock
from schemas.v1.contacts import Channel

log = logging.getLogger("demo.agents")
AGENT_NAMES = BOTS
"""Who signs a reply made with the shop's key (before the agents have their seats)."""


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _auth(seat: Seat) -> dict[str, str] | None:
    """The seat's token, or the client's own (the shop's key) for the seat of nobody."""
    return seat.auth if seat.token else None


class Agents:
    def __init__(
        self,
        intake: httpx.AsyncClient,
        clock: Clock,
        seed: int,
        poll_seconds: float,
        *,
        ours: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        """`ours(ticket["customer"])` says which tickets are the demo's to work (all without it)."""
        self._intake = intake
        self._clock = clock
        self._seed = seed
        self._poll_seconds = poll_seconds
        self._ours = ours
        self.stats: Tally[str] = Tally()
        """replies, pending, solved (tickets, each once), solved_again (after it was reopened), refused
        (a 4xx from intake: the ticket changed meanwhile)."""
        self.unsolved: Tally[str] = Tally()
        """Open and pending tickets at the latest poll: `demo` the agents work, `others` they leave."""
        self._solved: set[str] = set()
        self._waiting: dict[str, tuple[str, datetime | None]] = {}
        """Per ticket: its last_activity_at when last read, and whether the customer awaited an answer
        then; the conversation is read again only when the ticket moved."""
        self._concurrency = asyncio.Semaphore(8)
        self._seats: dict[str, Seat] = {}

    def take_seats(self, seats: list[Seat]) -> None:
        """From now on each works as one of these agents, with their token."""
        self._seats = {seat.agent_id: seat for seat in seats}

    async def _seat_for(self, ticket: dict[str, Any]) -> Seat | None:
        """The seat working `ticket`: its agent's, or one that takes it if nobody has it; None if
        somebody else has it. Without seats, the shop's key (a seat of nobody)."""
        if not self._seats:
            return Seat("", "", "")
        assignee = ticket.get("assignee_agent_id")
        if assignee is not None:
            return self._seats.get(assignee)
        seats = sorted(self._seats.values(), key=lambda s: s.agent_id)
        seat = seats[sum(map(ord, ticket["id"])) % len(seats)]
        taken = await self._intake.post(f"/v1/tickets/{ticket['id']}/take", headers=seat.auth)
        self._count(taken, "taken")
        return seat if taken.is_success else None

    async def run(self) -> None:
        while True:
            try:
                await self.work_once()
            except httpx.HTTPError as exc:
                log.warning("intake not reachable: %s", exc)
            await asyncio.sleep(self._poll_seconds)

    async def work_once(self) -> None:
        listed = [t for status in ("open", "pending") for t in await self._tickets(status)]
        tickets = [t for t in listed if self._ours is None or self._ours(t["customer"])]
        self.unsolved = Tally(demo=len(tickets), others=len(listed) - len(tickets))

        async def work(ticket: dict[str, Any]) -> None:
            async with self._concurrency:
                seat = await self._seat_for(ticket)
                if seat is not None:  # else somebody else's now
                    await self._work(seat, ticket)

        # A team works tickets side by side: one slow call must not hold up the queue.
        await asyncio.gather(*(work(t) for t in tickets))
        alive = {t["id"] for t in tickets}
        self._waiting = {k: v for k, v in self._waiting.items() if k in alive}

    async def _tickets(self, status: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            response = await self._intake.get(
                "/v1/tickets", params={"status": status, "limit": 200, "offset": offset}
            )
            response.raise_for_status()
            page = response.json()
            found += page["tickets"]
            offset = page["next_offset"]
        return found

    async def _work(self, seat: Seat, ticket: dict[str, Any]) -> None:
        now = self._clock.now()
        locale = ticket["customer"]["locale"]
        plan = agent_plan(
            self._seed, ticket["id"], Channel(ticket["channel"]), locale, ticket["category"], ticket["source"]
        )
        if ticket["status"] == "pending":
            if ticket.get("deflect_at"):
                return  # an automatic answer waits for the customer: intake settles it
            if ticket["first_response_at"] and now >= _at(ticket["first_response_at"]) + plan.solve_after:
                await self._set_status(seat, ticket["id"], "solved")
            return
        if ticket["agent_replies"] == 0:
            if now >= _at(ticket["created_at"]) + plan.first_reply_after:
                await self._reply(seat, ticket["id"], plan.reply, locale)
                if plan.pending_first:
                    await self._set_status(seat, ticket["id"], "pending")
            return
        waiting_since = await self._customer_waiting_since(ticket)
        if waiting_since is not None:
            if now >= waiting_since + plan.first_reply_after:
                await self._reply(seat, ticket["id"], plan.follow_up, locale)
        elif ticket["first_response_at"] and now >= _at(ticket["first_response_at"]) + plan.solve_after:
            await self._set_status(seat, ticket["id"], "solved")

    async def _customer_waiting_since(self, ticket: dict[str, Any]) -> datetime | None:
        """When the customer wrote last, if that is the latest public message (they await an answer)."""
        known = self._waiting.get(ticket["id"])
        if known is not None and known[0] == ticket["last_activity_at"]:
            return known[1]
        response = await self._intake.get(f"/v1/tickets/{ticket['id']}")
        response.raise_for_status()
        public = [m for m in response.json()["messages"] if not m["internal"] and m["author"] != "system"]
        since = _at(public[-1]["at"]) if public and public[-1]["author"] == "customer" else None
        self._waiting[ticket["id"]] = (ticket["last_activity_at"], since)
        return since

    async def _reply(self, seat: Seat, ticket_id: str, body: str, locale: str) -> None:
        if seat.token:  # the agent's own reply, in their name
            sent = {"body": body}
        else:
            names = AGENT_NAMES.get(locale.split("-")[0], AGENT_NAMES["en"])
            sent = {"body": body, "author_name": names[sum(map(ord, ticket_id)) % len(names)]}
        response = await self._intake.post(f"/v1/tickets/{ticket_id}/replies", json=sent, headers=_auth(seat))
        self._count(response, "replies")

    async def _set_status(self, seat: Seat, ticket_id: str, status: str) -> None:
        response = await self._intake.post(
            f"/v1/tickets/{ticket_id}/status", json={"status": status}, headers=_auth(seat)
        )
        if status == "solved" and response.is_success and ticket_id in self._solved:
            self._count(response, "solved_again")  # reopened by the customer meanwhile
            return
        if status == "solved" and response.is_success:
            self._solved.add(ticket_id)
        self._count(response, status)

    def _count(self, response: httpx.Response, what: str) -> None:
        if response.is_success:
            self.stats[what] += 1
        else:
            self.stats["refused"] += 1
            log.info("intake refused %s: %s %s", what, response.status_code, response.text[:200])
