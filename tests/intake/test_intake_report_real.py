"""GET /v1/reports/intake over the real Kafka and Postgres: a known three days of shop A's care made
through the real paths (contacts, agent replies and status changes over HTTP, orders on Kafka, an
automatic answer deflected by the housekeeping sweep, another answered and come back to), every
figure computed by hand from what was made, the CSV giving the same numbers, and shop B's rows, made
the same days, never counted."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

from runtime.settings import Settings
from schemas.v1.common import Customer
from tests.intake.helpers import Intake, post_contact, running_intake
from tests.intake.wismo_support import answers_on, ship, sweep
from tests.support.shops import KEY_A, KEY_B, auth

PERIOD = {"from": "2026-03-02", "to": "2026-03-05"}
"""Three local days of shop A (Europe/Warsaw, UTC+1 in March): [1 March 23:00, 4 March 23:00) UTC."""


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def at(intake: Intake, when: datetime) -> None:
    intake.clock.advance(when - intake.clock.now())


async def contact(intake: Intake, when: datetime, key: str = KEY_A, **fields: str) -> str:
    at(intake, when)
    response = await post_contact(intake, key, **fields)
    assert response.status_code in (200, 201), response.text
    ticket_id: str = response.json()["ticket_id"]
    return ticket_id


async def act(
    intake: Intake, when: datetime, ticket_id: str, what: str, key: str = KEY_A, **body: str
) -> None:
    """An agent's reply (`replies`), status change (`status`) or reopen (`reopen`) at `when`."""
    at(intake, when)
    response = await intake.client.post(
        f"/v1/tickets/{ticket_id}/{what}", json=body or None, headers=auth(key)
    )
    assert response.status_code in (200, 201), response.text


async def three_days(intake: Intake) -> None:
    """The tickets of the figures below, in time order."""
    await answers_on(intake, deflect_after_hours=12)
    at(intake, utc(1, 20))
    for order_id, email in (("o-9", "frank@example.com"), ("o-10", "gina@example.com")):
        await ship(
            intake, order_id, who=Customer(id=f"c-{order_id}", email=email), promised=date(2026, 3, 10)
        )
    # T6: before the period (1 March, 23:30 local), answered in it (2 March, 00:30 local), solved after
    t6 = await contact(
        intake, utc(1, 22, 30), channel="chat", customer_email="erin@example.com", body="Hello?"
    )
    await act(intake, utc(1, 23, 30), t6, "replies", body="Hello Erin")
    # T1: answered in 10 min, solved in an hour with that one reply (FCR), then closed
    t1 = await contact(
        intake, utc(2, 9), customer_email="anna@example.com", order_id="o-1", body="Where is my parcel?"
    )
    await act(intake, utc(2, 9, 10), t1, "replies", body="On its way")
    await act(intake, utc(2, 10), t1, "status", status="solved")
    await act(intake, utc(2, 11), t1, "status", status="closed")
    # T2: two replies, solved in two hours (not FCR)
    t2 = await contact(
        intake, utc(2, 12), channel="chat", customer_email="bob@example.com", body="The kettle is broken"
    )
    await act(intake, utc(2, 12, 30), t2, "replies", body="Sorry to hear")
    await act(intake, utc(2, 12, 40), t2, "replies", body="A new one is on its way")
    await act(intake, utc(2, 14), t2, "status", status="solved")
    # T3: solved, reopened, solved again four hours after it opened
    t3 = await contact(
        intake, utc(3, 8), channel="phone", customer_phone="+48 600 100 200", body="I was charged twice"
    )
    await act(intake, utc(3, 9), t3, "replies", body="Refunded")
    await act(intake, utc(3, 10), t3, "status", status="solved")
    await act(intake, utc(3, 11), t3, "reopen")
    await act(intake, utc(3, 12), t3, "status", status="solved")
    # T4: Anna again about the same order, her ticket closed: a repeat contact, left open
    await contact(
        intake,
        utc(3, 15),
        customer_email="anna@example.com",
        order_id="o-1",
        body="Where is my parcel? Still nothing",
    )
    # W1: answered automatically at once, deflected by the sweep after the shop's 12 hours
    await contact(
        intake,
        utc(4, 9),
        channel="chat",
        customer_email="frank@example.com",
        order_id="o-9",
        body="Where is my order?",
    )
    # T5: two messages, no answer yet
    await contact(
        intake,
        utc(4, 10),
        channel="web_form",
        customer_email="dave@example.com",
        body="Is it available in size M?",
    )
    await contact(
        intake, utc(4, 11), channel="web_form", customer_email="dave@example.com", body="Size M, please"
    )
    # W2: answered automatically, then Gina writes back: open again
    await contact(
        intake,
        utc(4, 13),
        channel="chat",
        customer_email="gina@example.com",
        order_id="o-10",
        body="Where is my order?",
    )
    await contact(
        intake,
        utc(4, 14),
        channel="chat",
        customer_email="gina@example.com",
        order_id="o-10",
        body="That does not help",
    )
    at(intake, utc(4, 21, 30))
    await sweep(intake)
    await act(intake, utc(4, 23, 30), t6, "status", status="solved")  # 5 March, 00:30 local: after
    # shop B, the same days: a contact answered and solved, and one left open
    b1 = await contact(
        intake, utc(3, 10), KEY_B, customer_email="anna@example.com", body="Where is my parcel?"
    )
    await act(intake, utc(3, 10, 5), b1, "replies", KEY_B, body="Coming")
    await act(intake, utc(3, 11), b1, "status", KEY_B, status="solved")
    await contact(intake, utc(4, 12), KEY_B, customer_email="zoe@example.com", body="Is it in stock?")


def timing(count: int, p50: float | None, p90: float | None) -> dict[str, Any]:
    return {"count": count, "p50_seconds": p50, "p90_seconds": p90}


def resolution(solved: int, p50: float | None, p90: float | None, fcr: int, reopened: int) -> dict[str, Any]:
    return {
        "solved": solved,
        "p50_seconds": p50,
        "p90_seconds": p90,
        "fcr": fcr,
        "fcr_percent": round(100 * fcr / solved, 2) if solved else None,
        "reopened": reopened,
        "reopen_rate_percent": round(100 * reopened / solved, 2) if solved else None,
    }


NO_ANSWERS = {"questions": 0, "answered": 0, "deflected": 0, "came_back": 0, "deflection_percent": None}

# By hand (seconds; percentile_cont: p = v[k] + f * (v[k+1] - v[k]) with k + f = q * (n - 1)).
# Contacts: T1, T2 (2 Mar); T3, T4 (3 Mar); T5 twice, W1, W2 twice (4 Mar); T6's is before.
# Tickets opened: T1, T2, T3, T4 (repeat of T1), T5, W1, W2.
# First responses (by a person; W1's and W2's automatic answers are none): T6 3600 and T1 600,
# T2 1800 (2 Mar); T3 3600 (3 Mar).
#   all [600, 1800, 3600, 3600]: p50 at 1.5 -> 1800 + 0.5 * 1800 = 2700, p90 at 2.7 -> 3600
#   2 Mar [600, 1800, 3600]: p50 1800, p90 at 1.8 -> 1800 + 0.8 * 1800 = 3240
# Resolutions: T1 3600 (FCR), T2 7200 (2 Mar); T3 14400 (reopened; 3 Mar); W1 45000 (the sweep at
# 21:30; not FCR: no person replied, it counts as deflected; 4 Mar). T6 was solved after the period.
#   all [3600, 7200, 14400, 45000]: p50 at 1.5 -> 10800, p90 at 2.7 -> 14400 + 0.7 * 30600 = 35820
#   2 Mar [3600, 7200]: p50 5400, p90 at 0.9 -> 6840
# Automatic answers: W1 deflected, W2 came back (4 Mar).
# Backlog at 4 Mar 23:00 UTC: T5 (13 h) and W2 (10 h) under a day, T4 (32 h), T6 (3 d 30 min: solved
# after the period's end).
EXPECTED_OVERALL = {
    "contacts": 9,
    "tickets": 7,
    "repeat_contacts": 1,
    "repeat_percent": 14.29,
    "first_response": timing(4, 2700.0, 3600.0),
    "resolution": resolution(4, 10800.0, 35820.0, fcr=1, reopened=1),
    "automatic_answers": {
        "questions": 2,
        "answered": 2,
        "deflected": 1,
        "came_back": 1,
        "deflection_percent": 50.0,
    },
}
EXPECTED_TREND = {
    "2026-03-02": {
        "contacts": 2,
        "tickets": 2,
        "repeat_contacts": 0,
        "repeat_percent": 0.0,
        "first_response": timing(3, 1800.0, 3240.0),
        "resolution": resolution(2, 5400.0, 6840.0, fcr=1, reopened=0),
        "automatic_answers": NO_ANSWERS,
    },
    "2026-03-03": {
        "contacts": 2,
        "tickets": 2,
        "repeat_contacts": 1,
        "repeat_percent": 50.0,
        "first_response": timing(1, 3600.0, 3600.0),
        "resolution": resolution(1, 14400.0, 14400.0, fcr=0, reopened=1),
        "automatic_answers": NO_ANSWERS,
    },
    "2026-03-04": {
        "contacts": 5,
        "tickets": 3,
        "repeat_contacts": 0,
        "repeat_percent": 0.0,
        "first_response": timing(0, None, None),
        "resolution": resolution(1, 45000.0, 45000.0, fcr=0, reopened=0),
        "automatic_answers": EXPECTED_OVERALL["automatic_answers"],
    },
}
EXPECTED_CONTACTS = {
    "by_channel": {"chat": 4, "email": 2, "phone": 1, "web_form": 2},
    "by_category": {"complaint_repair": 1, "order_status": 5, "payment": 1, "product_question": 2},
}
EXPECTED_TICKETS = {
    "by_channel": {"chat": 3, "email": 2, "phone": 1, "web_form": 1},
    "by_category": {"complaint_repair": 1, "order_status": 4, "payment": 1, "product_question": 1},
}
EXPECTED_BACKLOG = {"under_1d": 2, "1d_to_3d": 1, "3d_to_7d": 1, "7d_to_30d": 0, "30d_and_more": 0}


async def report(intake: Intake, key: str = KEY_A, **params: str) -> dict[str, Any]:
    response = await intake.client.get("/v1/reports/intake", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def csv_rows(text: str) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["dimension"], r["key"]): r for r in csv.DictReader(io.StringIO(text))}


async def test_every_figure_by_hand_the_csv_agrees_and_shop_b_is_never_counted(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        await three_days(intake)
        body = await report(intake, **PERIOD, granularity="day")
        assert (body["shop_id"], body["from"], body["to"]) == (
            "shop-a",
            "2026-03-01T23:00:00Z",
            "2026-03-04T23:00:00Z",
        )
        assert body["overall"] == EXPECTED_OVERALL
        assert (body["contacts"], body["tickets"]) == (EXPECTED_CONTACTS, EXPECTED_TICKETS)
        assert body["backlog"] == {"at": "2026-03-04T23:00:00Z", "total": 4, "by_age": EXPECTED_BACKLOG}
        assert (body["granularity"], body["trend"]) == ("day", EXPECTED_TREND)

        # the same figures without a trend
        plain = await report(intake, **PERIOD)
        assert (plain["overall"], plain["trend"], plain["backlog"]["total"]) == (EXPECTED_OVERALL, {}, 4)

        # the CSV: the same numbers
        response = await intake.client.get(
            "/v1/reports/intake",
            params={**PERIOD, "granularity": "day"},
            headers={**auth(KEY_A), "Accept": "text/csv"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = csv_rows(response.text)
        overall = rows[("overall", "all")]
        assert (overall["contacts"], overall["tickets"], overall["repeat_contacts"]) == ("9", "7", "1")
        assert (overall["first_response_p50_seconds"], overall["resolution_p90_seconds"]) == (
            "2700.0",
            "35820.0",
        )
        assert (overall["fcr_percent"], overall["reopen_rate_percent"], overall["deflection_percent"]) == (
            "25.0",
            "25.0",
            "50.0",
        )
        assert {k[1]: (r["contacts"], r["tickets"]) for k, r in rows.items() if k[0] == "channel"} == {
            "chat": ("4", "3"),
            "email": ("2", "2"),
            "phone": ("1", "1"),
            "web_form": ("2", "1"),
        }
        assert (
            rows[("category", "order_status")]["contacts"],
            rows[("category", "order_status")]["tickets"],
        ) == (
            "5",
            "4",
        )
        assert {k[1]: r["backlog"] for k, r in rows.items() if k[0] == "backlog_age"} == {
            k: str(v) for k, v in EXPECTED_BACKLOG.items()
        }
        assert rows[("day", "2026-03-03")]["first_response_p50_seconds"] == "3600.0"
        assert rows[("day", "2026-03-04")]["contacts"] == "5"
        as_format = await intake.client.get(
            "/v1/reports/intake", params={**PERIOD, "format": "csv"}, headers=auth(KEY_A)
        )
        assert csv_rows(as_format.text)[("overall", "all")] == {**overall}

        # shop B's own report counts its two tickets only; naming shop B with A's key is a 404
        b = await report(intake, KEY_B, **PERIOD)
        assert (b["overall"]["contacts"], b["overall"]["tickets"], b["backlog"]["total"]) == (2, 2, 1)
        assert b["overall"]["resolution"]["solved"] == 1
        refused = await intake.client.get(
            "/v1/reports/intake", params={"shop": "shop-b"}, headers=auth(KEY_A)
        )
        assert (refused.status_code, refused.json()["error"]) == (404, "unknown_shop")
        bad = await intake.client.get(
            "/v1/reports/intake", params={"from": "2026-03-05", "to": "2026-03-02"}, headers=auth(KEY_A)
        )
        assert bad.status_code == 422
