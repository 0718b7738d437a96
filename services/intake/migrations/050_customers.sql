-- Customer 360 (issue #16; docs/intake.md "Customer 360"): what each customer is worth to the shop and
-- whether they are a detractor, shown by GET /v1/customers and carried by their tickets.

-- When each order was placed: the earliest step intake was told of it (domain/orders.py). Rows from
-- before knew only the times of their facts: the earliest of those.
ALTER TABLE orders ADD COLUMN placed_at timestamptz;
UPDATE orders
SET placed_at = least(status_at, contents_at, customer_email_at, promise_at, shipped_at, delayed_at);
-- A customer's orders by the shop's own customer id (by e-mail: orders_by_email).
CREATE INDEX orders_by_customer ON orders (shop_id, customer_id);

-- Survey answers (survey.answered, survey.detractor), one row per survey however often told. Whose
-- they are is read through the ticket or order they answer, so no contact detail is kept here.
-- detractor: survey judged the answer unhappy (it sent survey.detractor for it).
CREATE TABLE survey_answers (
    shop_id   text NOT NULL,
    survey_id text NOT NULL,
    kind      text NOT NULL,
    score     integer NOT NULL,
    at        timestamptz NOT NULL,
    detractor boolean NOT NULL DEFAULT false,
    ticket_id text,
    order_id  text,
    PRIMARY KEY (shop_id, survey_id)
);
CREATE INDEX survey_answers_by_ticket ON survey_answers (shop_id, ticket_id) WHERE ticket_id IS NOT NULL;
CREATE INDEX survey_answers_by_order ON survey_answers (shop_id, order_id) WHERE order_id IS NOT NULL;

-- Where the ticket's customer stands (domain/customers.py CustomerStanding: counted orders per currency
-- and whether they are a detractor), set when the ticket opens and again when the customer's orders or
-- survey answers change while it is not closed; null: opened before intake kept it.
ALTER TABLE tickets ADD COLUMN customer_standing jsonb;
-- A customer's tickets by the shop's own customer id (by e-mail, phone or handle: tickets_by_customer).
CREATE INDEX tickets_by_customer_id ON tickets (shop_id, customer_id) WHERE customer_id IS NOT NULL;
