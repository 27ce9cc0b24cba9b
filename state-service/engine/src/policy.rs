//! The policy layer (seed-spec §1.11, without its label leak): risk → action, then configured
//! authorisations and hard rules, each with a reason a human can read.
//!
//! Order (with `--ablate policy` only step 1 applies):
//! 1. thresholds: BLOCK ≥ block, REQUIRE_APPROVAL ≥ require_approval, WARN ≥ warn, else ALLOW;
//! 2. hard rule: a pretext claim meets an out-of-scope target at exploit or later → BLOCK;
//! 3. budget rule: a budget exceeded → at least REQUIRE_APPROVAL;
//! 4. caps: an authorised event (configured authorisation, all network targets in its scope,
//!    phase ≤ its `max_phase`) is at most WARN — authorised testlab work is never blocked (seed
//!    HC1); every network target in scope but no authorisation → at most REQUIRE_APPROVAL;
//!    reconnaissance by an operator who never went further → at most REQUIRE_APPROVAL (seed HC3).

use super::{glob_match, Action, AuthScope, Authorization, EngineConfig, Phase, Subject, Target};

/// What the policy layer knows about one event.
pub(crate) struct EventFacts<'a> {
    pub phase: Phase,
    pub risk: f64,
    pub authorisation: Option<&'a Authorization>,
    pub all_in_scope: bool,
    pub only_recon: bool,
    pub mismatch: bool,
    pub exceeded: &'a [String],
}

/// The first configured authorisation covering this event, if any.
pub(crate) fn authorisation<'a>(
    cfg: &'a EngineConfig,
    subject: &Subject,
    phase: Phase,
    targets: &[Target],
) -> Option<&'a Authorization> {
    if cfg.ablation.scope {
        return None;
    }
    let net: Vec<&Target> = targets.iter().filter(|t| !t.local).collect();
    cfg.authorizations.iter().find(|a| {
        let who = (a.operators.is_empty()
            || a.operators.iter().any(|g| glob_match(g, &subject.operator)))
            && (a.tenants.is_empty() || a.tenants.iter().any(|g| glob_match(g, &subject.tenant)));
        let scope = match a.scope {
            AuthScope::Any => true,
            AuthScope::Testlab => !net.is_empty() && net.iter().all(|t| t.in_scope),
        };
        who && scope && phase <= a.max_phase
    })
}

/// Decides the action (and final risk) for one event; appends the reasons.
pub(crate) fn decide(
    cfg: &EngineConfig,
    f: &EventFacts<'_>,
    reasons: &mut Vec<String>,
) -> (Action, f64) {
    let mut risk = f.risk;
    let mut action = cfg.action_for(risk);
    if cfg.ablation.policy {
        return (action, risk);
    }
    if f.mismatch && f.phase >= Phase::Exploit && f.authorisation.is_none() {
        action = Action::Block;
        risk = risk.max(cfg.block_threshold);
        reasons.push(format!(
            "{} on an out-of-scope target under a claimed authorisation: block",
            f.phase
        ));
    }
    if !f.exceeded.is_empty() && action < Action::RequireApproval {
        action = Action::RequireApproval;
        reasons.extend(f.exceeded.iter().cloned());
    }
    if let Some(a) = f.authorisation {
        if action > Action::Warn || risk >= cfg.warn_threshold {
            reasons.push(format!(
                "authorised by configuration ({}: {} scope up to {}): capped at warn",
                a.name,
                match a.scope {
                    AuthScope::Testlab => "testlab",
                    AuthScope::Any => "any",
                },
                a.max_phase
            ));
            action = Action::Warn;
        }
        return (action, risk);
    }
    if action == Action::Block && f.all_in_scope {
        action = Action::RequireApproval;
        reasons.push("all targets in the testlab scope: capped at require_approval".into());
    }
    if action == Action::Block && f.only_recon {
        action = Action::RequireApproval;
        reasons.push("reconnaissance only: capped at require_approval".into());
    }
    (action, risk)
}
