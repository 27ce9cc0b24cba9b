//! Markdown image and link exfiltration: `![x](https://host/p?q=DATA)` renders without a click
//! and sends whatever sits in the URL to `host`. Flagged when the host is not allow-listed and
//! the URL carries data (a query with values, or a template placeholder to be filled in).

use std::sync::OnceLock;

use regex::Regex;

use super::{Family, Match, Severity};

fn markdown_url() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(!?)\[[^\]\n]{0,200}\]\(\s*<?(https?://[^\s)>]{1,2048})").ok())
        .as_ref()
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    host.split(':').next().unwrap_or("")
}

/// True when `host` is exactly an allowed host or under an allowed `*.suffix`.
pub fn host_allowed(host: &str, allow: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    allow.iter().any(|a| match a.strip_prefix("*.") {
        Some(suffix) => host == suffix || host.ends_with(&format!(".{suffix}")),
        None => host == *a,
    })
}

fn carries_data(url: &str) -> bool {
    let placeholder = ["[", "{", "$", "%s", "<"].iter().any(|p| url.contains(p));
    let query_value = url.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|kv| kv.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
    });
    let long_segment = url.split(['/', '=', '&']).any(|s| s.len() >= 48);
    placeholder || query_value || long_segment
}

/// Scans one variant (raw text).
pub fn scan(text: &str, allow: &[String]) -> Vec<Match<'static>> {
    let mut out = Vec::new();
    if !text.contains("](") {
        return out;
    }
    let Some(re) = markdown_url() else {
        return out;
    };
    for c in re.captures_iter(text) {
        let (Some(bang), Some(url)) = (c.get(1), c.get(2)) else {
            continue;
        };
        let image = !bang.as_str().is_empty();
        if host_allowed(host_of(url.as_str()), allow) || !carries_data(url.as_str()) {
            continue;
        }
        let placeholder = ["[", "{", "$", "%s"]
            .iter()
            .any(|p| url.as_str().contains(p));
        if image || placeholder {
            out.push(Match {
                rule_id: if image {
                    "exfil.markdown_image"
                } else {
                    "exfil.markdown_link"
                },
                family: Family::Exfiltration,
                severity: if image {
                    Severity::High
                } else {
                    Severity::Medium
                },
                offset: url.start(),
                len: url.len(),
            });
            break;
        }
    }
    out
}
