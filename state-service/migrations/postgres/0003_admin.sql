-- Admin API and retention: who decided an approval (audit trail), an append-only audit log of
-- admin actions (decisions, operator resets), and indexes for listing and pruning.

ALTER TABLE approvals ADD COLUMN decided_by TEXT;
ALTER TABLE approvals ADD COLUMN decision_note TEXT;
CREATE INDEX approvals_by_status ON approvals (status, created_at_ms);

CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL, -- approve | deny | reset_operator
    operator_id TEXT   NOT NULL,
    subject     TEXT   NOT NULL, -- approval id, or the operator for a reset
    note        TEXT,
    detail      TEXT   NOT NULL  -- JSON object (counts of a reset, status of a decision)
);
CREATE INDEX audit_log_by_operator ON audit_log (operator_id, id);

-- retention prunes events by time; listings page operators by recency and sessions by id
CREATE INDEX events_by_time ON events (observed_at_ms);
CREATE INDEX operators_by_seen ON operators (last_seen_ms);
CREATE INDEX sessions_by_id ON sessions (session_id);
