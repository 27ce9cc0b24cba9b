//! SSRF targets: cloud metadata endpoints (169.254.169.254, fd00:ec2::254, metadata.google.internal,
//! 100.100.100.200, 192.0.0.192), loopback, link-local, private and other internal ranges — also
//! written as decimal, octal, hex or short IPv4, IPv4-mapped IPv6 — DNS-rebinding names (nip.io,
//! sslip.io, …), single-label hosts, and dangerous URL schemes (gopher, dict, file, ldap, tftp …).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::detect::{Family, Match, Severity};
use crate::tools::url::{self, Host, UrlError};

const REBINDING: &[&str] = &[
    "nip.io",
    "xip.io",
    "sslip.io",
    "localtest.me",
    "lvh.me",
    "vcap.me",
    "lacolhost.com",
    "1u.ms",
    "rbndr.us",
    "localdomain.pw",
    "burpcollaborator.net",
    "oastify.com",
    "interact.sh",
    "requestbin.net",
    "ngrok.io",
];
/// Findings a configured scope can waive: where a target is, not what it is.
const WAIVABLE: &[&str] = &["ssrf.internal_address", "ssrf.single_label_host"];
const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata",
    "metadata.azure.com",
    "instance-data",
    "instance-data.ec2.internal",
];
const SCHEMES: &[&str] = &[
    "gopher", "dict", "file", "ldap", "ldaps", "tftp", "jar", "netdoc", "sftp", "telnet", "smb",
    "expect", "php", "phar",
];

fn m(rule_id: &'static str, severity: Severity, offset: usize, len: usize) -> Match<'static> {
    Match {
        rule_id,
        family: Family::Ssrf,
        severity,
        offset,
        len,
    }
}

/// Classifies an address: `Some((rule, severity))` when it is not a public unicast address.
fn classify_v4(ip: Ipv4Addr) -> Option<(&'static str, Severity)> {
    let o = ip.octets();
    if matches!(
        o,
        [169, 254, 169, 254] | [100, 100, 100, 200] | [192, 0, 0, 192] | [169, 254, 170, 2]
    ) {
        return Some(("ssrf.metadata_endpoint", Severity::Critical));
    }
    if ip.is_loopback() || ip.is_unspecified() || o[0] == 0 {
        return Some(("ssrf.loopback", Severity::High));
    }
    if ip.is_link_local() {
        return Some(("ssrf.link_local", Severity::High));
    }
    if ip.is_private()
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
        || ip.is_broadcast()
    {
        return Some(("ssrf.internal_address", Severity::High));
    }
    None
}

fn classify_v6(ip: Ipv6Addr) -> Option<(&'static str, Severity)> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    if s == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] {
        return Some(("ssrf.metadata_endpoint", Severity::Critical));
    }
    if ip.is_loopback() || ip.is_unspecified() {
        return Some(("ssrf.loopback", Severity::High));
    }
    if (s[0] & 0xffc0) == 0xfe80 {
        return Some(("ssrf.link_local", Severity::High));
    }
    if (s[0] & 0xfe00) == 0xfc00 {
        return Some(("ssrf.internal_address", Severity::High));
    }
    None
}

/// Classifies a parsed host.
pub fn classify(host: &Host) -> Option<(&'static str, Severity)> {
    if let Some(ip) = host.ip() {
        return match ip {
            IpAddr::V4(a) => classify_v4(a),
            IpAddr::V6(a) => classify_v6(a),
        };
    }
    let h = host.domain()?;
    if h.is_empty() {
        return None;
    }
    if h == "localhost" || h.ends_with(".localhost") {
        return Some(("ssrf.loopback", Severity::High));
    }
    if METADATA_HOSTS.contains(&h.as_str()) {
        return Some(("ssrf.metadata_endpoint", Severity::Critical));
    }
    if REBINDING
        .iter()
        .any(|r| h == *r || h.strip_suffix(r).is_some_and(|p| p.ends_with('.')))
    {
        return Some(("ssrf.dns_rebinding", Severity::High));
    }
    None
}

/// Ends a URL embedded in other text (the whole value of a URL argument is read as one URL).
fn ends_embedded(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\'' | '<' | '>' | '`' | '&' | ')' | '|' | ';' | ','
        )
}

/// Start offsets of `scheme:` in `lower` that may begin a URL: a special scheme, a dangerous one,
/// or any scheme followed by `//`.
fn url_starts(lower: &str) -> Vec<(usize, usize)> {
    let b = lower.as_bytes();
    let mut out = Vec::new();
    for (colon, _) in lower.match_indices(':') {
        let start = lower[..colon]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let Some(first) = b.get(start) else { continue };
        if start == colon || !first.is_ascii_alphabetic() {
            continue;
        }
        let scheme = &lower[start..colon];
        let rest = &lower[colon + 1..];
        let slashed = rest.starts_with(['/', '\\']);
        let special = matches!(scheme, "http" | "https" | "ws" | "wss" | "ftp");
        // `http:` followed by a host-like character (`http:127.0.0.1/`), never `http:` at the end.
        let special_host = special
            && rest
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || matches!(c, '/' | '\\' | '[' | '%'));
        if special_host || (slashed && (rest.starts_with("//") || SCHEMES.contains(&scheme))) {
            out.push((start, colon));
        }
    }
    out
}

/// `whole`: the candidate is the entire value of a URL argument (malformed hosts count there).
fn check_url(
    candidate: &str,
    scheme: &str,
    url_ctx: bool,
    whole: bool,
) -> Option<(&'static str, Severity)> {
    if SCHEMES.contains(&scheme) {
        return Some(("ssrf.dangerous_scheme", Severity::High));
    }
    let hosts = match url::readings(candidate, false) {
        Ok(h) => h,
        Err(UrlError::InvalidHost | UrlError::InvalidPort | UrlError::TooLong)
            if whole && url::is_special(scheme) =>
        {
            return Some(("ssrf.malformed_host", Severity::Medium));
        }
        Err(_) => return None,
    };
    if let Some(hit) = hosts.iter().find_map(classify) {
        return Some(hit);
    }
    let parsed = url::parse(candidate).ok();
    // http://allowed.com@evil.internal style confusion.
    if parsed
        .as_ref()
        .and_then(|p| p.userinfo.as_deref())
        .is_some_and(|u| u.contains('.'))
    {
        return Some(("ssrf.userinfo_confusion", Severity::High));
    }
    let single_label = |h: &Host| match h {
        Host::Domain(d) => {
            let d = d.trim_matches('.');
            !d.is_empty() && !d.contains('.')
        }
        _ => false,
    };
    if url_ctx && matches!(scheme, "http" | "https") && hosts.iter().any(single_label) {
        return Some(("ssrf.single_label_host", Severity::Medium));
    }
    let odd = |h: &Host| match h {
        Host::Domain(d) => !d
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')),
        _ => false,
    };
    if whole && url::is_special(scheme) && hosts.iter().any(odd) {
        return Some(("ssrf.malformed_host", Severity::Medium));
    }
    if whole && hosts.len() > 1 && hosts.iter().any(|h| !matches!(h, Host::Opaque(_))) {
        // The URL Standard and RFC 3986 clients reach different hosts (`a.com\@b.com`).
        return Some(("ssrf.parser_confusion", Severity::Medium));
    }
    None
}

/// Finds the first suspicious URL target in `text`. With `url_ctx` the whole value is a URL and
/// single-label hosts (`http://intranet/`) count as internal. Hosts are read by
/// [`crate::tools::url`] (WHATWG, plus the RFC 3986 reading where it differs).
///
/// `authorised(candidate)` is asked before an internal-address or single-label finding: a target
/// inside the configured scope is not SSRF for the operators the state service authorises on it
/// (issue 17). Metadata endpoints, loopback, link-local, rebinding names, dangerous schemes and
/// parser confusion are never waived.
pub fn scan(
    text: &str,
    url_ctx: bool,
    authorised: &dyn Fn(&str) -> bool,
) -> Option<Match<'static>> {
    let lower = text.to_ascii_lowercase();
    let trimmed_start = text.len() - text.trim_start().len();
    for (start, colon) in url_starts(&lower) {
        let whole = url_ctx && start == trimmed_start;
        let end = if whole {
            text.trim_end().len()
        } else {
            lower[colon..]
                .find(ends_embedded)
                .map_or(lower.len(), |i| colon + i)
        };
        let Some(candidate) = text.get(start..end) else {
            continue;
        };
        // Inside other text, `scheme:` without slashes is a URL only when an address follows
        // (`curl http:169.254.169.254/`), not a port list (`-p http:80,https:443`) or a word.
        let after = &lower[colon + 1..end];
        if !whole && !after.starts_with(['/', '\\']) {
            let authority = after.split(['/', '?', '#', ':']).next().unwrap_or("");
            if !authority.contains(['.', '[']) || authority.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
        }
        let scheme = &lower[start..colon];
        if let Some((rule, sev)) = check_url(candidate, scheme, url_ctx, whole) {
            if WAIVABLE.contains(&rule) && authorised(candidate) {
                continue;
            }
            return Some(m(rule, sev, start, end - start));
        }
    }
    // A bare host or IP as the whole value of a URL argument (`10.0.0.5:8080/x`).
    if url_ctx && !lower.contains("://") {
        if let Ok(hosts) = url::readings(text, true) {
            if let Some((rule, sev)) = hosts.iter().find_map(classify) {
                let url = format!("http://{}", text.trim());
                if !(WAIVABLE.contains(&rule) && authorised(&url)) {
                    return Some(m(rule, sev, 0, text.len()));
                }
            }
        }
    }
    None
}
