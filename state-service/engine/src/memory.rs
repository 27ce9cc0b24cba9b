//! Latent risk arithmetic and [`MemState`], an in-memory state that does what the stores do in
//! SQL (snapshot in, delta out). The evaluation replays campaigns through it; engine tests use it.
//!
//! Latent risk: a risk `r` seen at time `t` is worth `r · 0.5^((T − t) / half_life)` at a later
//! time `T`. It is stored as `λ = log2(r) + t / half_life`, so the decayed value is
//! `2^(λ − T / half_life)` and the latent risk of several events — the decayed maximum — is the
//! maximum of their `λ`: an order-independent `max` merge that needs no read-modify-write.
//! A gap between events never resets it; only time decays it.

use std::collections::{HashMap, HashSet};

use super::{
    approval_binding, Budget, Delta, EngineConfig, Evaluation, Grant, Phase, PhaseSet, RecentEvent,
    SessionState, Snapshot, TargetState, Verdict,
};

/// Size of a session's tactical buffer.
pub const TACTICAL_SIZE: usize = 50;

/// `λ` of "no latent risk".
pub const NO_LATENT: f64 = -1.0e9;

/// `λ` of risk `r` at `t_ms`.
pub fn latent_log(risk: f64, t_ms: i64, half_life_s: f64) -> f64 {
    if risk <= 0.0 {
        return NO_LATENT;
    }
    risk.log2() + t_ms as f64 / (half_life_s * 1000.0)
}

/// The latent risk `λ` is worth at `t_ms` (capped at 1).
pub fn latent_at(lambda: f64, t_ms: i64, half_life_s: f64) -> f64 {
    if lambda <= NO_LATENT {
        return 0.0;
    }
    (lambda - t_ms as f64 / (half_life_s * 1000.0))
        .exp2()
        .min(1.0)
}

#[derive(Clone, Debug, Default)]
struct MemTarget {
    phases: PhaseSet,
    last_seen_ms: i64,
    in_scope: bool,
    local: bool,
}

#[derive(Clone, Debug)]
struct MemApproval {
    grant: Grant,
    status: &'static str,
}

/// In-memory state of all operators (single process, evaluation and tests).
#[derive(Clone, Debug, Default)]
pub struct MemState {
    targets: HashMap<(String, String), MemTarget>,
    sessions: HashMap<(String, String), SessionState>,
    operators: HashMap<String, (PhaseSet, f64)>,
    buckets: HashMap<(String, String, i64), u32>,
    events: HashSet<(String, String, String)>,
    edges: HashSet<(String, String, String)>,
    approvals: HashMap<(String, String), MemApproval>,
}

impl MemState {
    /// The snapshot the stores would load for `eval`.
    pub fn snapshot(&self, cfg: &EngineConfig, eval: &Evaluation) -> Snapshot {
        let op = eval.subject.operator.as_str();
        let now = eval.observed_at_ms;
        let mut snap = Snapshot::default();
        for t in eval.events.iter().flat_map(|e| e.targets.iter()) {
            if let Some(m) = self.targets.get(&(op.to_string(), t.value.clone())) {
                snap.targets.insert(
                    t.value.clone(),
                    TargetState {
                        phases: m.phases,
                        last_seen_ms: m.last_seen_ms,
                    },
                );
            }
        }
        if let Some(s) = self
            .sessions
            .get(&(op.to_string(), eval.subject.session.clone()))
        {
            snap.session = s.clone();
        }
        if let Some((phases, latent)) = self.operators.get(op) {
            snap.operator.phases = *phases;
            snap.operator.latent_log = *latent;
        }
        for b in &cfg.budgets {
            let from = b.window_start_bucket(now);
            let used = self
                .buckets
                .iter()
                .filter(|((o, name, bucket), _)| {
                    o == op && *name == b.name && *bucket >= from && *bucket <= now
                })
                .map(|(_, n)| *n)
                .sum();
            snap.operator.budgets_used.insert(b.name.clone(), used);
        }
        let fan_from = now.saturating_sub(
            i64::try_from(cfg.fanout_window_s.saturating_mul(1000)).unwrap_or(i64::MAX),
        );
        for ((o, _), t) in &self.targets {
            if o != op || t.in_scope || t.local {
                continue;
            }
            snap.operator.targets_out_of_scope += 1;
            if t.last_seen_ms >= fan_from {
                snap.operator.fanout += 1;
            }
            if t.phases.max() >= Some(Phase::Exploit) {
                snap.operator.advanced_targets += 1;
            }
        }
        snap.operator.pivots = u32::try_from(self.edges.iter().filter(|(o, _, _)| o == op).count())
            .unwrap_or(u32::MAX);
        let digests: HashSet<&str> = eval.events.iter().map(|e| e.args_digest.as_str()).collect();
        let binding = approval_binding(cfg, eval);
        snap.grants = self
            .approvals
            .iter()
            .filter(|((o, _), a)| {
                o == op
                    && a.status == "approved"
                    && digests.contains(a.grant.args_digest.as_str())
                    && a.grant.policy_version == binding
            })
            .map(|(_, a)| a.grant.clone())
            .collect();
        snap
    }

    /// Applies a delta as the stores do: events keyed by (operator, request, call) are counted
    /// once; everything else merges monotonically.
    pub fn apply(&mut self, eval: &Evaluation, verdict: &Verdict, delta: &Delta) {
        let op = eval.subject.operator.clone();
        let now = eval.observed_at_ms;
        let mut inserted: HashSet<&str> = HashSet::new();
        for ev in &eval.events {
            let key = (op.clone(), eval.request_id.clone(), ev.call_id.clone());
            if self.events.insert(key) {
                inserted.insert(ev.call_id.as_str());
            }
        }
        for t in &delta.targets {
            let e = self
                .targets
                .entry((op.clone(), t.target.clone()))
                .or_default();
            e.phases = e.phases.union(t.phases);
            e.last_seen_ms = e.last_seen_ms.max(now);
            e.in_scope = t.in_scope;
            e.local = t.local;
        }
        let s = self
            .sessions
            .entry((op.clone(), eval.subject.session.clone()))
            .or_default();
        s.phases = s.phases.union(delta.session);
        s.latent_log = s.latent_log.max(delta.session_latent_log);
        s.claims |= delta.session_claims;
        for (ev, v) in eval.events.iter().zip(&verdict.events) {
            if !inserted.contains(ev.call_id.as_str()) {
                continue;
            }
            s.recent.push(RecentEvent {
                at_ms: now,
                tool: ev.tool.clone(),
                phase: v.phase,
                targets: ev.targets.iter().map(|t| t.value.clone()).collect(),
            });
        }
        s.recent.sort_by_key(|r| r.at_ms);
        let excess = s.recent.len().saturating_sub(TACTICAL_SIZE);
        s.recent.drain(..excess);
        let o = self
            .operators
            .entry(op.clone())
            .or_insert((PhaseSet::EMPTY, NO_LATENT));
        o.0 = o.0.union(delta.operator);
        o.1 = o.1.max(delta.operator_latent_log);
        for b in &delta.budgets {
            if inserted.contains(b.call_id.as_str()) {
                *self
                    .buckets
                    .entry((op.clone(), b.budget.clone(), b.bucket_ms))
                    .or_default() += 1;
            }
        }
        for (from, to) in &delta.edges {
            self.edges.insert((op.clone(), from.clone(), to.clone()));
        }
        for a in &delta.approvals {
            self.approvals
                .entry((op.clone(), a.id.clone()))
                .or_insert(MemApproval {
                    grant: Grant {
                        id: a.id.clone(),
                        session: eval.subject.session.clone(),
                        tool: a.tool.clone(),
                        args_digest: a.args_digest.clone(),
                        policy_version: a.policy_version.clone(),
                        expires_at_ms: a.expires_at_ms,
                    },
                    status: "pending",
                });
        }
        for id in &delta.consumed {
            if let Some(a) = self.approvals.get_mut(&(op.clone(), id.clone())) {
                if a.status == "approved" {
                    a.status = "consumed";
                }
            }
        }
    }

    /// Approves a pending approval; false if unknown or not pending.
    pub fn approve(&mut self, operator: &str, id: &str) -> bool {
        match self
            .approvals
            .get_mut(&(operator.to_string(), id.to_string()))
        {
            Some(a) if a.status == "pending" => {
                a.status = "approved";
                true
            }
            _ => false,
        }
    }

    /// Evaluates one exchange and applies it (what the service does per request).
    pub fn step(&mut self, cfg: &EngineConfig, eval: &Evaluation) -> Verdict {
        let snap = self.snapshot(cfg, eval);
        let (verdict, delta) = super::evaluate(cfg, &snap, eval);
        self.apply(eval, &verdict, &delta);
        verdict
    }
}

/// Budgets an event of `phase` counts against.
pub fn budgets_for(cfg: &EngineConfig, phase: Phase) -> impl Iterator<Item = &Budget> {
    cfg.budgets
        .iter()
        .filter(move |b| b.phases.contains(&phase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latent_halves_per_half_life_and_merges_by_max() {
        let h = 86_400.0;
        let day = 86_400_000;
        let l = latent_log(0.8, 0, h);
        assert!((latent_at(l, 0, h) - 0.8).abs() < 1e-9);
        assert!((latent_at(l, day, h) - 0.4).abs() < 1e-9);
        // a later, smaller risk does not hide an earlier, larger one that is still worth more
        let later = latent_log(0.3, day, h);
        assert!((latent_at(l.max(later), day, h) - 0.4).abs() < 1e-9);
        assert_eq!(latent_at(NO_LATENT, 5, h), 0.0);
        assert_eq!(latent_log(0.0, 5, h), NO_LATENT);
    }
}
