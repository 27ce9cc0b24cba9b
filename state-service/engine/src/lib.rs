//! The campaign engine: pure rules, no I/O, no clock (DESIGN §4.2, seed RC10b re-done).
//!
//! `evaluate(config, snapshot, evaluation)` takes the stored state the store loaded for one
//! exchange (a [`Snapshot`]: phases per target, the session's memory, the operator's profile,
//! budgets and graph counts, approved grants), the tool events of the exchange and their event
//! time, and returns the [`Verdict`] plus the [`Delta`] the store applies atomically. Every
//! delta is monotonic (bit-or, max, `n = n + 1` keyed by the event), so replicas never lose an
//! update and a retried event is never counted twice.
//!
//! Per event with a phase (see [`run`] for the formulas): kill-chain score `K` (per target, per
//! session, per operator), operator score `O` (budgets, fan-out), campaign-graph score `C`,
//! the seed's adaptive weighting, pretext `P` and scope-mismatch `S` terms, session and operator
//! memory (latent risk, 24 h half-life), then the policy layer ([`policy`]) with configured
//! authorisations. Events without a phase are allowed with risk 0.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod config;
pub mod memory;
mod phase;
mod policy;
pub mod pretext;
pub mod proto;
mod run;

use std::collections::HashMap;

use sha2::{Digest, Sha256};

pub use config::{
    default_budgets, glob_match, parse_phase, Ablation, AuthScope, Authorization, Budget,
    EngineConfig, InvalidConfig,
};
pub use phase::{classify_tool, Phase, PhaseSet};
pub use run::evaluate;

/// Verdict actions, ordered: a larger one is stricter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Action {
    /// Let it pass.
    #[default]
    Allow,
    /// Let it pass, flag it.
    Warn,
    /// Hold until a human approves.
    RequireApproval,
    /// Refuse.
    Block,
}

impl Action {
    /// All actions, mildest first.
    pub const ALL: [Action; 4] = [
        Action::Allow,
        Action::Warn,
        Action::RequireApproval,
        Action::Block,
    ];

    /// Lowercase name (metrics label, stored value).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Warn => "warn",
            Action::RequireApproval => "require_approval",
            Action::Block => "block",
        }
    }

    /// Parses [`Action::as_str`].
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Who acts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// Tenant (matched by authorisations).
    pub tenant: String,
    /// Operator: the key of all campaign state. Never empty.
    pub operator: String,
    /// Session (conversation).
    pub session: String,
}

/// A target of a tool event, normalised by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// Normalised value (host, IP, URL, path, database).
    pub value: String,
    /// Inside the filter's configured testlab scope.
    pub in_scope: bool,
    /// A path or database name: tracked for progression, but not a network target (no scope,
    /// no fan-out).
    pub local: bool,
}

/// One tool event of an exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolEvent {
    /// Call id, unique within the request (the converter fills `#<index>` when empty).
    pub call_id: String,
    /// Tool name.
    pub tool: String,
    /// Category as classified by the filter (may be empty).
    pub category: String,
    /// Phase as classified by the filter; `None` = classify by tool name.
    pub phase: Option<Phase>,
    /// Targets.
    pub targets: Vec<Target>,
    /// Hex SHA-256 of the canonical arguments.
    pub args_digest: String,
    /// The canonical arguments, when the filter sent them and they hash to `args_digest`; kept
    /// only with an approval the event raises.
    pub arguments: Option<String>,
}

/// The input of one evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// Who.
    pub subject: Subject,
    /// Unique per exchange.
    pub request_id: String,
    /// Event time (Unix ms).
    pub observed_at_ms: i64,
    /// Events in order.
    pub events: Vec<ToolEvent>,
    /// Stated purposes / prompts / pretext signals seen in this exchange (claims, not facts).
    pub pretexts: Vec<String>,
    /// The filter's policy version (approvals are bound to it and the engine's).
    pub policy_version: String,
}

/// What is known about one target of the operator.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TargetState {
    /// Phases reached on the target, any session.
    pub phases: PhaseSet,
    /// Last event time on it (Unix ms).
    pub last_seen_ms: i64,
}

/// One entry of a session's tactical buffer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecentEvent {
    /// Event time (Unix ms).
    pub at_ms: i64,
    /// Tool.
    pub tool: String,
    /// Phase.
    pub phase: Option<Phase>,
    /// Target values.
    pub targets: Vec<String>,
}

/// Session memory: tactical buffer and strategic profile.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionState {
    /// Phases reached in the session (the high-watermark is its max).
    pub phases: PhaseSet,
    /// Latent risk as `log2(risk) + t / half_life` (see [`memory::latent_at`]); max-merged.
    pub latent_log: f64,
    /// Pretext intents claimed in the session (bit mask over [`pretext::INTENTS`]).
    pub claims: u32,
    /// The last events of the session, oldest first (at most [`memory::TACTICAL_SIZE`]).
    pub recent: Vec<RecentEvent>,
}

impl Default for SessionState {
    fn default() -> Self {
        SessionState {
            phases: PhaseSet::EMPTY,
            latent_log: memory::NO_LATENT,
            claims: 0,
            recent: Vec::new(),
        }
    }
}

/// The operator's profile across sessions.
#[derive(Clone, Debug, PartialEq)]
pub struct OperatorState {
    /// Phases reached by the operator on any target.
    pub phases: PhaseSet,
    /// Latent risk (as [`SessionState::latent_log`]).
    pub latent_log: f64,
    /// Budget name → events counted in its window (ending at the evaluation time).
    pub budgets_used: HashMap<String, u32>,
    /// Distinct out-of-scope network targets seen in the fan-out window.
    pub fanout: u32,
    /// Distinct out-of-scope network targets ever (graph size).
    pub targets_out_of_scope: u32,
    /// Out-of-scope network targets that reached exploit or beyond.
    pub advanced_targets: u32,
    /// Pivot edges in the operator's campaign graph.
    pub pivots: u32,
}

impl Default for OperatorState {
    fn default() -> Self {
        OperatorState {
            phases: PhaseSet::EMPTY,
            latent_log: memory::NO_LATENT,
            budgets_used: HashMap::new(),
            fanout: 0,
            targets_out_of_scope: 0,
            advanced_targets: 0,
            pivots: 0,
        }
    }
}

/// An approved, unused approval that may let a matching call through once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Approval id.
    pub id: String,
    /// Session it was raised in.
    pub session: String,
    /// Tool.
    pub tool: String,
    /// Digest of the arguments.
    pub args_digest: String,
    /// Policy binding (see [`approval_binding`]).
    pub policy_version: String,
    /// Expiry (Unix ms, event time).
    pub expires_at_ms: i64,
}

/// The stored state the engine needs for one exchange.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The operator's targets among this exchange's targets (others are not loaded).
    pub targets: HashMap<String, TargetState>,
    /// Session memory.
    pub session: SessionState,
    /// Operator profile.
    pub operator: OperatorState,
    /// Approved grants for this exchange's argument digests.
    pub grants: Vec<Grant>,
}

/// The verdict for one event.
#[derive(Clone, Debug, PartialEq)]
pub struct EventVerdict {
    /// Call id.
    pub call_id: String,
    /// Action.
    pub action: Action,
    /// Risk in [0, 1].
    pub risk: f64,
    /// Phase of the event itself (`None` = unknown tool).
    pub phase: Option<Phase>,
    /// Human-readable reasons.
    pub reasons: Vec<String>,
    /// Set when `action` is REQUIRE_APPROVAL.
    pub approval_id: Option<String>,
}

/// Use of one budget after an exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetUse {
    /// Budget name.
    pub name: String,
    /// Events counted in the window.
    pub used: u32,
    /// Limit.
    pub limit: u32,
}

/// The verdict for one exchange.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Verdict {
    /// Strictest action.
    pub action: Action,
    /// Highest risk.
    pub risk: f64,
    /// Highest phase reached (session, and the targets touched).
    pub max_phase: Option<Phase>,
    /// Reasons of all events, deduplicated, in order.
    pub reasons: Vec<String>,
    /// The first approval id, if any.
    pub approval_id: Option<String>,
    /// Per event, in request order.
    pub events: Vec<EventVerdict>,
    /// Budget state after the exchange.
    pub budgets: Vec<BudgetUse>,
}

/// A pending approval to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApproval {
    /// Deterministic id (hex).
    pub id: String,
    /// Call id it belongs to.
    pub call_id: String,
    /// Tool.
    pub tool: String,
    /// Digest of the arguments it approves.
    pub args_digest: String,
    /// The canonical arguments (see [`ToolEvent::arguments`]).
    pub arguments: Option<String>,
    /// Policy binding.
    pub policy_version: String,
    /// Expiry (Unix ms, event time).
    pub expires_at_ms: i64,
}

/// One budget increment, applied only if the event `call_id` is newly stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetIncrement {
    /// Event it belongs to.
    pub call_id: String,
    /// Budget name.
    pub budget: String,
    /// Bucket start (Unix ms).
    pub bucket_ms: i64,
}

/// A target's state to merge (phases or-ed, times max/min-merged).
#[derive(Clone, Debug, PartialEq)]
pub struct TargetDelta {
    /// Target value.
    pub target: String,
    /// Phases reached (including earlier ones).
    pub phases: PhaseSet,
    /// In scope (network targets only).
    pub in_scope: bool,
    /// A path or database name.
    pub local: bool,
}

/// What the store must apply, in one transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Delta {
    /// Targets touched.
    pub targets: Vec<TargetDelta>,
    /// Phases to OR into the session.
    pub session: PhaseSet,
    /// Latent risk to max-merge into the session.
    pub session_latent_log: f64,
    /// Claims to OR into the session.
    pub session_claims: u32,
    /// Phases to OR into the operator.
    pub operator: PhaseSet,
    /// Latent risk to max-merge into the operator.
    pub operator_latent_log: f64,
    /// Budget increments (counted once per stored event).
    pub budgets: Vec<BudgetIncrement>,
    /// Pivot edges (from target, to target) to add to the campaign graph.
    pub edges: Vec<(String, String)>,
    /// Approvals to create as pending.
    pub approvals: Vec<NewApproval>,
    /// Approved grants this exchange uses (single use: approved → consumed).
    pub consumed: Vec<String>,
}

impl Default for Delta {
    fn default() -> Self {
        Delta {
            targets: Vec::new(),
            session: PhaseSet::EMPTY,
            session_latent_log: memory::NO_LATENT,
            session_claims: 0,
            operator: PhaseSet::EMPTY,
            operator_latent_log: memory::NO_LATENT,
            budgets: Vec::new(),
            edges: Vec::new(),
            approvals: Vec::new(),
            consumed: Vec::new(),
        }
    }
}

/// Deterministic approval id: hex of SHA-256 over operator, request id and call id (32 chars).
pub fn approval_id(operator: &str, request_id: &str, call_id: &str) -> String {
    let mut h = Sha256::new();
    for part in ["llmfw-approval-v1", operator, request_id, call_id] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    hex::encode(&digest[..16])
}

/// The policy binding of an approval: the engine's policy version and the filter's.
pub fn approval_binding(cfg: &EngineConfig, eval: &Evaluation) -> String {
    format!("{}|{}", cfg.policy_version, eval.policy_version)
}

#[cfg(test)]
mod tests;
