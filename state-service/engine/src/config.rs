//! Engine configuration: the compiled [`EngineConfig`] and the state-config file
//! (`--state-config FILE`, JSON) it is built from.
//!
//! The file is parsed strictly (unknown fields are errors), validated, then compiled once. Every
//! field is optional; an empty object `{}` is the default configuration. Scope and authorisation
//! come only from here (and from the filter's per-target `in_scope` flag), never from traffic.

use serde::Deserialize;

use super::Phase;

/// Error of [`EngineConfig::validate`] and [`EngineConfig::from_json`].
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid engine config: {0}")]
pub struct InvalidConfig(pub String);

fn invalid(msg: impl Into<String>) -> InvalidConfig {
    InvalidConfig(msg.into())
}

/// Which targets an authorisation covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthScope {
    /// Targets the filter flags `in_scope` (its configured testlab CIDRs and domains).
    Testlab,
    /// Any target (use with care: e.g. an internal red team with a signed engagement).
    Any,
}

/// A configured authorisation: who may do what, where, up to which phase.
#[derive(Clone, Debug, PartialEq)]
pub struct Authorization {
    /// Name used in reasons.
    pub name: String,
    /// Operator globs (`*` wildcard); empty = any operator.
    pub operators: Vec<String>,
    /// Tenant globs; empty = any tenant.
    pub tenants: Vec<String>,
    /// Highest phase authorised.
    pub max_phase: Phase,
    /// Which targets.
    pub scope: AuthScope,
}

/// A budget: how many events of some phases an operator may cause per sliding window.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    /// Name (`scans`, `exploitation`, `lateral`, `exfiltration`, or custom).
    pub name: String,
    /// Phases counted.
    pub phases: Vec<Phase>,
    /// Events allowed per window.
    pub limit: u32,
    /// Window length in seconds (event time).
    pub window_s: u64,
}

impl Budget {
    /// Counter bucket width: 1/24 of the window (1 h for 24 h), at least one second.
    pub fn bucket_ms(&self) -> i64 {
        i64::try_from(self.window_s.saturating_mul(1000) / 24)
            .unwrap_or(i64::MAX)
            .max(1000)
    }

    /// The bucket an event at `t_ms` is counted in.
    pub fn bucket_of(&self, t_ms: i64) -> i64 {
        t_ms.div_euclid(self.bucket_ms()) * self.bucket_ms()
    }

    /// Oldest bucket start counted by a window ending at `now_ms` (hour granularity for 24 h).
    pub fn window_start_bucket(&self, now_ms: i64) -> i64 {
        let w = i64::try_from(self.window_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.bucket_of(now_ms.saturating_sub(w)) + self.bucket_ms()
    }
}

/// Engine components that `llmfw eval --ablate` can switch off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ablation {
    /// Phase floors: the kill-chain score becomes linear in the phase.
    pub floors: bool,
    /// Operator budgets (risk term and policy rule).
    pub budgets: bool,
    /// Campaign graph: per-target and per-operator progression, graph risk, pivots, fan-out.
    pub graph: bool,
    /// Session memory: tactical buffer, session progression, latent risk, remembered claims.
    pub memory: bool,
    /// Scope: every target counts as out of scope, no authorisation applies.
    pub scope: bool,
    /// Policy layer: actions from the thresholds only (no caps, no hard rules).
    pub policy: bool,
}

impl Ablation {
    /// Parses one component name.
    pub fn with(mut self, name: &str) -> Result<Ablation, InvalidConfig> {
        match name {
            "floors" => self.floors = true,
            "budgets" => self.budgets = true,
            "graph" => self.graph = true,
            "memory" => self.memory = true,
            "scope" => self.scope = true,
            "policy" => self.policy = true,
            other => {
                return Err(invalid(format!(
                    "unknown component {other:?} (floors|budgets|graph|memory|scope|policy)"
                )))
            }
        }
        Ok(self)
    }
}

/// Engine tunables (defaults = seed RC10b thresholds and this project's floors).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// Policy version; approvals are bound to it.
    pub policy_version: String,
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
    /// Risk floor per phase, recon..exfiltration.
    pub floors: [f64; 5],
    /// Factor on progression seen over a session or an operator rather than one target.
    pub spread_factor: f64,
    /// Latent-risk half-life in seconds.
    pub half_life_s: f64,
    /// Later events of a session get at least this × the session's decayed latent risk.
    pub session_memory_factor: f64,
    /// Later events of an operator get at least this × the operator's decayed latent risk.
    pub operator_memory_factor: f64,
    /// Distinct out-of-scope targets per fan-out window before fan-out counts as saturated.
    pub max_fanout: u32,
    /// Fan-out window in seconds.
    pub fanout_window_s: u64,
    /// Risk per distinct pretext intent claimed (seed 0.1).
    pub pretext_step: f64,
    /// Cap of the pretext term (seed 0.3).
    pub pretext_cap: f64,
    /// Added when a claim meets an out-of-scope target (seed 0.2).
    pub scope_mismatch_penalty: f64,
    /// Pending approvals expire after this many seconds.
    pub approval_ttl_s: u64,
    /// Configured authorisations.
    pub authorizations: Vec<Authorization>,
    /// Operator budgets.
    pub budgets: Vec<Budget>,
    /// Components switched off (evaluation only).
    pub ablation: Ablation,
}

const DAY_S: u64 = 86_400;

/// The default budgets (DESIGN §4.2): 100 scans, 10 exploitation attempts, 20 lateral moves,
/// 5 exfiltrations per 24 h.
pub fn default_budgets() -> Vec<Budget> {
    let b = |name: &str, phase: Phase, limit: u32| Budget {
        name: name.into(),
        phases: vec![phase],
        limit,
        window_s: DAY_S,
    };
    vec![
        b("scans", Phase::Recon, 100),
        b("exploitation", Phase::Exploit, 10),
        b("lateral", Phase::Lateral, 20),
        b("exfiltration", Phase::Exfiltration, 5),
    ]
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            policy_version: "default".into(),
            block_threshold: 0.55,
            approval_threshold: 0.45,
            warn_threshold: 0.35,
            lone_factor: 0.6,
            progression_step: 0.05,
            floors: [0.10, 0.30, 0.40, 0.55, 0.65],
            spread_factor: 0.85,
            half_life_s: DAY_S as f64,
            session_memory_factor: 0.8,
            operator_memory_factor: 0.7,
            max_fanout: 5,
            fanout_window_s: DAY_S,
            pretext_step: 0.1,
            pretext_cap: 0.3,
            scope_mismatch_penalty: 0.2,
            approval_ttl_s: 3600,
            authorizations: Vec::new(),
            budgets: default_budgets(),
            ablation: Ablation::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    policy_version: Option<String>,
    authorizations: Option<Vec<RawAuthorization>>,
    budgets: Option<RawBudgets>,
    thresholds: Option<RawThresholds>,
    risk: Option<RawRisk>,
    approval_ttl_s: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthorization {
    name: Option<String>,
    #[serde(default)]
    operators: Vec<String>,
    #[serde(default)]
    tenants: Vec<String>,
    max_phase: String,
    scope: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudgets {
    window_s: Option<u64>,
    scans: Option<u32>,
    exploitation: Option<u32>,
    lateral: Option<u32>,
    exfiltration: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    warn: Option<f64>,
    require_approval: Option<f64>,
    block: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRisk {
    lone_factor: Option<f64>,
    progression_step: Option<f64>,
    floors: Option<[f64; 5]>,
    spread_factor: Option<f64>,
    half_life_s: Option<f64>,
    session_memory_factor: Option<f64>,
    operator_memory_factor: Option<f64>,
    max_fanout: Option<u32>,
    pretext_step: Option<f64>,
    pretext_cap: Option<f64>,
    scope_mismatch_penalty: Option<f64>,
}

/// Parses a phase name (`recon`, `exploit`, `lateral`, `collection`, `exfiltration`).
pub fn parse_phase(s: &str) -> Option<Phase> {
    Phase::ALL
        .into_iter()
        .find(|p| p.name() == s.trim().to_ascii_lowercase())
}

impl EngineConfig {
    /// Parses, validates and compiles a state-config file's JSON.
    pub fn from_json(bytes: &[u8]) -> Result<EngineConfig, InvalidConfig> {
        let raw: RawFile = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        let mut cfg = EngineConfig::default();
        if let Some(v) = raw.policy_version {
            cfg.policy_version = v;
        }
        if let Some(v) = raw.approval_ttl_s {
            cfg.approval_ttl_s = v;
        }
        for (i, a) in raw
            .authorizations
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let field = format!("authorizations[{i}]");
            let max_phase = parse_phase(&a.max_phase).ok_or_else(|| {
                invalid(format!(
                    "{field}.max_phase: unknown phase {:?}",
                    a.max_phase
                ))
            })?;
            let scope = match a.scope.as_str() {
                "testlab" | "in_scope" => AuthScope::Testlab,
                "any" => AuthScope::Any,
                other => {
                    return Err(invalid(format!(
                        "{field}.scope: {other:?} (want \"testlab\" or \"any\")"
                    )))
                }
            };
            for g in a.operators.iter().chain(a.tenants.iter()) {
                if g.is_empty() {
                    return Err(invalid(format!("{field}: empty operator/tenant pattern")));
                }
            }
            cfg.authorizations.push(Authorization {
                name: a.name.unwrap_or_else(|| format!("authorization {i}")),
                operators: a.operators,
                tenants: a.tenants,
                max_phase,
                scope,
            });
        }
        if let Some(b) = raw.budgets {
            let window = b.window_s.unwrap_or(DAY_S);
            for budget in &mut cfg.budgets {
                budget.window_s = window;
                let limit = match budget.name.as_str() {
                    "scans" => b.scans,
                    "exploitation" => b.exploitation,
                    "lateral" => b.lateral,
                    _ => b.exfiltration,
                };
                if let Some(l) = limit {
                    budget.limit = l;
                }
            }
        }
        if let Some(t) = raw.thresholds {
            cfg.warn_threshold = t.warn.unwrap_or(cfg.warn_threshold);
            cfg.approval_threshold = t.require_approval.unwrap_or(cfg.approval_threshold);
            cfg.block_threshold = t.block.unwrap_or(cfg.block_threshold);
        }
        if let Some(r) = raw.risk {
            let set = |dst: &mut f64, v: Option<f64>| {
                if let Some(v) = v {
                    *dst = v;
                }
            };
            set(&mut cfg.lone_factor, r.lone_factor);
            set(&mut cfg.progression_step, r.progression_step);
            set(&mut cfg.spread_factor, r.spread_factor);
            set(&mut cfg.half_life_s, r.half_life_s);
            set(&mut cfg.session_memory_factor, r.session_memory_factor);
            set(&mut cfg.operator_memory_factor, r.operator_memory_factor);
            set(&mut cfg.pretext_step, r.pretext_step);
            set(&mut cfg.pretext_cap, r.pretext_cap);
            set(&mut cfg.scope_mismatch_penalty, r.scope_mismatch_penalty);
            if let Some(f) = r.floors {
                cfg.floors = f;
            }
            if let Some(m) = r.max_fanout {
                cfg.max_fanout = m;
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks ranges: thresholds and factors in [0, 1], ordered warn ≤ approval ≤ block,
    /// positive half-life, windows and fan-out.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let in_unit = |v: f64| (0.0..=1.0).contains(&v);
        let unit = [
            self.block_threshold,
            self.approval_threshold,
            self.warn_threshold,
            self.lone_factor,
            self.progression_step,
            self.spread_factor,
            self.session_memory_factor,
            self.operator_memory_factor,
            self.pretext_step,
            self.pretext_cap,
            self.scope_mismatch_penalty,
        ];
        if !unit.into_iter().chain(self.floors).all(in_unit) {
            return Err(invalid(
                "thresholds, floors and factors must be within [0, 1]",
            ));
        }
        if !(self.warn_threshold <= self.approval_threshold
            && self.approval_threshold <= self.block_threshold)
        {
            return Err(invalid(
                "thresholds must be ordered warn <= require_approval <= block",
            ));
        }
        if !(self.half_life_s.is_finite() && self.half_life_s > 0.0) {
            return Err(invalid("risk.half_life_s must be > 0"));
        }
        if self.max_fanout == 0 || self.fanout_window_s == 0 {
            return Err(invalid("risk.max_fanout must be > 0"));
        }
        if self.budgets.iter().any(|b| b.window_s == 0 || b.limit == 0) {
            return Err(invalid("budgets: limits and window_s must be > 0"));
        }
        Ok(())
    }

    /// Risk floor of a phase.
    pub fn floor(&self, p: Phase) -> f64 {
        let i = usize::try_from(p.number() - 1).unwrap_or(0);
        if self.ablation.floors {
            // no floors: the seed's linear phase term, (phase / 6) · 0.4 on its 6-phase scale
            return f64::from(p.number()) / 6.0 * 0.4;
        }
        self.floors.get(i).copied().unwrap_or(0.0)
    }

    /// The action thresholds give for a risk.
    pub fn action_for(&self, risk: f64) -> super::Action {
        use super::Action;
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

/// `*`-glob match (ASCII case-sensitive; `*` matches any run of characters).
pub fn glob_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == last {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_file_and_rejects_typos() {
        let cfg = EngineConfig::from_json(
            br#"{"policy_version":"v7","authorizations":[{"operators":[],"tenants":["lab-*"],
                "max_phase":"exfiltration","scope":"testlab"}],
                "budgets":{"window_s":3600,"scans":3},"thresholds":{"block":0.6},
                "approval_ttl_s":60}"#,
        )
        .unwrap();
        assert_eq!(cfg.policy_version, "v7");
        assert_eq!(cfg.authorizations[0].max_phase, Phase::Exfiltration);
        assert_eq!(cfg.authorizations[0].scope, AuthScope::Testlab);
        assert_eq!(cfg.budgets[0].limit, 3);
        assert_eq!(cfg.budgets[1].limit, 10);
        assert_eq!(cfg.budgets[1].window_s, 3600);
        assert_eq!(cfg.block_threshold, 0.6);
        assert!(EngineConfig::from_json(br#"{"budget":{}}"#).is_err());
        assert!(EngineConfig::from_json(
            br#"{"authorizations":[{"max_phase":"pwn","scope":"testlab"}]}"#
        )
        .is_err());
        assert!(EngineConfig::from_json(br#"{"thresholds":{"warn":0.9}}"#).is_err());
        assert_eq!(
            EngineConfig::from_json(b"{}").unwrap(),
            EngineConfig::default()
        );
    }

    #[test]
    fn globs_and_buckets() {
        assert!(glob_match("op_*", "op_hc1_0"));
        assert!(glob_match("*", "x"));
        assert!(!glob_match("op_*_x", "op_a_y"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        let b = &default_budgets()[0];
        assert_eq!(b.bucket_ms(), 3_600_000);
        assert_eq!(b.bucket_of(7_199_999), 3_600_000);
        assert_eq!(b.window_start_bucket(86_400_000 + 10), 3_600_000);
    }
}
