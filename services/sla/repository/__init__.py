"""The SLA service's SQL, one module per aggregate: `shop_settings` (a shop's policies and calendar),
`tickets`, `clocks` and `promises`; `claims` is the sweep's claim both of the last two use; `reports` the
per-shop report's grouped reads. Callers use the names re-exported here (`repo.lock_promises`)."""

from services.sla.repository.clocks import (
    ClockRecord,
    claim_due_clocks,
    clock_statistics,
    defer_clocks,
    insert_clocks,
    load_clocks,
    lock_active_clocks,
    ticket_clocks,
    update_clocks,
)
from services.sla.repository.promises import (
    breach_promises,
    claim_due_promises,
    defer_promises,
    lock_promises,
    lock_running_promises,
    open_promise,
    save_promises,
    settle_promise,
)
from services.sla.repository.reports import (
    breach_quantiles,
    clock_counts,
    escalation_counts,
    promise_counts,
)
from services.sla.repository.shop_settings import (
    load_calendar,
    load_policies,
    load_ship_by_terms,
    save_calendar,
    save_policies,
)
from services.sla.repository.tickets import TicketState, lock_ticket, save_ticket

__all__ = [
    "ClockRecord",
    "TicketState",
    "breach_promises",
    "breach_quantiles",
    "claim_due_clocks",
    "claim_due_promises",
    "clock_counts",
    "clock_statistics",
    "defer_clocks",
    "defer_promises",
    "escalation_counts",
    "insert_clocks",
    "load_calendar",
    "load_clocks",
    "load_policies",
    "load_ship_by_terms",
    "lock_active_clocks",
    "lock_promises",
    "lock_running_promises",
    "lock_ticket",
    "open_promise",
    "promise_counts",
    "save_calendar",
    "save_policies",
    "save_promises",
    "save_ticket",
    "settle_promise",
    "ticket_clocks",
    "update_clocks",
]
