-- The digest of the request each event came in (SHA-256 over the subject, policy version,
-- pretexts and events; state-service/src/store/idempotency.rs). A request id already stored
-- answers with its stored verdict only when the new request has the same digest; otherwise the
-- id was reused for other calls, which are recorded under a derived id and refused. Events
-- stored before this migration have '' (no digest): a request reusing their id is a conflict.

ALTER TABLE events ADD COLUMN request_digest TEXT NOT NULL DEFAULT '';
