"""The workspace's view-models and session rules, pure: what the queue and a ticket page say, in both
languages, without a browser or a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from services.intake.domain.orders import Contents, OrderContext, OrderItem, OrderStatus, Shipment
from services.intake.domain.sla_state import ClockState
from services.intake.workspace.session import (
    csrf_token,
    digest,
    new_secret,
    safe_next,
    same_secret,
    secure_transport,
)
from services.intake.workspace.texts import NAMES, WORDS
from services.intake.workspace.ticket_view import (
    Customer,
    entry,
    order_panel,
    status_buttons,
    ticket_page,
)
from services.intake.workspace.views import (
    QueueFilters,
    countdown,
    customer_label,
    duration_text,
    pick_language,
    queue_view,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WARSAW = ZoneInfo("Europe/Warsaw")


def ticket_row(ticket_id: str = "tkt_1", **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": ticket_id,
        "subject": "Where is my parcel?",
        "status": "open",
        "channel": "email",
        "category": "order_status",
        "priority": "normal",
        "source": "contact",
        "customer_key": "email:anna@example.com",
        "customer_name": None,
        "customer_email": "anna@example.com",
        "customer_phone": None,
        "customer_handle": None,
        "customer_id": None,
        "order_id": None,
        "is_repeat": False,
        "breached": False,
        "sla_due_at": None,
        "assignee_agent_id": None,
        "tags": [],
        "merged_into": None,
        "reply_failed_at": None,
        "created_at": NOW - timedelta(hours=1),
    }
    row.update(fields)
    return row


def message_row(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "msg_1",
        "author": "customer",
        "internal": False,
        "automatic": False,
        "author_name": None,
        "body": "Hello",
        "at": NOW,
        "original_ticket_id": "tkt_1",
        "delivery_status": None,
        "attachments": [],
    }
    row.update(fields)
    return row


# -- countdowns ------------------------------------------------------------------------------------


def test_a_countdown_says_how_long_is_left_or_how_late_in_both_languages() -> None:
    soon = countdown(NOW + timedelta(minutes=12, seconds=40), NOW, "en")
    assert soon is not None
    assert (soon.text, soon.late) == ("in 12 min", False)
    late = countdown(NOW - timedelta(minutes=4, seconds=10), NOW, "en")
    assert late is not None
    assert (late.text, late.late) == ("late 5 min", True)
    polish = countdown(NOW + timedelta(hours=2, minutes=5), NOW, "pl")
    assert polish is not None
    assert polish.text == "za 2 godz. 5 min"
    days = countdown(NOW - timedelta(days=3, hours=1, minutes=20), NOW, "pl")
    assert days is not None
    assert days.text == "spóźnione o 3 d 1 godz."
    assert countdown(None, NOW, "en") is None


def test_a_deadline_passed_by_seconds_is_already_a_minute_late() -> None:
    just = countdown(NOW - timedelta(seconds=1), NOW, "en")
    assert just is not None
    assert (just.text, just.late) == ("late 1 min", True)
    exactly = countdown(NOW, NOW, "en")
    assert exactly is not None
    assert (exactly.text, exactly.late) == ("in 0 min", False)


@given(st.integers(min_value=-10 * 24 * 3600, max_value=10 * 24 * 3600), st.sampled_from(["pl", "en"]))
def test_a_countdown_is_late_exactly_when_the_deadline_has_passed(seconds: int, lang: str) -> None:
    shown = countdown(NOW + timedelta(seconds=seconds), NOW, lang)
    assert shown is not None
    assert shown.late is (seconds < 0)
    prefix = WORDS[lang]["late" if seconds < 0 else "in"].split("{time}")[0]
    assert shown.text.startswith(prefix)
    assert "-" not in shown.text


@given(st.integers(min_value=0, max_value=100 * 24 * 3600), st.integers(min_value=0, max_value=24 * 3600))
def test_more_time_never_reads_as_less(seconds: int, more: int) -> None:
    def minutes(text: str) -> int:
        parts = text.split()
        values = dict(zip(parts[1::2], (int(p) for p in parts[0::2]), strict=True))
        return values.get("d", 0) * 1440 + values.get("h", 0) * 60 + values.get("min", 0)

    shorter, longer = minutes(duration_text(seconds, "en")), minutes(duration_text(seconds + more, "en"))
    assert shorter <= longer
    assert shorter <= seconds // 60  # the largest two units, rounded down: never more than is left


# -- the queue -------------------------------------------------------------------------------------


def test_the_queue_shows_rows_in_the_given_order_with_breach_markers_and_a_next_page() -> None:
    rows = [
        ticket_row("tkt_late", sla_due_at=NOW - timedelta(minutes=5)),
        ticket_row("tkt_breached", breached=True, sla_due_at=NOW + timedelta(hours=1)),
        ticket_row("tkt_soon", sla_due_at=NOW + timedelta(minutes=30), assignee_agent_id="agt_me"),
        ticket_row("tkt_none", assignee_agent_id="agt_other", customer_name="Anna Kowalska"),
        ticket_row("tkt_more"),
    ]
    view = queue_view(
        rows,
        NOW,
        "en",
        QueueFilters(status="open"),
        page_size=4,
        agent_id="agt_me",
        names={"agt_other": "Bob"},
    )
    assert [r.id for r in view.rows] == ["tkt_late", "tkt_breached", "tkt_soon", "tkt_none"]
    assert [r.breached for r in view.rows] == [True, True, False, False]
    assert view.rows[0].countdown is not None
    assert view.rows[0].countdown.text == "late 5 min"
    assert view.rows[3].countdown is None
    assert [r.assignee for r in view.rows] == ["unassigned", "unassigned", "you", "Bob"]
    assert view.rows[3].customer == "Anna Kowalska"
    assert view.next_href == "?status=open&offset=4"
    assert [r.takeable for r in view.rows] == [False] * 4  # nobody can take without assignment

    taking = queue_view(rows[:2], NOW, "en", QueueFilters(), page_size=4, assigning=True)
    assert [r.takeable for r in taking.rows] == [True, True]
    assert taking.next_href is None


def test_the_queue_speaks_the_agents_language_never_the_codes() -> None:
    view = queue_view(
        [ticket_row(status="pending", channel="web_form")], NOW, "pl", QueueFilters(), page_size=10
    )
    row = view.rows[0]
    assert (row.status, row.channel, row.category) == ("czeka na klienta", "formularz", "stan zamówienia")
    labels = [o.label for s in view.selects for o in s.options]
    assert "pending" not in labels
    assert set(NAMES["pl"]["status"]) == set(NAMES["en"]["status"])
    assert set(WORDS["pl"]) == set(WORDS["en"])


def test_unknown_filter_values_filter_nothing_and_tags_and_teams_appear_when_there_are_any() -> None:
    query = {"status": "solved", "channel": "email", "category": "nonsense", "tag": "vip", "team": "t1"}
    parsed = QueueFilters.parse(query, tags=["vip"], teams=[("t1", "Returns")])
    assert parsed == QueueFilters(status=None, channel="email", category=None, tag="vip", team="t1")
    assert QueueFilters.parse(query) == QueueFilters(channel="email")
    names = [s.name for s in queue_view([], NOW, "en", parsed, page_size=5, tags=["vip"]).selects]
    assert names == ["status", "channel", "category", "tag"]
    assert parsed.query(offset=5) == "channel=email&tag=vip&team=t1&offset=5"


def test_the_customer_is_named_by_the_most_human_identity() -> None:
    assert customer_label(ticket_row(customer_name="Anna", customer_email="a@example.com")) == "Anna"
    assert customer_label(ticket_row(customer_email=None, customer_phone="+48500100200")) == "+48500100200"
    assert customer_label(ticket_row(customer_email=None, customer_key="handle:@anna")) == "handle:@anna"


def test_a_language_is_one_the_workspace_ships() -> None:
    assert pick_language("pl-PL", "en") == "pl"
    assert pick_language("de", "pl") == "pl"
    assert pick_language(None, "fr") == "en"


# -- a ticket --------------------------------------------------------------------------------------


def test_each_kind_of_message_is_labelled_in_words_and_notes_are_marked_internal() -> None:
    cases = {
        "customer": message_row(),
        "agent": message_row(author="agent", author_name="Ola", delivery_status="failed"),
        "automatic": message_row(author="system", automatic=True),
        "note": message_row(author="agent", internal=True),
        "system": message_row(author="system", internal=True, original_ticket_id="tkt_0"),
    }
    opened_by_careloop = entry(message_row(author="system"), "tkt_1", "en", WARSAW)
    assert (opened_by_careloop.kind, opened_by_careloop.label) == ("system", "CareLoop")
    entries = {kind: entry(row, "tkt_1", "en", WARSAW) for kind, row in cases.items()}
    assert {kind: e.kind for kind, e in entries.items()} == {kind: kind for kind in cases}
    labels = {e.label for e in entries.values()}
    assert len(labels) == len(cases)  # told apart by words, not by colour alone
    assert entries["note"].label == "Internal note"
    assert entries["note"].internal
    assert entries["system"].internal
    assert not entries["agent"].internal
    assert entries["agent"].failed
    assert entries["agent"].delivery == "Delivery: failed"
    assert entries["system"].merged_from == "tkt_0"
    assert entries["customer"].at == "2026-01-05 10:00"  # the shop's zone


def test_the_order_panel_shows_tracking_lines_totals_promise_and_delay_notice() -> None:
    order = OrderContext(
        status=OrderStatus.DELAYED,
        status_at=NOW,
        customer_id="c1",
        customer_email="anna@example.com",
        customer_locale="pl",
        promised_delivery_date=datetime(2026, 1, 7).date(),
        shipment=Shipment("InPost", "TRK1", "https://track.example/TRK1"),
        delay_reason="storm",
        delayed_at=NOW - timedelta(hours=2),
        contents=Contents(Decimal("199.98"), "PLN", (OrderItem("SKU-1", "Kettle", 2, Decimal("99.99")),)),
    )
    panel = order_panel("o-1", order, "pl", WARSAW)
    assert panel.status == "opóźnione"
    assert (panel.carrier, panel.tracking_number, panel.tracking_url) == (
        "InPost",
        "TRK1",
        "https://track.example/TRK1",
    )
    assert panel.promised == "2026-01-07"
    assert panel.delay_notice == "2026-01-05 08:00: storm"
    assert panel.total == "199.98 PLN"
    assert [(line.sku, line.quantity, line.unit_price) for line in panel.lines] == [("SKU-1", 2, "99.99 PLN")]

    hostile = OrderContext(
        status=OrderStatus.SHIPPED,
        status_at=NOW,
        customer_id="c1",
        customer_email=None,
        customer_locale="pl",
        shipment=Shipment("X", "TRK2", "javascript:alert(1)"),
    )
    plain = order_panel("o-2", hostile, "en", WARSAW)
    assert plain.tracking_url is None  # shown as text, never a link
    assert plain.tracking_number == "TRK2"
    assert (plain.total, plain.lines, plain.delay_notice) == (None, (), None)


def test_status_buttons_follow_the_lifecycle() -> None:
    assert [b.value for b in status_buttons("open", "en")] == ["pending", "on_hold", "solved", "closed"]
    solved = status_buttons("solved", "en")
    assert [(b.value, b.label) for b in solved] == [("open", "Reopen"), ("closed", "closed")]
    assert status_buttons("closed", "en") == []


def test_a_ticket_page_shows_its_order_and_the_customers_other_orders_tickets_and_answers() -> None:
    ticket = ticket_row(order_id="o-1", sla_due_at=NOW - timedelta(minutes=1), tags=["vip"])
    order = OrderContext(OrderStatus.PAID, NOW, "c1", None, "pl")
    orders = [
        {"order_id": "o-1", "status": "paid", "placed_at": NOW, "total": None, "currency": None},
        {
            "order_id": "o-2",
            "status": "delivered",
            "placed_at": NOW,
            "total": Decimal("49.5"),
            "currency": "PLN",
        },
    ]
    tickets = [ticket_row("tkt_1"), ticket_row("tkt_2", subject="Broken kettle", status="solved")]
    answers = [
        {"kind": "nps", "score": 3, "at": NOW, "detractor": True, "ticket_id": "tkt_2", "order_id": None},
        {"kind": "csat", "score": 5, "at": NOW, "detractor": False, "ticket_id": None, "order_id": "o-2"},
    ]
    clock = ClockState(
        "shop-a", "tkt_1", "c1", "first_response", "running", NOW + timedelta(minutes=3), 3600, None, NOW, NOW
    )
    view = ticket_page(
        ticket,
        [message_row()],
        [clock],
        Customer(order, orders, tickets, answers),
        NOW,
        "en",
        WARSAW,
        "agt_me",
    )
    assert view.order is not None
    assert (view.order.id, view.order.status) == ("o-1", "paid")
    assert [(link.text, link.detail) for link in view.other_orders] == [
        ("o-2", "delivered, 2026-01-05 10:00, 49.50 PLN")
    ]
    assert [(link.href, link.text) for link in view.other_tickets] == [("tkt_2", "Broken kettle")]
    assert [(link.href, link.text, link.detail) for link in view.survey_answers] == [
        ("tkt_2", "NPS 3", "2026-01-05 10:00, unhappy"),
        ("", "CSAT 5", "2026-01-05 10:00"),
    ]
    assert view.breached
    assert view.clocks[0].name == "First response"
    assert view.clocks[0].countdown is not None
    assert view.clocks[0].countdown.text == "in 3 min"
    assert (view.assignee, view.tags) == ("unassigned", ("vip",))
    assert view.can_reply
    assert not ticket_page(ticket_row(status="closed"), [], [], Customer(), NOW, "en", WARSAW).can_reply
    assert ticket_page(ticket_row(order_id="o-9"), [], [], Customer(), NOW, "en", WARSAW).order is None


# -- sessions --------------------------------------------------------------------------------------


def test_a_session_keeps_only_a_hash_and_its_csrf_token_is_its_own() -> None:
    one, two = new_secret(), new_secret()
    assert one != two
    assert len(one) >= 43  # 32 random bytes
    assert digest(one) != one
    assert len(digest(one)) == 64
    assert csrf_token(one) != csrf_token(two)
    assert one not in csrf_token(one)
    assert same_secret(csrf_token(one), csrf_token(one))
    assert not same_secret(csrf_token(one), csrf_token(two))
    assert not same_secret(csrf_token(one), None)
    assert not same_secret(None, "")


def test_cookies_are_secure_over_tls_directly_or_behind_a_proxy() -> None:
    assert secure_transport("https", None)
    assert secure_transport("http", "https")
    assert secure_transport("http", "HTTPS, http")
    assert not secure_transport("http", None)
    assert not secure_transport("http", "http")


def test_after_a_form_the_browser_goes_back_only_within_the_workspace() -> None:
    assert safe_next("/workspace/tickets/tkt_1?done=reply") == "/workspace/tickets/tkt_1?done=reply"
    for hostile in (
        "https://evil.example/",
        "//evil.example/workspace/",
        "/workspace//evil",
        "/other",
        None,
        "",
    ):
        assert safe_next(hostile) == "/workspace/"
    assert safe_next("/workspace/\\evil.example") == "/workspace/"
