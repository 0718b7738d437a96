"""The batch path's in-memory fold of promise steps (services/sla/domain/promise_steps.py), without a
database.

The table tests pin what each step does to a stored row (the per-event SQL, row by row), and that two
shops' orders of one id never touch each other's promises; the property says that folding a whole run
of steps at once ends where folding them one at a time ends, with every intermediate state written back
in between (which is what the per-event path does), over two shops sharing order ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.v1.sla import PromiseKind
from services.sla.domain.promise_steps import (
    Breach,
    Cancel,
    Move,
    Open,
    Settle,
    Step,
    fold_steps,
    orders_of,
)
from services.sla.domain.promises import PromiseRecord, PromiseStatus, StoredPromise, promise_id
from tests.support.shops import SHOP_A, SHOP_B

T0 = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
ANNA = {"id": "c-1", "email": "anna@example.com"}

Table = dict[str, StoredPromise]


def record(
    order_id: str,
    kind: PromiseKind,
    promised_at: datetime,
    status: PromiseStatus = PromiseStatus.RUNNING,
    repair_id: str | None = None,
    customer: dict[str, str] | None = None,
    shop: str = SHOP_A,
) -> PromiseRecord:
    return PromiseRecord(
        promise_id(shop, order_id, kind, repair_id),
        shop,
        order_id,
        kind,
        customer or ANNA,
        promised_at,
        status,
        repair_id,
    )


def table(*rows: StoredPromise) -> Table:
    return {row.promise.id: row for row in rows}


def written(stored: Table, steps: list[Step]) -> tuple[Table, list[Breach]]:
    """The table after folding `steps` over it and writing the changed rows back."""
    folded = fold_steps(stored.values(), steps)
    assert all(stored.get(row.promise.id) != row for row in folded.changed)  # nothing written for naught
    return {**stored, **{row.promise.id: row for row in folded.changed}}, folded.breaches


def test_paid_shipped_and_delivered_in_one_run_settle_their_own_promises() -> None:
    ship_by = record("o-1", PromiseKind.SHIP_BY, T0 + HOUR)
    delivery = record("o-1", PromiseKind.DELIVERY_DATE, T0 + 48 * HOUR)
    steps: list[Step] = [
        Open(ship_by),
        Settle(SHOP_A, "o-1", PromiseKind.SHIP_BY, T0 + HOUR / 2),
        Open(delivery),
        Settle(SHOP_A, "o-1", PromiseKind.DELIVERY_DATE, T0 + 30 * HOUR),
    ]
    after, breaches = written({}, steps)
    assert after == table(
        StoredPromise(replace(ship_by, status=PromiseStatus.KEPT), T0 + HOUR / 2),
        StoredPromise(replace(delivery, status=PromiseStatus.KEPT), T0 + 30 * HOUR),
    )
    assert breaches == []


def test_a_late_settlement_of_a_running_promise_is_a_breach_reported_with_the_row_as_it_stood() -> None:
    stored = record("o-1", PromiseKind.DELIVERY_DATE, T0, customer={"id": "c-9"})
    moved_to = T0 + 24 * HOUR
    steps: list[Step] = [
        Move(SHOP_A, "o-1", moved_to),
        Settle(SHOP_A, "o-1", PromiseKind.DELIVERY_DATE, moved_to + HOUR),
    ]
    after, breaches = written(table(StoredPromise(stored)), steps)
    moved = replace(stored, promised_at=moved_to)
    assert breaches == [Breach(moved, moved_to + HOUR)]
    assert after == table(
        StoredPromise(replace(moved, status=PromiseStatus.BREACHED), moved_to + HOUR, moved_to)
    )


def test_settled_promises_stay_settled() -> None:
    kept = StoredPromise(record("o-1", PromiseKind.SHIP_BY, T0, PromiseStatus.KEPT), T0 - HOUR)
    swept = StoredPromise(record("o-2", PromiseKind.SHIP_BY, T0, PromiseStatus.BREACHED), None, T0)
    stored = table(kept, swept)
    steps: list[Step] = [
        Open(record("o-1", PromiseKind.SHIP_BY, T0 + 5 * HOUR)),  # paid again: no new promise
        Settle(SHOP_A, "o-1", PromiseKind.SHIP_BY, T0 + 6 * HOUR),
        Settle(SHOP_A, "o-2", PromiseKind.SHIP_BY, T0 + 6 * HOUR),  # the sweep reported it already
        Cancel(SHOP_A, "o-2", T0 + 7 * HOUR),
    ]
    assert written(stored, steps) == (stored, [])


def test_opening_a_running_promise_again_only_moves_its_instant() -> None:
    first = record("o-1", PromiseKind.SHIP_BY, T0)
    again = record("o-1", PromiseKind.SHIP_BY, T0 + HOUR, customer={"id": "c-2"})
    after, _ = written(table(StoredPromise(first)), [Open(again)])
    assert after == table(StoredPromise(replace(first, promised_at=T0 + HOUR)))


def test_a_cancellation_ends_every_running_promise_of_the_order_only() -> None:
    repair = StoredPromise(record("o-1", PromiseKind.REPAIR_TURNAROUND, T0, repair_id="r-1"))
    delivery = StoredPromise(record("o-1", PromiseKind.DELIVERY_DATE, T0 - HOUR))  # overdue, not swept
    other = StoredPromise(record("o-2", PromiseKind.SHIP_BY, T0))
    after, breaches = written(table(repair, delivery, other), [Cancel(SHOP_A, "o-1", T0 + HOUR)])
    cancelled = PromiseStatus.CANCELLED
    assert after == table(
        StoredPromise(replace(repair.promise, status=cancelled), T0 + HOUR),
        StoredPromise(replace(delivery.promise, status=cancelled), T0 + HOUR),
        other,
    )
    assert breaches == []


def test_a_repair_settles_only_the_promise_of_its_own_repair_and_moves_touch_deliveries_only() -> None:
    r1 = StoredPromise(record("o-1", PromiseKind.REPAIR_TURNAROUND, T0, repair_id="r-1"))
    r2 = StoredPromise(record("o-1", PromiseKind.REPAIR_TURNAROUND, T0, repair_id="r-2"))
    steps: list[Step] = [
        Move(SHOP_A, "o-1", T0 + 9 * HOUR),
        Settle(SHOP_A, "o-1", PromiseKind.REPAIR_TURNAROUND, T0, "r-2"),
    ]
    after, _ = written(table(r1, r2), steps)
    assert after == table(r1, StoredPromise(replace(r2.promise, status=PromiseStatus.KEPT), T0))


def test_two_shops_orders_of_one_id_are_two_orders() -> None:
    """Order numbers are per shop: shop B's events on its order 1001 leave shop A's 1001 alone."""
    a_ship = StoredPromise(record("1001", PromiseKind.SHIP_BY, T0))
    a_delivery = StoredPromise(record("1001", PromiseKind.DELIVERY_DATE, T0 + 24 * HOUR))
    b_ship = record("1001", PromiseKind.SHIP_BY, T0 + 4 * HOUR, shop=SHOP_B)
    assert a_ship.promise.id != b_ship.id
    steps: list[Step] = [
        Open(b_ship),
        Settle(SHOP_B, "1001", PromiseKind.SHIP_BY, T0 + 2 * HOUR),  # A's would be late: no breach
        Move(SHOP_B, "1001", T0 + 48 * HOUR),
        Settle(SHOP_B, "1001", PromiseKind.DELIVERY_DATE, T0 + 30 * HOUR),  # B has none: nothing
        Cancel(SHOP_B, "1001", T0 + 3 * HOUR),
    ]
    after, breaches = written(table(a_ship, a_delivery), steps)
    assert after == table(
        a_ship, a_delivery, StoredPromise(replace(b_ship, status=PromiseStatus.KEPT), T0 + 2 * HOUR)
    )
    assert breaches == []
    assert orders_of(steps) == [(SHOP_B, "1001")]  # what the batch path locks: not shop A's order


SHOPS = (SHOP_A, SHOP_B)
ORDERS = ("o-1", "o-2")
KINDS = tuple(PromiseKind)
REPAIRS = (None, "r-1")
instants = st.integers(min_value=0, max_value=8).map(lambda h: T0 + h * HOUR)


@st.composite
def promises(draw: st.DrawFn, status: PromiseStatus | None = None) -> PromiseRecord:
    kind = draw(st.sampled_from(KINDS))
    repair_id = draw(st.sampled_from(REPAIRS)) if kind is PromiseKind.REPAIR_TURNAROUND else None
    return record(
        draw(st.sampled_from(ORDERS)),
        kind,
        draw(instants),
        status or draw(st.sampled_from(tuple(PromiseStatus))),
        repair_id,
        {"id": draw(st.sampled_from(["c-1", "c-2"]))},
        draw(st.sampled_from(SHOPS)),
    )


@st.composite
def stored_rows(draw: st.DrawFn) -> StoredPromise:
    promise = draw(promises())
    settled = None if promise.status is PromiseStatus.RUNNING else draw(instants)
    breached = draw(instants) if promise.status is PromiseStatus.BREACHED else None
    return StoredPromise(promise, settled, breached)


@st.composite
def steps(draw: st.DrawFn) -> Step:
    choice = draw(st.sampled_from(["open", "settle", "move", "cancel"]))
    shop = draw(st.sampled_from(SHOPS))
    order_id = draw(st.sampled_from(ORDERS))
    if choice == "open":
        return Open(draw(promises(PromiseStatus.RUNNING)))
    if choice == "settle":
        kind = draw(st.sampled_from(KINDS))
        repair_id = draw(st.sampled_from(REPAIRS)) if kind is PromiseKind.REPAIR_TURNAROUND else None
        return Settle(shop, order_id, kind, draw(instants), repair_id)
    if choice == "move":
        return Move(shop, order_id, draw(instants))
    return Cancel(shop, order_id, draw(instants))


@settings(max_examples=300, deadline=None)
@given(st.lists(stored_rows(), max_size=6), st.lists(steps(), max_size=14))
def test_folding_a_run_at_once_ends_where_folding_it_step_by_step_ends(
    rows: list[StoredPromise], run: list[Step]
) -> None:
    stored = table(*rows)
    at_once, at_once_breaches = written(stored, run)
    one_by_one, breaches = stored, []
    for step in run:
        one_by_one, found = written(one_by_one, [step])
        breaches += found
    assert at_once == one_by_one
    assert at_once_breaches == breaches
    # a promise is reported at most once, and only when it ends breached
    assert len({b.promise.id for b in breaches}) == len(breaches)
    assert all(at_once[b.promise.id].promise.status is PromiseStatus.BREACHED for b in breaches)


@settings(max_examples=300, deadline=None)
@given(st.lists(stored_rows(), max_size=6), st.lists(steps(), max_size=14))
def test_each_shop_folds_alone_and_the_locked_orders_are_all_it_reads(
    rows: list[StoredPromise], run: list[Step]
) -> None:
    stored = table(*rows)
    whole = fold_steps(stored.values(), run)
    # the batch path locks and reads only the promises of the orders the steps touch: that is enough
    locked = set(orders_of(run))
    read = [r for r in rows if (r.promise.shop_id, r.promise.order_id) in locked]
    assert fold_steps(table(*read).values(), run) == whole
    # one shop's steps change and report only its own promises: each shop folded apart, the same end
    for shop in SHOPS:
        own_rows = [r for r in stored.values() if r.promise.shop_id == shop]
        alone = fold_steps(own_rows, [step for step in run if step.order[0] == shop])
        assert alone.changed == [r for r in whole.changed if r.promise.shop_id == shop]
        assert alone.breaches == [b for b in whole.breaches if b.promise.shop_id == shop]
