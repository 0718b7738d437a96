"""How the demo's agents and customers behave: when an agent answers a ticket and how it ends, whether
and how a customer answers a survey. Pure and deterministic per ticket/survey id and seed, so a
restarted demo makes the same decisions about the same ticket."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from datetime import timedelta

from schemas.v1.contacts import Channel

# (usual first-reply range, slow range, share of slow replies) in minutes. The slow ranges lie past the
# default SLA first-response targets (chat 5 min, e-mail/social/phone 1 h, web form 4 h), so some
# tickets breach, as they do in a real team on a busy day.
FIRST_REPLY_MINUTES: dict[Channel, tuple[tuple[float, float], tuple[float, float], float]] = {
    Channel.CHAT: ((0.5, 4.0), (8.0, 30.0), 0.12),
    Channel.EMAIL: ((5.0, 50.0), (90.0, 360.0), 0.2),
    Channel.SOCIAL: ((5.0, 45.0), (90.0, 300.0), 0.15),
    Channel.PHONE: ((2.0, 40.0), (90.0, 240.0), 0.1),
    Channel.WEB_FORM: ((20.0, 180.0), (300.0, 600.0), 0.15),
}

REPLIES: dict[str, tuple[str, ...]] = {
    "pl": (
        "Dzień dobry, sprawdziliśmy to u przewoźnika: paczka jest w drodze i dotrze w ciągu 1-2 dni.",
        "Dzień dobry, etykieta zwrotna jest już w Pani/Pana skrzynce. Dziękujemy za cierpliwość.",
        "Dzień dobry, naprawa jest w toku; damy znać, gdy tylko produkt wróci z serwisu.",
        "Dzień dobry, tak, produkt ma tę funkcję. Chętnie pomożemy w wyborze.",
    ),
    "en": (
        "Hello, we checked with the carrier: your parcel is on its way and arrives within 1-2 days.",
        "Hello, the return label is in your inbox now. Thank you for your patience.",
        "Hello, the repair is under way; we will let you know as soon as it is back from service.",
        "Hello, yes, the product has that feature. Happy to help you choose.",
    ),
}

SCORE_WEIGHTS: dict[str, tuple[int, tuple[float, ...]]] = {
    # kind: (lowest score, weight of each score from the lowest up)
    "nps": (0, (2, 1, 1, 2, 2, 4, 6, 10, 14, 24, 34)),
    "csat": (1, (6, 6, 12, 30, 46)),
    "ces": (1, (3, 4, 6, 10, 17, 28, 32)),
}
ANSWER_SHARE = {"nps": 0.7, "csat": 0.65, "ces": 0.55}
COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "pl": {
        "low": ("Paczka przyszła z dużym opóźnieniem.", "Długo czekałam na odpowiedź."),
        "high": ("Szybko i sprawnie, polecam!", "Bardzo miła obsługa."),
    },
    "en": {
        "low": ("The parcel was very late.", "I waited a long time for an answer."),
        "high": ("Quick and easy, recommended!", "Very friendly service."),
    },
}


def seeded(seed: int, key: str) -> random.Random:
    """A generator of its own per ticket/survey: decisions do not depend on the order they are made."""
    return random.Random(seed * 1_000_003 + zlib.crc32(key.encode()))


@dataclass(frozen=True)
class AgentPlan:
    first_reply_after: timedelta
    """From the ticket's creation (or the customer's latest message) to the agent's reply."""
    pending_first: bool
    """The agent asks the customer something and sets the ticket pending before solving it."""
    solve_after: timedelta
    """From the first reply to solved."""
    reply: str


def agent_plan(seed: int, ticket_id: str, channel: Channel, locale: str) -> AgentPlan:
    rng = seeded(seed, ticket_id)
    usual, slow, slow_share = FIRST_REPLY_MINUTES[channel]
    low, high = slow if rng.random() < slow_share else usual
    replies = REPLIES.get(locale.split("-")[0], REPLIES["en"])
    return AgentPlan(
        first_reply_after=timedelta(minutes=rng.uniform(low, high)),
        pending_first=rng.random() < 0.2,
        solve_after=timedelta(minutes=rng.uniform(10, 240)),
        reply=rng.choice(replies),
    )


@dataclass(frozen=True)
class SurveyAnswer:
    after: timedelta
    """From the invitation to the answer."""
    score: int
    comment: str
    speed: int | None = None
    accuracy: int | None = None


def is_unhappy(kind: str, score: int) -> bool:
    return score <= 6 if kind == "nps" else score <= 2 if kind == "csat" else score <= 3


def survey_answer(seed: int, survey_id: str, kind: str, locale: str) -> SurveyAnswer | None:
    """The customer's answer to one invitation, or None if they never answer (many do not)."""
    rng = seeded(seed, survey_id)
    if rng.random() >= ANSWER_SHARE.get(kind, 0.5):
        return None
    lowest, weights = SCORE_WEIGHTS[kind]
    score = lowest + rng.choices(range(len(weights)), weights=weights)[0]
    comments = COMMENTS.get(locale.split("-")[0], COMMENTS["en"])
    mood = "low" if is_unhappy(kind, score) else "high"
    comment = rng.choice(comments[mood]) if rng.random() < 0.5 else ""
    sub: dict[str, int] = {}
    if kind == "csat":
        sub = {"speed": max(1, min(5, score + rng.randint(-1, 1))), "accuracy": score}
    return SurveyAnswer(timedelta(hours=rng.uniform(0.2, 30)), score, comment, **sub)
