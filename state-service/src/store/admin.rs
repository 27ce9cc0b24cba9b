//! Types of the admin and retention part of the [`Store`](super::Store) contract: operator
//! summaries, listings, approval decisions with their audit trail, operator resets and pruning.

use crate::engine::PhaseSet;

/// Paging of a listing (`LIMIT` / `OFFSET`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Rows at most.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            limit: 100,
            offset: 0,
        }
    }
}

/// An operator's profile: kept by retention, removed only by a reset.
#[derive(Clone, Debug, PartialEq)]
pub struct OperatorRow {
    /// Operator id.
    pub operator: String,
    /// Phases reached on any target (the high-water mark is its max).
    pub phases: PhaseSet,
    /// Latent risk as `log2(risk) + t / half_life` (see `engine::memory`).
    pub latent_log: f64,
    /// First event time (Unix ms).
    pub first_seen_ms: i64,
    /// Last event time (Unix ms).
    pub last_seen_ms: i64,
    /// Sessions seen.
    pub sessions: i64,
    /// Events counted over all sessions (kept when events are pruned).
    pub events: i64,
}

/// Which sessions a listing returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter<'a> {
    /// Only this operator's.
    pub operator: Option<&'a str>,
    /// Only sessions with this id.
    pub session: Option<&'a str>,
}

/// A stored event as the admin API shows it (events never keep prompt or argument content;
/// only an approval keeps the arguments of the call it holds).
#[derive(Clone, Debug, PartialEq)]
pub struct EventSummary {
    /// Session.
    pub session: String,
    /// Request id.
    pub request_id: String,
    /// Call id.
    pub call_id: String,
    /// Event time (Unix ms).
    pub observed_at_ms: i64,
    /// Tool name.
    pub tool: String,
    /// Phase number (0 = none).
    pub phase: i64,
    /// Target values.
    pub targets: Vec<String>,
    /// Action of the verdict.
    pub action: String,
    /// Risk of the verdict.
    pub risk: f64,
    /// Reasons of the verdict.
    pub reasons: Vec<String>,
    /// Approval raised by the event.
    pub approval_id: Option<String>,
    /// SHA-256 of the canonical JSON arguments (the arguments themselves are not stored).
    pub args_digest: String,
    /// Tool category the filter classified the call as ('' for events stored before schema 5).
    pub category: String,
}

/// Events of one action in one time bucket (the overview's decision chart).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ActionCount {
    /// Start of the bucket (Unix ms, event time).
    pub bucket_ms: i64,
    /// `allow`, `warn`, `require_approval` or `block`.
    pub action: String,
    /// Events.
    pub count: i64,
}

/// A human decision on a pending approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Approve (true) or deny (false).
    pub approve: bool,
    /// Who decided (self-reported by the admin client).
    pub by: String,
    /// Free-text note.
    pub note: Option<String>,
    /// When (Unix ms, wall clock).
    pub at_ms: i64,
}

impl Decision {
    /// A decision without a note.
    pub fn new(approve: bool, by: &str, at_ms: i64) -> Decision {
        Decision {
            approve,
            by: by.to_string(),
            note: None,
            at_ms,
        }
    }
}

/// What [`Store::decide`](super::Store::decide) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecideOutcome {
    /// The approval was pending and now carries the decision.
    Decided(super::Approval),
    /// The approval exists but is no longer pending; nothing changed.
    NotPending(super::Approval),
    /// No approval has this id.
    Unknown,
}

/// Who resets an operator, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Who (self-reported by the admin client).
    pub by: String,
    /// Free-text note.
    pub note: Option<String>,
    /// When (Unix ms, wall clock).
    pub at_ms: i64,
}

/// Rows an operator reset removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResetOutcome {
    /// Events.
    pub events: u64,
    /// Sessions.
    pub sessions: u64,
    /// Targets (graph nodes).
    pub targets: u64,
    /// Pivots (graph edges).
    pub pivots: u64,
    /// Budget counter buckets.
    pub budget_counters: u64,
    /// The operator profile (0 or 1).
    pub operators: u64,
}

impl ResetOutcome {
    /// Whether the operator had any state.
    pub fn existed(&self) -> bool {
        self.events + self.sessions + self.targets + self.pivots + self.operators > 0
    }
}

/// One entry of the audit log of admin actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When (Unix ms, wall clock).
    pub at_ms: i64,
    /// Who.
    pub actor: String,
    /// `approve`, `deny` or `reset_operator`.
    pub action: String,
    /// Operator concerned.
    pub operator: String,
    /// Approval id, or the operator for a reset.
    pub subject: String,
    /// Note given with the action.
    pub note: Option<String>,
    /// JSON object with details (counts of a reset).
    pub detail: String,
}

/// Rows retention removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneOutcome {
    /// Events older than the cut-off.
    pub events: u64,
    /// Budget counter buckets older than every budget window.
    pub budget_counters: u64,
}
