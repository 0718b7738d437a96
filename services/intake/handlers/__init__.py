"""Intake's use cases and its consumers' handlers: every entry point, named here.

Each takes the open connection of a transaction it does not own (the HTTP route's or the consumer's,
which commits or rolls back the state and the events together) and does the same four things: load,
let the ticket aggregate (`domain/ticket.py`) decide, save the change, enqueue its events in one
outbox statement (`writes.apply`). Metrics of an effect count only once that transaction commits.

- contacts: `receive_contact` (`POST /v1/contacts`), `on_contact_event` (`contact.received`);
- e-mail: `receive_email` (`POST /v1/inbound/email`);
- shop platforms: `receive_platform_delivery` (`POST /v1/platforms/{shopify,woocommerce}/{shop}`: a
  webhook becomes order events on `orders.events`);
- agents (the API's routes): `add_agent_message`, `change_status`, `reopen`, `merge_tickets`;
- people and routing: `people.py` (agents and teams, their tokens), `routing.route_new` (a new
  ticket's team and agent, for every path that opens one), `assignment.py` (`assign_ticket`, `take`,
  `on_sla_escalated` within `on_sla_events`, `release_tickets_of`, `hand_out`), `macros.py`
  (`render_for_ticket`);
- replies: `reply_to_customer` (every public message, an agent's or automatic), `on_reply_status`
  (`reply.status` from the gateways);
- automatic answers (`automatic.py`): `answer_where_is_my_order` for a new ticket and `joined` for a
  message joining one (came back to an answer, or after a delay notice), both within
  `receive_contact`; housekeeping (`housekeeping.py`): what the sweeps do to one due ticket (deflect,
  solve an unanswered pending ticket, remind, close);
- other services' events: `on_order_events` (a fold over `orders.events`), `on_survey_detractor`,
  `on_promise_breached`, `on_sla_breached`; `on_sla_events` (a fold over `sla.events`: each
  ticket's SLA state, breach marks, broken promises);
- survey answers (`surveys.py`): `on_survey_answered`, `on_unhappy_answer` (survey.detractor: kept,
  then `on_survey_detractor`'s follow-up), each refreshing the standing on the customer's tickets;
- the audit log: `on_audit_events` (a fold over `audit.events`, every service's records);
- the operator API: `create_shop`, `change_shop`, `set_shop_status`, `issue_shop_key`,
  `revoke_shop_key`, and `seed_shops` (the JSON file's shops, at start).
- privacy requests: `request_privacy` (the API, Shopify's compliance webhooks), `privacy_part`
  (intake's own rows, on the runtime's `privacy.requested` path), `on_privacy_completed` (a fold
  over `privacy.completed`: each service's part of a request).
"""

from .agents import add_agent_message, change_status, merge_tickets, reopen
from .audit import AUDIT_TYPES, on_audit_events
from .contacts import ContactOutcome, on_contact_event, receive_contact
from .inbound import EmailOutcome, receive_email
from .platforms import receive_platform_delivery
from .privacy import Asked, on_privacy_completed, privacy_part, request_privacy
from .replies import on_reply_status, reply_to_customer
from .shops import change_shop, create_shop, issue_shop_key, revoke_shop_key, seed_shops, set_shop_status
from .sla import SLA_TYPES, on_sla_events
from .surveys import on_survey_answered, on_unhappy_answer
from .upstream import on_order_events, on_promise_breached, on_sla_breached, on_survey_detractor

CONTACT_HANDLERS = {"contact.received": on_contact_event}
SURVEY_HANDLERS = {"survey.answered": on_survey_answered, "survey.detractor": on_unhappy_answer}
REPLY_STATUS_HANDLERS = {"reply.status": on_reply_status}
PRIVACY_COMPLETED = ("privacy.completed",)

__all__ = [
    "AUDIT_TYPES",
    "CONTACT_HANDLERS",
    "PRIVACY_COMPLETED",
    "REPLY_STATUS_HANDLERS",
    "SLA_TYPES",
    "SURVEY_HANDLERS",
    "Asked",
    "ContactOutcome",
    "EmailOutcome",
    "add_agent_message",
    "change_shop",
    "change_status",
    "create_shop",
    "issue_shop_key",
    "merge_tickets",
    "on_audit_events",
    "on_contact_event",
    "on_order_events",
    "on_privacy_completed",
    "on_promise_breached",
    "on_reply_status",
    "on_sla_breached",
    "on_sla_events",
    "on_survey_answered",
    "on_survey_detractor",
    "on_unhappy_answer",
    "privacy_part",
    "receive_contact",
    "receive_email",
    "receive_platform_delivery",
    "reopen",
    "reply_to_customer",
    "request_privacy",
    "revoke_shop_key",
    "seed_shops",
    "set_shop_status",
]
