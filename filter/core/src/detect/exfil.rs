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

/// True when every host a client may reach for `url` (WHATWG and RFC 3986 readings, see
/// [`crate::tools::url`]) is allowed; a URL whose host does not parse is not.
fn url_allowed(url: &str, allow: &[String]) -> bool {
    crate::tools::url::readings(url, false).is_ok_and(|hosts| {
        hosts.iter().all(|h| {
            let name = h.domain().unwrap_or_else(|| h.to_string());
            host_allowed(&name, allow)
        })
    })
}

/// The host a browser would contact for an absolute `http(s)` or protocol-relative (`//host`)
/// URL, lower-cased, for the allowlist check of response text ([`super::reply`]). The one place
/// response-text redaction reads a host: swap in the shared WHATWG extractor here.
///
/// Read as WHATWG does for special schemes: any run of `/` and `\` after `http:`/`https:` (or at
/// the start) introduces the authority, which ends at `/`, `\`, `?` or `#`; userinfo up to the
/// last `@` is dropped, then the port. The ideographic full stops `。．｡` count as dots (IDNA maps
/// them), and a trailing dot is dropped. Anything still unusual (`%`, non-ASCII, spaces) stays in
/// the result, so it never equals an allow-listed name: the check fails closed.
pub fn url_host(url: &str) -> Option<String> {
    let lower = url
        .get(..6)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let rest = if lower.starts_with("https:") {
        url.get(6..)?
    } else if lower.starts_with("http:") {
        url.get(5..)?
    } else {
        url
    };
    let rest = rest.trim_start_matches(['/', '\\']);
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']').map_or(v6, |(h, _)| h)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        }
    };
    let host: String = host
        .chars()
        .map(|c| match c {
            '\u{3002}' | '\u{FF0E}' | '\u{FF61}' => '.',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_owned())
}

/// True when `host` is exactly an allowed host or under an allowed `*.suffix`.
pub fn host_allowed(host: &str, allow: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    allow.iter().any(|a| match a.strip_prefix("*.") {
        Some(suffix) => host == suffix || host.ends_with(&format!(".{suffix}")),
        None => host == *a,
    })
}

/// True when a URL carries data: a query with values, a template placeholder to be filled in, or
/// a path segment of 48 bytes or more.
pub(crate) fn carries_data(url: &str) -> bool {
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
        if url_allowed(url.as_str(), allow) || !carries_data(url.as_str()) {
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
