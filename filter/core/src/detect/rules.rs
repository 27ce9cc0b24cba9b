//! Rule data: phrase lists (one Aho-Corasick pass over the folded text) and structural regexes,
//! both loaded from `filter/core/rules/*.json` and `detect/data/patterns.json` (compiled into the
//! binary) and compiled once. Weak jailbreak cues (`detect/data/cues.json`: persona set-up, norm
//! removal, comply-with-anything, no-warnings, dual output, …) are each harmless alone; a text
//! that shows enough distinct cues, at least one of them a core cue, is one finding.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::{Regex, RegexSet};
use serde::Deserialize;

use super::{fold, Channel, Family, Match, Severity};

const PHRASES: &str = include_str!("../../rules/phrases.json");
const PATTERNS: &str = include_str!("../../rules/patterns.json");
const MORE_PATTERNS: &str = include_str!("data/patterns.json");
const CUES: &str = include_str!("data/cues.json");

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCue {
    name: String,
    core: bool,
    pattern: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCues {
    id: String,
    family: String,
    severity: String,
    min_cues: usize,
    cues: Vec<RawCue>,
}

/// Weak cues combined into one finding.
#[derive(Debug, Clone)]
struct Cues {
    meta: Meta,
    min: usize,
    /// (core, regex).
    cues: Vec<(bool, Regex)>,
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
    /// The same patterns in one set: a single pass says which of them match at all, and only
    /// those run on their own to find where (most texts match none).
    pattern_set: RegexSet,
    cues: Cues,
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
        let mut raw_patterns: Vec<RawPatternRule> = serde_json::from_str(PATTERNS)
            .map_err(|e| rule_err("rules/patterns.json", e.to_string()))?;
        let more: Vec<RawPatternRule> = serde_json::from_str(MORE_PATTERNS)
            .map_err(|e| rule_err("detect/data/patterns.json", e.to_string()))?;
        raw_patterns.extend(more);
        let raw_cues: RawCues = serde_json::from_str(CUES)
            .map_err(|e| rule_err("detect/data/cues.json", e.to_string()))?;
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
        let pattern_set = RegexSet::new(raw_patterns.iter().map(|r| r.pattern.as_str()))
            .map_err(|e| rule_err("rules/patterns.json", e.to_string()))?;
        let mut patterns = Vec::new();
        for r in raw_patterns {
            let _ = &r.note;
            let m = meta(&r.id, &r.family, &r.severity, &r.channels)?;
            let re = Regex::new(&r.pattern).map_err(|e| rule_err(&r.id, e.to_string()))?;
            patterns.push((m, re));
        }
        let mut cues = Vec::with_capacity(raw_cues.cues.len());
        for c in raw_cues.cues {
            let re = Regex::new(&c.pattern)
                .map_err(|e| rule_err(format!("{}/{}", raw_cues.id, c.name), e.to_string()))?;
            cues.push((c.core, re));
        }
        if raw_cues.min_cues == 0 || raw_cues.min_cues > cues.len() {
            return Err(rule_err(&raw_cues.id, "min_cues out of range"));
        }
        let cues = Cues {
            meta: meta(&raw_cues.id, &raw_cues.family, &raw_cues.severity, &[])?,
            min: raw_cues.min_cues,
            cues,
        };
        Ok(Rules {
            automaton,
            phrase_rule,
            phrase_meta,
            patterns,
            pattern_set,
            cues,
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
        let candidates = self.pattern_set.matches(folded);
        for (i, (meta, re)) in self.patterns.iter().enumerate() {
            if !meta.applies(ch) || !candidates.matched(i) {
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
        if let Some(m) = self.cues.scan(folded, ch) {
            out.push(m);
        }
        out
    }
}

impl Cues {
    /// One match spanning the cues when at least `min` distinct cues (one of them core) are found.
    /// Core cues are tried first: without one there is no finding, and the other cues need not run.
    fn scan(&self, folded: &str, ch: Channel) -> Option<Match<'_>> {
        if !self.meta.applies(ch) {
            return None;
        }
        let (mut n, mut core) = (0, false);
        let (mut start, mut end) = (usize::MAX, 0);
        let mut remaining = self.cues.len();
        for want_core in [true, false] {
            for (is_core, re) in &self.cues {
                if *is_core != want_core {
                    continue;
                }
                if n + remaining < self.min || (!want_core && !core) {
                    return None;
                }
                remaining -= 1;
                if let Some(m) = re.find(folded) {
                    n += 1;
                    core |= *is_core;
                    start = start.min(m.start());
                    end = end.max(m.end());
                }
            }
        }
        (n >= self.min && core).then(|| Match {
            rule_id: &self.meta.id,
            family: self.meta.family,
            severity: self.meta.severity,
            offset: start,
            len: end.saturating_sub(start),
        })
    }
}
