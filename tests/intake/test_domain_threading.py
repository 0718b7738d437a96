"""Threading: which ticket a message joins, and that no arrival order loses or duplicates a message."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.v1.tickets import TicketStatus
from services.intake.domain.customers import customer_key, thread_key
from services.intake.domain.threading import (
    IncomingMessage,
    Route,
    RouteKind,
    TicketSummary,
    repeat_of,
    route_message,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(hours=72)


def summary(
    ticket_id: str,
    *,
    customer: str = "email:anna@example.com",
    order: str | None = "o-1",
    status: TicketStatus = TicketStatus.OPEN,
    threads: frozenset[str] = frozenset(),
    active: datetime = T0,
    created: datetime | None = None,
) -> TicketSummary:
    return TicketSummary(ticket_id, status, customer, order, threads, created or active, active)


def anna(order: str | None = "o-1", thread: str | None = None) -> IncomingMessage:
    return IncomingMessage("email:anna@example.com", order, thread)


def test_same_customer_same_order_within_the_window_joins() -> None:
    route = route_message(anna(), [summary("t1")], T0 + timedelta(hours=71), WINDOW)
    assert route == Route(RouteKind.JOIN, "t1")


def test_after_the_window_a_new_ticket_opens() -> None:
    assert route_message(anna(), [summary("t1")], T0 + timedelta(hours=73), WINDOW).kind is RouteKind.NEW


def test_another_order_or_another_customer_opens_a_new_ticket() -> None:
    assert route_message(anna("o-2"), [summary("t1")], T0, WINDOW).kind is RouteKind.NEW
    bob = IncomingMessage("email:bob@example.com", "o-1", None)
    assert route_message(bob, [summary("t1")], T0, WINDOW).kind is RouteKind.NEW


def test_a_message_without_an_order_joins_the_customers_ticket_without_one() -> None:
    tickets = [summary("with-order"), summary("no-order", order=None)]
    assert route_message(anna(None), tickets, T0, WINDOW) == Route(RouteKind.JOIN, "no-order")


def test_the_same_thread_joins_even_about_another_order_or_from_another_address() -> None:
    tickets = [summary("t1", threads=frozenset({"email:<abc@mail>"}))]
    other = IncomingMessage("email:anna.work@example.com", "o-9", "email:<abc@mail>")
    assert route_message(other, tickets, T0, WINDOW) == Route(RouteKind.JOIN, "t1")


def test_a_solved_ticket_is_reopened_and_a_closed_one_never_joined() -> None:
    assert route_message(anna(), [summary("t1", status=TicketStatus.SOLVED)], T0, WINDOW) == Route(
        RouteKind.REOPEN, "t1"
    )
    assert (
        route_message(anna(), [summary("t1", status=TicketStatus.CLOSED)], T0, WINDOW).kind is RouteKind.NEW
    )


def test_an_active_ticket_beats_a_solved_one_then_the_most_recent_wins() -> None:
    tickets = [
        summary("solved-recent", status=TicketStatus.SOLVED, active=T0 + timedelta(hours=2)),
        summary("pending-old", status=TicketStatus.PENDING, active=T0),
        summary("open-older", active=T0 - timedelta(hours=1)),
    ]
    assert route_message(anna(), tickets, T0 + timedelta(hours=3), WINDOW).ticket_id == "pending-old"


def test_repeat_means_same_customer_and_order_within_seven_days() -> None:
    earlier = summary("t1", status=TicketStatus.CLOSED, created=T0)
    assert repeat_of(anna(), [earlier], T0 + timedelta(days=6)) == earlier
    assert repeat_of(anna(), [earlier], T0 + timedelta(days=8)) is None
    assert repeat_of(anna("o-2"), [earlier], T0 + timedelta(days=1)) is None
    assert repeat_of(anna(None), [summary("t2", order=None)], T0) is None


def test_customer_and_thread_keys_are_normalised() -> None:
    assert customer_key(" Anna@Example.COM ", "+48 600", None) == "email:anna@example.com"
    assert customer_key(None, "+48 600-100-200", "x") == "phone:48600100200"
    assert customer_key(None, None, "@Anna_K") == "handle:anna_k"
    assert thread_key("chat", " s-1 ") == "chat:s-1"
    assert thread_key("chat", "  ") is None


# -- the property: whatever the order of arrival, every message lands exactly once ----------------


@dataclass
class Conversations:
    """A minimal in-memory store doing what the handlers do, around the domain's routing."""

    window: timedelta
    tickets: dict[str, TicketSummary] = field(default_factory=dict)
    messages: dict[str, list[str]] = field(default_factory=dict)
    seen_channel_ids: dict[str, str] = field(default_factory=dict)

    def deliver(self, m: Delivery, now: datetime) -> None:
        if m.channel_message_id is not None and m.channel_message_id in self.seen_channel_ids:
            return
        incoming = IncomingMessage(m.customer, m.order, m.thread)
        route = route_message(incoming, list(self.tickets.values()), now, self.window)
        if route.kind is RouteKind.NEW:
            ticket_id = f"t{len(self.tickets)}"
            self.tickets[ticket_id] = TicketSummary(
                ticket_id, TicketStatus.OPEN, m.customer, m.order, frozenset(), now, now
            )
            self.messages[ticket_id] = []
        else:
            assert route.ticket_id is not None
            ticket_id = route.ticket_id
        ticket = self.tickets[ticket_id]
        self.tickets[ticket_id] = replace(
            ticket,
            status=TicketStatus.OPEN if ticket.status is TicketStatus.SOLVED else ticket.status,
            thread_keys=ticket.thread_keys | ({m.thread} if m.thread else set()),
            last_activity_at=now,
        )
        self.messages[ticket_id].append(m.uid)
        if m.channel_message_id is not None:
            self.seen_channel_ids[m.channel_message_id] = ticket_id

    def set_status(self, index: int, status: TicketStatus) -> None:
        if self.tickets:
            ticket_id = sorted(self.tickets)[index % len(self.tickets)]
            if self.tickets[ticket_id].status is not TicketStatus.CLOSED:
                self.tickets[ticket_id] = replace(self.tickets[ticket_id], status=status)

    def merge(self, a: int, b: int) -> None:
        live = sorted(t for t, s in self.tickets.items() if s.status is not TicketStatus.CLOSED)
        if len(live) < 2:
            return
        source, target = live[a % len(live)], live[b % len(live)]
        if source == target:
            return
        self.messages[target] += self.messages.pop(source)
        self.tickets[target] = replace(
            self.tickets[target],
            thread_keys=self.tickets[target].thread_keys | self.tickets[source].thread_keys,
        )
        self.tickets[source] = replace(self.tickets[source], status=TicketStatus.CLOSED, merged=True)
        self.messages[source] = []


@dataclass(frozen=True)
class Delivery:
    uid: str
    customer: str
    order: str | None
    thread: str | None
    channel_message_id: str | None


@st.composite
def deliveries(draw: st.DrawFn) -> list[Delivery]:
    count = draw(st.integers(1, 25))
    messages = [
        Delivery(
            uid=f"m{i}",
            customer=draw(st.sampled_from(["email:a@x.io", "email:b@x.io", "phone:48600"])),
            order=draw(st.sampled_from([None, "o-1", "o-2"])),
            thread=draw(st.sampled_from([None, None, "chat:s1", "email:<t2>"])),
            channel_message_id=draw(st.sampled_from([f"cm{i}", None])),
        )
        for i in range(count)
    ]
    # gateways redeliver: some messages arrive two or three times
    redelivered = draw(st.lists(st.sampled_from(messages), max_size=10))
    return draw(st.permutations(messages + redelivered))


Step = tuple[str, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(["advance", "solve", "close", "pending", "merge"]),
        st.integers(0, 50),
        st.integers(0, 50),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(arrivals=deliveries(), interleaved=steps, window_hours=st.sampled_from([1, 24, 72]))
def test_threading_never_loses_or_duplicates_a_message_whatever_the_order_of_arrival(
    arrivals: list[Delivery], interleaved: list[Step], window_hours: int
) -> None:
    store = Conversations(timedelta(hours=window_hours))
    now = T0
    agenda: dict[int, list[Step]] = {}
    for step in interleaved:
        agenda.setdefault(step[1] % len(arrivals), []).append(step)
    for position, delivery in enumerate(arrivals):
        for action, a, b in agenda.get(position, []):
            if action == "advance":
                now += timedelta(hours=a)
            elif action == "merge":
                store.merge(a, b)
            else:
                store.set_status(
                    a,
                    {"solve": TicketStatus.SOLVED, "close": TicketStatus.CLOSED}.get(
                        action, TicketStatus.PENDING
                    ),
                )
        store.deliver(delivery, now)
        now += timedelta(minutes=1)

    landed = [uid for msgs in store.messages.values() for uid in msgs]
    distinct = {d.uid for d in arrivals}
    # a message without a channel id has no dedupe key: each delivery of it is a new message
    expected = (
        len(distinct)
        + sum(1 for d in arrivals if d.channel_message_id is None)
        - len({d.uid for d in arrivals if d.channel_message_id is None})
    )
    assert set(landed) == distinct  # nothing lost
    assert len(landed) == expected  # nothing duplicated that carried a channel message id
    for ticket_id, msgs in store.messages.items():
        if store.tickets[ticket_id].merged:
            assert msgs == []
