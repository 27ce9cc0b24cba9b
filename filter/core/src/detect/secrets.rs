//! Secrets and PII: provider key formats, PEM, JWT, URL credentials, generic assignments
//! (validated by entropy and shape so hashes, UUIDs and placeholders pass), card numbers (Luhn).
//! Rules live in `rules/secrets.json`; matching is case-sensitive on the raw variants.

use regex::Regex;
use serde::Deserialize;

use super::rules::{rule_err, RuleError};
use super::{Family, Match, Severity};

const SECRETS: &str = include_str!("../../rules/secrets.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecretRule {
    id: String,
    severity: String,
    pattern: String,
    #[serde(default)]
    validator: Option<String>,
    #[serde(default)]
    family: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validator {
    None,
    Assignment,
    Luhn,
}

#[derive(Debug, Clone)]
struct Rule {
    id: String,
    family: Family,
    severity: Severity,
    validator: Validator,
    re: Regex,
}

/// Compiled secret rules.
#[derive(Debug, Clone)]
pub struct Secrets {
    rules: Vec<Rule>,
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

fn luhn(digits: &str) -> bool {
    let ds: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&ds.len()) || ds.iter().all(|&d| Some(&d) == ds.first()) {
        return false;
    }
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Placeholders, references and plain words are not secrets.
fn plausible_secret(key: &str, value: &str) -> bool {
    let v = value.trim_matches(|c| c == '"' || c == '\'' || c == '`');
    let lower = v.to_ascii_lowercase();
    const PLACEHOLDERS: &[&str] = &[
        "xxx",
        "***",
        "...",
        "<",
        "${",
        "$(",
        "{{",
        "%(",
        "example",
        "placeholder",
        "changeme",
        "your",
        "redacted",
        "dummy",
        "sample",
        "none",
        "null",
        "true",
        "false",
        "undefined",
        "password",
        "secret",
        "token",
        "process.env",
        "os.environ",
        "getenv",
        "env[",
        "config.",
        "settings.",
        "****",
    ];
    if PLACEHOLDERS.iter().any(|p| lower.contains(p)) || v.starts_with('$') || v.starts_with('%') {
        return false;
    }
    let classes = [
        v.bytes().any(|b| b.is_ascii_lowercase()),
        v.bytes().any(|b| b.is_ascii_uppercase()),
        v.bytes().any(|b| b.is_ascii_digit()),
        v.bytes().any(|b| !b.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|&&x| x)
    .count();
    let k = key.to_lowercase();
    let password_like = [
        "pass",
        "pwd",
        "密码",
        "パスワード",
        "пароль",
        "كلمة",
        "पासवर्ड",
        "mot de passe",
        "contraseña",
        "senha",
    ]
    .iter()
    .any(|p| k.contains(p));
    // The key already says "token/secret/key": hex tokens and UUIDs count, with a lower entropy
    // bar (hex tops out at 4 bits/char); URLs and dotted names (hosts, files) do not.
    let hexlike = v.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let e = entropy(v);
    if password_like {
        v.len() >= 6 && classes >= 2
    } else if v.contains("://") || (v.contains('.') && e < 4.0) || (v.contains('/') && e < 4.2) {
        false
    } else if hexlike {
        v.len() >= 20 && e >= 3.0
    } else {
        v.len() >= 16 && classes >= 2 && e >= 3.5
    }
}

impl Secrets {
    /// Loads `rules/secrets.json`.
    pub fn compile() -> Result<Secrets, RuleError> {
        let raw: Vec<RawSecretRule> = serde_json::from_str(SECRETS)
            .map_err(|e| rule_err("rules/secrets.json", e.to_string()))?;
        let mut rules = Vec::with_capacity(raw.len());
        for r in raw {
            let validator = match r.validator.as_deref() {
                None => Validator::None,
                Some("assignment") => Validator::Assignment,
                Some("luhn") => Validator::Luhn,
                Some(other) => return Err(rule_err(&r.id, format!("unknown validator {other}"))),
            };
            let family = match r.family.as_deref() {
                None | Some("secret") => Family::Secret,
                Some("pii") => Family::Pii,
                Some(other) => return Err(rule_err(&r.id, format!("unknown family {other}"))),
            };
            rules.push(Rule {
                family,
                severity: Severity::from_name(&r.severity)
                    .ok_or_else(|| rule_err(&r.id, "unknown severity"))?,
                validator,
                re: Regex::new(&r.pattern).map_err(|e| rule_err(&r.id, e.to_string()))?,
                id: r.id,
            });
        }
        Ok(Secrets { rules })
    }

    /// Scans one variant. `original` marks the untouched text (the compact form is built only there).
    pub fn scan<'a>(&'a self, text: &str, original: bool) -> Vec<Match<'a>> {
        let mut out = Vec::new();
        self.scan_one(text, &mut out);
        // Separator-split keys ("s k - l i v e", "sk..live..", "s*k*-"): a compact form of short
        // texts, provider formats only.
        if original && text.len() <= 4096 {
            let compact: String = text
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '\n'))
                .collect();
            if compact != text {
                let before = out.len();
                let mut extra = Vec::new();
                self.scan_one(&compact, &mut extra);
                out.extend(extra.into_iter().filter(|m| {
                    m.rule_id == "secret.live_key" || m.rule_id == "secret.openai_key"
                }));
                let _ = before;
            }
        }
        out
    }

    fn scan_one<'a>(&'a self, text: &str, out: &mut Vec<Match<'a>>) {
        for r in &self.rules {
            match r.validator {
                Validator::None => {
                    if let Some(m) = r.re.find(text) {
                        out.push(mk(r, m.start(), m.len()));
                    }
                }
                Validator::Luhn => {
                    if let Some(m) = r.re.find_iter(text).find(|m| luhn(m.as_str())) {
                        out.push(mk(r, m.start(), m.len()));
                    }
                }
                Validator::Assignment => {
                    for c in r.re.captures_iter(text) {
                        let (Some(k), Some(v)) = (c.get(1), c.get(2)) else {
                            continue;
                        };
                        if plausible_secret(k.as_str(), v.as_str()) {
                            out.push(mk(r, v.start(), v.len()));
                            break;
                        }
                    }
                }
            }
        }
    }
}

fn mk(r: &Rule, offset: usize, len: usize) -> Match<'_> {
    Match {
        rule_id: &r.id,
        family: r.family,
        severity: r.severity,
        offset,
        len,
    }
}
