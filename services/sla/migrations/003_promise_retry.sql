-- A due promise whose order.promise_breached event cannot be built (a stored customer that no longer
-- validates, say) is deferred like a clock, but a promise's due instant is its promised_at, which the
-- event reports: it cannot be moved. `retry_at` holds the deferral instead and `failure` the reason of
-- the last one. The sweep claims by greatest(promised_at, retry_at): a deferred promise that an
-- order.delayed moves later waits for its new date, not for the retry.
ALTER TABLE promises ADD COLUMN retry_at timestamptz, ADD COLUMN failure text;
DROP INDEX promises_due;
-- The sweep's access path (repository._CLAIM_PROMISES uses this very expression).
CREATE INDEX promises_due ON promises ((greatest(promised_at, retry_at))) WHERE status = 'running';
