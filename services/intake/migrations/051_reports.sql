-- The intake report (issue #16; docs/intake.md "The intake report", docs/benchmarks.md): each of its
-- statements reads one index that leads with the shop and the instant it counts by and carries what it
-- counts, so a shop's period is one index range read without the table (an index-only scan), whatever
-- the other shops hold. Measured against rollups in docs/benchmarks.md.

-- tickets opened (by channel, category, repeats); `id` lets the contacts' join read the tickets here
CREATE INDEX tickets_opened ON tickets (shop_id, created_at) INCLUDE (id, channel, category, is_repeat);
-- first responses written, with the opening they are measured from
CREATE INDEX tickets_first_responses ON tickets (shop_id, first_response_at) INCLUDE (created_at)
    WHERE first_response_at IS NOT NULL;
-- tickets solved (their last solve), with FCR and reopens
CREATE INDEX tickets_solved ON tickets (shop_id, solved_at) INCLUDE (created_at, fcr, reopen_count)
    WHERE solved_at IS NOT NULL;
-- the backlog at a past instant: tickets finished (last solved, else closed) after it
CREATE INDEX tickets_finished ON tickets (shop_id, (coalesce(solved_at, closed_at)))
    WHERE status IN ('solved', 'closed');
-- contacts: the customers' messages, by channel and ticket
CREATE INDEX messages_from_customers ON messages (shop_id, at) INCLUDE (channel, ticket_id)
    WHERE author = 'customer';
