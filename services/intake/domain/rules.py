"""Category and priority: a rule table a shop can change, and the default one.

The table is data (validated, stored as JSON per shop) so a shop can teach intake its own wording
without a deploy; the evaluation is a pure function of the table, the text and the order's state.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from schemas.v1.contacts import Channel
from schemas.v1.tickets import Category, Priority, TicketSource

from .customers import CustomerStanding as CustomerStanding
from .orders import OrderStatus

Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[\w.:-]{1,50}$")]
"""A ticket's tag: a word (letters, digits, `_ . : -`), lower case."""

PRIORITY_ORDER: tuple[Priority, ...] = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)


class CategoryRule(BaseModel):
    """Matches when the text contains any keyword (if any are given) and the order's state is one
    of `order_statuses` (if any are given). The first matching rule of the table wins."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: Category
    keywords: tuple[Keyword, ...] = Field(default=(), max_length=200)
    order_statuses: tuple[OrderStatus, ...] = ()
    tags: tuple[Tag, ...] = Field(default=(), max_length=20)
    """Tags a ticket this rule categorises starts with."""
    team_id: str | None = Field(default=None, max_length=64)
    """The team a ticket this rule categorises goes to (else the shop's default team)."""

    @field_validator("keywords")
    @classmethod
    def _normalised(cls, keywords: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(k.casefold() for k in keywords)

    @model_validator(mode="after")
    def _has_a_condition(self) -> CategoryRule:
        if not self.keywords and not self.order_statuses:
            raise ValueError("a rule needs keywords, order_statuses or both")
        return self

    def matches(self, text: str, order_status: OrderStatus | None) -> bool:
        if self.order_statuses and order_status not in self.order_statuses:
            return False
        return not self.keywords or any(k in text for k in self.keywords)


CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class CustomerRule(BaseModel):
    """A valued or unhappy customer's ticket starts at least at `priority` when its category is one of
    `categories` and the customer's CLV reaches `min_clv` in one of its currencies (each currency
    against its own threshold, never converted) or they are a detractor (if `detractors`). Channel
    and repeat raise it further as for anyone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    categories: tuple[Category, ...] = Field(default=(Category.COMPLAINT_REPAIR,), max_length=20)
    min_clv: dict[CurrencyCode, Annotated[Decimal, Field(ge=0)]] = Field(default_factory=dict, max_length=50)
    """Currency -> the CLV from which a customer counts as valued (none: CLV raises nothing)."""
    detractors: bool = True
    priority: Priority = Priority.HIGH

    def applies(self, standing: CustomerStanding | None) -> bool:
        if standing is None:
            return False
        if self.detractors and standing.detractor:
            return True
        clv = standing.clv()
        return any(currency in clv and clv[currency] >= floor for currency, floor in self.min_clv.items())


class RuleTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[CategoryRule, ...] = Field(max_length=100)
    base_priority: dict[Category, Priority] = Field(default_factory=dict)
    """Priority per category before channel and history; a missing category is normal."""
    raised_channels: tuple[Channel, ...] = (Channel.PHONE, Channel.SOCIAL)
    """Channels whose contacts go one step up (a caller on hold, a public complaint)."""
    urgent_keywords: tuple[Keyword, ...] = Field(default=(), max_length=100)
    """Words that make a ticket urgent whatever else holds (chargeback, lawyer)."""
    threading_window_hours: float = Field(default=72.0, gt=0, le=24 * 90)
    """A customer's new message joins their ticket on the same order/thread active this recently."""
    customer_rule: CustomerRule | None = None
    """Raises a valued or unhappy customer's ticket (absent: no such rule; the default table raises a
    detractor's complaint to high)."""

    def for_customer(self, standing: CustomerStanding | None) -> RuleTable:
        """The table as it applies to this customer: the customer rule's categories start at least at
        its priority when it applies to them, else the table as it is."""
        rule = self.customer_rule
        if rule is None or not rule.applies(standing):
            return self
        raised_base = {
            c: at_least(self.base_priority.get(c, Priority.NORMAL), rule.priority) for c in rule.categories
        }
        return self.model_copy(update={"base_priority": {**self.base_priority, **raised_base}})

    @field_validator("urgent_keywords")
    @classmethod
    def _normalised(cls, keywords: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(k.casefold() for k in keywords)

    def classify(self, subject: str, body: str, order_status: OrderStatus | None) -> Classification:
        """The first matching rule's category, tags and team (OTHER, no tags, no team if none matches)."""
        text = normalise_text(subject, body)
        for rule in self.rules:
            if rule.matches(text, order_status):
                return Classification(rule.category, tuple(sorted(set(rule.tags))), rule.team_id)
        return Classification(Category.OTHER)


class Classification(NamedTuple):
    category: Category
    tags: tuple[str, ...] = ()
    team_id: str | None = None


def normalise_text(*parts: str) -> str:
    return " ".join(p.casefold() for p in parts if p)


def categorise(table: RuleTable, subject: str, body: str, order_status: OrderStatus | None) -> Category:
    return table.classify(subject, body, order_status).category


def raised(priority: Priority, steps: int = 1) -> Priority:
    index = min(PRIORITY_ORDER.index(priority) + steps, len(PRIORITY_ORDER) - 1)
    return PRIORITY_ORDER[index]


def at_least(priority: Priority, floor: Priority) -> Priority:
    return max(priority, floor, key=PRIORITY_ORDER.index)


def prioritise(
    table: RuleTable,
    category: Category,
    channel: Channel,
    *,
    text: str = "",
    is_repeat: bool = False,
    source: TicketSource = TicketSource.CONTACT,
) -> Priority:
    priority = table.base_priority.get(category, Priority.NORMAL)
    if channel in table.raised_channels:
        priority = raised(priority)
    if is_repeat:
        # the customer had to come back about the same order: the first answer did not work
        priority = raised(priority)
    if source is not TicketSource.CONTACT:
        # an unhappy survey answer or a broken promise: the shop already let this customer down
        priority = at_least(priority, Priority.HIGH)
    if any(k in normalise_text(text) for k in table.urgent_keywords):
        priority = Priority.URGENT
    return priority


_TRANSIT = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.OUT_FOR_DELIVERY, OrderStatus.DELAYED)

DEFAULT_RULES = RuleTable(
    rules=(
        CategoryRule(
            category=Category.COMPLAINT_REPAIR,
            keywords=(
                "broke",
                "damaged",
                "defect",
                "faulty",
                "not working",
                "doesn't work",
                "repair",
                "warranty",
                "complaint",
                "reklamac",
                "uszkodz",
                "zepsu",
                "gwarancj",
                "naprawa",
                "nie działa",
            ),
        ),
        CategoryRule(
            category=Category.RETURN,
            keywords=(
                "return",
                "send back",
                "send it back",
                "exchange",
                "zwrot",
                "zwróci",
                "odstąp",
                "wymian",
            ),
        ),
        CategoryRule(
            category=Category.PAYMENT,
            keywords=(
                "payment",
                "paid twice",
                "charged",
                "refund",
                "invoice",
                "card",
                "blik",
                "płatnoś",
                "faktur",
                "zapłaci",
                "przelew",
            ),
        ),
        CategoryRule(
            category=Category.DELIVERY_DELAY,
            keywords=(
                "where is",
                "not arrived",
                "hasn't arrived",
                "still waiting",
                "when will",
                "gdzie jest",
                "nie dotarł",
                "nie doszł",
                "kiedy",
                "czekam",
            ),
            order_statuses=(OrderStatus.DELAYED,),
        ),
        CategoryRule(
            category=Category.DELIVERY_DELAY,
            keywords=(
                "is late",
                "be late",
                "arrive late",
                "delay",
                "not arrived",
                "hasn't arrived",
                "still waiting",
                "opóźni",
                "nie dotarł",
                "nie doszł",
                "spóźni",
            ),
            order_statuses=_TRANSIT,
        ),
        CategoryRule(
            category=Category.ORDER_STATUS,
            keywords=(
                "where is",
                "status",
                "tracking",
                "shipped",
                "when will",
                "dispatch",
                "parcel",
                "gdzie jest",
                "kiedy",
                "przesyłk",
                "paczk",
                "wysłan",
                "zamówieni",
            ),
        ),
        CategoryRule(
            category=Category.PRODUCT_QUESTION,
            keywords=(
                "size",
                "colour",
                "color",
                "in stock",
                "available",
                "compatible",
                "material",
                "rozmiar",
                "kolor",
                "dostępn",
                "produkt",
                "pasuje",
            ),
        ),
    ),
    base_priority={
        Category.PAYMENT: Priority.HIGH,
        Category.COMPLAINT_REPAIR: Priority.NORMAL,
        Category.DELIVERY_DELAY: Priority.NORMAL,
        Category.RETURN: Priority.NORMAL,
        Category.ORDER_STATUS: Priority.NORMAL,
        Category.PRODUCT_QUESTION: Priority.LOW,
        Category.OTHER: Priority.NORMAL,
    },
    urgent_keywords=("chargeback", "lawyer", "legal action", "prawnik", "uokik"),
    customer_rule=CustomerRule(),
)
