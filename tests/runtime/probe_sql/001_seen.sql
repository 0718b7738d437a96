CREATE TABLE seen (order_id text PRIMARY KEY, times integer NOT NULL);
