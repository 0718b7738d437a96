"""Score maths against hand-computed examples, and their properties."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.survey.domain.kinds import SurveyKind, is_detractor
from services.survey.domain.reports import InviteRow, ScoreRow, build_report
from services.survey.domain.scores import ces, csat, histogram, nps, response_rate

nps_scores = st.lists(st.integers(0, 10), min_size=1, max_size=200)
csat_scores = st.lists(st.integers(1, 5), min_size=1, max_size=200)
ces_scores = st.lists(st.integers(1, 7), min_size=1, max_size=200)


def test_nps_hand_computed() -> None:
    # 10 answers: promoters 9,10,10,9 (4), passives 7,8 (2), detractors 0,6,5,3 (4): 40% - 40% = 0
    assert nps(histogram([9, 10, 10, 9, 7, 8, 0, 6, 5, 3])) == 0.0
    # 3 promoters, 1 passive, 1 detractor of 5: 60% - 20% = 40
    assert nps(histogram([10, 9, 9, 8, 2])) == 40.0
    # 1 promoter, 2 detractors of 3: 33.33% - 66.67% = -33.33
    assert nps(histogram([10, 6, 0])) == -33.33
    assert nps(histogram([7, 8, 7])) == 0.0
    assert nps({}) is None


def test_csat_hand_computed() -> None:
    assert csat(histogram([5, 4, 3, 1])) == 50.0  # 2 of 4 are 4-5
    assert csat(histogram([5, 5, 4])) == 100.0
    assert csat(histogram([1, 2, 3])) == 0.0
    assert csat(histogram([4, 1, 1])) == 33.33
    assert csat({}) is None


def test_ces_hand_computed() -> None:
    assert ces(histogram([7, 6, 5, 2])) == 5.0  # 20 / 4
    assert ces(histogram([1, 2])) == 1.5
    assert ces(histogram([7, 7, 6])) == 6.667
    assert ces({}) is None


def test_response_rate_hand_computed() -> None:
    assert response_rate(3, 12) == 25.0
    assert response_rate(0, 5) == 0.0
    assert response_rate(1, 3) == 33.33
    assert response_rate(0, 0) is None
    assert response_rate(7, 5) == 100.0  # never above 100


@pytest.mark.parametrize(
    ("kind", "score", "unhappy"),
    [
        (SurveyKind.NPS, 0, True),
        (SurveyKind.NPS, 6, True),
        (SurveyKind.NPS, 7, False),
        (SurveyKind.NPS, 10, False),
        (SurveyKind.CSAT, 1, True),
        (SurveyKind.CSAT, 2, True),
        (SurveyKind.CSAT, 3, False),
        (SurveyKind.CES, 1, False),  # CES measures effort, it opens no follow-up
    ],
)
def test_who_is_a_detractor(kind: SurveyKind, score: int, unhappy: bool) -> None:
    assert is_detractor(kind, score) is unhappy


@given(nps_scores)
def test_nps_is_between_minus_100_and_100(scores: list[int]) -> None:
    value = nps(histogram(scores))
    assert value is not None
    assert -100.0 <= value <= 100.0


@given(st.lists(st.integers(9, 10), min_size=1), st.lists(st.integers(7, 8)))
def test_nps_all_promoters_is_100_and_passives_only_dilute(promoters: list[int], passives: list[int]) -> None:
    assert nps(histogram(promoters)) == 100.0
    diluted = nps(histogram(promoters + passives))
    assert diluted is not None
    assert diluted == pytest.approx(100.0 * len(promoters) / (len(promoters) + len(passives)), abs=0.01)


@given(st.lists(st.integers(0, 6), min_size=1))
def test_nps_all_detractors_is_minus_100(scores: list[int]) -> None:
    assert nps(histogram(scores)) == -100.0


@given(nps_scores, st.randoms())
def test_scores_do_not_depend_on_answer_order(scores: list[int], rnd: object) -> None:
    shuffled = list(scores)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert nps(histogram(shuffled)) == nps(histogram(scores))
    clipped = [max(1, min(5, s)) for s in scores]
    assert csat(histogram(clipped[::-1])) == csat(histogram(clipped))


@given(nps_scores, st.integers(2, 5))
def test_scores_are_invariant_under_replication(scores: list[int], times: int) -> None:
    # every answer counted `times` times: the same shares, the same score
    assert nps(histogram(scores * times)) == nps(histogram(scores))


@given(csat_scores)
def test_csat_is_a_percentage_and_matches_a_direct_count(scores: list[int]) -> None:
    value = csat(histogram(scores))
    assert value == round(100.0 * sum(1 for s in scores if s >= 4) / len(scores), 2)
    assert value is not None
    assert 0.0 <= value <= 100.0


@given(ces_scores)
def test_ces_mean_lies_between_the_lowest_and_highest_answer(scores: list[int]) -> None:
    value = ces(histogram(scores))
    assert value is not None
    assert min(scores) - 0.001 <= value <= max(scores) + 0.001


@given(st.integers(0, 1000), st.integers(1, 1000))
def test_response_rate_is_a_percentage(answered: int, invited: int) -> None:
    value = response_rate(answered, invited)
    assert value is not None
    assert 0.0 <= value <= 100.0


def test_report_breaks_down_by_channel_and_category() -> None:
    score_rows = [
        ScoreRow("email", "return", 5, 2),
        ScoreRow("email", "payment", 1, 1),
        ScoreRow("chat", "return", 4, 1),
        ScoreRow(None, None, 3, 1),
    ]
    invite_rows = [
        InviteRow("email", "return", 4, 2),
        InviteRow("email", "payment", 2, 1),
        InviteRow("chat", "return", 1, 1),
        InviteRow(None, None, 3, 1),
    ]
    report = build_report(SurveyKind.CSAT, score_rows, invite_rows)
    assert report.overall.answers == 5
    assert report.overall.score == 60.0  # 5, 5, 4 of 5 answers
    assert report.overall.invited == 10
    assert report.overall.response_rate == 50.0
    assert report.overall.distribution == {1: 1, 3: 1, 4: 1, 5: 2}
    assert set(report.by_channel) == {"email", "chat", "none"}
    assert report.by_channel["email"].score == 66.67  # 5, 5 of 5, 5, 1
    assert report.by_channel["email"].response_rate == 50.0  # 3 of 6
    assert report.by_channel["none"].score == 0.0
    assert report.by_category["return"].score == 100.0
    assert report.by_category["return"].response_rate == 60.0  # 3 of 5


@given(
    st.lists(
        st.tuples(st.sampled_from(["email", "chat", None]), st.integers(0, 10), st.integers(1, 5)),
        max_size=30,
    )
)
def test_breakdowns_add_up_to_the_overall_figures(rows: list[tuple[str | None, int, int]]) -> None:
    score_rows = [ScoreRow(ch, "other", s, n) for ch, s, n in rows]
    report = build_report(SurveyKind.NPS, score_rows, [])
    assert sum(f.answers for f in report.by_channel.values()) == report.overall.answers
    merged: Counter[int] = Counter()
    for figures in report.by_channel.values():
        merged.update(figures.distribution)
    assert dict(merged) == report.overall.distribution


DAYS = [date(2026, 3, d) for d in range(1, 6)]


@given(st.lists(st.tuples(st.sampled_from(DAYS), st.integers(0, 10), st.integers(1, 5)), max_size=30))
def test_a_trend_lists_every_bucket_and_adds_up_to_the_overall_figures(
    rows: list[tuple[date, int, int]],
) -> None:
    score_rows = [ScoreRow("email", "other", s, n, day) for day, s, n in rows]
    invite_rows = [InviteRow("email", "other", n, min(n, 1), day) for day, _, n in rows]
    report = build_report(SurveyKind.NPS, score_rows, invite_rows, DAYS)
    assert list(report.trend) == DAYS  # empty days too, in order
    assert sum(f.answers for f in report.trend.values()) == report.overall.answers
    assert sum(f.invited for f in report.trend.values()) == report.overall.invited
    for day, figures in report.trend.items():
        assert figures.answers == sum(n for d, _, n in rows if d == day)
