-- Engine state of the RC10b re-implementation: session memory (latent risk, claims), operator
-- profile, budget counters per time bucket, campaign-graph edges, approval binding and expiry.
-- latent_log = log2(risk) + t / half_life (max-merged; -1e9 = none), see engine::memory.

ALTER TABLE sessions ADD COLUMN latent_log REAL NOT NULL DEFAULT -1000000000.0;
ALTER TABLE sessions ADD COLUMN claims_mask INTEGER NOT NULL DEFAULT 0;

ALTER TABLE operator_targets ADD COLUMN in_scope INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operator_targets ADD COLUMN local INTEGER NOT NULL DEFAULT 0;
CREATE INDEX operator_targets_by_seen ON operator_targets (operator_id, last_seen_ms);

ALTER TABLE approvals ADD COLUMN policy_version TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN expires_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE approvals ADD COLUMN decided_at_ms INTEGER;
CREATE INDEX approvals_by_digest ON approvals (operator_id, args_digest, status);
CREATE INDEX approvals_by_id ON approvals (id);

CREATE TABLE operators (
    operator_id   TEXT    NOT NULL PRIMARY KEY,
    phases_mask   INTEGER      NOT NULL,
    latent_log    REAL      NOT NULL,
    first_seen_ms INTEGER      NOT NULL,
    last_seen_ms  INTEGER      NOT NULL
);

-- one row per (operator, budget, time bucket); n = n + 1 once per newly stored event
CREATE TABLE budget_counters (
    operator_id TEXT NOT NULL,
    budget      TEXT NOT NULL,
    bucket_ms   INTEGER   NOT NULL,
    n           INTEGER   NOT NULL,
    PRIMARY KEY (operator_id, budget, bucket_ms)
);

-- pivots: the operator moved on from a target it had exploited to another target
CREATE TABLE campaign_edges (
    operator_id   TEXT NOT NULL,
    from_target   TEXT NOT NULL,
    to_target     TEXT NOT NULL,
    first_seen_ms INTEGER   NOT NULL,
    last_seen_ms  INTEGER   NOT NULL,
    n             INTEGER   NOT NULL,
    PRIMARY KEY (operator_id, from_target, to_target)
);
