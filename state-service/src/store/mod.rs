//! Storage behind one [`Store`] trait, with a Postgres ([`PostgresStore`]) and an embedded SQLite
//! ([`SqliteStore`]) implementation that pass one contract suite (`store::contract`).
//!
//! Guarantees every implementation gives:
//! - [`Store::record`] applies a whole evaluation in one transaction, durable when it returns;
//! - phase updates are monotonic and atomic in the database (`ON CONFLICT DO UPDATE` with
//!   max / bitwise or), so concurrent replicas never lose an update;
//! - an event is keyed by `(operator_id, request_id, call_id)`: a retried request is stored once and
//!   does not count twice.

mod admin;
#[macro_use]
mod shared_sql;
pub mod idempotency;
mod postgres;
mod sqlite;

#[cfg(test)]
mod contract;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use admin::{
    ActionCount, Actor, AuditEntry, DecideOutcome, Decision, EventSummary, OperatorRow, Page,
    PruneOutcome, ResetOutcome, SessionFilter,
};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::engine::{
    Action, BudgetUse, Delta, EngineConfig, Evaluation, EventVerdict, Phase, PhaseSet, Snapshot,
    Verdict,
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
    /// `--no-migrate` on a database whose schema is older than this build's.
    #[error(
        "database schema is at version {have}, this build needs {want}: run `llmfw-state migrate` \
         (or serve without --no-migrate)"
    )]
    SchemaBehind {
        /// Latest applied migration.
        have: i64,
        /// Latest migration of this build.
        want: i64,
    },
    /// A concurrent writer used the same single-use approval first; nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The group-commit batch this request was part of failed (the error is shared by every
    /// request of the batch; none of them was written).
    #[error("{0}")]
    Batch(Arc<StoreError>),
    /// The group-commit writer is gone (the service is shutting down).
    #[error("group commit stopped")]
    Stopped,
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
    /// [`idempotency::request_digest`] of the request the event came in ('' before schema 6).
    pub request_digest: String,
}

/// A stored session row (kept by retention, removed only by an operator reset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// Operator.
    pub operator: String,
    /// Session id.
    pub session: String,
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
    /// Operator.
    pub operator: String,
    /// Id (hex).
    pub id: String,
    /// Session.
    pub session_id: String,
    /// Request that raised it.
    pub request_id: String,
    /// Call that raised it.
    pub call_id: String,
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
    /// When a human approved or denied it, or when it was consumed (Unix ms).
    pub decided_at_ms: Option<i64>,
    /// Who approved or denied it.
    pub decided_by: Option<String>,
    /// Note given with the decision.
    pub note: Option<String>,
    /// The canonical JSON arguments of the held call (hashing to `args_digest`), if sent.
    pub arguments: Option<String>,
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

/// The outcome of one evaluation of [`Store::evaluate_batch`].
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluated {
    /// The verdict: the engine's, or the stored one of a retried request.
    pub verdict: Verdict,
    /// Events newly stored.
    pub inserted: u64,
    /// The request id was stored before: `verdict` is the stored verdict, nothing was written.
    pub retried: bool,
    /// The request id was stored before with other content: the events were recorded under
    /// [`idempotency::conflict_id`] and refused (see [`idempotency`]).
    pub conflict: bool,
}

impl Evaluated {
    /// The answer to a retried request: its stored verdict, nothing written.
    pub fn retried(stored: &[StoredEvent], conflict: bool) -> Evaluated {
        Evaluated {
            verdict: verdict_from_stored(stored),
            inserted: 0,
            retried: true,
            conflict,
        }
    }
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

    /// Group commit: evaluates `evals` in order in **one** transaction and commits once. Per
    /// evaluation: the retry check (a stored request answers its stored verdict), the snapshot —
    /// which sees the writes of the earlier evaluations of the batch, so events of one operator
    /// in a batch are judged exactly as if they had come one after the other — the engine, and
    /// the write (as [`Store::record`]). Returns one [`Evaluated`] per evaluation, in order, only
    /// after the commit; on any error nothing of the batch is written. PostgreSQL takes a
    /// transaction-scoped advisory lock per operator (in key order) first, so replicas writing
    /// the same operator serialise instead of reading each other's uncommitted state or
    /// deadlocking.
    fn evaluate_batch<'a>(
        &'a self,
        cfg: &'a EngineConfig,
        evals: &'a [Evaluation],
    ) -> StoreFuture<'a, Vec<Evaluated>>;

    /// A session row, if the session was seen.
    fn session<'a>(
        &'a self,
        operator: &'a str,
        session: &'a str,
    ) -> StoreFuture<'a, Option<SessionRow>>;

    /// The operator's approvals, oldest first.
    fn approvals<'a>(&'a self, operator: &'a str) -> StoreFuture<'a, Vec<Approval>>;

    /// Approves a pending approval without a note (`by` = `store`); false if it is unknown or
    /// no longer pending.
    fn approve<'a>(&'a self, id: &'a str, now_ms: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let d = Decision::new(true, "store", now_ms);
            Ok(matches!(
                self.decide(id, &d).await?,
                DecideOutcome::Decided(_)
            ))
        })
    }

    /// Denies a pending approval without a note (`by` = `store`); false if it is unknown or no
    /// longer pending.
    fn deny<'a>(&'a self, id: &'a str, now_ms: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let d = Decision::new(false, "store", now_ms);
            Ok(matches!(
                self.decide(id, &d).await?,
                DecideOutcome::Decided(_)
            ))
        })
    }

    /// The operator's campaign graph.
    fn campaign_graph<'a>(&'a self, operator: &'a str) -> StoreFuture<'a, CampaignGraph>;

    /// Sessions matching `filter`, most recently seen first.
    fn sessions<'a>(
        &'a self,
        filter: SessionFilter<'a>,
        page: Page,
    ) -> StoreFuture<'a, Vec<SessionRow>>;

    /// The session's stored events, newest first, at most `limit` (retention may have pruned
    /// older ones; the session row keeps its counters).
    fn session_events<'a>(
        &'a self,
        operator: &'a str,
        session: &'a str,
        limit: i64,
    ) -> StoreFuture<'a, Vec<EventSummary>>;

    /// An operator's stored events over all sessions, newest first, at most `limit`.
    fn operator_events<'a>(
        &'a self,
        operator: &'a str,
        limit: i64,
    ) -> StoreFuture<'a, Vec<EventSummary>>;

    /// Stored events observed in `[since_ms, until_ms)` counted per action and per bucket of
    /// `bucket_ms` starting at `since_ms`; empty buckets are left out.
    fn action_counts(
        &self,
        since_ms: i64,
        until_ms: i64,
        bucket_ms: i64,
    ) -> StoreFuture<'_, Vec<ActionCount>>;

    /// Operator profiles, most recently seen first; `search` keeps those whose id contains it
    /// (case-insensitive).
    fn operators<'a>(
        &'a self,
        search: Option<&'a str>,
        page: Page,
    ) -> StoreFuture<'a, Vec<OperatorRow>>;

    /// One operator's profile, if the operator was seen (and not reset since).
    fn operator<'a>(&'a self, operator: &'a str) -> StoreFuture<'a, Option<OperatorRow>>;

    /// Use of each configured budget in its window ending at `at_ms` (event time).
    fn budget_use<'a>(
        &'a self,
        cfg: &'a EngineConfig,
        operator: &'a str,
        at_ms: i64,
    ) -> StoreFuture<'a, Vec<BudgetUse>>;

    /// Approvals of any operator, newest first; `status` and `operator` filter when set.
    fn list_approvals<'a>(
        &'a self,
        status: Option<&'a str>,
        operator: Option<&'a str>,
        page: Page,
    ) -> StoreFuture<'a, Vec<Approval>>;

    /// One approval by id.
    fn approval<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Approval>>;

    /// Records a human decision on a pending approval, with an audit log entry, in one
    /// transaction. A decided, consumed or unknown approval is left unchanged.
    fn decide<'a>(&'a self, id: &'a str, decision: &'a Decision) -> StoreFuture<'a, DecideOutcome>;

    /// Forgets an operator's campaign state (phases, risk, budgets, graph, sessions and events)
    /// in one transaction and, if there was any, appends an audit log entry. Approvals stay.
    fn reset_operator<'a>(
        &'a self,
        operator: &'a str,
        actor: &'a Actor,
    ) -> StoreFuture<'a, ResetOutcome>;

    /// The audit log of admin actions, newest first; `operator` filters when set.
    fn audit_log<'a>(
        &'a self,
        operator: Option<&'a str>,
        page: Page,
    ) -> StoreFuture<'a, Vec<AuditEntry>>;

    /// Retention: deletes events observed before `events_before_ms` and budget counter buckets
    /// starting before `counters_before_ms`. Sessions, operator profiles, targets, the graph,
    /// approvals and the audit log keep their summaries.
    fn prune(
        &self,
        events_before_ms: i64,
        counters_before_ms: i64,
    ) -> StoreFuture<'_, PruneOutcome>;
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

/// Opens the store a database URL names; with `migrate` false it applies no migration and fails
/// with [`StoreError::SchemaBehind`] unless every migration of this build is already applied.
pub async fn open_store(url: &str, migrate: bool) -> Result<Arc<dyn Store>, StoreError> {
    if migrate {
        return open(url).await;
    }
    if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url).await?;
        store.check_migrated().await?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url).await?;
        store.check_migrated().await?;
        Ok(Arc::new(store))
    } else {
        Err(StoreError::UnsupportedUrl(crate::config::redact_url(url)))
    }
}

/// Applies the migrations to the database `url` names and closes it (`llmfw-state migrate`);
/// returns the schema version (the latest migration).
pub async fn migrate(url: &str) -> Result<i64, StoreError> {
    if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url).await?;
        store.migrate().await?;
        store.close().await;
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url).await?;
        store.migrate().await?;
        store.close().await;
    } else {
        return Err(StoreError::UnsupportedUrl(crate::config::redact_url(url)));
    }
    Ok(SCHEMA_VERSION)
}

/// The schema version of this build: the number of the latest migration (both backends have
/// the same numbered migrations).
pub const SCHEMA_VERSION: i64 = 6;

/// Compares the applied schema version with the latest migration of `migrator`.
pub(crate) fn check_schema(
    applied: Result<Option<i64>, sqlx::Error>,
    migrator: &sqlx::migrate::Migrator,
) -> Result<(), StoreError> {
    let want = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    let have = match applied {
        Ok(v) => v.unwrap_or(0),
        Err(sqlx::Error::Database(e)) => {
            tracing::debug!(error = %e, "no migration table");
            0
        }
        Err(e) => return Err(e.into()),
    };
    if have < want {
        return Err(StoreError::SchemaBehind { have, want });
    }
    Ok(())
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

/// The key of an operator's advisory lock (PostgreSQL): FNV-1a over the operator id, stable
/// across processes and builds (replicas must agree on it).
pub fn operator_lock_key(operator: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in operator.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// The distinct advisory lock keys of a batch's operators, ascending (the one lock order).
pub(crate) fn operator_lock_keys<'a>(operators: impl Iterator<Item = &'a str>) -> Vec<i64> {
    let mut keys: Vec<i64> = operators.map(operator_lock_key).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
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
    pub category: String,
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
            category: ev.category.clone(),
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
    request_digest: String,
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
        request_digest,
    })
}
