//! `llmfw-eval`: campaign scenarios and their labels, the native evaluation (`llmfw eval`), the
//! scorer and reports shared with `llmfw replay`, and the replay's plots ([`plot`]).
//!
//! `llmfw eval` replays campaigns through the filter's classifier and the engine with simulated
//! time, and scores them.
//!
//! Per scenario: fresh state ([`MemState`]); each step is first judged by the filter's stateless
//! policy (`llmfw_core::tools::policy::check`: deny/allow lists, argument schemas, argument
//! content detectors) — a call it blocks is blocked and never reaches the engine, as in the
//! deployed flow — then classified once with `llmfw_core::tools::classify` under the plugin
//! config (same code as the filter), converted into an `EvaluateRequest` and through the
//! engine's proto edge (`llmfw_engine::proto`, the conversion the service's gRPC module uses),
//! then evaluated once at its event time (streaming, no prefix re-evaluation). Scoring reads [`Labels`]; the engine
//! never does.

pub mod plot;
pub mod report;
pub mod scenario;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use llmfw_api::v1;
use serde::Serialize;

use llmfw_engine::memory::MemState;
use llmfw_engine::proto::evaluation_from_proto;
use llmfw_engine::{Ablation, Action, EngineConfig, Phase};
pub use report::{summarise, GroupMetrics, Summary};
pub use scenario::{Labels, Scenario, Step};

/// Arguments of `llmfw eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// Scenario file: JSONL (this project) or the seed's `phase2_dataset.json`.
    #[arg(long)]
    pub scenarios: PathBuf,
    /// Plugin configuration (the filter's JSON): classification and scope.
    #[arg(long)]
    pub policy: PathBuf,
    /// State-service configuration (authorisations, budgets, thresholds).
    #[arg(long)]
    pub state_config: Option<PathBuf>,
    /// Output directory (results.jsonl, summary.json, summary.md).
    #[arg(long)]
    pub out: PathBuf,
    /// Switch an engine component off (repeatable): floors|budgets|graph|memory|scope|policy.
    #[arg(long)]
    pub ablate: Vec<String>,
    /// Also run every single-component ablation and write `ablations.md`.
    #[arg(long)]
    pub ablations: bool,
}

/// The outcome of one scenario (a line of `results.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScenarioResult {
    /// Scenario id.
    pub id: String,
    /// Ground-truth label (copied for the reader; not seen by the engine).
    pub label: String,
    /// Strictest action over all steps.
    pub final_action: &'static str,
    /// One action per step (`llmfw replay` adds `redact`: the call passed and its tool result
    /// was neutralised).
    pub actions: Vec<&'static str>,
    /// 1-based first step with REQUIRE_APPROVAL or BLOCK.
    pub first_soft_step: Option<usize>,
    /// 1-based first step with BLOCK.
    pub first_hard_step: Option<usize>,
    /// Highest risk.
    pub max_risk: f64,
    /// Hours from the first step to the first soft / hard step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soft_delay_h: Option<f64>,
    /// Hours from the first step to the first BLOCK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hard_delay_h: Option<f64>,
    /// An exfiltration step (by label or by classification) was let through.
    pub exfil_allowed: bool,
}

/// Runs one scenario on fresh state. `labels` is used only after the engine ran, to score.
pub fn run_scenario(
    policy: &llmfw_core::config::Config,
    cfg: &EngineConfig,
    scenario: &Scenario,
    labels: &Labels,
) -> ScenarioResult {
    let mut state = MemState::default();
    let mut actions: Vec<Action> = Vec::with_capacity(scenario.steps.len());
    let mut exfil_classified: Vec<bool> = Vec::with_capacity(scenario.steps.len());
    let mut max_risk = 0.0f64;
    for (i, step) in scenario.steps.iter().enumerate() {
        // The filter's stateless policy first, as in the deployed flow: a call it blocks never
        // reaches the state service; otherwise the stricter of the two verdicts counts.
        let stateless = llmfw_core::tools::policy::check(
            policy,
            llmfw_core::tools::policy::CallInput {
                name: &step.tool,
                arguments: &Ok(step.arguments.clone()),
                duplicate_keys: false,
            },
        )
        .verdict
        .action;
        let c = llmfw_core::tools::classify(policy, &step.tool, &step.arguments);
        exfil_classified.push(
            c.phase == v1::Phase::Exfiltration
                || c.category == llmfw_core::tools::classify::category::EXFILTRATION,
        );
        let mut pretexts: Vec<String> = scenario.prompt.iter().cloned().collect();
        pretexts.extend(step.stated.iter().cloned());
        let req = v1::EvaluateRequest {
            subject: Some(v1::Subject {
                tenant: String::new(),
                operator: scenario.operator.clone(),
                session: scenario.session.clone(),
            }),
            request_id: format!("{}#{}", scenario.id, i),
            observed_at_ms: (step.t * 1000.0).round() as i64,
            events: vec![v1::ToolEvent {
                call_id: format!("call-{i}"),
                tool: step.tool.clone(),
                category: c.category,
                phase: c.phase as i32,
                targets: c
                    .targets
                    .into_iter()
                    .map(|t| v1::Target {
                        value: t.value,
                        kind: t.kind as i32,
                        in_scope: t.in_scope,
                    })
                    .collect(),
                args_digest: llmfw_core::tools::args_digest(&step.arguments),
                direction: v1::Direction::Proposed as i32,
                // the replay scores decisions; nothing here shows an approval to a human
                arguments_json: String::new(),
            }],
            findings: None,
            pretext_signals: pretexts,
            policy_version: String::new(),
        };
        if stateless == llmfw_core::verdict::Action::Block {
            actions.push(Action::Block);
            continue;
        }
        let floor = stateless_floor(stateless);
        let action = match evaluation_from_proto(req) {
            Ok(eval) => {
                let v = state.step(cfg, &eval);
                max_risk = max_risk.max(v.risk);
                if let Some(p) = v.events.first().and_then(|e| e.phase) {
                    let last = exfil_classified.len() - 1;
                    exfil_classified[last] |= p == Phase::Exfiltration;
                }
                v.action
            }
            // an unusable step (e.g. no operator) is what the service would refuse
            Err(_) => Action::Block,
        };
        actions.push(action.max(floor));
    }
    let names: Vec<&'static str> = actions.iter().map(|a| a.as_str()).collect();
    score(scenario, labels, names, max_risk, &exfil_classified)
}

/// Rank of an action name as the agent experiences it: `allow` < `warn` < `redact` (the call
/// passed, a tool result was neutralised) < `require_approval` < `block`; unknown names rank as
/// `block`.
pub fn action_rank(action: &str) -> u8 {
    match action {
        "allow" => 0,
        "warn" => 1,
        "redact" => 2,
        "require_approval" => 3,
        _ => 4,
    }
}

/// Scores one scenario's per-step actions (`llmfw eval` and `llmfw replay` alike).
/// `exfil_classified[i]`: step i was classified as exfiltration (by the filter or the engine).
pub fn score(
    scenario: &Scenario,
    labels: &Labels,
    actions: Vec<&'static str>,
    max_risk: f64,
    exfil_classified: &[bool],
) -> ScenarioResult {
    let first = |min: u8| actions.iter().position(|a| action_rank(a) >= min);
    let soft = first(action_rank("require_approval"));
    let hard = first(action_rank("block"));
    let t0 = scenario.steps.first().map_or(0.0, |s| s.t);
    let hours = |k: Option<usize>| {
        k.and_then(|k| scenario.steps.get(k))
            .map(|s| ((s.t - t0) / 3600.0 * 1000.0).round() / 1000.0)
    };
    let exfil_allowed = actions.iter().enumerate().any(|(i, a)| {
        let exfil = labels.exfil_steps.get(i).copied().unwrap_or(false)
            || exfil_classified.get(i).copied().unwrap_or(false);
        exfil && action_rank(a) <= action_rank("redact")
    });
    ScenarioResult {
        id: scenario.id.clone(),
        label: labels.label.clone(),
        final_action: actions
            .iter()
            .copied()
            .max_by_key(|a| action_rank(a))
            .unwrap_or("allow"),
        first_soft_step: soft.map(|k| k + 1),
        first_hard_step: hard.map(|k| k + 1),
        max_risk: (max_risk * 10_000.0).round() / 10_000.0,
        soft_delay_h: hours(soft),
        hard_delay_h: hours(hard),
        exfil_allowed,
        actions,
    }
}

/// The engine action at least as strict as a stateless (filter) action below BLOCK.
fn stateless_floor(a: llmfw_core::verdict::Action) -> Action {
    use llmfw_core::verdict::Action as F;
    match a {
        F::Allow => Action::Allow,
        F::Warn => Action::Warn,
        F::RequireApproval => Action::RequireApproval,
        F::Block => Action::Block,
    }
}

/// Runs every scenario.
pub fn run_all(
    policy: &llmfw_core::config::Config,
    cfg: &EngineConfig,
    scenarios: &[(Scenario, Labels)],
) -> Vec<ScenarioResult> {
    scenarios
        .iter()
        .map(|(s, l)| run_scenario(policy, cfg, s, l))
        .collect()
}

/// What [`load`] returns: scenarios with their labels, the plugin config, the engine config.
pub type Inputs = (
    Vec<(Scenario, Labels)>,
    llmfw_core::config::Config,
    EngineConfig,
);

/// Loads the inputs of an evaluation.
pub fn load(
    scenarios: &Path,
    policy: &Path,
    state_config: Option<&Path>,
) -> anyhow::Result<Inputs> {
    let text = std::fs::read_to_string(scenarios)
        .with_context(|| format!("reading {}", scenarios.display()))?;
    let parsed = scenario::parse(&text).with_context(|| format!("{}", scenarios.display()))?;
    let bytes = std::fs::read(policy).with_context(|| format!("reading {}", policy.display()))?;
    let policy_cfg = llmfw_core::config::Config::from_json(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", policy.display()))?;
    let cfg = match state_config {
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            EngineConfig::from_json(&bytes).with_context(|| format!("{}", p.display()))?
        }
        None => EngineConfig::default(),
    };
    Ok((parsed, policy_cfg, cfg))
}

/// The single-component ablations, in report order.
pub const ABLATIONS: [&str; 6] = ["floors", "budgets", "graph", "memory", "scope", "policy"];

/// `llmfw eval`: runs, writes the files, returns the summary text.
pub fn main(args: &EvalArgs) -> anyhow::Result<String> {
    let (scenarios, policy, mut cfg) =
        load(&args.scenarios, &args.policy, args.state_config.as_deref())?;
    for a in &args.ablate {
        cfg.ablation = cfg.ablation.with(a)?;
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let results = run_all(&policy, &cfg, &scenarios);
    let mut lines = String::new();
    for r in &results {
        lines.push_str(&serde_json::to_string(r)?);
        lines.push('\n');
    }
    std::fs::write(args.out.join("results.jsonl"), lines)?;
    let labels: Vec<&Labels> = scenarios.iter().map(|(_, l)| l).collect();
    let summary = summarise(&results, &labels, &args.ablate);
    std::fs::write(
        args.out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    let md = report::markdown(&summary);
    std::fs::write(args.out.join("summary.md"), &md)?;
    let mut text = md;
    if args.ablations {
        let mut rows = vec![("full".to_string(), summary)];
        for a in ABLATIONS {
            let mut c = cfg.clone();
            c.ablation = Ablation::default().with(a)?;
            let r = run_all(&policy, &c, &scenarios);
            rows.push((format!("−{a}"), summarise(&r, &labels, &[a.to_string()])));
        }
        let table = report::ablation_table(&rows);
        std::fs::write(args.out.join("ablations.md"), &table)?;
        text.push('\n');
        text.push_str(&table);
    }
    Ok(text)
}
