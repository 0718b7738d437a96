"""Who a message is from, reduced to one comparable key per shop; what the customer is worth to the
shop (CLV per currency) and whether they are a detractor."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from .orders import OrderContext, OrderStatus

_NOT_DIGITS = re.compile(r"[^0-9]")


class NoCustomerIdentity(ValueError):
    pass


def customer_key(email: str | None, phone: str | None, handle: str | None) -> str:
    """E-mail beats phone beats handle: an e-mail is the identity a shop's orders also carry."""
    if email and email.strip():
        return "email:" + email.strip().casefold()
    if phone and (digits := _NOT_DIGITS.sub("", phone)):
        return "phone:" + digits
    if handle and handle.strip():
        return "handle:" + handle.strip().lstrip("@").casefold()
    raise NoCustomerIdentity("a contact needs an e-mail, phone or handle")


def thread_key(channel: str, thread_id: str | None) -> str | None:
    """Thread ids are only unique within their channel's gateway (Message-ID, chat session)."""
    if thread_id is None or not thread_id.strip():
        return None
    return f"{channel}:{thread_id.strip()}"


def known_customer_key(customer_id: str, email: str | None, phone: str | None) -> str:
    """A customer intake writes to on its own (an unhappy survey answer, a broken promise): by e-mail
    or phone like their contacts, so their next message joins the ticket; else by the shop's id."""
    try:
        return customer_key(email, phone, None)
    except NoCustomerIdentity:
        return f"customer:{customer_id}"


def contact_locale(said: str | None, from_order: str | None, shop_locale: str | None, default: str) -> str:
    """The language to write to the customer in: the contact's own if it said one; else the one the
    shop knows from the order; else the shop's. Notify and survey write in it."""
    for locale in (said, from_order, shop_locale):
        if locale is not None:
            return locale
    return default


# -- what a customer is worth (docs/intake.md "Customer 360") ----------------------------------------

YEAR = timedelta(days=365)
"""The year the figures are per: 365 days."""
EXPECTED_LIFETIME = 3 * YEAR
"""The least a customer's lifetime is taken to be: a customer seen once (or over a short span) is
expected to stay this long; one seen over a longer span, as long as that span."""
FREQUENCY_BASIS = YEAR
"""Purchase frequency is counted over the observed span, but over at least a year, so two orders a
week apart are not read as a hundred a year."""
NOT_COUNTED = frozenset({OrderStatus.CANCELLED, OrderStatus.REFUNDED})
"""An order in one of these states brought no money in: it is listed, never counted in the value."""
RETURNS = frozenset({OrderStatus.RETURN_REQUESTED, OrderStatus.RETURN_RECEIVED, OrderStatus.REFUNDED})
REPAIRS = frozenset({OrderStatus.REPAIR_RECEIVED, OrderStatus.REPAIR_COMPLETED})
CENT = Decimal("0.01")


@dataclass(frozen=True)
class PastOrder:
    """One of the customer's orders as intake keeps it: its latest status and its contents."""

    order_id: str
    placed_at: datetime
    status: OrderStatus
    total: Decimal | None = None
    currency: str | None = None

    @property
    def counted(self) -> bool:
        """Whether its total counts in the customer's value: known, and not cancelled or refunded."""
        return self.total is not None and self.currency is not None and self.status not in NOT_COUNTED


@dataclass(frozen=True, order=True)
class CurrencyHistory:
    """The customer's counted orders in one currency: how many, their sum, the first and the last."""

    currency: str
    orders: int
    total: Decimal
    first_at: datetime
    last_at: datetime


def histories(orders: Iterable[PastOrder]) -> tuple[CurrencyHistory, ...]:
    """The counted orders summed per currency (amounts of two currencies are never added up)."""
    by_currency: dict[str, list[PastOrder]] = {}
    for order in orders:
        if order.counted:
            assert order.currency is not None
            by_currency.setdefault(order.currency, []).append(order)
    return tuple(
        CurrencyHistory(
            currency,
            len(counted),
            sum((o.total or Decimal(0) for o in counted), Decimal(0)),
            min(o.placed_at for o in counted),
            max(o.placed_at for o in counted),
        )
        for currency, counted in sorted(by_currency.items())
    )


@dataclass(frozen=True)
class CurrencyValue:
    """CLV in one currency, with its inputs: CLV = average order value * purchase frequency (orders
    a year) * lifetime (years), computed from the exact values (the inputs are shown rounded)."""

    currency: str
    orders: int
    total: Decimal
    average_order_value: Decimal
    purchase_frequency_per_year: Decimal
    clv: Decimal


@dataclass(frozen=True)
class CustomerValue:
    order_count: int
    """Counted orders, every currency."""
    first_order_at: datetime | None
    last_order_at: datetime | None
    observed_span: timedelta
    """From the first counted order to the last (zero with one order or none)."""
    lifetime: timedelta
    """The estimated lifetime: the observed span, but at least EXPECTED_LIFETIME."""
    frequency_basis: timedelta
    """What purchase frequency is counted over: the observed span, but at least FREQUENCY_BASIS."""
    by_currency: dict[str, CurrencyValue] = field(default_factory=dict)

    @property
    def lifetime_years(self) -> Decimal:
        return _years(self.lifetime)

    def clv(self) -> dict[str, Decimal]:
        """Currency → CLV."""
        return {currency: value.clv for currency, value in self.by_currency.items()}


def _years(span: timedelta) -> Decimal:
    return (Decimal(_seconds(span)) / Decimal(_seconds(YEAR))).quantize(Decimal("0.0001"))


def _seconds(span: timedelta) -> int:
    return span.days * 86_400 + span.seconds


def value_of(history: Iterable[CurrencyHistory]) -> CustomerValue:
    """CLV per currency. With n orders of sum S in a currency, a span T from the customer's first
    counted order to their last, B = max(T, FREQUENCY_BASIS) and L = max(T, EXPECTED_LIFETIME):
    average order value S / n, purchase frequency n / B a year, lifetime L, so
    CLV = S / n * n / B * L = S * L / B, never below S (L >= B)."""
    history = tuple(history)
    if not history:
        return CustomerValue(0, None, None, timedelta(0), EXPECTED_LIFETIME, FREQUENCY_BASIS)
    first = min(h.first_at for h in history)
    last = max(h.last_at for h in history)
    span = last - first
    lifetime, basis = max(span, EXPECTED_LIFETIME), max(span, FREQUENCY_BASIS)
    ratio = Decimal(_seconds(lifetime)) / Decimal(_seconds(basis))
    by_currency = {
        h.currency: CurrencyValue(
            currency=h.currency,
            orders=h.orders,
            total=h.total,
            average_order_value=(h.total / h.orders).quantize(CENT, ROUND_HALF_UP),
            purchase_frequency_per_year=(
                Decimal(h.orders) * Decimal(_seconds(YEAR)) / Decimal(_seconds(basis))
            ).quantize(Decimal("0.0001"), ROUND_HALF_UP),
            clv=(h.total * ratio).quantize(CENT, ROUND_HALF_UP),
        )
        for h in history
    }
    count = sum(h.orders for h in history)
    return CustomerValue(count, first, last, span, lifetime, basis, by_currency)


def customer_value(orders: Iterable[PastOrder]) -> CustomerValue:
    return value_of(histories(orders))


# -- survey answers and where the customer stands ----------------------------------------------------


@dataclass(frozen=True)
class SurveyAnswer:
    survey_id: str
    kind: str
    score: int
    at: datetime
    detractor: bool
    """Survey judged the answer unhappy (it sent survey.detractor for it)."""


def is_detractor(answers: Iterable[SurveyAnswer]) -> bool:
    """A detractor: the latest answer of some survey kind was unhappy. A happier answer of the same
    kind since clears it; a kind survey never judges unhappy (CES) changes nothing."""
    return any(answer.detractor for answer in latest_by_kind(answers).values())


@dataclass(frozen=True)
class CustomerStanding:
    """What a ticket carries of its customer: their counted orders per currency (so CLV can be
    computed) and whether they are a detractor."""

    history: tuple[CurrencyHistory, ...] = ()
    detractor: bool = False

    def value(self) -> CustomerValue:
        return value_of(self.history)

    def clv(self) -> dict[str, Decimal]:
        return self.value().clv()


def value_moved(before: OrderContext | None, after: OrderContext) -> bool:
    """Whether an order's change moves its customer's value: what of it counts (whose, how much, in
    which currency, when placed) differs, or it started or stopped counting."""
    return _counted_facts(before) != _counted_facts(after)


def _counted_facts(order: OrderContext | None) -> tuple[object, ...] | None:
    if order is None or order.contents is None or order.status in NOT_COUNTED:
        return None
    contents = order.contents
    return (order.customer_id, order.customer_email, contents.total, contents.currency, order.placed_at)


def latest_by_kind(answers: Iterable[SurveyAnswer]) -> dict[str, SurveyAnswer]:
    """Each survey kind's latest answer (what NPS, CSAT and CES the customer gave last)."""
    latest: dict[str, SurveyAnswer] = {}
    for answer in answers:
        held = latest.get(answer.kind)
        if held is None or (answer.at, answer.survey_id) > (held.at, held.survey_id):
            latest[answer.kind] = answer
    return dict(sorted(latest.items()))
