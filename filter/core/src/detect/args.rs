//! Argument threats: shell command injection, SQL injection, path traversal, SSRF and template
//! injection in tool-call arguments. Context comes from the tool name and the argument key: a
//! `bash` tool's `command` may contain pipes (only destructive/reverse-shell forms count there), a
//! `sql` tool's `query` may contain `UNION SELECT` (only injection forms count there).
//! Values are checked raw and canonicalised (percent/overlong-UTF-8/HTML/escape decoding).

use regex_automata::meta::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::rules::{rule_err, RuleError};
use super::{Family, Severity};
use crate::sanitize::decode;

mod ssrf;

const ARGUMENTS: &str = include_str!("../../rules/arguments.json");
/// Probes that are a whole value (bare commands, metacharacter-only fuzz, SQL clause fragments).
const MORE_ARGUMENTS: &str = include_str!("data/arguments.json");
/// Values longer than this (in characters) are read up to here and the call is escalated.
const MAX_VALUE: usize = 64 * 1024;
const MAX_LEAVES: usize = 512;
const MAX_NESTING: usize = 32;

/// Argument context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    /// A command line for a shell tool.
    Shell,
    /// An SQL statement for a database tool.
    Sql,
    /// A URL for a fetch/HTTP tool.
    Url,
    /// A file path.
    Path,
    /// Anything else.
    Generic,
}

impl Ctx {
    fn name(self) -> &'static str {
        match self {
            Ctx::Shell => "shell",
            Ctx::Sql => "sql",
            Ctx::Url => "url",
            Ctx::Path => "path",
            Ctx::Generic => "generic",
        }
    }
}

fn has_any(s: &str, words: &[&str]) -> bool {
    words.iter().any(|w| s.contains(w))
}

/// Context of a value from the tool name and key.
pub fn context(tool: &str, key: &str, value: &str) -> Ctx {
    let t = tool.to_ascii_lowercase();
    let k = key.to_ascii_lowercase();
    if has_any(&k, &["command", "cmd", "script", "shell"])
        || has_any(
            &t,
            &[
                "bash",
                "shell",
                "exec",
                "terminal",
                "powershell",
                "run_command",
                "cmd",
            ],
        )
    {
        Ctx::Shell
    } else if has_any(&k, &["sql", "query", "statement"])
        && has_any(
            &t,
            &[
                "sql", "query", "db", "database", "postgres", "mysql", "sqlite",
            ],
        )
        || k == "sql"
    {
        Ctx::Sql
    } else if has_any(&k, &["url", "uri", "endpoint", "href", "link"])
        || value.trim_start().to_ascii_lowercase().starts_with("http")
    {
        Ctx::Url
    } else if has_any(&k, &["path", "file", "dir", "folder"]) {
        Ctx::Path
    } else {
        Ctx::Generic
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArgRule {
    id: String,
    family: String,
    severity: String,
    contexts: Vec<String>,
    pattern: String,
}

#[derive(Debug, Clone)]
struct ArgRule {
    id: String,
    family: Family,
    severity: Severity,
    contexts: Vec<String>,
    re: Regex,
}

/// Forward NFAs above this size are searched without the lazy DFA (see [`compile`]).
const LARGE_NFA_BYTES: usize = 1 << 20;

/// Compiles a rule the way `regex::Regex::new` does, except that a rule whose NFA is large
/// (`sql.union_select`: a Unicode class repeated `{1,200}`) is built without the lazy DFA. The
/// lazy DFA needs a reverse NFA, which for that rule costs 7.8 MB live and 42 MB at the peak of
/// its construction (natively), and wasm linear memory never shrinks below such a peak. It is
/// searched by the PikeVM, not the bounded backtracker: the backtracker clears a visited set of
/// NFA states × haystack bytes on every search, for this NFA hundreds of KiB per argument (39 %
/// of a tool-call response's instructions). The matches are the same (every engine of the meta
/// regex reports the same leftmost-first match; only the speed differs).
fn compile(pattern: &str) -> Result<Regex, String> {
    let forward_only = Regex::builder()
        .configure(Regex::config().hybrid(false).dfa(false).backtrack(false))
        .build(pattern)
        .map_err(|e| e.to_string())?;
    if forward_only.memory_usage() > LARGE_NFA_BYTES {
        return Ok(forward_only);
    }
    drop(forward_only);
    Regex::new(pattern).map_err(|e| e.to_string())
}

/// Compiled argument rules.
#[derive(Debug, Clone)]
pub struct ArgRules {
    rules: Vec<ArgRule>,
}

/// A match with the variant it was found in.
#[derive(Debug, Clone, Copy)]
pub struct ArgMatch<'a> {
    pub rule_id: &'a str,
    pub family: Family,
    pub severity: Severity,
    pub variant: &'static str,
    pub offset: usize,
    pub len: usize,
}

/// Collects `(json_pointer, string)` for every string in `v`, at most [`MAX_LEAVES`] values of at
/// most [`MAX_VALUE`] characters, [`MAX_NESTING`] levels deep. Returns the bound that stopped it
/// before the end (the caller escalates the call), if one did.
pub fn string_leaves(
    v: &Value,
    path: String,
    out: &mut Vec<(String, String)>,
    depth: usize,
) -> Option<&'static str> {
    use crate::tools::classify::bound;
    if depth > MAX_NESTING {
        return Some(bound::NESTING);
    }
    let mut stopped = None;
    match v {
        Value::String(s) => {
            if out.len() >= MAX_LEAVES {
                return Some(bound::LEAVES);
            }
            let value: String = s.chars().take(MAX_VALUE).collect();
            if value.len() < s.len() {
                stopped = Some(bound::VALUE_BYTES);
            }
            out.push((path, value));
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                stopped = stopped.or(string_leaves(x, format!("{path}/{i}"), out, depth + 1));
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                stopped = stopped.or(string_leaves(x, p, out, depth + 1));
            }
        }
        _ => {}
    }
    stopped
}

/// Overlong UTF-8 and %u forms of `.`, `/` and `\` seen in traversal payloads.
const OVERLONG: &[(&str, &str)] = &[
    ("%c0%ae", "."),
    ("%e0%80%ae", "."),
    ("%f0%80%80%ae", "."),
    ("%f8%80%80%80%ae", "."),
    ("%c0%2e", "."),
    ("%c0%5e", "."),
    ("%c0%fe", "."),
    ("%c0%6e", "."),
    ("%uff0e", "."),
    ("%u002e", "."),
    ("%e0%40%ae", "."),
    ("%c0%af", "/"),
    ("%e0%80%af", "/"),
    ("%f0%80%80%af", "/"),
    ("%f8%80%80%80%af", "/"),
    ("%c0%2f", "/"),
    ("%u2215", "/"),
    ("%u002f", "/"),
    ("%c1%9c", "\\"),
    ("%c0%5c", "\\"),
    ("%c1%1c", "\\"),
    ("%c1%af", "/"),
    ("%u2216", "\\"),
    ("%u005c", "\\"),
    ("%bg%qf", "/"),
    ("0x2f", "/"),
    ("0x5c", "\\"),
    ("0x2e", "."),
];

/// Raw value plus canonical decodings (deduplicated).
fn variants(value: &str) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = vec![("original", value.to_owned())];
    let mut cur = value.to_ascii_lowercase();
    if cur.contains('%') || cur.contains("0x") {
        for _ in 0..3 {
            let before = cur.clone();
            cur = cur.replace("%25", "%").replace("%%", "%");
            if cur == before {
                break;
            }
        }
        for (from, to) in OVERLONG {
            cur = cur.replace(from, to);
        }
        // %%32%%65 style double encodings collapse above; decode the rest.
        for _ in 0..3 {
            match decode::percent(&cur) {
                Some(d) if d != cur => cur = d,
                _ => break,
            }
        }
        out.push(("decoded:percent", cur));
    }
    if let Some(h) = decode::html(value) {
        out.push(("decoded:html", h));
    }
    if let Some(e) = decode::escapes(value) {
        out.push(("decoded:escape", e));
    }
    out.dedup_by(|a, b| a.1 == b.1);
    out
}

impl ArgRules {
    /// Loads `rules/arguments.json` and `detect/data/arguments.json`.
    pub fn compile() -> Result<ArgRules, RuleError> {
        let mut raw: Vec<RawArgRule> = serde_json::from_str(ARGUMENTS)
            .map_err(|e| rule_err("rules/arguments.json", e.to_string()))?;
        let more: Vec<RawArgRule> = serde_json::from_str(MORE_ARGUMENTS)
            .map_err(|e| rule_err("detect/data/arguments.json", e.to_string()))?;
        raw.extend(more);
        let mut rules = Vec::with_capacity(raw.len());
        for r in raw {
            rules.push(ArgRule {
                family: Family::from_name(&r.family)
                    .ok_or_else(|| rule_err(&r.id, "unknown family"))?,
                severity: Severity::from_name(&r.severity)
                    .ok_or_else(|| rule_err(&r.id, "unknown severity"))?,
                contexts: r.contexts,
                re: compile(&r.pattern).map_err(|e| rule_err(&r.id, e))?,
                id: r.id,
            });
        }
        Ok(ArgRules { rules })
    }

    /// Scans one string argument.
    /// `authorised(url)`: the URL or host is inside the configured scope, so an internal-address
    /// or single-label finding for it is not SSRF (metadata, loopback and link-local stay).
    pub fn scan<'a>(
        &'a self,
        tool: &str,
        key: &str,
        value: &str,
        authorised: &dyn Fn(&str) -> bool,
    ) -> Vec<ArgMatch<'a>> {
        let mut out: Vec<ArgMatch<'a>> = Vec::new();
        let ctx = context(tool, key, value);
        let vars = variants(value);
        for r in &self.rules {
            if !r.contexts.iter().any(|c| c == ctx.name()) {
                continue;
            }
            for (label, text) in &vars {
                if let Some(m) = r.re.find(text) {
                    out.push(ArgMatch {
                        rule_id: &r.id,
                        family: r.family,
                        severity: r.severity,
                        variant: label,
                        offset: m.start(),
                        len: m.len(),
                    });
                    break;
                }
            }
        }
        for (label, text) in &vars {
            if let Some(m) = ssrf::scan(text, ctx == Ctx::Url, authorised) {
                out.push(ArgMatch {
                    rule_id: m.rule_id,
                    family: m.family,
                    severity: m.severity,
                    variant: label,
                    offset: m.offset,
                    len: m.len,
                });
                break;
            }
        }
        out
    }
}
