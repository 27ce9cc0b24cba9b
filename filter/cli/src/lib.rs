//! `llmfw` library: the scan logic behind `llmfw scan`, shared by the binary and the corpus
//! evaluation tests. Uses exactly the filter's core and plugin config
//! ([`llmfw_core::config::Config::from_json`]).
//!
//! A record is scanned only from its content fields (`text` — or `prompt`/`payload` in the seed
//! suites — `tool_calls`, `steps`); `label`, `category` and every other field are never read.
//!
//! [`replay`] is `llmfw replay` (its private stack runs on `llmfw_testkit`).

pub mod replay;

use llmfw_core::config::Config;
use llmfw_core::detect::{Channel, Detector, Finding};
use llmfw_core::verdict::Action;
use serde::Serialize;
use serde_json::Value;

/// How to read a record's `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanAs {
    /// `text` as a user prompt; `tool_calls`/`steps` as tool calls.
    Auto,
    /// `text` as a user prompt.
    Prompt,
    /// `text` as a tool result (the indirect channel).
    ToolResult,
    /// `text` as the value of argument `arg` of tool `tool`.
    ToolArgs {
        /// Tool name (gives context: `bash`, `run_sql`, `fetch`, `read_file`, …).
        tool: String,
        /// Argument key.
        arg: String,
    },
}

/// One output finding (no span, no content).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutFinding {
    /// Rule id.
    pub rule_id: String,
    /// Family.
    pub family: String,
    /// Severity.
    pub severity: String,
    /// For `model.*` findings: the model's score of the text, in [0, 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// For `model.*` findings: the channel's threshold the score was compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
}

/// One output line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScanResult {
    /// Record id (empty when missing).
    pub id: String,
    /// allow | warn | require_approval | block.
    pub action: &'static str,
    /// True when a tool result would be replaced by a notice (`tool_result_injection: redact`);
    /// the action is then `block` for that content.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub redact: bool,
    /// Findings.
    pub findings: Vec<OutFinding>,
}

impl ScanResult {
    /// The action as an enum.
    pub fn is_positive(&self) -> bool {
        matches!(self.action, "block" | "require_approval")
    }
}

fn text_of(rec: &Value) -> Option<&str> {
    ["text", "prompt", "payload"]
        .iter()
        .find_map(|k| rec.get(*k).and_then(Value::as_str))
}

fn scan_calls(d: &Detector, calls: &[Value], out: &mut Vec<Finding>) {
    for c in calls {
        let name = c.get("function").and_then(Value::as_str).unwrap_or("");
        let args = c.get("args").cloned().unwrap_or(Value::Null);
        out.extend(d.scan_call(name, &args));
    }
}

/// Scans one record under a compiled config.
pub fn scan_record(config: &Config, rec: &Value, how: &ScanAs) -> ScanResult {
    let d = &config.detect;
    let mut findings = Vec::new();
    if let Some(text) = text_of(rec) {
        match how {
            ScanAs::Auto | ScanAs::Prompt => findings.extend(d.scan_text(text, Channel::User)),
            ScanAs::ToolResult => findings.extend(d.scan_text(text, Channel::ToolResult)),
            ScanAs::ToolArgs { tool, arg } => {
                let mut args = serde_json::Map::new();
                args.insert(arg.clone(), Value::String(text.to_owned()));
                findings.extend(d.scan_call(tool, &Value::Object(args)));
            }
        }
    }
    if let Some(calls) = rec.get("tool_calls").and_then(Value::as_array) {
        scan_calls(d, calls, &mut findings);
    }
    if let Some(steps) = rec.get("steps").and_then(Value::as_array) {
        for s in steps {
            if let Some(call) = s.get("tool_call") {
                scan_calls(d, std::slice::from_ref(call), &mut findings);
            }
            if let Some(calls) = s.get("tool_calls").and_then(Value::as_array) {
                scan_calls(d, calls, &mut findings);
            }
            if let Some(t) = text_of(s) {
                findings.extend(d.scan_text(t, Channel::User));
            }
        }
    }
    let decision = d.decide(&findings);
    let mut action = decision.action;
    if decision.redact {
        action = action.max(Action::Block);
    }
    ScanResult {
        id: rec
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        action: action.as_str(),
        redact: decision.redact,
        findings: findings
            .iter()
            .map(|f| OutFinding {
                rule_id: f.rule_id.clone(),
                family: f.family.as_str().to_owned(),
                severity: f.severity.as_str().to_owned(),
                score: f.score.map(|s| s.score),
                threshold: f.score.map(|s| s.threshold),
            })
            .collect(),
    }
}

/// Counts per action, for the stderr summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records scanned.
    pub records: usize,
    /// Lines that were not JSON objects.
    pub invalid: usize,
    /// allow, warn, require_approval, block.
    pub by_action: [usize; 4],
}

impl Summary {
    /// Adds one result.
    pub fn add(&mut self, r: &ScanResult) {
        self.records += 1;
        let i = match r.action {
            "allow" => 0,
            "warn" => 1,
            "require_approval" => 2,
            _ => 3,
        };
        if let Some(n) = self.by_action.get_mut(i) {
            *n += 1;
        }
    }
}
