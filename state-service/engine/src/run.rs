//! [`evaluate`]: one exchange through the engine. Formulas, per event with phase `p` at time `T`
//! (all risks in [0, 1], rounded to 4 decimals):
//!
//! - `score(seen, p)`: with `reached = max(seen ∪ {p})` and `earlier` = phases of `seen` below
//!   `reached`: `lone_factor · floor(reached)` if `earlier` is empty, else
//!   `floor(reached) + progression_step · |earlier|`.
//! - `K = max(score(target phases, p)` over the event's targets [graph],
//!   `spread · score(session phases, p)` [memory; only after exploit/lateral in the session, or
//!   for target-less events at factor 1], `spread · score(operator phases, p)` [graph; only after
//!   exploit/lateral by the operator], `score(∅, p))`.
//! - `O = max(max_b used_b / limit_b` [budgets], `fan-out / max_fanout` [graph]`)`, capped at 1.
//! - `C = 0.3 · max_phase/5 + 0.3 · min(out-of-scope targets/10, 1) + 0.2 · min(advanced/5, 1)
//!   + 0.2 · min(pivots/3, 1)` [graph].
//! - seed adaptive weighting `A = 0.5K + 0.1O + 0.4C` if `K ≥ 0.5 ∨ C ≥ 0.5`, else
//!   `0.4K + 0.3O + 0.3C`; `R0 = max(K, A)` (the kill chain is a floor, the rest can only raise).
//! - unless the event is authorised: `P = min(pretext_step · |intents claimed|, pretext_cap)`,
//!   `S = scope_mismatch_penalty` if a claim meets an out-of-scope target.
//!   `R1 = min(1, R0 + P + S)`.
//! - memory: `R = max(R1, session_memory_factor · L_session(T), operator_memory_factor ·
//!   L_operator(T))`, `L` = latent risk (24 h half-life, [`super::memory`]); unauthorised events
//!   feed `R1` into both latents.
//! - then [`super::policy::decide`].

use super::memory::{budgets_for, latent_at, latent_log};
use super::policy::{self, EventFacts};
use super::{
    approval_binding, approval_id, classify_tool, pretext, Action, BudgetIncrement, BudgetUse,
    Delta, EngineConfig, Evaluation, EventVerdict, NewApproval, Phase, PhaseSet, RecentEvent,
    Snapshot, TargetDelta, Verdict,
};

pub(crate) fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

fn chain(set: PhaseSet) -> String {
    set.iter().map(Phase::name).collect::<Vec<_>>().join(" → ")
}

fn intrusion(set: PhaseSet) -> bool {
    set.contains(Phase::Exploit) || set.contains(Phase::Lateral)
}

/// Scores one phase step against the phases already seen in a scope (a target, the session or
/// the operator).
fn score(cfg: &EngineConfig, seen: PhaseSet, phase: Phase, scope: &str) -> (f64, String) {
    let reached = seen.max().map_or(phase, |m| m.max(phase));
    let earlier = seen.below(reached);
    let mut path = seen;
    path.insert(phase);
    if earlier.is_empty() {
        let risk = round4(cfg.lone_factor * cfg.floor(reached));
        (
            risk,
            format!("{reached} on {scope} without earlier progression (risk {risk:.2})"),
        )
    } else {
        let risk =
            round4((cfg.floor(reached) + cfg.progression_step * earlier.len() as f64).min(1.0));
        (
            risk,
            format!("kill chain on {scope}: {} (risk {risk:.2})", chain(path)),
        )
    }
}

fn ratio(n: u32, d: u32) -> f64 {
    if d == 0 {
        0.0
    } else {
        (f64::from(n) / f64::from(d)).min(1.0)
    }
}

/// Evaluates one exchange against the snapshot. Pure: same inputs, same outputs.
pub fn evaluate(cfg: &EngineConfig, snap: &Snapshot, eval: &Evaluation) -> (Verdict, Delta) {
    let ab = cfg.ablation;
    let now = eval.observed_at_ms;
    let mut targets = snap.targets.clone();
    let mut session = snap.session.clone();
    let mut op = snap.operator.clone();
    let mut delta = Delta::default();
    let mut verdict = Verdict {
        max_phase: session.phases.max(),
        ..Verdict::default()
    };
    let new_claims = eval
        .pretexts
        .iter()
        .fold(0u32, |m, t| m | pretext::claims(t));
    delta.session_claims = new_claims;
    let claims = if ab.memory {
        new_claims
    } else {
        new_claims | session.claims
    };
    let binding = approval_binding(cfg, eval);
    let fan_from = now.saturating_sub(
        i64::try_from(cfg.fanout_window_s.saturating_mul(1000)).unwrap_or(i64::MAX),
    );

    for ev in &eval.events {
        // The filter's classification wins, including "classified, no phase" (a category with
        // PHASE_UNKNOWN, e.g. `read_file` of a source file); the name table is only the fallback
        // for events nobody classified.
        let phase = match (ev.phase, ev.category.is_empty()) {
            (Some(p), _) => Some(p),
            (None, false) => None,
            (None, true) => classify_tool(&ev.tool, ""),
        };
        let mut ev_verdict = EventVerdict {
            call_id: ev.call_id.clone(),
            action: Action::Allow,
            risk: 0.0,
            phase,
            reasons: Vec::new(),
            approval_id: None,
        };
        let Some(p) = phase else {
            verdict.events.push(ev_verdict);
            continue;
        };
        let mut reasons: Vec<String> = Vec::new();

        // K: kill chain per target, per session, per operator
        let (mut k, mut k_reason) = score(cfg, PhaseSet::EMPTY, p, "a fresh target");
        let mut consider = |(r, why): (f64, String), factor: f64| {
            let r = round4(r * factor);
            if r > k {
                k = r;
                k_reason = if factor < 1.0 {
                    format!("{why} × {factor:.2}")
                } else {
                    why
                };
            }
        };
        if !ab.graph {
            for t in &ev.targets {
                let seen = targets.get(&t.value).map(|s| s.phases).unwrap_or_default();
                consider(score(cfg, seen, p, &t.value), 1.0);
            }
        }
        if !ab.memory || (ab.graph && ev.targets.is_empty()) {
            let scope = format!("session {}", eval.subject.session);
            if ev.targets.is_empty() {
                consider(score(cfg, session.phases, p, &scope), 1.0);
            } else if intrusion(session.phases) {
                consider(score(cfg, session.phases, p, &scope), cfg.spread_factor);
            }
        }
        if !ab.graph && intrusion(op.phases) {
            let scope = format!("operator {}", eval.subject.operator);
            consider(score(cfg, op.phases, p, &scope), cfg.spread_factor);
        }
        reasons.push(k_reason);

        // O: budgets and fan-out
        let mut o = 0.0f64;
        let mut exceeded: Vec<String> = Vec::new();
        if !ab.budgets {
            for b in budgets_for(cfg, p) {
                let used = op.budgets_used.entry(b.name.clone()).or_insert(0);
                *used += 1;
                o = o.max(ratio(*used, b.limit));
                if *used > b.limit {
                    exceeded.push(format!(
                        "budget {} exceeded: {}/{} in {} h",
                        b.name,
                        used,
                        b.limit,
                        b.window_s / 3600
                    ));
                }
                delta.budgets.push(BudgetIncrement {
                    call_id: ev.call_id.clone(),
                    budget: b.name.clone(),
                    bucket_ms: b.bucket_of(now),
                });
            }
        }
        let in_scope = |t: &super::Target| t.in_scope && !ab.scope;
        let out_of_scope: Vec<&str> = ev
            .targets
            .iter()
            .filter(|t| !t.local && !in_scope(t))
            .map(|t| t.value.as_str())
            .collect();
        for t in &out_of_scope {
            match targets.get(*t) {
                None => {
                    op.targets_out_of_scope += 1;
                    op.fanout += 1;
                }
                Some(s) if s.last_seen_ms < fan_from => op.fanout += 1,
                Some(_) => {}
            }
            let was = targets.get(*t).map(|s| s.phases.max()).unwrap_or_default();
            if was < Some(Phase::Exploit) && p >= Phase::Exploit {
                op.advanced_targets += 1;
            }
        }
        if !ab.graph {
            let fan = ratio(op.fanout, cfg.max_fanout);
            if op.fanout > cfg.max_fanout {
                reasons.push(format!(
                    "fan-out: {} out-of-scope targets in {} h",
                    op.fanout,
                    cfg.fanout_window_s / 3600
                ));
            }
            o = o.max(fan);
        }

        // C: campaign graph
        let mut c = 0.0;
        if !ab.graph {
            let max_phase = op.phases.max().map_or(p, |m| m.max(p));
            c = 0.3 * f64::from(max_phase.number()) / 5.0
                + 0.3 * ratio(op.targets_out_of_scope, 10)
                + 0.2 * ratio(op.advanced_targets, 5)
                + 0.2 * ratio(op.pivots, 3);
        }
        let a = if k >= 0.5 || c >= 0.5 {
            0.5 * k + 0.1 * o + 0.4 * c
        } else {
            0.4 * k + 0.3 * o + 0.3 * c
        };
        let mut r = k.max(round4(a));
        if a > k {
            reasons.push(format!(
                "operator and campaign graph raise risk to {a:.2} (O {o:.2}, C {c:.2})"
            ));
        }

        // authorisation, pretext and scope mismatch
        let auth = policy::authorisation(cfg, &eval.subject, p, &ev.targets);
        let mut mismatch = false;
        if auth.is_none() && claims != 0 {
            let n = f64::from(claims.count_ones());
            let pt = (cfg.pretext_step * n).min(cfg.pretext_cap);
            r += pt;
            reasons.push(format!(
                "pretext claim ({}) without configured authorisation (+{pt:.2})",
                pretext::intent_names(claims).join(", ")
            ));
            if let Some(t) = out_of_scope.first() {
                mismatch = true;
                r += cfg.scope_mismatch_penalty;
                reasons.push(format!(
                    "claims authorisation but {t} is outside every configured authorised scope \
                     (+{:.2})",
                    cfg.scope_mismatch_penalty
                ));
            }
        }
        let r1 = round4(r.min(1.0));
        let mut risk = r1;

        // memory: latent risk of the session and the operator
        if !ab.memory {
            for (lambda, factor, whose) in [
                (session.latent_log, cfg.session_memory_factor, "session"),
                (op.latent_log, cfg.operator_memory_factor, "operator"),
            ] {
                let l = latent_at(lambda, now, cfg.half_life_s);
                let m = round4(factor * l);
                if m > risk {
                    risk = m;
                    reasons.push(format!(
                        "{whose} memory: earlier risk decayed to {l:.2} ({:.0} h half-life)",
                        cfg.half_life_s / 3600.0
                    ));
                }
            }
        }
        if auth.is_none() {
            let lambda = latent_log(r1, now, cfg.half_life_s);
            session.latent_log = session.latent_log.max(lambda);
            op.latent_log = op.latent_log.max(lambda);
        }

        // policy layer
        let only_recon = op.phases.max().is_none_or(|m| m <= Phase::Recon) && p == Phase::Recon;
        let net: Vec<&super::Target> = ev.targets.iter().filter(|t| !t.local).collect();
        let facts = EventFacts {
            phase: p,
            risk,
            authorisation: auth,
            all_in_scope: !net.is_empty() && out_of_scope.is_empty(),
            only_recon,
            mismatch,
            exceeded: &exceeded,
        };
        let (action, risk) = policy::decide(cfg, &facts, &mut reasons);
        ev_verdict.action = action;
        ev_verdict.risk = round4(risk);

        // approvals: an approved grant for this very call passes once
        if ev_verdict.action == Action::RequireApproval {
            let grant = snap.grants.iter().find(|g| {
                g.session == eval.subject.session
                    && g.tool == ev.tool
                    && g.args_digest == ev.args_digest
                    && g.policy_version == binding
                    && g.expires_at_ms >= now
                    && !delta.consumed.contains(&g.id)
            });
            if let Some(g) = grant {
                ev_verdict.action = Action::Allow;
                reasons.push(format!("approved (approval {}): passes once", g.id));
                delta.consumed.push(g.id.clone());
            } else {
                let id = approval_id(&eval.subject.operator, &eval.request_id, &ev.call_id);
                delta.approvals.push(NewApproval {
                    id: id.clone(),
                    call_id: ev.call_id.clone(),
                    tool: ev.tool.clone(),
                    args_digest: ev.args_digest.clone(),
                    arguments: ev.arguments.clone(),
                    policy_version: binding.clone(),
                    expires_at_ms: now.saturating_add(
                        i64::try_from(cfg.approval_ttl_s.saturating_mul(1000)).unwrap_or(0),
                    ),
                });
                verdict.approval_id.get_or_insert_with(|| id.clone());
                ev_verdict.approval_id = Some(id);
            }
        }
        ev_verdict.reasons = reasons;

        // state updates, visible to the next event of the exchange
        if !ab.graph && !ab.memory {
            let prev = session
                .recent
                .iter()
                .rev()
                .find(|e| e.phase.is_some() && !e.targets.is_empty());
            if let Some(prev) = prev.filter(|e| e.phase >= Some(Phase::Exploit)) {
                if let Some(from) = prev.targets.first() {
                    for t in &out_of_scope {
                        if *t != from.as_str() {
                            let edge = (from.clone(), (*t).to_string());
                            if !delta.edges.contains(&edge) {
                                delta.edges.push(edge);
                                op.pivots += 1;
                            }
                        }
                    }
                }
            }
        }
        for t in &ev.targets {
            let st = targets.entry(t.value.clone()).or_default();
            st.phases.insert(p);
            st.last_seen_ms = st.last_seen_ms.max(now);
            let td = TargetDelta {
                target: t.value.clone(),
                phases: st.phases,
                in_scope: t.in_scope,
                local: t.local,
            };
            verdict.max_phase = verdict.max_phase.max(st.phases.max());
            match delta.targets.iter_mut().find(|d| d.target == t.value) {
                Some(d) => *d = td,
                None => delta.targets.push(td),
            }
        }
        session.phases.insert(p);
        op.phases.insert(p);
        session.recent.push(RecentEvent {
            at_ms: now,
            tool: ev.tool.clone(),
            phase: Some(p),
            targets: ev.targets.iter().map(|t| t.value.clone()).collect(),
        });
        verdict.max_phase = verdict.max_phase.max(Some(p));
        verdict.events.push(ev_verdict);
    }

    for e in &verdict.events {
        verdict.action = verdict.action.max(e.action);
        verdict.risk = verdict.risk.max(e.risk);
        for r in &e.reasons {
            if !verdict.reasons.contains(r) {
                verdict.reasons.push(r.clone());
            }
        }
    }
    if !ab.budgets {
        verdict.budgets = cfg
            .budgets
            .iter()
            .map(|b| BudgetUse {
                name: b.name.clone(),
                used: op.budgets_used.get(&b.name).copied().unwrap_or(0),
                limit: b.limit,
            })
            .collect();
    }
    delta.session = session.phases;
    delta.operator = op.phases;
    delta.session_latent_log = session.latent_log;
    delta.operator_latent_log = op.latent_log;
    (verdict, delta)
}
