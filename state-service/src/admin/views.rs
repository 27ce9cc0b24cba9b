//! JSON shapes of the admin API (documented in `openapi.json`).

use serde::Serialize;

use crate::engine::memory::latent_at;
use crate::engine::{BudgetUse, EngineConfig, Phase};
use crate::store::{
    Approval, AuditEntry, CampaignGraph, EventSummary, GraphEdge, GraphNode, OperatorRow,
    SessionRow,
};

/// Use of one budget category.
#[derive(Debug, Serialize)]
pub struct BudgetView {
    pub category: String,
    pub used: u32,
    pub limit: u32,
    pub window_s: u64,
}

/// Risk of an operator at a time.
#[derive(Debug, Serialize)]
pub struct RiskView {
    /// Latent risk (decayed with the configured half-life) at `at_ms`.
    pub current: f64,
    /// Event time it is computed at.
    pub at_ms: i64,
}

/// An operator's summary.
#[derive(Debug, Serialize)]
pub struct OperatorView {
    pub operator: String,
    pub max_phase: Option<&'static str>,
    pub phases: Vec<&'static str>,
    pub risk: RiskView,
    pub budgets: Vec<BudgetView>,
    pub sessions: i64,
    pub events: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

impl OperatorView {
    pub fn new(cfg: &EngineConfig, row: OperatorRow, at_ms: i64, budgets: Vec<BudgetUse>) -> Self {
        let budgets = budgets
            .into_iter()
            .map(|b| BudgetView {
                window_s: cfg
                    .budgets
                    .iter()
                    .find(|c| c.name == b.name)
                    .map_or(0, |c| c.window_s),
                category: b.name,
                used: b.used,
                limit: b.limit,
            })
            .collect();
        let current = latent_at(row.latent_log, at_ms, cfg.half_life_s);
        OperatorView {
            operator: row.operator,
            max_phase: row.phases.max().map(Phase::name),
            phases: row.phases.iter().map(Phase::name).collect(),
            risk: RiskView {
                current: (current * 1e6).round() / 1e6,
                at_ms,
            },
            budgets,
            sessions: row.sessions,
            events: row.events,
            first_seen_ms: row.first_seen_ms,
            last_seen_ms: row.last_seen_ms,
        }
    }
}

/// A session's summary.
#[derive(Debug, Serialize)]
pub struct SessionView {
    pub operator: String,
    pub session: String,
    pub tenant: String,
    pub max_phase: Option<&'static str>,
    pub event_count: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

impl From<SessionRow> for SessionView {
    fn from(s: SessionRow) -> Self {
        SessionView {
            operator: s.operator,
            session: s.session,
            tenant: s.tenant,
            max_phase: s.max_phase.map(Phase::name),
            event_count: s.event_count,
            first_seen_ms: s.first_seen_ms,
            last_seen_ms: s.last_seen_ms,
        }
    }
}

/// A stored event (tool, phase, targets, verdict; never prompt or argument content).
#[derive(Debug, Serialize)]
pub struct EventView {
    pub session: String,
    pub request_id: String,
    pub call_id: String,
    pub observed_at_ms: i64,
    pub tool: String,
    /// Tool category; `null` for events stored before it was kept.
    pub category: Option<String>,
    pub phase: Option<&'static str>,
    pub targets: Vec<String>,
    pub action: String,
    pub risk: f64,
    pub reasons: Vec<String>,
    pub approval_id: Option<String>,
    pub args_digest: String,
}

impl From<EventSummary> for EventView {
    fn from(e: EventSummary) -> Self {
        EventView {
            session: e.session,
            args_digest: e.args_digest,
            request_id: e.request_id,
            call_id: e.call_id,
            observed_at_ms: e.observed_at_ms,
            tool: e.tool,
            category: Some(e.category).filter(|c| !c.is_empty()),
            phase: Phase::from_number(e.phase).map(Phase::name),
            targets: e.targets,
            action: e.action,
            risk: e.risk,
            reasons: e.reasons,
            approval_id: e.approval_id,
        }
    }
}

/// An approval with its decision (who, when, note).
#[derive(Debug, Serialize)]
pub struct ApprovalView {
    pub id: String,
    pub operator: String,
    pub session: String,
    pub request_id: String,
    pub call_id: String,
    pub tool: String,
    pub args_digest: String,
    /// The exact arguments of the held call as the canonical JSON text whose SHA-256 is
    /// `args_digest`, if the filter sent them.
    pub arguments_json: Option<String>,
    pub status: String,
    pub policy_version: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub decided_at_ms: Option<i64>,
    pub decided_by: Option<String>,
    pub note: Option<String>,
}

impl From<Approval> for ApprovalView {
    fn from(a: Approval) -> Self {
        ApprovalView {
            id: a.id,
            operator: a.operator,
            session: a.session_id,
            request_id: a.request_id,
            call_id: a.call_id,
            tool: a.tool,
            args_digest: a.args_digest,
            arguments_json: a.arguments,
            status: a.status,
            policy_version: a.policy_version,
            created_at_ms: a.created_at_ms,
            expires_at_ms: a.expires_at_ms,
            decided_at_ms: a.decided_at_ms,
            decided_by: a.decided_by,
            note: a.note,
        }
    }
}

/// An operator's campaign graph.
#[derive(Debug, Serialize)]
pub struct GraphView {
    pub operator: String,
    pub targets: Vec<GraphNode>,
    pub pivots: Vec<GraphEdge>,
    pub fan_out: i64,
}

impl GraphView {
    pub fn new(operator: String, g: CampaignGraph) -> Self {
        GraphView {
            operator,
            targets: g.nodes,
            pivots: g.edges,
            fan_out: g.fan_out,
        }
    }
}

/// An audit log entry.
#[derive(Debug, Serialize)]
pub struct AuditView {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub operator: String,
    pub subject: String,
    pub note: Option<String>,
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for AuditView {
    fn from(a: AuditEntry) -> Self {
        AuditView {
            id: a.id,
            at_ms: a.at_ms,
            actor: a.actor,
            action: a.action,
            operator: a.operator,
            subject: a.subject,
            note: a.note,
            detail: serde_json::from_str(&a.detail).unwrap_or(serde_json::Value::Null),
        }
    }
}
