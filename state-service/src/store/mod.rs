//! Storage behind one [`Store`] trait, with a Postgres ([`PostgresStore`]) and an embedded SQLite
//! ([`SqliteStore`]) implementation that pass one contract suite (`store::contract`).
//!
//! Guarantees every implementation gives:
//! - [`Store::record`] applies a whole evaluation in one transaction, durable when it returns;
//! - phase updates are monotonic and atomic in the database (`ON CONFLICT DO UPDATE` with
//!   max / bitwise or), so concurrent replicas never lose an update;
//! - an event is keyed by `(operator_id, request_id, call_id)`: a retried request is stored once and
//!   does not count twice.

mod postgres;
mod sqlite;

#[cfg(test)]
mod contract;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::engine::{
    Action, Delta, EngineConfig, Evaluation, EventVerdict, Phase, PhaseSet, Snapshot, Verdict,
};

/// A boxed future returned by [`Store`] methods (keeps the trait object-safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Errors of a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL is not `sqlite://…`, `postgres://…` or `postgresql://…`.
    #[error("unsupported database url (want sqlite://PATH or postgres://…): {0}")]
    UnsupportedUrl(String),
    /// A stored row could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A concurrent writer used the same single-use approval first; nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
}

/// An event as stored (enough to answer a retried request with the stored verdict).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Call id.
    pub call_id: String,
    /// Tool name.
    pub tool: String,
    /// Phase of the event.
    pub phase: Option<Phase>,
    /// Targets.
    pub targets: Vec<String>,
    /// Action of the stored verdict.
    pub action: Action,
    /// Risk of the stored verdict.
    pub risk: f64,
    /// Reasons of the stored verdict.
    pub reasons: Vec<String>,
    /// Approval id, if the verdict was REQUIRE_APPROVAL.
    pub approval_id: Option<String>,
}

/// A stored session row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// Tenant first seen with the session.
    pub tenant: String,
    /// Highest phase reached.
    pub max_phase: Option<Phase>,
    /// Events counted (each stored event once).
    pub event_count: i64,
    /// First event time (Unix ms).
    pub first_seen_ms: i64,
    /// Last event time (Unix ms).
    pub last_seen_ms: i64,
}

/// A stored approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// Id (hex).
    pub id: String,
    /// Session.
    pub session_id: String,
    /// Tool.
    pub tool: String,
    /// Digest of the arguments.
    pub args_digest: String,
    /// `pending`, `approved`, `denied` or `consumed` (approved and used once).
    pub status: String,
    /// Creation time (Unix ms).
    pub created_at_ms: i64,
    /// Policy binding (engine and filter policy versions).
    pub policy_version: String,
    /// Expiry (Unix ms, event time).
    pub expires_at_ms: i64,
}

/// A node of an operator's campaign graph: one target.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GraphNode {
    /// Target value.
    pub target: String,
    /// Phases reached on it, in kill-chain order.
    pub phases: Vec<&'static str>,
    /// Highest phase reached.
    pub max_phase: Option<&'static str>,
    /// In the filter's testlab scope (last seen).
    pub in_scope: bool,
    /// A path or database rather than a network target.
    pub local: bool,
    /// First event time (Unix ms).
    pub first_seen_ms: i64,
    /// Last event time (Unix ms).
    pub last_seen_ms: i64,
}

/// A pivot edge of a campaign graph.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GraphEdge {
    /// From this (exploited) target …
    pub from: String,
    /// … to this one.
    pub to: String,
    /// Times seen.
    pub count: i64,
    /// First time seen (Unix ms).
    pub first_seen_ms: i64,
}

/// An operator's campaign graph across sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CampaignGraph {
    /// Targets.
    pub nodes: Vec<GraphNode>,
    /// Pivots.
    pub edges: Vec<GraphEdge>,
    /// Distinct out-of-scope network targets.
    pub fan_out: i64,
}

pub(crate) fn graph_node(
    target: String,
    mask: i64,
    in_scope: bool,
    local: bool,
    first_seen_ms: i64,
    last_seen_ms: i64,
) -> GraphNode {
    let set = PhaseSet::from_mask(mask);
    GraphNode {
        target,
        phases: set.iter().map(Phase::name).collect(),
        max_phase: set.max().map(Phase::name),
        in_scope,
        local,
        first_seen_ms,
        last_seen_ms,
    }
}

/// What [`Store::record`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordOutcome {
    /// Events newly stored (retried ones are not counted).
    pub inserted: u64,
}

/// The storage contract of the state service.
pub trait Store: Send + Sync {
    /// `postgres` or `sqlite`.
    fn kind(&self) -> &'static str;

    /// Answers when the database answers.
    fn ping(&self) -> StoreFuture<'_, ()>;

    /// Everything the engine needs for `eval`: the operator's state on the exchange's targets
    /// (others are not loaded), session memory (phases, latent risk, claims, the last 50
    /// events), the operator profile, budget use in each window ending at the event time,
    /// graph counts and approved grants for the exchange's argument digests.
    fn load_snapshot<'a>(
        &'a self,
        cfg: &'a EngineConfig,
        eval: &'a Evaluation,
    ) -> StoreFuture<'a, Snapshot>;

    /// The stored events of an earlier request with this id, in request order (empty if none).
    fn load_request<'a>(
        &'a self,
        operator: &'a str,
        request_id: &'a str,
    ) -> StoreFuture<'a, Vec<StoredEvent>>;

    /// Applies an evaluation in one transaction: events (once per (operator, request, call)),
    /// budget increments of newly stored events only, monotonic merges of targets, session,
    /// operator and graph, new approvals, and single-use consumption of approved grants
    /// ([`StoreError::Conflict`], nothing written, if another writer consumed one first).
    fn record<'a>(
        &'a self,
        eval: &'a Evaluation,
        verdict: &'a Verdict,
        delta: &'a Delta,
    ) -> StoreFuture<'a, RecordOutcome>;

    /// A session row, if the session was seen.
    fn session<'a>(
        &'a self,
        operator: &'a str,
        session: &'a str,
    ) -> StoreFuture<'a, Option<SessionRow>>;

    /// The operator's approvals, oldest first.
    fn approvals<'a>(&'a self, operator: &'a str) -> StoreFuture<'a, Vec<Approval>>;

    /// Approves a pending approval; false if it is unknown or no longer pending.
    fn approve<'a>(&'a self, id: &'a str, now_ms: i64) -> StoreFuture<'a, bool>;

    /// Denies a pending approval; false if it is unknown or no longer pending.
    fn deny<'a>(&'a self, id: &'a str, now_ms: i64) -> StoreFuture<'a, bool>;

    /// The operator's campaign graph.
    fn campaign_graph<'a>(&'a self, operator: &'a str) -> StoreFuture<'a, CampaignGraph>;
}

/// Opens (and migrates) the store a database URL names: `sqlite://PATH` (created if missing),
/// `postgres://…` or `postgresql://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(crate::config::redact_url(url)))
    }
}

/// Rebuilds the verdict of a stored request (the answer to a retry).
pub fn verdict_from_stored(events: &[StoredEvent]) -> Verdict {
    let mut v = Verdict::default();
    for e in events {
        v.action = v.action.max(e.action);
        v.risk = v.risk.max(e.risk);
        v.max_phase = v.max_phase.max(e.phase);
        for r in &e.reasons {
            if !v.reasons.contains(r) {
                v.reasons.push(r.clone());
            }
        }
        if v.approval_id.is_none() {
            v.approval_id.clone_from(&e.approval_id);
        }
        v.events.push(EventVerdict {
            call_id: e.call_id.clone(),
            action: e.action,
            risk: e.risk,
            phase: e.phase,
            reasons: e.reasons.clone(),
            approval_id: e.approval_id.clone(),
        });
    }
    v
}

/// Distinct argument digests of an evaluation.
pub(crate) fn digests(eval: &Evaluation) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in &eval.events {
        if !e.args_digest.is_empty() && !out.contains(&e.args_digest) {
            out.push(e.args_digest.clone());
        }
    }
    out
}

/// Distinct target values of an evaluation.
pub(crate) fn target_values(eval: &Evaluation) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in eval.events.iter().flat_map(|e| e.targets.iter()) {
        if !out.contains(&t.value) {
            out.push(t.value.clone());
        }
    }
    out
}

/// Decodes a tactical-buffer row.
pub(crate) fn recent_event(
    at_ms: i64,
    tool: String,
    phase: i64,
    targets: &str,
) -> Result<crate::engine::RecentEvent, StoreError> {
    let targets: Vec<String> =
        serde_json::from_str(targets).map_err(|e| StoreError::Corrupt(format!("targets: {e}")))?;
    Ok(crate::engine::RecentEvent {
        at_ms,
        tool,
        phase: Phase::from_number(phase),
        targets,
    })
}

/// Row values of one event, shared by both backends.
pub(crate) struct EventRow {
    pub call_id: String,
    pub index: i32,
    pub tool: String,
    pub phase: i16,
    pub targets: String,
    pub action: &'static str,
    pub risk: f64,
    pub reasons: String,
    pub approval_id: Option<String>,
    pub args_digest: String,
}

/// Pairs each event with its verdict as rows to insert.
pub(crate) fn event_rows(
    eval: &Evaluation,
    verdict: &Verdict,
) -> Result<Vec<EventRow>, StoreError> {
    let mut rows = Vec::with_capacity(eval.events.len());
    for (i, (ev, ver)) in eval.events.iter().zip(verdict.events.iter()).enumerate() {
        let targets: Vec<&str> = ev.targets.iter().map(|t| t.value.as_str()).collect();
        rows.push(EventRow {
            call_id: ev.call_id.clone(),
            index: i32::try_from(i).map_err(|_| StoreError::Corrupt("too many events".into()))?,
            tool: ev.tool.clone(),
            phase: ver.phase.map_or(0, Phase::number),
            targets: to_json(&targets)?,
            action: ver.action.as_str(),
            risk: ver.risk,
            reasons: to_json(&ver.reasons)?,
            approval_id: ver.approval_id.clone(),
            args_digest: ev.args_digest.clone(),
        });
    }
    Ok(rows)
}

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Decodes a stored event row.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_event(
    call_id: String,
    tool: String,
    phase: i64,
    targets: &str,
    action: &str,
    risk: f64,
    reasons: &str,
    approval_id: Option<String>,
) -> Result<StoredEvent, StoreError> {
    let targets: Vec<String> =
        serde_json::from_str(targets).map_err(|e| StoreError::Corrupt(format!("targets: {e}")))?;
    let reasons: Vec<String> =
        serde_json::from_str(reasons).map_err(|e| StoreError::Corrupt(format!("reasons: {e}")))?;
    let action =
        Action::parse(action).ok_or_else(|| StoreError::Corrupt(format!("action {action:?}")))?;
    Ok(StoredEvent {
        call_id,
        tool,
        phase: Phase::from_number(phase),
        targets,
        action,
        risk,
        reasons,
        approval_id,
    })
}
