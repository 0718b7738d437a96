"""The queue page's view-model, and what every page shares: countdowns to a deadline, times in the
shop's zone, the reader's names of codes. Pure: rows and the time come in, plain values go out to the
templates (render.py), so what a page says is tested without a browser or a database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlencode

from schemas.v1.contacts import Channel
from schemas.v1.tickets import Category

from .texts import LANGUAGES, UNITS, WORDS, name_of

Row = Mapping[str, Any]
"""A database row (a ticket with its order's columns, a message): read by column name."""

QUEUE_STATUSES = ("open", "pending", "on_hold")
"""The queue lists unfinished tickets only (the listing by deadline narrows to these)."""


@dataclass(frozen=True)
class Countdown:
    """How long until a deadline, or how late it is, in words ("in 12 min", "late 5 min")."""

    text: str
    late: bool
    due_at: datetime


def duration_text(seconds: int, lang: str) -> str:
    """Whole minutes as the largest two units that say it: "2 d 3 h", "1 h 5 min", "12 min"."""
    units = UNITS[lang]
    minutes = max(seconds // 60, 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} {units['d']}" + (f" {hours} {units['h']}" if hours else "")
    if hours:
        return f"{hours} {units['h']}" + (f" {mins} {units['min']}" if mins else "")
    return f"{mins} {units['min']}"


def countdown(due_at: datetime | None, now: datetime, lang: str) -> Countdown | None:
    """The countdown to `due_at`. Both ways it errs towards urgency: time left is rounded down, a
    deadline passed by seconds is already a minute late."""
    if due_at is None:
        return None
    left = (due_at - now).total_seconds()
    words = WORDS[lang]
    if left >= 0:
        return Countdown(words["in"].format(time=duration_text(int(left), lang)), False, due_at)
    late_seconds = -int(left // 60) * 60  # whole minutes, rounded up
    return Countdown(words["late"].format(time=duration_text(late_seconds, lang)), True, due_at)


def local_time(at: datetime | None, zone: tzinfo) -> str:
    """An instant as the shop's agents read it: date and minute in the shop's time zone."""
    return "" if at is None else at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def customer_label(row: Row) -> str:
    """Who the customer is, by the most human identity the ticket has."""
    for column in ("customer_name", "customer_email", "customer_phone", "customer_handle", "customer_id"):
        value = row.get(column)
        if value:
            return str(value)
    return str(row.get("customer_key") or "")


def pick_language(wanted: str | None, fallback: str) -> str:
    """A shipped language: the one asked for if shipped, else the fallback's, else English."""
    for candidate in (wanted, fallback):
        if candidate and candidate[:2].lower() in LANGUAGES:
            return candidate[:2].lower()
    return "en"


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    selected: bool


@dataclass(frozen=True)
class Select:
    """One filter of the queue: a labelled <select> whose first option means "any"."""

    name: str
    label: str
    options: tuple[Option, ...]


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters as the query string gave them; an unknown value is no filter."""

    status: str | None = None
    channel: str | None = None
    category: str | None = None
    tag: str | None = None
    team: str | None = None

    @classmethod
    def parse(
        cls, query: Mapping[str, str], tags: Sequence[str] = (), teams: Sequence[tuple[str, str]] = ()
    ) -> QueueFilters:
        def known(name: str, allowed: Sequence[str]) -> str | None:
            value = query.get(name) or None
            return value if value in allowed else None

        return cls(
            status=known("status", QUEUE_STATUSES),
            channel=known("channel", [c.value for c in Channel]),
            category=known("category", [c.value for c in Category]),
            tag=known("tag", tags),
            team=known("team", [team_id for team_id, _ in teams]),
        )

    def query(self, **extra: str | int) -> str:
        """The query string of these filters (and `extra`), for links that keep them."""
        values: dict[str, str | int] = {k: v for k, v in vars(self).items() if v is not None}
        return urlencode({**values, **extra})

    @property
    def any(self) -> bool:
        return any(v is not None for v in vars(self).values())


def filter_selects(
    f: QueueFilters, lang: str, tags: Sequence[str] = (), teams: Sequence[tuple[str, str]] = ()
) -> list[Select]:
    """The queue's filter controls; tag and team only when the shop has any."""

    def select(name: str, label: str, pairs: Sequence[tuple[str, str]], chosen: str | None) -> Select:
        return Select(name, label, tuple(Option(v, text, v == chosen) for v, text in pairs))

    words = WORDS[lang]
    selects = [
        select(
            "status", words["status"], [(s, name_of(lang, "status", s)) for s in QUEUE_STATUSES], f.status
        ),
        select("channel", words["channel"], [(c, name_of(lang, "channel", c)) for c in Channel], f.channel),
        select(
            "category", words["category"], [(c, name_of(lang, "category", c)) for c in Category], f.category
        ),
    ]
    if tags:
        selects.append(select("tag", words["tag"], [(t, t) for t in tags], f.tag))
    if teams:
        selects.append(select("team", words["team"], list(teams), f.team))
    return selects


@dataclass(frozen=True)
class QueueRow:
    id: str
    href: str
    subject: str
    customer: str
    status: str
    channel: str
    category: str
    priority: str
    urgent: bool
    countdown: Countdown | None
    breached: bool
    assignee: str
    repeat: bool
    takeable: bool
    """Nobody has it yet: the row offers to take it."""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueView:
    rows: list[QueueRow]
    selects: list[Select]
    filters: QueueFilters
    next_href: str | None
    now: datetime
    words: Mapping[str, str] = field(repr=False)


def assignee_label(row: Row, agent_id: str | None, names: Mapping[str, str], lang: str) -> str:
    """ "you", the assignee's name, or "unassigned"."""
    assigned = row.get("assignee_agent_id")
    if not assigned:
        return WORDS[lang]["unassigned"]
    if assigned == agent_id:
        return WORDS[lang]["mine"]
    return names.get(assigned, assigned)


def queue_row(
    row: Row,
    now: datetime,
    lang: str,
    agent_id: str | None = None,
    names: Mapping[str, str] | None = None,
    *,
    assigning: bool = False,
) -> QueueRow:
    due = countdown(row.get("sla_due_at"), now, lang)
    subject = row.get("subject") or WORDS[lang]["no_subject"]
    return QueueRow(
        id=row["id"],
        href=f"tickets/{row['id']}",
        subject=subject,
        customer=customer_label(row),
        status=name_of(lang, "status", row["status"]),
        channel=name_of(lang, "channel", row["channel"]),
        category=name_of(lang, "category", row["category"]),
        priority=name_of(lang, "priority", row["priority"]),
        urgent=row["priority"] in ("urgent", "high"),
        countdown=due,
        breached=bool(row.get("breached")) or (due is not None and due.late),
        assignee=assignee_label(row, agent_id, names or {}, lang),
        repeat=bool(row.get("is_repeat")),
        takeable=assigning and not row.get("assignee_agent_id"),
        tags=tuple(row.get("tags") or ()),
    )


def queue_view(
    rows: Sequence[Row],
    now: datetime,
    lang: str,
    filters: QueueFilters,
    *,
    page_size: int,
    offset: int = 0,
    agent_id: str | None = None,
    names: Mapping[str, str] | None = None,
    tags: Sequence[str] = (),
    teams: Sequence[tuple[str, str]] = (),
    assigning: bool = False,
) -> QueueView:
    """The queue from up to `page_size + 1` rows in deadline order (one more says there is a next
    page); `assigning`: the shop's tickets can be taken (each unassigned row offers to)."""
    shown = rows[:page_size]
    more = len(rows) > page_size
    return QueueView(
        rows=[queue_row(r, now, lang, agent_id, names, assigning=assigning) for r in shown],
        selects=filter_selects(filters, lang, tags, teams),
        filters=filters,
        next_href="?" + filters.query(offset=offset + page_size) if more else None,
        now=now,
        words=WORDS[lang],
    )
