//! Rule data: phrase lists (one Aho-Corasick pass over the folded text) and structural regexes,
//! both loaded from `filter/core/rules/*.json` (compiled into the binary) and compiled once.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;
use serde::Deserialize;

use super::{fold, Channel, Family, Match, Severity};

const PHRASES: &str = include_str!("../../rules/phrases.json");
const PATTERNS: &str = include_str!("../../rules/patterns.json");

/// A rule file could not be loaded (a build defect, caught by tests).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule}: {problem}")]
pub struct RuleError {
    /// Rule id or file.
    pub rule: String,
    /// What is wrong.
    pub problem: String,
}

pub(crate) fn rule_err(rule: impl Into<String>, problem: impl Into<String>) -> RuleError {
    RuleError {
        rule: rule.into(),
        problem: problem.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhraseRule {
    id: String,
    family: String,
    severity: String,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    lang: String,
    phrases: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPatternRule {
    id: String,
    family: String,
    severity: String,
    #[serde(default)]
    channels: Vec<String>,
    pattern: String,
    #[serde(default)]
    note: String,
}

#[derive(Debug, Clone)]
struct Meta {
    id: String,
    family: Family,
    severity: Severity,
    /// Empty = every text channel.
    channels: Vec<Channel>,
}

impl Meta {
    fn applies(&self, ch: Channel) -> bool {
        self.channels.is_empty() || self.channels.contains(&ch)
    }
}

fn channel(name: &str) -> Option<Channel> {
    Some(match name {
        "system" => Channel::System,
        "user" => Channel::User,
        "assistant" => Channel::Assistant,
        "tool_result" => Channel::ToolResult,
        "tool_definition" => Channel::ToolDefinition,
        "tool_argument" => Channel::ToolArgument,
        _ => return None,
    })
}

fn meta(id: &str, family: &str, severity: &str, channels: &[String]) -> Result<Meta, RuleError> {
    Ok(Meta {
        id: id.to_owned(),
        family: Family::from_name(family)
            .ok_or_else(|| rule_err(id, format!("unknown family {family}")))?,
        severity: Severity::from_name(severity)
            .ok_or_else(|| rule_err(id, format!("unknown severity {severity}")))?,
        channels: channels
            .iter()
            .map(|c| channel(c).ok_or_else(|| rule_err(id, format!("unknown channel {c}"))))
            .collect::<Result<_, _>>()?,
    })
}

/// Compiled phrase and pattern rules.
#[derive(Debug, Clone)]
pub struct Rules {
    automaton: AhoCorasick,
    /// Pattern index → phrase rule index.
    phrase_rule: Vec<usize>,
    phrase_meta: Vec<Meta>,
    patterns: Vec<(Meta, Regex)>,
}

fn boundary_ok(text: &str, start: usize, end: usize, phrase: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric();
    let starts_word = phrase.chars().next().is_some_and(word);
    let ends_word = phrase.chars().last().is_some_and(word);
    let before = text.get(..start).and_then(|s| s.chars().next_back());
    let after = text.get(end..).and_then(|s| s.chars().next());
    !(starts_word && before.is_some_and(word) || ends_word && after.is_some_and(word))
}

impl Rules {
    /// Loads and compiles the rule files.
    pub fn load() -> Result<Rules, RuleError> {
        let raw_phrases: Vec<RawPhraseRule> = serde_json::from_str(PHRASES)
            .map_err(|e| rule_err("rules/phrases.json", e.to_string()))?;
        let raw_patterns: Vec<RawPatternRule> = serde_json::from_str(PATTERNS)
            .map_err(|e| rule_err("rules/patterns.json", e.to_string()))?;
        let mut phrases = Vec::new();
        let mut phrase_rule = Vec::new();
        let mut phrase_meta = Vec::new();
        for r in raw_phrases {
            let _ = &r.lang;
            phrase_meta.push(meta(&r.id, &r.family, &r.severity, &r.channels)?);
            for p in r.phrases {
                let f = fold(&p);
                if f.is_empty() {
                    return Err(rule_err(&r.id, "empty phrase"));
                }
                phrases.push(f);
                phrase_rule.push(phrase_meta.len() - 1);
            }
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&phrases)
            .map_err(|e| rule_err("rules/phrases.json", e.to_string()))?;
        let mut patterns = Vec::new();
        for r in raw_patterns {
            let _ = &r.note;
            let m = meta(&r.id, &r.family, &r.severity, &r.channels)?;
            let re = Regex::new(&r.pattern).map_err(|e| rule_err(&r.id, e.to_string()))?;
            patterns.push((m, re));
        }
        Ok(Rules {
            automaton,
            phrase_rule,
            phrase_meta,
            patterns,
        })
    }

    /// Number of phrases (for benches and docs).
    #[allow(dead_code)]
    pub fn phrase_count(&self) -> usize {
        self.phrase_rule.len()
    }

    /// Scans folded text.
    pub fn scan<'a>(&'a self, folded: &str, ch: Channel) -> Vec<Match<'a>> {
        let mut out = Vec::new();
        for m in self.automaton.find_iter(folded) {
            let Some(meta) = self
                .phrase_rule
                .get(m.pattern().as_usize())
                .and_then(|&i| self.phrase_meta.get(i))
            else {
                continue;
            };
            let phrase = folded.get(m.start()..m.end()).unwrap_or("");
            if !meta.applies(ch) || !boundary_ok(folded, m.start(), m.end(), phrase) {
                continue;
            }
            out.push(Match {
                rule_id: &meta.id,
                family: meta.family,
                severity: meta.severity,
                offset: m.start(),
                len: m.end() - m.start(),
            });
        }
        for (meta, re) in &self.patterns {
            if !meta.applies(ch) {
                continue;
            }
            if let Some(m) = re.find(folded) {
                out.push(Match {
                    rule_id: &meta.id,
                    family: meta.family,
                    severity: meta.severity,
                    offset: m.start(),
                    len: m.end() - m.start(),
                });
            }
        }
        out
    }
}
