//! SSRF targets: cloud metadata endpoints (169.254.169.254, fd00:ec2::254, metadata.google.internal,
//! 100.100.100.200, 192.0.0.192), loopback, link-local, private and other internal ranges — also
//! written as decimal, octal, hex or short IPv4, IPv4-mapped IPv6 — DNS-rebinding names (nip.io,
//! sslip.io, …), single-label hosts, and dangerous URL schemes (gopher, dict, file, ldap, tftp …).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::detect::{Family, Match, Severity};

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

/// Parses one IPv4 component: decimal, `0`-octal, `0x`-hex or `0o`-octal.
fn component(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    if let Some(h) = lower.strip_prefix("0x") {
        return if h.is_empty() {
            Some(0)
        } else {
            u64::from_str_radix(h, 16).ok()
        };
    }
    if let Some(o) = lower.strip_prefix("0o") {
        return u64::from_str_radix(o, 8).ok();
    }
    if lower.len() > 1 && lower.starts_with('0') {
        return u64::from_str_radix(&lower, 8).ok();
    }
    lower.parse().ok()
}

/// IPv4 in any inet_aton form: `a.b.c.d`, `a.b.c`, `a.b`, `a` with decimal/octal/hex parts.
pub fn parse_ipv4(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty()
        || parts.len() > 4
        || !host
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b'x' || b == b'X' || b == b'o')
    {
        return None;
    }
    let nums: Vec<u64> = parts.iter().map(|p| component(p)).collect::<Option<_>>()?;
    let (last, head) = nums.split_last()?;
    if head.iter().any(|&n| n > 255) {
        return None;
    }
    let mut v: u64 = 0;
    for (i, &n) in head.iter().enumerate() {
        v |= n << (24 - 8 * i);
    }
    let room = 32 - 8 * head.len();
    if *last >= (1u64 << room) {
        return None;
    }
    v |= last;
    u32::try_from(v).ok().map(Ipv4Addr::from)
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

/// Classifies a host string (brackets allowed for IPv6).
pub fn classify_host(host: &str) -> Option<(&'static str, Severity)> {
    let h = host
        .trim_matches(|c| c == '[' || c == ']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if h.is_empty() {
        return None;
    }
    if let Ok(v6) = h.parse::<Ipv6Addr>() {
        return classify_v6(v6);
    }
    if let Some(v4) = parse_ipv4(&h) {
        return classify_v4(v4);
    }
    if h == "localhost" || h.ends_with(".localhost") {
        return Some(("ssrf.loopback", Severity::High));
    }
    if METADATA_HOSTS.contains(&h.as_str()) {
        return Some(("ssrf.metadata_endpoint", Severity::Critical));
    }
    if REBINDING
        .iter()
        .any(|r| h == *r || h.ends_with(&format!(".{r}")))
    {
        return Some(("ssrf.dns_rebinding", Severity::High));
    }
    None
}

/// Finds the first suspicious URL target in `text`. With `url_ctx` the whole value is a URL and
/// single-label hosts (`http://intranet/`) count as internal.
pub fn scan(text: &str, url_ctx: bool) -> Option<Match<'static>> {
    let lower = text.to_ascii_lowercase();
    let mut search = 0;
    while let Some(pos) = lower.get(search..).and_then(|s| s.find("://")) {
        let at = search + pos;
        search = at + 3;
        let scheme_start = lower
            .get(..at)
            .and_then(|s| {
                s.rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
            })
            .map_or(0, |i| i + 1);
        let scheme = lower.get(scheme_start..at).unwrap_or("");
        let rest = lower.get(at + 3..).unwrap_or("");
        let end = rest
            .find(|c: char| {
                matches!(
                    c,
                    '/' | '?' | '#' | ' ' | '"' | '\'' | '<' | '>' | '\\' | '\n'
                )
            })
            .unwrap_or(rest.len());
        let authority = rest.get(..end).unwrap_or("");
        let hostport = authority.rsplit('@').next().unwrap_or("");
        let host = if hostport.starts_with('[') {
            hostport.split_inclusive(']').next().unwrap_or("")
        } else {
            hostport.split(':').next().unwrap_or("")
        };
        let host =
            host.trim_end_matches(|c: char| !(c.is_ascii_alphanumeric() || c == ']' || c == '.'));
        let span = (scheme_start, at + 3 + end - scheme_start);
        if SCHEMES.contains(&scheme) {
            return Some(m("ssrf.dangerous_scheme", Severity::High, span.0, span.1));
        }
        if let Some((rule, sev)) = classify_host(host) {
            return Some(m(rule, sev, span.0, span.1));
        }
        if authority.contains('@')
            && authority
                .rsplit('@')
                .nth(1)
                .is_some_and(|u| u.contains('.'))
        {
            // http://allowed.com@evil.internal style confusion.
            return Some(m("ssrf.userinfo_confusion", Severity::High, span.0, span.1));
        }
        let bare = host.trim_matches('.');
        if url_ctx
            && matches!(scheme, "http" | "https")
            && !bare.is_empty()
            && !bare.contains('.')
            && !bare.contains(':')
        {
            return Some(m(
                "ssrf.single_label_host",
                Severity::Medium,
                span.0,
                span.1,
            ));
        }
        if url_ctx && host.contains(['!', '?', '*', '%']) {
            return Some(m("ssrf.malformed_host", Severity::Medium, span.0, span.1));
        }
    }
    // A bare host or IP as the whole value of a URL argument.
    if url_ctx && !lower.contains("://") {
        let host = lower.trim().split(['/', ':']).next().unwrap_or("");
        if let Some((rule, sev)) = classify_host(host) {
            return Some(m(rule, sev, 0, text.len()));
        }
    }
    None
}
