-- llmfw state service schema (SQLite). operator_id leads every key (shardable by operator).
-- phase: 0 = unknown, 1..5 = recon..exfiltration; phases_mask: bit n set = phase n reached.

CREATE TABLE events (
    operator_id    TEXT             NOT NULL,
    request_id     TEXT             NOT NULL,
    call_id        TEXT             NOT NULL,
    event_index    INTEGER          NOT NULL,
    session_id     TEXT             NOT NULL,
    tenant         TEXT             NOT NULL,
    observed_at_ms INTEGER          NOT NULL,
    tool           TEXT             NOT NULL,
    phase          INTEGER          NOT NULL,
    targets        TEXT             NOT NULL, -- JSON array of normalised target values
    action         TEXT             NOT NULL,
    risk           REAL             NOT NULL,
    reasons        TEXT             NOT NULL, -- JSON array of strings
    approval_id    TEXT,
    args_digest    TEXT             NOT NULL,
    PRIMARY KEY (operator_id, request_id, call_id)
);
CREATE INDEX events_by_session ON events (operator_id, session_id, observed_at_ms);

CREATE TABLE operator_targets (
    operator_id   TEXT     NOT NULL,
    target        TEXT     NOT NULL,
    max_phase     INTEGER  NOT NULL,
    phases_mask   INTEGER  NOT NULL,
    first_seen_ms INTEGER  NOT NULL,
    last_seen_ms  INTEGER  NOT NULL,
    PRIMARY KEY (operator_id, target)
);

CREATE TABLE sessions (
    operator_id   TEXT     NOT NULL,
    session_id    TEXT     NOT NULL,
    tenant        TEXT     NOT NULL,
    max_phase     INTEGER  NOT NULL,
    phases_mask   INTEGER  NOT NULL,
    first_seen_ms INTEGER  NOT NULL,
    last_seen_ms  INTEGER  NOT NULL,
    event_count   INTEGER  NOT NULL,
    PRIMARY KEY (operator_id, session_id)
);

CREATE TABLE approvals (
    operator_id   TEXT   NOT NULL,
    id            TEXT   NOT NULL,
    session_id    TEXT   NOT NULL,
    request_id    TEXT   NOT NULL,
    call_id       TEXT   NOT NULL,
    tool          TEXT   NOT NULL,
    args_digest   TEXT   NOT NULL,
    status        TEXT   NOT NULL, -- pending | approved | denied
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (operator_id, id)
);
