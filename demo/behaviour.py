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

# What an agent writes, by what the ticket is about: intake's category, or the ticket's source when
# intake opened it on the customer's behalf (an unhappy survey answer). `follow_up` answers a customer
# who wrote again. Impersonal Polish: "Pani/Pana" would need the customer's gender.
REPLIES: dict[str, dict[str, tuple[str, ...]]] = {
    "pl": {
        "order_status": (
            "Dzień dobry, paczka jest już w drodze. Jej status można sprawdzić pod linkiem do śledzenia "
            "z e-maila o wysyłce.",
            "Dzień dobry, sprawdziliśmy przesyłkę u przewoźnika: jest w drodze i powinna dotrzeć "
            "w ciągu dwóch dni roboczych.",
        ),
        "delivery_delay": (
            "Dzień dobry, bardzo przepraszamy za opóźnienie. Przewoźnik potwierdził, że paczka jest "
            "w drodze i dotrze w ciągu dwóch dni roboczych.",
            "Dzień dobry, przepraszamy za kłopot. Zgłosiliśmy opóźnienie przewoźnikowi; paczka powinna "
            "dotrzeć najpóźniej w nowym terminie podanym w powiadomieniu.",
        ),
        "return": (
            "Dzień dobry, etykietę zwrotną wysłaliśmy przed chwilą e-mailem. Wystarczy ją wydrukować, "
            "nakleić na paczkę i nadać w dowolnym punkcie przewoźnika.",
            "Dzień dobry, zwrot przyjęliśmy, a etykieta jest w wiadomości, którą właśnie wysłaliśmy. "
            "Pieniądze zwrócimy w ciągu 14 dni od otrzymania paczki.",
        ),
        "complaint_repair": (
            "Dzień dobry, produkt jest w serwisie i naprawa jeszcze trwa. Damy znać, gdy tylko do nas wróci.",
            "Dzień dobry, przepraszamy, że to tyle trwa. Serwis obiecał skończyć naprawę w ciągu kilku "
            "dni; napiszemy, gdy tylko produkt zostanie odesłany.",
        ),
        "payment": (
            "Dzień dobry, zwrot płatności za anulowane zamówienie już zleciliśmy. Pieniądze powinny "
            "być na koncie w ciągu pięciu dni roboczych.",
            "Dzień dobry, zwrot zleciliśmy dziś. Pieniądze wrócą tą samą drogą, którą przyszła "
            "płatność; bank zwykle księguje je w ciągu kilku dni roboczych.",
        ),
        "product_question": (
            "Dzień dobry, tak: czajnik wyłącza się automatycznie po zagotowaniu wody, a filtr "
            "antywapienny jest w zestawie i można go wyjąć do czyszczenia.",
            "Dzień dobry, czajnik ma automatyczne wyłączanie i wyjmowany filtr antywapienny. "
            "W razie dalszych pytań chętnie pomożemy.",
        ),
        "other": (
            "Dzień dobry, dziękujemy za wiadomość. Sprawdzamy sprawę i odpiszemy najszybciej, "
            "jak to możliwe.",
        ),
        "survey_detractor": (
            "Dzień dobry, dziękujemy za szczerą ocenę i przepraszamy, że tym razem coś poszło nie tak. "
            "Chętnie to naprawimy: prosimy napisać, co dokładnie zawiodło.",
            "Dzień dobry, przykro nam, że zakupy u nas nie spełniły oczekiwań. Sprawdzimy, co się stało, "
            "i wrócimy z propozycją rozwiązania.",
        ),
        "follow_up": (
            "Dzień dobry, przepraszamy za zwłokę. Sprawa jest w toku; odezwiemy się, gdy tylko "
            "będziemy mieć nowe informacje.",
            "Dzień dobry, sprawdziliśmy jeszcze raz: wszystko idzie zgodnie z planem. Jeśli coś się "
            "zmieni, od razu damy znać.",
        ),
    },
    "en": {
        "order_status": (
            "Hello, your parcel is on its way. You can follow it with the tracking link in the "
            "shipping e-mail.",
            "Hello, we have checked with the carrier: your parcel is on its way and should arrive "
            "within two working days.",
        ),
        "delivery_delay": (
            "Hello, we are very sorry for the delay. The carrier has confirmed that your parcel is on "
            "its way and will arrive within two working days.",
            "Hello, sorry for the delay. We have chased the carrier; your parcel should arrive by the "
            "new date in our notice at the latest.",
        ),
        "return": (
            "Hello, we have just e-mailed you a return label. Print it, stick it on the parcel and drop "
            "it off at any of the carrier's points.",
            "Hello, your return is accepted and the label is in the e-mail we have just sent. We will "
            "refund you within 14 days of receiving the parcel.",
        ),
        "complaint_repair": (
            "Hello, your product is with the service centre and the repair is still under way. We will "
            "let you know as soon as it is back with us.",
            "Hello, we are sorry the repair is taking so long. The service centre expects to finish within a "
            "few days; we will write as soon as it is on its way back to you.",
        ),
        "payment": (
            "Hello, we have issued the refund for your cancelled order. The money should reach your "
            "account within five working days.",
            "Hello, the refund went out today, to the card or account you paid with; banks usually "
            "take a few working days to show it.",
        ),
        "product_question": (
            "Hello, yes: the kettle switches itself off once the water boils, and the limescale filter "
            "comes with it (it lifts out for cleaning).",
            "Hello, the kettle has an automatic switch-off and a removable limescale filter. Happy to "
            "help with any other questions.",
        ),
        "other": (
            "Hello, thank you for your message. We are looking into it and will get back to you as "
            "soon as we can.",
        ),
        "survey_detractor": (
            "Hello, thank you for your honest rating, and we are sorry we let you down this time. We "
            "would like to put it right: could you tell us what went wrong?",
            "Hello, we are sorry your order fell short of your expectations. We are looking into what "
            "happened and will come back to you with a solution.",
        ),
        "follow_up": (
            "Hello, sorry for the wait. We are still on it and will write as soon as we have news.",
            "Hello, we have checked again and everything is on track. We will tell you straight away "
            "if anything changes.",
        ),
    },
}

SCORE_WEIGHTS: dict[str, tuple[int, tuple[float, ...]]] = {
    # kind: (lowest score, weight of each score from the lowest up)
    "nps": (0, (2, 1, 1, 2, 2, 4, 6, 10, 14, 24, 34)),
    "csat": (1, (6, 6, 12, 30, 46)),
    "ces": (1, (3, 4, 6, 10, 17, 28, 32)),
}
ANSWER_SHARE = {"nps": 0.7, "csat": 0.65, "ces": 0.55}
# A comment on the survey's own question: the order (NPS), the answer to a ticket (CSAT), the effort
# of a return or repair (CES). Worded so that they do not depend on who writes them.
COMMENTS: dict[str, dict[tuple[str, str], tuple[str, ...]]] = {
    "pl": {
        ("nps", "low"): ("Paczka przyszła z dużym opóźnieniem.", "Produkt nie spełnił moich oczekiwań."),
        ("nps", "high"): (
            "Szybka dostawa i porządnie zapakowana paczka. Polecam!",
            "Wszystko zgodnie z opisem, na pewno tu wrócę.",
        ),
        ("csat", "low"): ("Na odpowiedź trzeba było długo czekać.", "Odpowiedź niewiele mi pomogła."),
        ("csat", "high"): ("Szybka i konkretna odpowiedź, dziękuję!", "Bardzo miła obsługa."),
        ("ces", "low"): (
            "Formalności przy zwrocie zajęły za dużo czasu.",
            "Trudno było się dowiedzieć, co dalej z naprawą.",
        ),
        ("ces", "high"): (
            "Wszystko poszło gładko i bez zbędnych formalności.",
            "Prosto i szybko, bez żadnych problemów.",
        ),
    },
    "en": {
        ("nps", "low"): ("The parcel was very late.", "The product did not live up to my expectations."),
        ("nps", "high"): (
            "Fast delivery and a well-packed parcel. Recommended!",
            "Just as described, I will be back.",
        ),
        ("csat", "low"): ("I waited a long time for an answer.", "The answer did not help me much."),
        ("csat", "high"): ("A quick, clear answer, thank you!", "Very friendly service."),
        ("ces", "low"): (
            "The return paperwork took far too long.",
            "It was hard to find out what was happening with the repair.",
        ),
        ("ces", "high"): (
            "Everything went smoothly, with no needless paperwork.",
            "Quick and easy, no problems at all.",
        ),
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
    """The first answer, on the ticket's topic."""
    follow_up: str
    """The answer to a customer who wrote again."""


def reply_topic(category: str, source: str) -> str:
    """What the agent answers about: the unhappy survey answer that opened the ticket, else what
    intake filed it under."""
    if source == "survey_detractor":
        return source
    return category if category in REPLIES["en"] else "other"


def agent_plan(
    seed: int,
    ticket_id: str,
    channel: Channel,
    locale: str,
    category: str = "other",
    source: str = "contact",
) -> AgentPlan:
    rng = seeded(seed, ticket_id)
    usual, slow, slow_share = FIRST_REPLY_MINUTES[channel]
    low, high = slow if rng.random() < slow_share else usual
    replies = REPLIES.get(locale.split("-")[0], REPLIES["en"])
    return AgentPlan(
        first_reply_after=timedelta(minutes=rng.uniform(low, high)),
        pending_first=rng.random() < 0.2,
        solve_after=timedelta(minutes=rng.uniform(10, 240)),
        reply=rng.choice(replies[reply_topic(category, source)]),
        follow_up=rng.choice(replies["follow_up"]),
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
    comment = rng.choice(comments[kind, mood]) if rng.random() < 0.5 else ""
    sub: dict[str, int] = {}
    if kind == "csat":
        sub = {"speed": max(1, min(5, score + rng.randint(-1, 1))), "accuracy": score}
    return SurveyAnswer(timedelta(hours=rng.uniform(0.2, 30)), score, comment, **sub)
