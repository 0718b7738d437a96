from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from demo.behaviour import SCORE_WEIGHTS, agent_plan, is_unhappy, survey_answer
from schemas.v1.contacts import Channel

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
