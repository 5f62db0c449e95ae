-- Idempotency records move from the key-value store into the registration row they answer
-- (shared/src/idempotency.rs): the fingerprint of the request body and the response given are
-- written in the same transaction as the registration, so a retry after a crash or a lost KV
-- record still gets its first answer. Rows from before keep NULL here; their fingerprint is
-- recomputed from the stored body.
ALTER TABLE registrations ADD COLUMN fingerprint TEXT;
ALTER TABLE registrations ADD COLUMN response TEXT;
-- The scheduled job releases keys past their 24-hour retention: a range of this partial index
-- (only rows still holding a key are in it).
CREATE INDEX registrations_live_keys ON registrations (created_at) WHERE idempotency_key IS NOT NULL;
