"""The intake report from grouped counts: totals, shares and the trend's buckets, without I/O."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from schemas.reports import percent
from services.intake.domain.reports import (
    AGE_BUCKETS,
    ContactCount,
    Counts,
    Durations,
    TicketCount,
    WismoCount,
    build_report,
)

D1, D2, D3 = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)


def counts() -> Counts:
    return Counts(
        contacts=[ContactCount("email", "order_status", 3, D1), ContactCount("chat", "payment", 2, D3)],
        tickets=[TicketCount("email", "order_status", 2, 1, D1), TicketCount("chat", "payment", 1, 0, D3)],
        first_responses=[
            Durations(None, 3, 60.0, 600.0),
            Durations(D1, 2, 30.0, 54.0),
            Durations(D3, 1, 600.0, 600.0),
        ],
        resolutions=[
            Durations(None, 4, 100.0, 900.0, fcr=1, fcr_known=3, reopened=1),
            Durations(D1, 4, 100.0, 900.0, fcr=1, fcr_known=3, reopened=1),
        ],
        wismo=[WismoCount(2, 2, 1, 1, D3)],
        backlog={"under_1d": 2, "7d_to_30d": 1},
    )


def test_totals_shares_and_every_bucket_of_the_period() -> None:
    report = build_report(counts(), [D1, D2, D3])
    overall = report.overall
    assert (overall.contacts, overall.tickets, overall.repeat_contacts, overall.repeat_percent) == (
        5,
        3,
        1,
        33.33,
    )
    assert (overall.first_response.count, overall.first_response.p50_seconds) == (3, 60.0)
    r = overall.resolution
    assert (r.solved, r.fcr, r.fcr_percent, r.reopened, r.reopen_rate_percent) == (4, 1, 33.33, 1, 25.0)
    a = overall.automatic
    assert (a.questions, a.answered, a.deflected, a.came_back, a.deflection_percent) == (2, 2, 1, 1, 50.0)
    assert report.contacts_by_channel == {"chat": 2, "email": 3}
    assert report.tickets_by_category == {"order_status": 2, "payment": 1}
    assert report.backlog_by_age == {
        "under_1d": 2,
        "1d_to_3d": 0,
        "3d_to_7d": 0,
        "7d_to_30d": 1,
        "30d_and_more": 0,
    }
    assert report.backlog == 3
    assert list(report.trend) == [D1, D2, D3]
    empty = report.trend[D2]  # a day without anything is listed, with nothing in it
    assert (empty.contacts, empty.tickets, empty.first_response.count, empty.resolution.solved) == (
        0,
        0,
        0,
        0,
    )
    assert (empty.repeat_percent, empty.resolution.fcr_percent, empty.automatic.deflection_percent) == (
        None,
    ) * 3
    assert (report.trend[D1].first_response.p90_seconds, report.trend[D3].automatic.questions) == (54.0, 2)


def test_without_a_granularity_there_is_no_trend() -> None:
    assert build_report(counts()).trend == {}
    assert list(build_report(counts()).backlog_by_age) == list(AGE_BUCKETS)


ROWS = st.tuples(st.sampled_from([D1, D2, D3]), st.sampled_from(["email", "chat"]), st.integers(0, 50))


@given(st.lists(ROWS, max_size=20), st.lists(ROWS, max_size=20), st.lists(ROWS, max_size=10))
def test_the_buckets_add_up_to_the_totals(
    contacts: list[tuple[date, str, int]],
    tickets: list[tuple[date, str, int]],
    wismo: list[tuple[date, str, int]],
) -> None:
    report = build_report(
        Counts(
            contacts=[ContactCount(c, "other", n, d) for d, c, n in contacts],
            tickets=[TicketCount(c, "other", n, n // 2, d) for d, c, n in tickets],
            first_responses=[],
            resolutions=[],
            wismo=[WismoCount(n, n // 2, n // 4, n // 8, d) for d, _, n in wismo],
            backlog={},
        ),
        [D1, D2, D3],
    )
    trend = report.trend.values()
    assert (
        sum(f.contacts for f in trend) == report.overall.contacts == sum(report.contacts_by_channel.values())
    )
    assert sum(f.tickets for f in trend) == report.overall.tickets == sum(report.tickets_by_category.values())
    assert sum(f.repeat_contacts for f in trend) == report.overall.repeat_contacts
    assert sum(f.automatic.deflected for f in trend) == report.overall.automatic.deflected


def test_a_share_of_nothing_is_none() -> None:
    assert (percent(0, 0), percent(1, 3), percent(2, 2)) == (None, 33.33, 100.0)
