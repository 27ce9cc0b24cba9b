//! Tool policy and classification.
//!
//! - [`glob`]: `*` globs for tool names and domains; [`DenyList`] (also used for `tools.allow`)
//! - [`scope`]: the configured testlab scope (CIDRs, domain globs, URL and path prefixes)
//! - [`classify()`]: category, kill-chain phase and targets of a call, by tool name and arguments
//! - [`url`]: the one host extractor (WHATWG URL Standard) for scope, SSRF and exfiltration
//! - target extraction from arguments, and the canonical arguments digest sent to the state service

use llmfw_api::v1::TargetKind;
use serde_json::Value;
use sha2::{Digest, Sha256};

mod args;
pub mod classify;
pub mod cmdline;
pub mod dupkeys;
pub mod glob;
pub mod names;
pub mod policy;
pub mod schema;
pub mod scope;
pub mod shell;
mod shell_rules;
mod sql;
pub mod sql_lex;
pub mod url;

pub use classify::{classify, Classification, ClassifiedTarget};
pub use glob::Glob;

/// Compiled deny (or allow) list of tool-name globs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DenyList {
    patterns: Vec<Glob>,
}

impl DenyList {
    /// Compiles patterns; on error returns the index of the bad pattern and the problem.
    pub fn compile(patterns: &[String]) -> Result<DenyList, (usize, String)> {
        let mut out = Vec::with_capacity(patterns.len());
        for (i, p) in patterns.iter().enumerate() {
            out.push(Glob::compile(p).map_err(|e| (i, e))?);
        }
        Ok(DenyList { patterns: out })
    }

    /// The first pattern matching any of the name's [`names::forms`] (folded, confusable
    /// skeleton, the tool's own segment after a namespace): deny-list semantics.
    pub fn matches(&self, tool: &str) -> Option<&str> {
        let forms = names::forms(tool);
        self.patterns
            .iter()
            .find(|g| forms.iter().any(|f| g.matches(f)))
            .map(Glob::source)
    }

    /// The first pattern matching the name as written (ASCII case-insensitive): allow-list
    /// semantics, where a namespaced or look-alike name is another tool.
    pub fn matches_exact(&self, tool: &str) -> Option<&str> {
        let tool = tool.to_ascii_lowercase();
        self.patterns
            .iter()
            .find(|g| g.matches(&tool))
            .map(Glob::source)
    }

    /// True when nothing is denied.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// Argument keys whose values name a target.
pub const TARGET_KEYS: &[&str] = &[
    "target", "host", "hostname", "ip", "url", "domain", "address", "path", "file", "database",
];

/// Upper bound on targets extracted from one call.
pub const MAX_TARGETS: usize = 32;

/// A target named in tool arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedTarget {
    /// The value as written.
    pub value: String,
    /// Its kind, from the key and the value's shape.
    pub kind: TargetKind,
}

/// Extracts targets from the top-level keys of an arguments object (string values or arrays of
/// strings), in key order of [`TARGET_KEYS`], de-duplicated, at most [`MAX_TARGETS`].
pub fn extract_targets(args: &Value) -> Vec<ExtractedTarget> {
    let mut out: Vec<ExtractedTarget> = Vec::new();
    let Some(obj) = args.as_object() else {
        return out;
    };
    for key in TARGET_KEYS {
        let Some(v) = obj
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
        else {
            continue;
        };
        let values: Vec<&str> = match v {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for s in values {
            let s = s.trim();
            if s.is_empty() || out.iter().any(|t| t.value == s) {
                continue;
            }
            if out.len() >= MAX_TARGETS {
                return out;
            }
            out.push(ExtractedTarget {
                value: s.to_owned(),
                kind: classify_target(key, s),
            });
        }
    }
    out
}

/// Kind of a target value: by shape first (IP, URL, path), then by key (database), else host.
pub fn classify_target(key: &str, value: &str) -> TargetKind {
    if is_ip_or_cidr(value) {
        TargetKind::Ip
    } else if value.contains("://") {
        TargetKind::Url
    } else if key == "database" {
        TargetKind::Database
    } else if value.starts_with('/')
        || value.starts_with("./")
        || value.starts_with("../")
        || value.starts_with('~')
        || value.contains('\\')
        || matches!(key, "path" | "file")
    {
        TargetKind::Path
    } else {
        TargetKind::Host
    }
}

fn is_ip_or_cidr(s: &str) -> bool {
    let addr = s.split_once('/').map_or(s, |(a, _)| a);
    addr.parse::<std::net::IpAddr>().is_ok()
        || addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
}

/// Canonical JSON: object keys sorted recursively (by UTF-8 bytes), no whitespace, serde_json's
/// escaping and number formatting.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k.as_str()) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Hex SHA-256 of [`canonical_json`].
pub fn args_digest(args: &Value) -> String {
    sha256_hex(canonical_json(args).as_bytes())
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests;
