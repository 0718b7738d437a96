"""Customer 360 (docs/intake.md "Customer 360"): one customer of the shop by the shop's customer id
(`GET /v1/customers/{customer_id}`) or by e-mail (`GET /v1/customers?email=`): their orders with dates,
totals and statuses; what they are worth (CLV per currency, with its inputs); their tickets, survey
answers, returns and repairs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from runtime.db import Connection
from runtime.http_api import ApiError, CurrentShop, Db

from .api_models import Problem
from .domain.customers import (
    EXPECTED_LIFETIME,
    FREQUENCY_BASIS,
    REPAIRS,
    RETURNS,
    CustomerValue,
    PastOrder,
    SurveyAnswer,
    latest_by_kind,
)
from .domain.orders import OrderStatus
from .repository import customer_360
from .repository.customers import standing_of

router = APIRouter(tags=["customers"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or unknown API key"},
    404: {"model": Problem, "description": "the shop knows no order or ticket of this customer"},
    422: {"model": Problem, "description": "invalid parameters"},
}

FORMULA = (
    "CLV = average_order_value * purchase_frequency_per_year * lifetime_years, per currency; "
    "purchase frequency = orders / max(observed span, frequency basis) a year; "
    "lifetime = max(observed span, expected lifetime)"
)


class CurrencyValueOut(BaseModel):
    orders: int = Field(description="counted orders in this currency")
    total: Decimal = Field(description="their sum")
    average_order_value: Decimal
    purchase_frequency_per_year: Decimal
    lifetime_years: Decimal
    clv: Decimal


class ValueOut(BaseModel):
    """What the customer is worth, with every input of the formula."""

    formula: str = FORMULA
    order_count: int = Field(description="counted orders (not cancelled, not refunded, total known)")
    first_order_at: datetime | None
    last_order_at: datetime | None
    observed_span_days: float = Field(description="from the first counted order to the last")
    frequency_basis_days: float = Field(description="what frequency is counted over: max(span, basis)")
    lifetime_years: Decimal = Field(description="estimated lifetime: max(span, expected lifetime)")
    expected_lifetime_years: Decimal
    min_frequency_basis_days: float
    by_currency: dict[str, CurrencyValueOut]
    clv: dict[str, Decimal] = Field(description="currency -> CLV; currencies are never added up")

    @classmethod
    def of(cls, value: CustomerValue) -> ValueOut:
        return cls(
            order_count=value.order_count,
            first_order_at=value.first_order_at,
            last_order_at=value.last_order_at,
            observed_span_days=_days(value.observed_span.total_seconds()),
            frequency_basis_days=_days(value.frequency_basis.total_seconds()),
            lifetime_years=value.lifetime_years,
            expected_lifetime_years=Decimal(EXPECTED_LIFETIME.days) / 365,
            min_frequency_basis_days=float(FREQUENCY_BASIS.days),
            by_currency={
                c: CurrencyValueOut(
                    orders=v.orders,
                    total=v.total,
                    average_order_value=v.average_order_value,
                    purchase_frequency_per_year=v.purchase_frequency_per_year,
                    lifetime_years=value.lifetime_years,
                    clv=v.clv,
                )
                for c, v in value.by_currency.items()
            },
            clv=value.clv(),
        )


def _days(seconds: float) -> float:
    return round(seconds / 86_400, 4)


class OrderOut(BaseModel):
    order_id: str
    placed_at: datetime = Field(description="the earliest step of the order intake was told of")
    status: OrderStatus = Field(description="its latest status")
    status_at: datetime
    total: Decimal | None
    currency: str | None
    counted: bool = Field(description="whether its total counts in the value")


class TicketOut(BaseModel):
    id: str
    status: str
    channel: str
    category: str
    priority: str
    subject: str
    order_id: str | None
    is_repeat: bool
    breached: bool
    breached_metrics: list[str]
    created_at: datetime
    solved_at: datetime | None
    merged_into: str | None


class TicketsOut(BaseModel):
    total: int
    open: int = Field(description="open, pending or on hold")
    solved: int = Field(description="solved or closed (merged ones apart)")
    merged: int
    repeat_contacts: int = Field(description="tickets repeating an earlier one about the same order")
    breaches: int = Field(description="tickets that breached an SLA target")
    recent: list[TicketOut]


class AnswerOut(BaseModel):
    survey_id: str
    kind: str
    score: int
    at: datetime
    detractor: bool = Field(description="survey judged the answer unhappy")
    ticket_id: str | None
    order_id: str | None


class SurveysOut(BaseModel):
    latest: dict[str, AnswerOut] = Field(description="each kind's latest answer (nps, csat, ces)")
    detractor: bool = Field(description="the latest answer of some kind was unhappy")
    answers: list[AnswerOut]


class CustomerOut(BaseModel):
    shop_id: str
    customer_ids: list[str]
    emails: list[str]
    value: ValueOut
    orders_total: int = Field(description="all of the customer's orders (the latest are listed)")
    orders: list[OrderOut]
    returns_total: int
    returns: list[OrderOut] = Field(description="orders in return or refunded")
    repairs_total: int
    repairs: list[OrderOut] = Field(description="orders in repair or repaired")
    tickets: TicketsOut
    surveys: SurveysOut


def _order(row: Any) -> OrderOut:
    order = PastOrder(
        row["order_id"], row["placed_at"], OrderStatus(row["status"]), row["total"], row["currency"]
    )
    return OrderOut(**{k: row[k] for k in OrderOut.model_fields if k != "counted"}, counted=order.counted)


def _surveys(answers: list[AnswerOut], detractor: bool) -> SurveysOut:
    by_id = {a.survey_id: a for a in answers}
    latest = latest_by_kind(SurveyAnswer(a.survey_id, a.kind, a.score, a.at, a.detractor) for a in answers)
    return SurveysOut(
        latest={kind: by_id[answer.survey_id] for kind, answer in latest.items()},
        detractor=detractor,
        answers=answers,
    )


async def _customer(conn: Connection, who: customer_360.Identity) -> CustomerOut:
    figures = await customer_360.figures(conn, who)
    if not figures["orders"] and not figures["tickets"]:
        raise ApiError(404, "not_found", "the shop knows no order or ticket of this customer")
    standing = standing_of(figures["standing"])
    assert standing is not None
    answers = [AnswerOut.model_validate(dict(r)) for r in await customer_360.answers(conn, who)]
    recent = [TicketOut.model_validate(dict(r)) for r in await customer_360.tickets(conn, who)]
    return CustomerOut(
        shop_id=who.shop_id,
        customer_ids=list(who.customer_ids),
        emails=list(who.emails),
        value=ValueOut.of(standing.value()),
        orders_total=figures["orders"],
        orders=[_order(r) for r in await customer_360.orders(conn, who)],
        returns_total=figures["returns"],
        returns=[_order(r) for r in await customer_360.orders(conn, who, sorted(s.value for s in RETURNS))],
        repairs_total=figures["repairs"],
        repairs=[_order(r) for r in await customer_360.orders(conn, who, sorted(s.value for s in REPAIRS))],
        tickets=TicketsOut(
            total=figures["tickets"],
            open=figures["open"],
            solved=figures["solved"],
            merged=figures["merged"],
            repeat_contacts=figures["repeat_contacts"],
            breaches=figures["breached"],
            recent=recent,
        ),
        surveys=_surveys(answers, standing.detractor),
    )


@router.get("/v1/customers/{customer_id}", response_model=CustomerOut, responses=ERRORS)
async def customer_by_id(
    customer_id: Annotated[str, Path(min_length=1, max_length=128)], shop: CurrentShop, db: Db
) -> CustomerOut:
    """The customer with this id of the shop's (the id its orders carry), with the e-mails of their
    orders: their tickets are those with the id or written from one of those e-mails."""
    async with db.pool.acquire() as conn:
        return await _customer(conn, await customer_360.identity_by_id(conn, shop.id, customer_id))


@router.get("/v1/customers", response_model=CustomerOut, responses=ERRORS)
async def customer_by_email(
    email: Annotated[str, Query(min_length=3, max_length=320)], shop: CurrentShop, db: Db
) -> CustomerOut:
    """The customer with this e-mail: their orders are those with the e-mail or one of the shop's
    customer ids those orders carry; their tickets, those written from it or with one of those ids."""
    async with db.pool.acquire() as conn:
        return await _customer(conn, await customer_360.identity_by_email(conn, shop.id, email))
