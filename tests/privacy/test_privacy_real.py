"""Privacy requests end to end over the real Kafka and Postgres, all four services in one run (issue
#18, docs/privacy.md). Three customers live through orders, contacts, e-mails, replies, surveys and
webhooks: Anna, Bob in the same shop, and another shop's customer with Anna's customer id. Then:

- Anna's export, asked while survey is down: pending until survey is back, then everything each
  service held about her;
- Anna's erasure: no trace of her e-mail, name or texts in any column of any table of the four
  schemas, while the row counts, the ticket list and the survey reports stay as they were;
- the same request delivered again changes nothing; later events about her are kept without her
  data; Bob and the other shop's customer keep theirs;
- nothing of anyone's shows in the logs (at DEBUG) or on /metrics.

One scenario (the fixture) runs the story once; each test checks one claim on what it recorded.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event, make_event
from schemas.v1.orders import OrderDelayed
from tests.privacy.requests import Collected, ask, audited, complete, logging_as_services_do, request_view
from tests.privacy.scans import row_counts, scan
from tests.privacy.world import SERVICES, History, Person, World, live_through, open_world, raw_mail
from tests.support.kafka import produce, read_topic
from tests.support.shops import SHOP_A, SHOP_B, auth
from tests.support.stack import isolated_infra
from tests.support.wait import eventually

pytestmark = pytest.mark.timeout(900)

ANNA = Person(
    SHOP_A, "c-anna-7", "anna.kowalska@example.com", "Anna Kowalska", "+48 600 700 800", "zx-anna-9f3e"
)
BOB = Person(SHOP_A, "c-bob-3", "bob.nowak@example.com", "Bob Nowak", "+48 600 111 222", "zx-bob-41c2")
ANNA_B = Person(SHOP_B, "c-anna-7", "anna.b@example.net", "Annabel Bee", "+44 7700 900123", "zx-annab-77d1")
PEOPLE = [ANNA, BOB, ANNA_B]


@dataclass
class Story:
    histories: dict[str, History] = field(default_factory=dict)
    export_while_survey_down: dict[str, Any] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)
    erasure: dict[str, Any] = field(default_factory=dict)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    traces_after_erasure: list[str] = field(default_factory=list)
    others_after_erasure: dict[str, list[str]] = field(default_factory=dict)
    completions_before_redelivery: int = 0
    completions_after_redelivery: int = 0
    parts_after_redelivery: dict[str, Any] = field(default_factory=dict)
    traces_after_later_events: list[str] = field(default_factory=list)
    later: dict[str, Any] = field(default_factory=dict)
    shop_b_ticket: dict[str, Any] = field(default_factory=dict)
    audited: list[tuple[str, str, str]] = field(default_factory=list)
    metrics: str = ""
    logs: list[str] = field(default_factory=list)


async def snapshot(world: World) -> dict[str, Any]:
    intake, survey = world.clients["intake"], world.clients["survey"]
    tickets = (await intake.get("/v1/tickets", params={"limit": 200}, headers=auth(ANNA.key))).json()[
        "tickets"
    ]
    now = world.clock.now()
    period = {"from": (now - timedelta(days=20)).isoformat(), "to": (now + timedelta(days=1)).isoformat()}
    reports = {
        kind: (await survey.get(f"/v1/reports/{kind}", params=period, headers=auth(ANNA.key))).json()
        for kind in ("nps", "csat")
    }
    listed = sorted((t["id"], t["status"], t["channel"], t["category"], t["priority"]) for t in tickets)
    return {"rows": await row_counts(world), "tickets": listed, "reports": reports}


async def export_with_survey_down(world: World, story: Story) -> None:
    await world.stop("survey")
    request_id = await ask(world, ANNA, "export")

    async def others_done() -> dict[str, Any] | None:
        view = await request_view(world, ANNA, request_id)
        states = {p["service"]: p["status"] for p in view["parts"]}
        return view if all(states[s] != "pending" for s in ("intake", "sla", "notify")) else None

    waiting = await eventually(others_done, timeout=90, interval=0.2)
    assert waiting is not None
    story.export_while_survey_down = waiting
    await world.start("survey")
    story.export = await complete(world, ANNA, request_id)


async def deliver_again(world: World, story: Story) -> None:
    """The erasure's request event delivered a second time, as Kafka may after a crash."""
    records = await read_topic(world.settings, topics.PRIVACY.name, at_least=1)
    events = [(r, decode_event(r.value or b"")) for r in records]
    (asked,) = [
        r for r, e in events if e.type == "privacy.requested" and e.data.request_id == story.erasure["id"]
    ]
    story.completions_before_redelivery = sum(
        1 for _, e in events if e.type == "privacy.completed" and e.data.request_id == story.erasure["id"]
    )
    await produce(world.settings, topics.PRIVACY.name, asked.value or b"", key=SHOP_A)

    async def skipped_everywhere() -> bool:
        text = (await world.clients["intake"].get("/metrics")).text
        return all(
            f'consumer="{name}-privacy",outcome="duplicate",service="{name}",type="privacy.requested"' in text
            for name in SERVICES
        )

    await eventually(skipped_everywhere, timeout=60, interval=0.2)
    later = await read_topic(world.settings, topics.PRIVACY.name, at_least=len(records))
    story.completions_after_redelivery = sum(
        1
        for r in later
        if (e := decode_event(r.value or b"")).type == "privacy.completed"
        and e.data.request_id == story.erasure["id"]
    )
    story.parts_after_redelivery = await request_view(world, ANNA, story.erasure["id"])


async def later_events(world: World, story: Story) -> None:
    """Anna's order is delayed and she writes again: both about a customer erased before."""
    delayed = make_event(
        "order.delayed",
        "shop",
        OrderDelayed(shop_id=SHOP_A, order_id=ANNA.order_id, customer=ANNA.customer(), reason="Storm"),
        subject=ANNA.order_id,
    )
    await produce(world.settings, topics.ORDERS.name, delayed)
    contact = await world.clients["intake"].post(
        "/v1/contacts",
        json={
            "channel": "web_form",
            "customer_email": ANNA.email,
            "customer_name": ANNA.name,
            "body": ANNA.text("Me again"),
        },
        headers=auth(ANNA.key),
    )
    assert contact.status_code == 201, contact.text
    away = raw_mail(
        ANNA, f"<away-again-{ANNA.tag}@mail.example>", ANNA.text("Away"), "Auto-Submitted: auto-replied"
    )
    left_out = await world.clients["intake"].post(
        "/v1/inbound/email", content=away, headers={**auth(ANNA.key), "content-type": "message/rfc822"}
    )
    assert left_out.json()["ignored_reason"] is not None
    ticket = (
        await world.clients["intake"].get(
            f"/v1/tickets/{contact.json()['ticket_id']}", headers=auth(ANNA.key)
        )
    ).json()

    async def delayed_everywhere() -> bool:
        order = await world.db("intake").fetch(
            "SELECT delay_reason FROM orders WHERE shop_id = $1 AND order_id = $2", SHOP_A, ANNA.order_id
        )
        hooks = await world.db("notify").fetch(
            "SELECT status FROM deliveries WHERE event_type = 'order.delayed' AND shop_id = $1", SHOP_A
        )
        return (
            order[0]["delay_reason"] == "Storm"
            and bool(hooks)
            and all(h["status"] == "succeeded" for h in hooks)
        )

    await eventually(delayed_everywhere, timeout=90, interval=0.2)
    story.later = {"ticket": ticket, "metrics": (await world.clients["intake"].get("/metrics")).text}


async def tell(world: World, story: Story) -> None:
    story.histories = await live_through(world, PEOPLE)
    await export_with_survey_down(world, story)
    story.before = await snapshot(world)
    story.erasure = await complete(world, ANNA, await ask(world, ANNA, "erasure"))
    story.audited = await audited(world, [story.export["id"], story.erasure["id"]])
    story.after = await snapshot(world)
    story.traces_after_erasure = await scan(world.settings, ANNA.needles())
    story.others_after_erasure = {p.tag: await scan(world.settings, p.needles()) for p in (BOB, ANNA_B)}
    await deliver_again(world, story)
    await later_events(world, story)
    story.traces_after_later_events = await scan(world.settings, ANNA.needles())
    b_ticket = story.histories[ANNA_B.tag].ticket_id
    story.shop_b_ticket = (
        await world.clients["intake"].get(f"/v1/tickets/{b_ticket}", headers=auth(ANNA_B.key))
    ).json()
    story.metrics = "\n".join([(await world.clients[name].get("/metrics")).text for name in SERVICES])


@pytest.fixture(scope="module")
async def story(base_settings: Settings) -> Story:
    told = Story()
    collected = Collected()
    with logging_as_services_do(collected):
        async with isolated_infra(base_settings) as settings, AsyncExitStack() as stack:
            world = await open_world(settings, stack)
            await tell(world, told)
    told.logs = collected.lines
    return told


def _part(view: dict[str, Any], service: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [p for p in view["parts"] if p["service"] == service]
    return parts[0]


def test_an_export_waits_for_a_service_that_is_down_then_holds_everything(story: Story) -> None:
    waiting = story.export_while_survey_down
    assert waiting["status"] == "pending"
    assert _part(waiting, "survey")["status"] == "pending"
    export = story.export
    assert export["status"] == "complete"
    assert {p["service"]: p["status"] for p in export["parts"]} == dict.fromkeys(SERVICES, "complete")
    data = {p["service"]: p["data"] for p in export["parts"]}
    history = story.histories[ANNA.tag]
    tickets = {t["id"]: t for t in data["intake"]["tickets"]}
    assert {history.ticket_id, history.follow_up_id} <= set(tickets)
    assert tickets[history.ticket_id]["customer_email"] == ANNA.email
    bodies = [m["body"] for m in data["intake"]["messages"]]
    assert ANNA.text("My parcel has not arrived, please help") in bodies
    assert ANNA.text("Writing again about my order") in bodies
    assert any("Nobody helped me" in b for b in bodies)  # the follow-up of her unhappy answer
    assert [o["order_id"] for o in data["intake"]["orders"]] == [ANNA.order_id]
    assert [e["sender"] for e in data["intake"]["ignored_emails"]] == [ANNA.email]
    assert {p["kind"] for p in data["sla"]["promises"]} == {"ship_by", "delivery_date"}
    assert all(p["customer"]["email"] == ANNA.email for p in data["sla"]["promises"])
    hooks = data["notify"]["deliveries"]
    assert {"order.created", "ticket.created", "ticket.replied", "survey.invited"} <= {
        d["event_type"] for d in hooks
    }
    hers = [ANNA.email, ANNA.order_id, *tickets]
    assert all(any(identity in str(d["body"]) for identity in hers) for d in hooks)
    assert [m["to_address"] for m in data["notify"]["email_sends"]] == [ANNA.email]
    assert sorted(a["comment"] for a in data["survey"]["answers"]) == [
        ANNA.text("Great shop anyway"),
        ANNA.text("Nobody helped me"),
    ]
    assert {i["survey_id"] for i in data["survey"]["invitations"]} == set(history.surveys)
    # nothing of the others
    everything = str(data)
    assert BOB.email not in everything
    assert ANNA_B.email not in everything


def test_an_erasure_leaves_no_trace_in_any_table_of_any_schema(story: Story) -> None:
    erasure = story.erasure
    assert {p["service"]: p["status"] for p in erasure["parts"]} == {
        "intake": "complete",
        "sla": "complete",
        "notify": "complete",
        "survey": "complete",
    }
    counts = {p["service"]: p["counts"] for p in erasure["parts"]}
    assert counts["intake"]["tickets"] >= 2
    assert counts["intake"]["privacy_exports"] >= 1  # the export asked before: its rows are gone too
    assert counts["sla"]["promises"] == 2
    assert counts["survey"]["answers"] == 2
    assert counts["notify"]["email_sends"] == 1
    assert story.traces_after_erasure == [], story.traces_after_erasure


def test_an_erasure_keeps_the_counts_the_ticket_list_and_the_reports(story: Story) -> None:
    assert story.after["rows"] == story.before["rows"]
    assert story.after["tickets"] == story.before["tickets"]
    assert story.after["reports"] == story.before["reports"]
    assert story.before["reports"]["nps"]["overall"]["answers"] == 2  # Anna's and Bob's
    assert story.before["reports"]["csat"]["overall"]["answers"] == 2


def test_another_customer_and_another_shops_customer_with_the_same_id_keep_their_data(story: Story) -> None:
    for person in (BOB, ANNA_B):
        schemas = {trace.split(".")[0] for trace in story.others_after_erasure[person.tag]}
        for service in SERVICES:
            assert any(schema.endswith(service) for schema in schemas), (person.tag, service, schemas)
    b_ticket = story.shop_b_ticket
    assert b_ticket["customer"]["email"] == ANNA_B.email
    assert ANNA_B.text("My parcel has not arrived, please help") in [m["body"] for m in b_ticket["messages"]]


def test_each_request_is_in_the_audit_log_by_its_id_never_the_customer(story: Story) -> None:
    assert story.audited == [
        ("privacy.export", f"privacy_request:{story.export['id']}", "key"),
        ("privacy.erasure", f"privacy_request:{story.erasure['id']}", "key"),
    ]


def test_a_request_delivered_again_changes_nothing(story: Story) -> None:
    assert story.completions_before_redelivery == len(SERVICES)
    assert story.completions_after_redelivery == len(SERVICES)
    assert story.parts_after_redelivery["parts"] == story.erasure["parts"]


def test_later_events_about_an_erased_customer_are_kept_without_their_data(story: Story) -> None:
    assert story.traces_after_later_events == [], story.traces_after_later_events
    ticket = story.later["ticket"]
    assert ticket["customer"]["email"] is None
    assert [m["body"] for m in ticket["messages"]] == ["[erased]"]
    metrics = story.later["metrics"]
    # prometheus_client renders the labels in name order
    suppressed = "careloop_privacy_suppressed_events_total"
    assert f'{suppressed}{{consumer="contacts",service="intake",type="ContactReceived"}}' in metrics
    assert f'{suppressed}{{consumer="intake-orders",service="intake",type="order.delayed"}}' in metrics
    assert f'{suppressed}{{consumer="notify-orders",service="notify",type="order.delayed"}}' in metrics


def test_logs_and_metrics_never_carry_personal_data(story: Story) -> None:
    debug = [line for line in story.logs if line.startswith("DEBUG ")]
    assert len(debug) > 100  # the services' DEBUG lines were written, and are scanned
    assert "careloop_privacy_requests_applied_total" in story.metrics
    for person in PEOPLE:
        for needle in [*person.needles(), person.phone]:
            leaked = [line for line in story.logs if needle.lower() in line.lower()]
            assert leaked == [], (needle, leaked[:3])
            assert needle.lower() not in story.metrics.lower(), needle
