//! Secrets and PII: provider key formats, PEM, JWT, URL credentials, generic assignments
//! (validated by entropy and shape so hashes, UUIDs and placeholders pass), card numbers (Luhn).
//! Rules live in `rules/secrets.json` and `detect/data/secrets.json` (password hashes, more
//! provider formats, credentials in headers, URLs, connection strings, constructors and prose);
//! matching is case-sensitive on the raw variants. A key split over several lines (a dangling
//! `sk-` prefix continued by single-token lines) is reassembled before matching.

use aho_corasick::AhoCorasick;
use regex::Regex;
use serde::Deserialize;

use super::rules::{rule_err, RuleError};
use super::{Family, Match, Severity};

const SECRETS: &str = include_str!("../../rules/secrets.json");
const MORE_SECRETS: &str = include_str!("data/secrets.json");

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
    /// Literals of which at least one occurs (ASCII case-insensitively) in every ASCII text the
    /// pattern can match: a cheap trigger checked before the full regex. Only for ASCII texts
    /// (under `(?i)`, `k` and `s` also match the Kelvin sign and long s), and looked up in the
    /// folded text (lower-cased; a single space between two words stays one space).
    #[serde(default)]
    requires: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validator {
    None,
    Assignment,
    Luhn,
    /// The value (last capture group) is a literal password: no variable, template or placeholder.
    Password,
    /// The value is a literal of any kind (not a variable reference or an empty placeholder).
    Literal,
    /// The value is a token: long, mixed character classes or hex, not a placeholder.
    Token,
    /// The value is base64 of `user:password`.
    BasicAuth,
}

#[derive(Debug, Clone)]
struct Rule {
    id: String,
    family: Family,
    severity: Severity,
    validator: Validator,
    re: Regex,
    /// Trigger (from `requires`, lower-cased): on an ASCII text whose folded form holds none of
    /// these literals the regex cannot match and is skipped.
    trigger: Option<AhoCorasick>,
}

/// Rules whose matches count in the compact (separator-stripped) form of a text.
const COMPACT_RULES: &[&str] = &["secret.live_key", "secret.openai_key"];

/// Compiled secret rules.
#[derive(Debug, Clone)]
pub struct Secrets {
    rules: Vec<Rule>,
    /// Indices into `rules` of [`COMPACT_RULES`], in rule order: only these run on the compact form.
    compact: Vec<usize>,
    /// Every rule trigger's literals in one automaton: when none occurs (the usual case), all
    /// rules with a trigger are skipped after one pass instead of one pass per rule.
    any_trigger: Option<AhoCorasick>,
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
    // A word of a language written with letters beyond ASCII (`tarafından`, `Geçerli` after
    // "passwd" in a Turkish man page) is prose, not a password: letters only, at most the first
    // one upper case.
    if !v.is_ascii()
        && v.chars().all(char::is_alphabetic)
        && v.chars().skip(1).all(|c| !c.is_uppercase())
    {
        return false;
    }
    // Character classes by character: a non-ASCII letter is a letter, not a symbol.
    let classes = [
        v.chars().any(char::is_lowercase),
        v.chars().any(char::is_uppercase),
        v.bytes().any(|b| b.is_ascii_digit()),
        v.chars().any(|c| !c.is_alphanumeric()),
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

/// Not a variable reference, template, or empty/masked placeholder.
fn literal_value(v: &str) -> bool {
    let v = v.trim();
    let lower = v.to_ascii_lowercase();
    let first = v.chars().next();
    !(v.is_empty()
        || first.is_some_and(|c| "$%<{[@#&*".contains(c))
        || [
            "${",
            "{{",
            "#{",
            "$(",
            "<%",
            "process.env",
            "os.environ",
            "getenv",
            "env[",
        ]
        .iter()
        .any(|p| lower.contains(p))
        || ["xxx", "***", "..."].iter().any(|p| lower.contains(p))
        || v.chars().all(|c| Some(c) == first))
}

/// A literal password: [`literal_value`], not a bare placeholder word, not a sentence.
fn literal_password(v: &str) -> bool {
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "passphrase",
        "changeme",
        "change_me",
        "none",
        "null",
        "nil",
        "true",
        "false",
        "undefined",
        "empty",
        "default",
        "test",
        "example",
        "sample",
        "dummy",
        "placeholder",
        "redacted",
        "hidden",
        "required",
        "optional",
        "string",
        "value",
        "not-set",
        "notset",
        "unset",
        "todo",
        "tbd",
        "n/a",
        "str",
        "text",
        "your_password",
        "new_password",
        "old_password",
        "yourpassword",
    ];
    let t = v.trim().trim_end_matches([':', ';', ',', '.']);
    let lower = t.to_ascii_lowercase();
    literal_value(t)
        && t.len() >= 3
        && !WORDS.contains(&lower.as_str())
        && !lower.starts_with("your")
        && !lower.starts_with("enter ")
        && t.matches(' ').count() < 3
}

/// A token: long enough, not a placeholder, mixed classes or hex, some entropy.
fn token_like(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    if v.len() < 16
        || !literal_value(v)
        || [
            "token",
            "your",
            "example",
            "secret",
            "placeholder",
            "redacted",
        ]
        .iter()
        .any(|p| lower.contains(p))
    {
        return false;
    }
    let hex = v.bytes().all(|b| b.is_ascii_hexdigit());
    let classes = [
        v.bytes().any(|b| b.is_ascii_lowercase()),
        v.bytes().any(|b| b.is_ascii_uppercase()),
        v.bytes().any(|b| b.is_ascii_digit()),
    ]
    .iter()
    .filter(|&&x| x)
    .count();
    (hex || classes >= 2) && entropy(v) >= 3.0
}

/// Base64 of `user:password` with a non-empty, non-placeholder password.
fn basic_auth(v: &str) -> bool {
    let Some(bytes) = crate::sanitize::decode::base64(v) else {
        return false;
    };
    let Ok(s) = String::from_utf8(bytes) else {
        return false;
    };
    s.split_once(':').is_some_and(|(u, p)| {
        !u.is_empty() && !p.is_empty() && s.chars().all(|c| !c.is_control()) && literal_value(p)
    })
}

/// A key split over lines: a line ending in a dangling provider prefix (`sk-`, `sk-li`, `ghp_`)
/// continued by lines that each hold one key-shaped token (after an optional `T3:` label); the
/// fragments are joined and lines with prose in between are skipped.
fn reassemble(text: &str) -> Option<String> {
    const PREFIXES: &[&str] = &[
        "sk-",
        "sk_",
        "rk_",
        "ghp_",
        "gho_",
        "github_pat_",
        "xoxb-",
        "xoxp-",
        "AKIA",
        "AIza",
        "glpat-",
        "hf_",
    ];
    fn body(line: &str) -> &str {
        match line.split_once(':') {
            Some((label, rest))
                if label.len() <= 8 && label.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                rest.trim()
            }
            _ => line.trim(),
        }
    }
    fn last_word(line: &str) -> &str {
        line.trim_end()
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or("")
    }
    let keyish = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let lines: Vec<&str> = text.lines().take(64).collect();
    let start = lines.iter().position(|l| {
        let w = last_word(l);
        keyish(w)
            && w.len() < 12
            && PREFIXES
                .iter()
                .any(|p| w.starts_with(p) || (w.len() >= 4 && p.starts_with(w)))
    })?;
    let mut joined = last_word(lines.get(start)?).to_owned();
    for l in lines.get(start + 1..)? {
        let b = body(l);
        if keyish(b) {
            joined.push_str(b);
        }
    }
    (joined.len() >= 20).then_some(joined)
}

fn trigger(id: &str, requires: &[String]) -> Result<Option<AhoCorasick>, RuleError> {
    if requires.is_empty() {
        return Ok(None);
    }
    if requires.iter().any(|l| l.is_empty() || !l.is_ascii()) {
        return Err(rule_err(id, "requires: literals must be non-empty ASCII"));
    }
    if requires
        .iter()
        .any(|l| l.contains(['`', '\t', '\n', '\r']) || l.contains("  "))
    {
        return Err(rule_err(id, "requires: literals must survive folding"));
    }
    AhoCorasick::new(requires.iter().map(|l| l.to_ascii_lowercase()))
        .map(Some)
        .map_err(|e| rule_err(id, e.to_string()))
}

impl Secrets {
    /// Loads `rules/secrets.json`.
    pub fn compile() -> Result<Secrets, RuleError> {
        let mut raw: Vec<RawSecretRule> = serde_json::from_str(SECRETS)
            .map_err(|e| rule_err("rules/secrets.json", e.to_string()))?;
        let more: Vec<RawSecretRule> = serde_json::from_str(MORE_SECRETS)
            .map_err(|e| rule_err("detect/data/secrets.json", e.to_string()))?;
        raw.extend(more);
        let mut rules = Vec::with_capacity(raw.len());
        let raw_requires: Vec<Vec<String>> = raw.iter().map(|r| r.requires.clone()).collect();
        for r in raw {
            let validator = match r.validator.as_deref() {
                None => Validator::None,
                Some("assignment") => Validator::Assignment,
                Some("luhn") => Validator::Luhn,
                Some("password") => Validator::Password,
                Some("literal") => Validator::Literal,
                Some("token") => Validator::Token,
                Some("basic_auth") => Validator::BasicAuth,
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
                trigger: trigger(&r.id, &r.requires)?,
                id: r.id,
            });
        }
        let compact = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| COMPACT_RULES.contains(&r.id.as_str()))
            .map(|(i, _)| i)
            .collect();
        let all: Vec<String> = raw_requires.concat();
        let any_trigger = trigger("secrets", &all)?;
        Ok(Secrets {
            rules,
            compact,
            any_trigger,
        })
    }

    /// Scans one variant. `original` marks the untouched text (the compact form is built only there);
    /// `folded` is [`super::fold`] of `text`, where rule triggers are looked up.
    pub fn scan<'a>(&'a self, text: &str, folded: &str, original: bool) -> Vec<Match<'a>> {
        let mut out = Vec::new();
        self.scan_rules(self.rules.iter(), text, Some(folded), false, &mut out);
        // Separator-split keys ("s k - l i v e", "sk..live..", "s*k*-"): a compact form of short
        // texts, provider formats only.
        if original && text.len() <= 4096 {
            let compact: String = text
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '\n'))
                .collect();
            if compact != text {
                let rules = self.compact.iter().filter_map(|&i| self.rules.get(i));
                self.scan_rules(rules, &compact, None, false, &mut out);
            }
            if let Some(joined) = reassemble(text) {
                let mut extra = Vec::new();
                self.scan_rules(self.rules.iter(), &joined, None, false, &mut extra);
                out.extend(
                    extra
                        .into_iter()
                        .filter(|m| m.rule_id.starts_with("secret.")),
                );
            }
        }
        out
    }

    /// Every match of every rule in `text` (not only the first per rule), spans as in [`scan`]
    /// (the value for rules with a validator): what response-text redaction replaces. No compact
    /// or reassembled forms, whose spans do not map back onto the text.
    ///
    /// [`scan`]: Secrets::scan
    pub fn find_all<'a>(&'a self, text: &str, folded: &str) -> Vec<Match<'a>> {
        let mut out = Vec::new();
        self.scan_rules(self.rules.iter(), text, Some(folded), true, &mut out);
        out
    }

    fn scan_rules<'a>(
        &'a self,
        rules: impl Iterator<Item = &'a Rule>,
        text: &str,
        folded: Option<&str>,
        all: bool,
        out: &mut Vec<Match<'a>>,
    ) {
        // Triggers hold only for ASCII texts; without a folded form every rule runs.
        let folded = folded.filter(|_| text.is_ascii());
        let none_triggered = folded
            .zip(self.any_trigger.as_ref())
            .is_some_and(|(f, t)| !t.is_match(f));
        for r in rules {
            if none_triggered && r.trigger.is_some() {
                continue;
            }
            if let (Some(f), Some(t)) = (folded, &r.trigger) {
                if !t.is_match(f) {
                    continue;
                }
            }
            match r.validator {
                Validator::None => {
                    for m in r.re.find_iter(text) {
                        out.push(mk(r, m.start(), m.len()));
                        if !all {
                            break;
                        }
                    }
                }
                Validator::Luhn => {
                    for m in r.re.find_iter(text).filter(|m| luhn(m.as_str())) {
                        out.push(mk(r, m.start(), m.len()));
                        if !all {
                            break;
                        }
                    }
                }
                Validator::Password
                | Validator::Literal
                | Validator::Token
                | Validator::BasicAuth => {
                    for c in r.re.captures_iter(text) {
                        let Some(v) = c.iter().skip(1).flatten().last() else {
                            continue;
                        };
                        let ok = match r.validator {
                            Validator::Password => literal_password(v.as_str()),
                            Validator::Literal => literal_value(v.as_str()),
                            Validator::Token => token_like(v.as_str()),
                            _ => basic_auth(v.as_str()),
                        };
                        if ok {
                            out.push(mk(r, v.start(), v.len()));
                            if !all {
                                break;
                            }
                        }
                    }
                }
                Validator::Assignment => {
                    for c in r.re.captures_iter(text) {
                        let (Some(k), Some(v)) = (c.get(1), c.get(2)) else {
                            continue;
                        };
                        // A key word inside a longer base64/hex run (a certificate line that
                        // happens to spell `auth` or `key`) is no assignment.
                        let before = k
                            .start()
                            .checked_sub(1)
                            .and_then(|i| text.as_bytes().get(i));
                        if before.is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'+') {
                            continue;
                        }
                        if plausible_secret(k.as_str(), v.as_str()) {
                            out.push(mk(r, v.start(), v.len()));
                            if !all {
                                break;
                            }
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

#[cfg(test)]
mod tests {
    use super::super::fold;
    use super::*;

    /// Texts each rule with a trigger matches (and near misses): the trigger must never skip a
    /// rule on a text the rule matches.
    const MATCHING: &[&str] = &[
        "DB_PASSWORD=Sup3rS3cretValue!",
        "api_key: 'a8f5f167f44f4964e6c998dee827110c'",
        "Authorization: Bearer abcdefghijklmnopqrstu123456",
        "auth_token = \"Zx81kLmQ2pRt7vWy\"",
        "mot de passe: Tr0ub4dor&3xyz",
        "senha = Abc123456789",
        "LOGIN=admin_user_2024",
        "credentials hunter2hunter2",
        "REACT_APP_API_TOKEN=abc123def",
        "# NEXT_PUBLIC_DB_PASSWORD = 'hunter2'",
        "VITE_SECRET=xyzzy42",
        "password = \"correct horse\"",
        "db.Passphrase is 'open sesame'",
        "MY_PASS=='letmein123'",
        "secret: \"s3cr3t-value\"",
        "PWD: hunter22\n",
        "  Password: Xk9!mQ2#pL\n",
        "Server=db.example.com;Database=app;User Id=sa;Password=Pa55w0rd!;",
        "Data Source=x;PWD=hunter2hunter2",
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "the weather is fine today",
    ];

    fn texts() -> Vec<String> {
        let mut out: Vec<String> = MATCHING.iter().map(|s| (*s).to_owned()).collect();
        for data in [
            include_str!("../../testdata/detect/cases.jsonl"),
            include_str!("data/cases.jsonl"),
        ] {
            for line in data.lines() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                    if let Some(t) = v.get("text").and_then(|t| t.as_str()) {
                        out.push(t.to_owned());
                    }
                }
            }
        }
        // Upper- and lower-cased forms too: the triggers are case-insensitive.
        let more: Vec<String> = out
            .iter()
            .flat_map(|t| [t.to_ascii_uppercase(), t.to_ascii_lowercase()])
            .collect();
        out.extend(more);
        out
    }

    #[test]
    fn triggers_never_skip_a_match() {
        let s = match Secrets::compile() {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let with_trigger: Vec<&Rule> = s.rules.iter().filter(|r| r.trigger.is_some()).collect();
        assert!(with_trigger.len() >= 5);
        let mut matched = 0;
        for t in texts().iter().filter(|t| t.is_ascii()) {
            for r in &with_trigger {
                if r.re.is_match(t) {
                    matched += 1;
                    assert!(
                        r.trigger.as_ref().is_some_and(|tr| tr.is_match(&fold(t))),
                        "{} matches {t:?} but its trigger does not",
                        r.id
                    );
                }
            }
        }
        assert!(matched >= 20, "only {matched} matches: examples too weak");
    }

    #[test]
    fn triggers_skip_texts_without_their_literals() {
        let s = match Secrets::compile() {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let prose = "The quarterly report summarises revenue by region and the migration plan.";
        for r in s.rules.iter().filter(|r| r.trigger.is_some()) {
            assert!(
                !r.trigger.as_ref().is_some_and(|t| t.is_match(&fold(prose))),
                "{}",
                r.id
            );
        }
    }
}
