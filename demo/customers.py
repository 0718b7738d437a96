"""The demo shop's customers answering surveys: each invitation (a verified survey.invited webhook) is
followed through its personal link on the real answer page over HTTP, a while later, with a
realistic score (demo.behaviour.survey_answer) — or never, as many customers do. Only the demo's own
customers answer: an invitation for somebody else (a ticket created by hand with the shop's key, then
solved) is left to that person."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import Counter as Tally
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from demo.behaviour import SurveyAnswer, is_unhappy, survey_answer
from runtime.clock import Clock

log = logging.getLogger("demo.customers")


class Customers:
    def __init__(
        self,
        invitations: asyncio.Queue[dict[str, Any]],
        pages: httpx.AsyncClient,
        clock: Clock,
        seed: int,
        poll_seconds: float = 0.5,
        *,
        ours: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        """`ours(invitation["customer"])` says which invitations are the demo's (all without it)."""
        self._invitations = invitations
        self._ours = ours
        self._pages = pages
        self._clock = clock
        self._seed = seed
        self._poll_seconds = poll_seconds
        self._due: list[tuple[datetime, int, dict[str, Any], SurveyAnswer]] = []
        self._sequence = itertools.count()
        self.stats: Tally[str] = Tally()
        """invited, ignored, answered:<kind>, unhappy, refused:<status>, page_errors; not_ours (an
        invitation for somebody else, left alone)."""

    async def run(self) -> None:
        while True:
            self.plan_new()
            await self.answer_due()
            await asyncio.sleep(self._poll_seconds)

    def plan_new(self) -> None:
        while not self._invitations.empty():
            invitation = self._invitations.get_nowait()
            if self._ours is not None and not self._ours(invitation["customer"]):
                self.stats["not_ours"] += 1
                continue
            self.stats["invited"] += 1
            locale = str(invitation.get("locale") or "en")
            answer = survey_answer(self._seed, invitation["survey_id"], invitation["kind"], locale)
            if answer is None:
                self.stats["ignored"] += 1
                continue
            due = self._clock.now() + answer.after
            heapq.heappush(self._due, (due, next(self._sequence), invitation, answer))

    async def answer_due(self) -> None:
        now = self._clock.now()
        while self._due and self._due[0][0] <= now:
            _, _, invitation, answer = heapq.heappop(self._due)
            try:
                await self._answer(invitation, answer)
            except httpx.HTTPError as exc:
                self.stats["page_errors"] += 1
                log.warning("survey page not reachable: %s", exc)

    async def _answer(self, invitation: dict[str, Any], answer: SurveyAnswer) -> None:
        link = invitation["link"]
        # As a person would: open the page from the e-mail, then submit its form.
        page = await self._pages.get(link, params={"score": answer.score})
        if page.status_code != 200:
            self.stats[f"refused:{page.status_code}"] += 1
            return
        form: dict[str, str] = {"score": str(answer.score), "comment": answer.comment}
        if answer.speed is not None:
            form["speed"] = str(answer.speed)
        if answer.accuracy is not None:
            form["accuracy"] = str(answer.accuracy)
        sent = await self._pages.post(link, data=form)
        if sent.status_code != 200:
            self.stats[f"refused:{sent.status_code}"] += 1
            return
        kind = invitation["kind"]
        self.stats[f"answered:{kind}"] += 1
        if is_unhappy(kind, answer.score):
            self.stats["unhappy"] += 1
