//! The campaign engine: pure rules, no I/O, no clock.
//!
//! `evaluate(config, snapshot, evaluation)` takes the operator's stored state (a [`Snapshot`] of
//! the phases reached per target and in the session), the tool events of one exchange and their
//! observed time, and returns the [`Verdict`] plus the [`Delta`] the store applies atomically.
//!
//! Risk of an event with a phase: the floor of the phase its target reaches (high-watermark over
//! the operator's history on that target, across sessions). A target with no earlier, lower phase
//! counts at `lone_factor` × floor; a progression counts at full floor plus `progression_step` per
//! distinct earlier phase (cap 1.0). Events without targets progress over the session instead.
//! In-scope targets (configured testlab) never produce BLOCK (seed HC1): capped at REQUIRE_APPROVAL.

mod phase;

use std::collections::HashMap;

use sha2::{Digest, Sha256};

pub use phase::{classify_tool, Phase, PhaseSet};

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

/// Engine tunables (defaults = seed RC10b thresholds and this project's floors).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// Risk at or above which an event is blocked (seed T_hard).
    pub block_threshold: f64,
    /// Risk at or above which an event needs approval.
    pub approval_threshold: f64,
    /// Risk at or above which an event is flagged (seed T_soft).
    pub warn_threshold: f64,
    /// Factor for a phase reached on a target with no earlier progression.
    pub lone_factor: f64,
    /// Added per distinct earlier phase on the same target.
    pub progression_step: f64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            block_threshold: 0.55,
            approval_threshold: 0.45,
            warn_threshold: 0.35,
            lone_factor: 0.6,
            progression_step: 0.05,
        }
    }
}

/// Error of [`EngineConfig::validate`].
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid engine config: {0}")]
pub struct InvalidConfig(pub String);

impl EngineConfig {
    /// Checks thresholds are in [0, 1] and ordered warn ≤ approval ≤ block.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let in_unit = |v: f64| (0.0..=1.0).contains(&v);
        if ![
            self.block_threshold,
            self.approval_threshold,
            self.warn_threshold,
            self.lone_factor,
            self.progression_step,
        ]
        .into_iter()
        .all(in_unit)
        {
            return Err(InvalidConfig(
                "thresholds and factors must be within [0, 1]".into(),
            ));
        }
        if !(self.warn_threshold <= self.approval_threshold
            && self.approval_threshold <= self.block_threshold)
        {
            return Err(InvalidConfig(
                "thresholds must be ordered warn <= require_approval <= block".into(),
            ));
        }
        Ok(())
    }

    fn action_for(&self, risk: f64) -> Action {
        if risk >= self.block_threshold {
            Action::Block
        } else if risk >= self.approval_threshold {
            Action::RequireApproval
        } else if risk >= self.warn_threshold {
            Action::Warn
        } else {
            Action::Allow
        }
    }
}

/// Risk floor of a phase.
pub fn phase_floor(p: Phase) -> f64 {
    match p {
        Phase::Recon => 0.10,
        Phase::Exploit => 0.30,
        Phase::Lateral => 0.40,
        Phase::Collection => 0.55,
        Phase::Exfiltration => 0.65,
    }
}

/// Who acts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// Tenant (informational).
    pub tenant: String,
    /// Operator: the key of all campaign state. Never empty.
    pub operator: String,
    /// Session (conversation).
    pub session: String,
}

/// A target of a tool event, normalised by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Normalised value (host, IP, URL, path, database).
    pub value: String,
    /// Inside the configured testlab scope.
    pub in_scope: bool,
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
}

/// The input of one evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// Who.
    pub subject: Subject,
    /// Unique per exchange.
    pub request_id: String,
    /// Observed time (Unix ms).
    pub observed_at_ms: i64,
    /// Events in order.
    pub events: Vec<ToolEvent>,
}

/// The stored state the engine needs: phases per target (only the targets of this request) and
/// the session's phases.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Phases reached per target by this operator, any session.
    pub targets: HashMap<String, PhaseSet>,
    /// Phases reached in this session.
    pub session: PhaseSet,
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
}

/// What the store must apply, in one transaction.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Delta {
    /// Phases to OR into each target (only targets that gained something are listed, but adding
    /// a subset is harmless: updates are monotonic).
    pub targets: Vec<(String, PhaseSet)>,
    /// Phases to OR into the session.
    pub session: PhaseSet,
    /// Approvals to create as pending.
    pub approvals: Vec<NewApproval>,
}

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

fn chain(set: PhaseSet) -> String {
    set.iter().map(Phase::name).collect::<Vec<_>>().join(" → ")
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

/// Scores one phase step against the phases already seen in a scope (a target or the session).
fn score(cfg: &EngineConfig, seen: PhaseSet, phase: Phase, scope: &str) -> (f64, String) {
    let reached = seen.max().map_or(phase, |m| m.max(phase));
    let earlier = seen.below(reached);
    let mut path = seen;
    path.insert(phase);
    if earlier.is_empty() {
        let risk = round4(cfg.lone_factor * phase_floor(reached));
        let reason = format!("{reached} on {scope} without earlier progression (risk {risk:.2})");
        (risk, reason)
    } else {
        let risk =
            round4((phase_floor(reached) + cfg.progression_step * earlier.len() as f64).min(1.0));
        let reason = format!("kill chain on {scope}: {} (risk {risk:.2})", chain(path));
        (risk, reason)
    }
}

/// Evaluates one exchange against the snapshot. Pure: same inputs, same outputs.
pub fn evaluate(cfg: &EngineConfig, snapshot: &Snapshot, eval: &Evaluation) -> (Verdict, Delta) {
    let mut targets = snapshot.targets.clone();
    let mut session = snapshot.session;
    let mut touched: Vec<String> = Vec::new();
    let mut verdict = Verdict {
        max_phase: snapshot.session.max(),
        ..Verdict::default()
    };
    let mut delta = Delta::default();

    for ev in &eval.events {
        let phase = ev.phase.or_else(|| classify_tool(&ev.tool, &ev.category));
        let mut ev_verdict = EventVerdict {
            call_id: ev.call_id.clone(),
            action: Action::Allow,
            risk: 0.0,
            phase,
            reasons: Vec::new(),
            approval_id: None,
        };
        if let Some(phase) = phase {
            if ev.targets.is_empty() {
                let scope = format!("session {}", eval.subject.session);
                let (risk, reason) = score(cfg, session, phase, &scope);
                ev_verdict.risk = risk;
                ev_verdict.action = cfg.action_for(risk);
                ev_verdict.reasons.push(reason);
                let reached = session.max().map_or(phase, |m| m.max(phase));
                verdict.max_phase = verdict.max_phase.max(Some(reached));
            }
            for t in &ev.targets {
                let seen = targets.get(&t.value).copied().unwrap_or_default();
                let (risk, reason) = score(cfg, seen, phase, &t.value);
                let mut action = cfg.action_for(risk);
                ev_verdict.reasons.push(reason);
                if t.in_scope && action == Action::Block {
                    action = Action::RequireApproval;
                    ev_verdict.reasons.push(format!(
                        "{} is in scope: capped at require_approval",
                        t.value
                    ));
                }
                ev_verdict.risk = ev_verdict.risk.max(risk);
                ev_verdict.action = ev_verdict.action.max(action);
                let mut now = seen;
                now.insert(phase);
                verdict.max_phase = verdict.max_phase.max(now.max());
                targets.insert(t.value.clone(), now);
                if !touched.contains(&t.value) {
                    touched.push(t.value.clone());
                }
            }
            session.insert(phase);
            verdict.max_phase = verdict.max_phase.max(Some(phase));
        }
        if ev_verdict.action == Action::RequireApproval {
            let id = approval_id(&eval.subject.operator, &eval.request_id, &ev.call_id);
            delta.approvals.push(NewApproval {
                id: id.clone(),
                call_id: ev.call_id.clone(),
                tool: ev.tool.clone(),
                args_digest: ev.args_digest.clone(),
            });
            verdict.approval_id.get_or_insert_with(|| id.clone());
            ev_verdict.approval_id = Some(id);
        }
        verdict.action = verdict.action.max(ev_verdict.action);
        verdict.risk = verdict.risk.max(ev_verdict.risk);
        for r in &ev_verdict.reasons {
            if !verdict.reasons.contains(r) {
                verdict.reasons.push(r.clone());
            }
        }
        verdict.events.push(ev_verdict);
    }

    delta.targets = touched
        .into_iter()
        .filter_map(|t| targets.get(&t).map(|set| (t, *set)))
        .collect();
    delta.session = session;
    (verdict, delta)
}

/// Applies a delta to a snapshot in memory (what the store does in SQL), for tests and replays.
pub fn apply(snapshot: &mut Snapshot, delta: &Delta) {
    for (t, set) in &delta.targets {
        let e = snapshot.targets.entry(t.clone()).or_default();
        *e = e.union(*set);
    }
    snapshot.session = snapshot.session.union(delta.session);
}

#[cfg(test)]
mod tests;
