//! Detectors (DESIGN §3.3): findings per text and per tool call, and the decision they lead to.
//!
//! A [`Detector`] is compiled once from the `detect` config section and the rule data in
//! `filter/core/rules/` (phrase lists matched in one Aho-Corasick pass, linear-time regexes for
//! what has structure). [`Detector::scan_text`] sanitises a text ([`crate::sanitize`]) and scans the
//! original and every variant; [`Detector::scan_call`] scans tool-call arguments. A [`Finding`]
//! never carries content: rule, family, severity, provenance and a redacted span.

mod args;
pub mod cache;
mod exfil;
pub mod model;
pub mod notice;
pub mod reply;
mod reply_urls;
mod rules;
mod secrets;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::config::detect::{DetectConfig, ToolResultMode};
use crate::sanitize::{self, SignalKind, Variant, VariantKind};
use crate::verdict::Action;

pub use rules::RuleError;

/// Detector families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Instruction override ("ignore previous instructions", in ≥ 10 languages).
    PromptInjection,
    /// Instructions addressed to the model inside a document or tool result.
    IndirectInjection,
    /// Attempts to extract the system prompt.
    SystemPromptExtraction,
    /// Jailbreak personas and templates (DAN, developer mode, …).
    Jailbreak,
    /// Tag characters, bidi controls, invisibles, mixed-script confusables.
    UnicodeSmuggling,
    /// Credentials and keys.
    Secret,
    /// Personal data (card numbers).
    Pii,
    /// Markdown image/link exfiltration and calls to send data elsewhere.
    Exfiltration,
    /// Shell command injection in arguments.
    ShellInjection,
    /// SQL injection in arguments.
    SqlInjection,
    /// Path traversal / sensitive files in arguments.
    PathTraversal,
    /// Server-side request forgery targets in arguments.
    Ssrf,
    /// Server-side template injection in arguments.
    TemplateInjection,
}

impl Family {
    /// All families.
    pub const ALL: &'static [Family] = &[
        Family::PromptInjection,
        Family::IndirectInjection,
        Family::SystemPromptExtraction,
        Family::Jailbreak,
        Family::UnicodeSmuggling,
        Family::Secret,
        Family::Pii,
        Family::Exfiltration,
        Family::ShellInjection,
        Family::SqlInjection,
        Family::PathTraversal,
        Family::Ssrf,
        Family::TemplateInjection,
    ];

    /// Config and report name.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::PromptInjection => "prompt_injection",
            Family::IndirectInjection => "indirect_injection",
            Family::SystemPromptExtraction => "system_prompt_extraction",
            Family::Jailbreak => "jailbreak",
            Family::UnicodeSmuggling => "unicode_smuggling",
            Family::Secret => "secret",
            Family::Pii => "pii",
            Family::Exfiltration => "exfiltration",
            Family::ShellInjection => "shell_injection",
            Family::SqlInjection => "sql_injection",
            Family::PathTraversal => "path_traversal",
            Family::Ssrf => "ssrf",
            Family::TemplateInjection => "template_injection",
        }
    }

    /// Parses a config name.
    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.iter().copied().find(|f| f.as_str() == name)
    }

    /// Families that mean "someone is steering the model" (tool-result handling applies).
    pub fn is_injection(self) -> bool {
        matches!(
            self,
            Family::PromptInjection
                | Family::IndirectInjection
                | Family::SystemPromptExtraction
                | Family::Jailbreak
                | Family::UnicodeSmuggling
                | Family::Exfiltration
        )
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity; `Low` findings never act beyond WARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Weak signal (dual-use, generic phrasing): at most WARN.
    Low,
    /// Likely.
    Medium,
    /// Clear.
    High,
    /// Clear and dangerous.
    Critical,
}

impl Severity {
    /// Report name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a rule-file name.
    pub fn from_name(s: &str) -> Option<Severity> {
        match s {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// Which kind of text a finding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// System or developer prompt.
    System,
    /// User message.
    User,
    /// Assistant message in the history.
    Assistant,
    /// Tool result (the indirect channel).
    ToolResult,
    /// Tool definition (description, schema).
    ToolDefinition,
    /// Tool-call arguments.
    ToolArgument,
}

impl Channel {
    /// Report name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::System => "system",
            Channel::User => "user",
            Channel::Assistant => "assistant",
            Channel::ToolResult => "tool_result",
            Channel::ToolDefinition => "tool_definition",
            Channel::ToolArgument => "tool_argument",
        }
    }
}

/// Where in the scanned text: which variant, byte offset and length. Never the text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Variant label (`original`, `normalized`, `decoded:base64:1`, …).
    pub variant: String,
    /// Byte offset in that variant (for arguments: in the string value).
    pub offset: usize,
    /// Byte length.
    pub len: usize,
}

/// The learned detector's score of a text and the threshold it was judged against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelScore {
    /// Score in [0, 1].
    pub score: f32,
    /// The channel's configured threshold.
    pub threshold: f32,
}

// Scores are finite (sigmoid of a finite logit), thresholds validated: equality is total.
impl Eq for ModelScore {}

/// One detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable rule id, e.g. `pi.ignore_instructions`, `secret.aws_access_key`.
    pub rule_id: String,
    /// Family.
    pub family: Family,
    /// Severity.
    pub severity: Severity,
    /// Channel of the text (or `tool_argument`).
    pub channel: Channel,
    /// For arguments: the JSON pointer of the value (`/command`); else empty.
    pub path: String,
    /// Redacted location.
    pub span: Span,
    /// For `model.*` findings: the score and the threshold.
    pub score: Option<ModelScore>,
}

/// The decision on a set of findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Strictest action.
    pub action: Action,
    /// True when a tool result should be replaced by a notice instead of blocking the request.
    pub redact: bool,
    /// Distinct rule ids that drove the action, strictest first (for reasons headers).
    pub rules: Vec<String>,
}

/// The compiled detectors.
#[derive(Debug, Clone)]
pub struct Detector {
    config: DetectConfig,
    rules: rules::Rules,
    secrets: secrets::Secrets,
    args: args::ArgRules,
    cache: cache::ScanCache,
    model: Option<model::Model>,
}

/// Rule id of the learned detector's finding.
pub const MODEL_RULE: &str = "model.v1";
/// Rule id when a text was longer than the model reads ([`model::MAX_WINDOWS`]): its score covers
/// only the windows read.
pub const MODEL_BOUND_RULE: &str = "model.v1.bound";

/// Lower-cases, maps typographic quotes to ASCII and collapses whitespace runs (to `\n` when the run
/// holds a line break, else to one space).
pub fn fold(text: &str) -> String {
    if text.is_ascii() {
        return fold_ascii(text.as_bytes());
    }
    fold_chars(text)
}

/// [`fold`] of ASCII text, byte by byte (the same rules: ASCII whitespace is `\t`, `\n`, `\x0B`,
/// `\x0C`, `\r` and space, as for [`char::is_whitespace`]).
fn fold_ascii(text: &[u8]) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut run: Option<u8> = None;
    for &c in text {
        if matches!(c, b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r' | b' ') {
            if c == b'\n' || run.is_none() {
                run = Some(if c == b'\n' || run == Some(b'\n') {
                    b'\n'
                } else {
                    b' '
                });
            }
            continue;
        }
        if let Some(ws) = run.take() {
            if !out.is_empty() {
                out.push(ws);
            }
        }
        out.push(if c == b'`' {
            b'\''
        } else {
            c.to_ascii_lowercase()
        });
    }
    String::from_utf8(out).unwrap_or_default()
}

/// [`fold`] character by character.
fn fold_chars(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // A whitespace run becomes one space, or one newline when it contains a line break (line
    // structure matters for forged "User:"/"System:" turns).
    let mut run: Option<char> = None;
    for c in text.chars() {
        if c.is_whitespace() {
            if c == '\n' || run.is_none() {
                run = Some(if c == '\n' || run == Some('\n') {
                    '\n'
                } else {
                    ' '
                });
            }
            continue;
        }
        if let Some(ws) = run.take() {
            if !out.is_empty() {
                out.push(ws);
            }
        }
        match c {
            '\u{2018}' | '\u{2019}' | '\u{02BC}' | '`' => out.push('\''),
            '\u{201C}' | '\u{201D}' | '«' | '»' => out.push('"'),
            c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

impl Detector {
    /// Compiles the rule data under a config.
    pub fn compile(config: DetectConfig) -> Result<Detector, RuleError> {
        Ok(Detector {
            rules: rules::Rules::load()?,
            secrets: secrets::Secrets::compile()?,
            args: args::ArgRules::compile()?,
            cache: cache::ScanCache::new(config.scan_cache_bytes),
            model: if config.model.enabled {
                Some(model::Model::builtin().map_err(|e| rules::rule_err(MODEL_RULE, e.0))?)
            } else {
                None
            },
            config,
        })
    }

    /// The config this detector was compiled with.
    pub fn config(&self) -> &DetectConfig {
        &self.config
    }

    /// [`Detector::scan_text`] through the per-VM scan cache ([`cache`]): a text already scanned
    /// under the same channel (agents resend their history every turn) is not scanned again.
    pub fn scan_text_cached(&self, text: &str, channel: Channel) -> Arc<[Finding]> {
        if !self.config.enabled || text.is_empty() {
            return Arc::from(Vec::new());
        }
        self.cache
            .get_or_scan(channel, text, || self.scan_text(text, channel))
    }

    /// Counters of the scan cache.
    pub fn cache_stats(&self) -> cache::CacheStats {
        self.cache.stats()
    }

    /// Scans one text of the given channel: the original and all its variants.
    pub fn scan_text(&self, text: &str, channel: Channel) -> Vec<Finding> {
        let mut out = Vec::new();
        if !self.config.enabled || text.is_empty() {
            return out;
        }
        let s = sanitize::sanitize(text, self.config.limits);
        for sig in &s.signals {
            let (rule_id, severity) = match sig.kind {
                SignalKind::TagSmuggling => ("unicode.tag_smuggling", Severity::High),
                SignalKind::BidiControl => ("unicode.bidi_control", Severity::High),
                SignalKind::Invisible => ("unicode.invisible", Severity::Medium),
                SignalKind::MixedScriptConfusable => {
                    ("unicode.mixed_script_confusable", Severity::Medium)
                }
            };
            let variant = if sig.kind == SignalKind::MixedScriptConfusable {
                "normalized"
            } else {
                "original"
            };
            out.push(Finding {
                rule_id: rule_id.to_owned(),
                family: Family::UnicodeSmuggling,
                severity,
                channel,
                path: String::new(),
                span: Span {
                    variant: variant.to_owned(),
                    offset: sig.offset,
                    len: sig.len,
                },
                score: None,
            });
        }
        for v in &s.variants {
            self.scan_variant(v, channel, &mut out);
        }
        // The filter's own notice, resent in an agent's history, is not an instruction to judge.
        if !notice::is_own(text) {
            self.scan_model(&s.variants, channel, &mut out);
        }
        dedup(out)
    }

    /// The learned detector on the variants of a text (the normalised one and decodings; the
    /// original when there is nothing else): one finding when the highest score reaches the
    /// channel's threshold, and a low-severity one when a text was longer than the model reads.
    fn scan_model(&self, variants: &[Variant], channel: Channel, out: &mut Vec<Finding>) {
        let (Some(m), Some(threshold)) = (&self.model, self.config.model.threshold(channel)) else {
            return;
        };
        let others = variants.iter().any(|v| v.kind != VariantKind::Original);
        let mut best: Option<(f32, String, usize)> = None;
        let mut complete = true;
        for v in variants {
            if others && v.kind == VariantKind::Original {
                continue;
            }
            let Some(s) = m.score(&v.text, channel) else {
                return;
            };
            complete &= s.complete;
            if best.as_ref().is_none_or(|b| s.score > b.0) {
                best = Some((s.score, v.kind.label(), v.text.len()));
            }
        }
        let Some((score, variant, len)) = best else {
            return;
        };
        let family = if channel == Channel::User {
            Family::PromptInjection
        } else {
            Family::IndirectInjection
        };
        let mut push = |rule_id: &str, severity: Severity| {
            out.push(Finding {
                rule_id: rule_id.to_owned(),
                family,
                severity,
                channel,
                path: String::new(),
                span: Span {
                    variant: variant.clone(),
                    offset: 0,
                    len,
                },
                score: Some(ModelScore { score, threshold }),
            });
        };
        if score >= threshold {
            push(MODEL_RULE, Severity::High);
        }
        if !complete {
            push(MODEL_BOUND_RULE, Severity::Low);
        }
    }

    fn scan_variant(&self, v: &Variant, channel: Channel, out: &mut Vec<Finding>) {
        let label = v.kind.label();
        let folded = fold(&v.text);
        let mut push =
            |rule_id: &str, family: Family, severity: Severity, offset: usize, len: usize| {
                out.push(Finding {
                    rule_id: rule_id.to_owned(),
                    family,
                    severity,
                    channel,
                    path: String::new(),
                    span: Span {
                        variant: label.clone(),
                        offset,
                        len,
                    },
                    score: None,
                });
            };
        for m in self.rules.scan(&folded, channel) {
            push(m.rule_id, m.family, m.severity, m.offset, m.len);
        }
        for m in self
            .secrets
            .scan(&v.text, &folded, v.kind == VariantKind::Original)
        {
            push(m.rule_id, m.family, m.severity, m.offset, m.len);
        }
        for m in exfil::scan(&v.text, &self.config.exfil_allow_hosts) {
            push(m.rule_id, m.family, m.severity, m.offset, m.len);
        }
    }

    /// Scans a tool call's arguments (every string value, with the tool name as context).
    pub fn scan_call(&self, tool: &str, arguments: &Value) -> Vec<Finding> {
        self.scan_call_bounded(tool, arguments).0
    }

    /// [`Detector::scan_call`], and the bound that stopped the reading of the arguments before
    /// their end, if one did (too many or too long values, too deep).
    pub fn scan_call_bounded(
        &self,
        tool: &str,
        arguments: &Value,
    ) -> (Vec<Finding>, Option<&'static str>) {
        self.scan_call_scoped(tool, arguments, &|_| false)
    }

    /// [`Detector::scan_call_bounded`] with the configured scope: `authorised(url)` says a URL is
    /// inside it (an internal address there is no SSRF finding; see `args/ssrf.rs`).
    pub fn scan_call_scoped(
        &self,
        tool: &str,
        arguments: &Value,
        authorised: &dyn Fn(&str) -> bool,
    ) -> (Vec<Finding>, Option<&'static str>) {
        let mut out = Vec::new();
        if !self.config.enabled {
            return (out, None);
        }
        let mut leaves = Vec::new();
        let stopped = args::string_leaves(arguments, String::new(), &mut leaves, 0);
        for (path, value) in leaves {
            let key = path.rsplit('/').next().unwrap_or("");
            for m in self.args.scan(tool, key, &value, authorised) {
                out.push(Finding {
                    rule_id: m.rule_id.to_owned(),
                    family: m.family,
                    severity: m.severity,
                    channel: Channel::ToolArgument,
                    path: path.clone(),
                    span: Span {
                        variant: m.variant.to_owned(),
                        offset: m.offset,
                        len: m.len,
                    },
                    score: None,
                });
            }
            // Secrets, smuggling and exfiltration in argument values; phrase rules too.
            for mut f in self.scan_text(&value, Channel::ToolArgument) {
                f.path.clone_from(&path);
                out.push(f);
            }
        }
        (dedup(out), stopped)
    }

    /// The action for one finding under the config.
    pub fn action_for(&self, f: &Finding) -> Action {
        let table = if f.channel == Channel::ToolArgument {
            &self.config.argument_actions
        } else {
            &self.config.text_actions
        };
        let mut action = table.get(&f.family).copied().unwrap_or(Action::Warn);
        if f.channel == Channel::ToolResult && f.family.is_injection() {
            action = match self.config.tool_result_injection {
                ToolResultMode::Block | ToolResultMode::Redact => action,
                ToolResultMode::Warn => action.min(Action::Warn),
            };
        }
        if f.severity == Severity::Low {
            action = action.min(Action::Warn);
        }
        action
    }

    /// Combines findings into one decision.
    pub fn decide(&self, findings: &[Finding]) -> Decision {
        let mut action = Action::Allow;
        let mut redact = false;
        let mut scored: Vec<(Action, &str)> = Vec::new();
        for f in findings {
            let a = self.action_for(f);
            if a == Action::Allow {
                continue;
            }
            if f.channel == Channel::ToolResult
                && f.family.is_injection()
                && a >= Action::RequireApproval
                && self.config.tool_result_injection == ToolResultMode::Redact
            {
                redact = true;
            }
            action = action.max(a);
            scored.push((a, &f.rule_id));
        }
        scored.sort_by_key(|s| std::cmp::Reverse(s.0));
        let mut rules: Vec<String> = Vec::new();
        for (_, r) in scored {
            if !rules.iter().any(|x| x == r) {
                rules.push(r.to_owned());
            }
        }
        Decision {
            action,
            redact,
            rules,
        }
    }
}

/// One finding per (rule, channel, path), strongest severity kept.
fn dedup(mut v: Vec<Finding>) -> Vec<Finding> {
    v.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let mut seen = BTreeSet::new();
    v.retain(|f| seen.insert((f.rule_id.clone(), f.channel.as_str(), f.path.clone())));
    v
}

/// A raw match from a sub-detector.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Match<'a> {
    pub rule_id: &'a str,
    pub family: Family,
    pub severity: Severity,
    pub offset: usize,
    pub len: usize,
}

#[cfg(test)]
mod tests;
