-- Every intake query names the shop: the indexes that find a ticket's gateway threads and messages
-- lead with it too, so each lookup stays within the ticket's own entries.
CREATE INDEX ticket_threads_of_ticket ON ticket_threads (shop_id, ticket_id);
DROP INDEX ticket_threads_by_ticket;
CREATE INDEX messages_of_ticket ON messages (shop_id, ticket_id, seq);
DROP INDEX messages_by_ticket;
-- The FCR gauge reads the tickets solved in its period, not every ticket, on each refresh.
CREATE INDEX tickets_recently_solved ON tickets (solved_at) WHERE fcr IS NOT NULL;
