//! The `detect` section of the plugin config: which families act how, per channel.
//!
//! ```json
//! "detect": {
//!   "enabled": true,
//!   "tool_result_injection": "redact",
//!   "actions": { "secret": "warn" },
//!   "argument_actions": { "ssrf": "block" },
//!   "exfil_allow_hosts": ["docs.example.com", "*.example.org"],
//!   "response_text": "redact",
//!   "response_holdback_bytes": 4096,
//!   "max_decoded_bytes": 65536,
//!   "max_decode_depth": 3,
//!   "scan_cache_bytes": 4194304,
//!   "model": { "enabled": true, "threshold": { "tool_result": 0.9, "user": null } }
//! }
//! ```
//! Parsed with `deny_unknown_fields`; every error names the field (`detect.actions.secrt`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{invalid, ConfigError};
use crate::detect::cache::DEFAULT_SCAN_CACHE_BYTES;
use crate::detect::Family;

/// Largest accepted `detect.scan_cache_bytes` (per VM, i.e. per Envoy worker).
const MAX_SCAN_CACHE_BYTES: usize = 256 * 1024 * 1024;
use crate::sanitize::{Limits, DEFAULT_MAX_DECODED_BYTES, MAX_DEPTH};
use crate::verdict::Action;

/// The `detect` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDetect {
    enabled: Option<bool>,
    tool_result_injection: Option<String>,
    actions: Option<BTreeMap<String, String>>,
    argument_actions: Option<BTreeMap<String, String>>,
    exfil_allow_hosts: Option<Vec<String>>,
    response_text: Option<String>,
    response_holdback_bytes: Option<u64>,
    max_decoded_bytes: Option<u64>,
    max_decode_depth: Option<u8>,
    scan_cache_bytes: Option<u64>,
    model: Option<RawModel>,
}

/// `detect.model` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    enabled: Option<bool>,
    threshold: Option<RawThresholds>,
}

/// `detect.model.threshold` as written: a channel missing or `null` is not scored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    user: Option<f32>,
    tool_result: Option<f32>,
    tool_definition: Option<f32>,
}

/// A score threshold in (0, 1) (never NaN, so equality is total).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold(pub f32);

impl Eq for Threshold {}

/// The compiled `detect.model` section: the learned detector ([`crate::detect::model`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelConfig {
    /// Learned detector on/off.
    pub enabled: bool,
    /// Threshold for user prompts (`None`: not scored).
    pub user: Option<Threshold>,
    /// Threshold for tool results (`None`: not scored).
    pub tool_result: Option<Threshold>,
    /// Threshold for tool definitions (`None`: not scored).
    pub tool_definition: Option<Threshold>,
}

/// Shipped tool-result threshold: the validation choice (0.293, validation FPR ≤ 0.2 %) rounded
/// up (docs/model-card.md).
pub const DEFAULT_THRESHOLD_TOOL_RESULT: f32 = 0.30;

impl Default for ModelConfig {
    fn default() -> ModelConfig {
        ModelConfig {
            enabled: true,
            // Ordinary requests to an assistant are instructions: not scored unless configured.
            user: None,
            tool_result: Some(Threshold(DEFAULT_THRESHOLD_TOOL_RESULT)),
            // The only benign tool definitions in training are synthetic; a left-out model flags
            // all of them, and the shipped one flags short real descriptions ("Summarise a topic
            // with the client's model"). The rules still scan definitions.
            tool_definition: None,
        }
    }
}

impl ModelConfig {
    /// The threshold of a channel, when the model is on and scores it.
    pub fn threshold(&self, channel: crate::detect::Channel) -> Option<f32> {
        use crate::detect::Channel;
        if !self.enabled {
            return None;
        }
        let t = match channel {
            Channel::User => self.user,
            Channel::ToolResult => self.tool_result,
            Channel::ToolDefinition => self.tool_definition,
            _ => None,
        };
        t.map(|t| t.0)
    }
}

impl RawModel {
    fn validate(self) -> Result<ModelConfig, ConfigError> {
        let mut out = ModelConfig {
            enabled: self.enabled.unwrap_or(true),
            ..ModelConfig::default()
        };
        if let Some(t) = self.threshold {
            let check = |name: &str, v: Option<f32>| -> Result<Option<Threshold>, ConfigError> {
                match v {
                    None => Ok(None),
                    Some(v) if v > 0.0 && v < 1.0 => Ok(Some(Threshold(v))),
                    Some(_) => Err(invalid(
                        format!("detect.model.threshold.{name}"),
                        "must be a number strictly between 0 and 1, or null",
                    )),
                }
            };
            out.user = check("user", t.user)?;
            out.tool_result = check("tool_result", t.tool_result)?;
            out.tool_definition = check("tool_definition", t.tool_definition)?;
        }
        Ok(out)
    }
}

/// What to do with a tool result that carries an injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolResultMode {
    /// Reject the whole request.
    Block,
    /// Replace that tool result's content with a notice, keep the rest (default).
    Redact,
    /// Let it pass, with decision headers.
    Warn,
}

impl ToolResultMode {
    /// Config name.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolResultMode::Block => "block",
            ToolResultMode::Redact => "redact",
            ToolResultMode::Warn => "warn",
        }
    }
}

/// The compiled `detect` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectConfig {
    /// Stateless content detection on/off (default on).
    pub enabled: bool,
    /// Tool results carrying injection: block | redact | warn.
    pub tool_result_injection: ToolResultMode,
    /// Action per family for texts (system, user, assistant, tool results).
    pub text_actions: BTreeMap<Family, Action>,
    /// Action per family for tool-call arguments.
    pub argument_actions: BTreeMap<Family, Action>,
    /// Hosts (exact or `*.suffix`) that markdown images/links may point at with data; in
    /// response text, the hosts images and links may point at at all ([`crate::detect::reply`]).
    pub exfil_allow_hosts: Vec<String>,
    /// Redact the model's answer text (images/links to other hosts, secrets, PII) in place.
    pub response_text: bool,
    /// Most answer text held back in a stream while undecided (and longest token kept).
    pub response_holdback_bytes: usize,
    /// Decoding limits.
    pub limits: Limits,
    /// Byte budget of the per-VM scan cache (0 = off); see [`crate::detect::cache`].
    pub scan_cache_bytes: usize,
    /// The learned detector.
    pub model: ModelConfig,
}

/// Default action of a family found in a text (prompt or tool result).
pub fn default_text_action(f: Family) -> Action {
    match f {
        Family::Secret | Family::Pii => Action::Warn,
        Family::ShellInjection
        | Family::SqlInjection
        | Family::PathTraversal
        | Family::Ssrf
        | Family::TemplateInjection => Action::Warn,
        Family::PromptInjection
        | Family::IndirectInjection
        | Family::SystemPromptExtraction
        | Family::Jailbreak
        | Family::UnicodeSmuggling
        | Family::Exfiltration => Action::Block,
    }
}

/// Default action of a family found in tool-call arguments.
pub fn default_argument_action(f: Family) -> Action {
    match f {
        Family::Pii => Action::Warn,
        _ => Action::Block,
    }
}

impl Default for DetectConfig {
    fn default() -> DetectConfig {
        DetectConfig {
            enabled: true,
            tool_result_injection: ToolResultMode::Redact,
            text_actions: Family::ALL
                .iter()
                .map(|&f| (f, default_text_action(f)))
                .collect(),
            argument_actions: Family::ALL
                .iter()
                .map(|&f| (f, default_argument_action(f)))
                .collect(),
            exfil_allow_hosts: Vec::new(),
            response_text: true,
            response_holdback_bytes: crate::detect::reply::DEFAULT_HOLDBACK_BYTES,
            limits: Limits::default(),
            scan_cache_bytes: DEFAULT_SCAN_CACHE_BYTES,
            model: ModelConfig::default(),
        }
    }
}

fn parse_action(field: &str, value: &str) -> Result<Action, ConfigError> {
    match value {
        "allow" => Ok(Action::Allow),
        "warn" => Ok(Action::Warn),
        "require_approval" => Ok(Action::RequireApproval),
        "block" => Ok(Action::Block),
        other => Err(invalid(
            field,
            format!("must be one of allow, warn, require_approval, block; got {other:?}"),
        )),
    }
}

fn overrides(
    section: &str,
    raw: Option<BTreeMap<String, String>>,
    into: &mut BTreeMap<Family, Action>,
) -> Result<(), ConfigError> {
    for (name, value) in raw.unwrap_or_default() {
        let field = format!("detect.{section}.{name}");
        let family = Family::from_name(&name).ok_or_else(|| {
            let known: Vec<&str> = Family::ALL.iter().map(|f| f.as_str()).collect();
            invalid(
                &field,
                format!("unknown family (known: {})", known.join(", ")),
            )
        })?;
        into.insert(family, parse_action(&field, &value)?);
    }
    Ok(())
}

impl RawDetect {
    /// Validates and compiles the section.
    pub fn validate(self) -> Result<DetectConfig, ConfigError> {
        let mut out = DetectConfig {
            enabled: self.enabled.unwrap_or(true),
            ..DetectConfig::default()
        };
        out.tool_result_injection = match self.tool_result_injection.as_deref() {
            None | Some("redact") => ToolResultMode::Redact,
            Some("block") => ToolResultMode::Block,
            Some("warn") => ToolResultMode::Warn,
            Some(other) => {
                return Err(invalid(
                    "detect.tool_result_injection",
                    format!("must be \"block\", \"redact\" or \"warn\", got {other:?}"),
                ))
            }
        };
        overrides("actions", self.actions, &mut out.text_actions)?;
        overrides(
            "argument_actions",
            self.argument_actions,
            &mut out.argument_actions,
        )?;
        for (i, h) in self
            .exfil_allow_hosts
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let host = h.trim().to_ascii_lowercase();
            let bare = host.strip_prefix("*.").unwrap_or(&host);
            let ok = !bare.is_empty()
                && bare
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !ok {
                return Err(invalid(
                    format!("detect.exfil_allow_hosts[{i}]"),
                    "must be a host name or *.suffix",
                ));
            }
            out.exfil_allow_hosts.push(host);
        }
        out.response_text = match self.response_text.as_deref() {
            None | Some("redact") => true,
            Some("off") => false,
            Some(other) => {
                return Err(invalid(
                    "detect.response_text",
                    format!("must be \"redact\" or \"off\", got {other:?}"),
                ))
            }
        };
        if let Some(n) = self.response_holdback_bytes {
            use crate::detect::reply::{MAX_HOLDBACK_BYTES, MIN_HOLDBACK_BYTES};
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if !(MIN_HOLDBACK_BYTES..=MAX_HOLDBACK_BYTES).contains(&n) {
                return Err(invalid(
                    "detect.response_holdback_bytes",
                    format!("must be between {MIN_HOLDBACK_BYTES} and {MAX_HOLDBACK_BYTES}"),
                ));
            }
            out.response_holdback_bytes = n;
        }
        if let Some(n) = self.max_decoded_bytes {
            if n > 16 * 1024 * 1024 {
                return Err(invalid(
                    "detect.max_decoded_bytes",
                    "must be at most 16777216",
                ));
            }
            out.limits.max_decoded_bytes = usize::try_from(n).unwrap_or(DEFAULT_MAX_DECODED_BYTES);
        }
        if let Some(d) = self.max_decode_depth {
            if d > MAX_DEPTH {
                return Err(invalid(
                    "detect.max_decode_depth",
                    format!("must be between 0 and {MAX_DEPTH}"),
                ));
            }
            out.limits.max_depth = d;
        }
        if let Some(n) = self.scan_cache_bytes {
            if n > MAX_SCAN_CACHE_BYTES as u64 {
                return Err(invalid(
                    "detect.scan_cache_bytes",
                    format!("must be at most {MAX_SCAN_CACHE_BYTES}"),
                ));
            }
            out.scan_cache_bytes = usize::try_from(n).unwrap_or(DEFAULT_SCAN_CACHE_BYTES);
        }
        if let Some(m) = self.model {
            out.model = m.validate()?;
        }
        Ok(out)
    }
}
