from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from demo.behaviour import COMMENTS, REPLIES, SCORE_WEIGHTS, agent_plan, is_unhappy, survey_answer
from demo.contacts import TEXTS
from schemas.v1.contacts import Channel
from schemas.v1.tickets import Category
from services.intake.domain.orders import OrderStatus
from services.intake.domain.rules import DEFAULT_RULES, categorise

ids = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=40)


@given(st.integers(0, 2**31), ids, st.sampled_from(list(Channel)), st.sampled_from(["pl", "en", "de"]))
def test_an_agent_plan_is_deterministic_and_sane(
    seed: int, ticket_id: str, channel: Channel, locale: str
) -> None:
    plan = agent_plan(seed, ticket_id, channel, locale)
    assert plan == agent_plan(seed, ticket_id, channel, locale)
    assert timedelta(0) < plan.first_reply_after <= timedelta(hours=10)
    assert timedelta(minutes=10) <= plan.solve_after <= timedelta(hours=4)
    assert plan.reply
    assert plan.follow_up


# What each of the demo's customer messages is about, with the order's state when it is written, the
# category intake's default rules must file it under, and a word every answer on that topic uses.
TOPICS = {
    "delay": (OrderStatus.DELAYED, Category.DELIVERY_DELAY, {"pl": "opóźnieni", "en": "delay"}),
    "shipment": (OrderStatus.OUT_FOR_DELIVERY, Category.ORDER_STATUS, {"pl": "w drodze", "en": "on its way"}),
    "return": (OrderStatus.RETURN_REQUESTED, Category.RETURN, {"pl": "etykiet", "en": "label"}),
    "repair": (OrderStatus.REPAIR_RECEIVED, Category.COMPLAINT_REPAIR, {"pl": "napraw", "en": "repair"}),
    "cancellation": (OrderStatus.CANCELLED, Category.PAYMENT, {"pl": "zwrot", "en": "refund"}),
    "presale": (None, Category.PRODUCT_QUESTION, {"pl": "czajnik", "en": "kettle"}),
}


@given(st.integers(0, 2**31), ids, st.sampled_from(list(Channel)), st.sampled_from(sorted(TOPICS)))
def test_an_agent_answers_what_the_customer_asked(
    seed: int, ticket_id: str, channel: Channel, topic: str
) -> None:
    status, category, word = TOPICS[topic]
    for locale in ("pl", "en"):
        subject, body = TEXTS[locale][topic]
        filed = categorise(DEFAULT_RULES, subject, body.format(order="demo-shop-0000001"), status)
        assert filed is category, (locale, topic)
        plan = agent_plan(seed, ticket_id, channel, locale, filed.value, "contact")
        assert plan.reply in REPLIES[locale][category.value]
        assert word[locale] in plan.reply.casefold(), (locale, topic, plan.reply)
        assert plan.follow_up in REPLIES[locale]["follow_up"]


def test_a_detractors_follow_up_ticket_is_answered_as_one() -> None:
    for locale, word in (("pl", "ocen"), ("en", "rating")):
        replies = {
            agent_plan(1, f"tkt-{n}", Channel.EMAIL, locale, "other", "survey_detractor").reply
            for n in range(50)
        }
        assert replies == set(REPLIES[locale]["survey_detractor"])
        assert any(word in reply for reply in replies)
    # a category the demo has no answer for gets the general one
    assert agent_plan(1, "tkt-1", Channel.EMAIL, "pl", "something_new").reply in REPLIES["pl"]["other"]


def test_some_first_replies_are_slow_enough_to_breach_the_default_slas() -> None:
    targets = {
        Channel.CHAT: timedelta(minutes=5),
        Channel.EMAIL: timedelta(hours=1),
        Channel.WEB_FORM: timedelta(hours=4),
    }
    for channel, target in targets.items():
        plans = [agent_plan(1, f"tkt-{n}", channel, "pl") for n in range(1000)]
        late = sum(p.first_reply_after > target for p in plans) / len(plans)
        assert 0.05 < late < 0.3, (channel, late)


@given(st.integers(0, 2**31), ids, st.sampled_from(["nps", "csat", "ces"]))
def test_a_survey_answer_is_in_scale_and_deterministic(seed: int, survey_id: str, kind: str) -> None:
    answer = survey_answer(seed, survey_id, kind, "pl")
    assert answer == survey_answer(seed, survey_id, kind, "pl")
    if answer is None:
        return
    lowest, weights = SCORE_WEIGHTS[kind]
    assert lowest <= answer.score < lowest + len(weights)
    mood = "low" if is_unhappy(kind, answer.score) else "high"
    assert answer.comment in ("", *COMMENTS["pl"][kind, mood])  # on the survey's own question
    assert answer.after > timedelta(0)
    if kind == "csat":
        assert answer.speed is not None
        assert 1 <= answer.speed <= 5
        assert answer.accuracy == answer.score
    else:
        assert answer.speed is None
        assert answer.accuracy is None


def test_scores_look_like_a_real_shop_with_some_detractors() -> None:
    answers = [survey_answer(2, f"srv-{n}", "nps", "en") for n in range(3000)]
    given_answers = [a for a in answers if a is not None]
    assert 0.6 < len(given_answers) / len(answers) < 0.8  # many customers never answer
    scores = Counter(a.score for a in given_answers)
    promoters = (scores[9] + scores[10]) / len(given_answers)
    detractors = sum(scores[s] for s in range(7)) / len(given_answers)
    assert 0.5 < promoters < 0.65
    assert 0.1 < detractors < 0.25
    assert all(is_unhappy("nps", s) == (s <= 6) for s in range(11))
