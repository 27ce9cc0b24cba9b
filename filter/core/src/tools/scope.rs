//! The configured scope (`tools.scope`): the testlab or otherwise authorised targets. A target inside
//! it is sent to the state service with `in_scope = true`; scope comes from config, never from the
//! traffic.
//!
//! Matching:
//! - IPs and CIDRs (v4 and v6; IPv4-mapped v6 counts as v4): inside one of `cidrs` (a CIDR target
//!   must lie entirely inside);
//! - hosts: one of the `domains` globs (`*.internal` matches `a.internal`, not `internal.evil.com`);
//! - URLs: one of the `url_prefixes` at a boundary (`/`, `?`, `#` or the end), or a host in scope;
//! - paths: one of the `path_prefixes` at a `/` boundary, after lexical `.`/`..` resolution.
//!
//! Anything that does not parse (obfuscated IPs, odd URLs) is out of scope: the safe side.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use llmfw_api::v1::TargetKind;

use super::glob::Glob;
use super::url::{self, Host};

/// An IP network (address + prefix length), v4 or v6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `v6/n` or a bare address (a host network).
    pub fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = parse_ip(a)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|n| *n <= max)?
            }
            Some(_) => return None,
        };
        Some(Cidr { addr, prefix })
    }

    /// True when `ip` lies in this network.
    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// True when `other` lies entirely in this network.
    pub fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains_ip(other.addr)
    }
}

/// Parses an IP literal: dotted-quad v4 (strictly four decimal parts), v6 (optionally in brackets);
/// IPv4-mapped v6 becomes v4.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    // Drop a v6 zone id (`fe80::1%eth0`).
    let s = s.split_once('%').map_or(s, |(a, _)| a);
    if let Ok(v4) = s.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    let v6 = s.parse::<Ipv6Addr>().ok()?;
    Some(match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    })
}

/// The compiled scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Networks in scope.
    pub cidrs: Vec<Cidr>,
    /// Domain globs in scope.
    pub domains: Vec<Glob>,
    /// URL prefixes in scope (lower-cased scheme and host).
    pub url_prefixes: Vec<String>,
    /// Path prefixes in scope (normalised, no trailing `/`).
    pub path_prefixes: Vec<String>,
}

impl Scope {
    /// True when nothing is configured (every target is out of scope).
    pub fn is_empty(&self) -> bool {
        self.cidrs.is_empty()
            && self.domains.is_empty()
            && self.url_prefixes.is_empty()
            && self.path_prefixes.is_empty()
    }

    /// True when the target is inside the scope.
    pub fn contains(&self, value: &str, kind: TargetKind) -> bool {
        if self.is_empty() {
            return false;
        }
        match kind {
            TargetKind::Ip | TargetKind::Host => self.contains_host(value),
            TargetKind::Url => self.contains_url(value),
            TargetKind::Path => self.contains_path(value),
            TargetKind::Database | TargetKind::Unspecified => false,
        }
    }

    /// A host name, IP or CIDR (with an optional `user@` and `:port`). The name is read by the
    /// URL Standard's host parser ([`url::parse_host`]: IDNA mapping, percent-decoding); an IP
    /// in scope must be written as a plain literal (`10.0.0.5`, not `0x0a000005` or `167772165`).
    pub fn contains_host(&self, host: &str) -> bool {
        let host = host.trim();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        if let Some(net) = Cidr::parse(host) {
            return self.cidrs.iter().any(|c| c.contains(&net));
        }
        let host = strip_port(host);
        if let Some(ip) = parse_ip(host.trim_end_matches('.')) {
            return self.cidrs.iter().any(|c| c.contains_ip(ip));
        }
        match url::parse_host(host) {
            Ok(h @ Host::Domain(_)) => self.contains_parsed(&h, host),
            _ => false,
        }
    }

    /// A parsed host, `written` being the text it came from: a domain by the globs, an IP by the
    /// CIDRs when `written` holds it as a plain literal.
    fn contains_parsed(&self, h: &Host, written: &str) -> bool {
        match h {
            Host::Domain(_) => {
                let Some(d) = h.domain() else { return false };
                !d.is_empty()
                    && d.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                    && self.domains.iter().any(|g| g.matches(&d))
            }
            Host::Ipv4(a) => {
                written.contains(&a.to_string())
                    && self.cidrs.iter().any(|c| c.contains_ip(IpAddr::V4(*a)))
            }
            Host::Ipv6(_) => h.ip().is_some_and(|ip| {
                (ip.is_ipv6() || written.contains(&ip.to_string()))
                    && self.cidrs.iter().any(|c| c.contains_ip(ip))
            }),
            // `ssh://10.0.0.9`: the host a client of that scheme resolves.
            Host::Opaque(o) => match url::parse_host(o) {
                Ok(Host::Opaque(_)) | Err(_) => false,
                Ok(inner) => self.contains_parsed(&inner, written),
            },
            Host::Empty => false,
        }
    }

    /// A URL: by prefix (same host, boundary after the prefix), else by its host. Every host a
    /// client may reach ([`url::readings`]: WHATWG and RFC 3986) must be in scope.
    pub fn contains_url(&self, url: &str) -> bool {
        let url = url.trim();
        let Ok(hosts) = url::readings(url, false) else {
            return false;
        };
        let lower = url.to_ascii_lowercase();
        for p in &self.url_prefixes {
            if let Some(rest) = lower.strip_prefix(p.as_str()) {
                let boundary =
                    p.ends_with('/') || rest.is_empty() || rest.starts_with(['/', '?', '#']);
                let same_host = url::host_of(p).is_ok_and(|ph| hosts.iter().all(|h| *h == ph));
                if boundary && same_host {
                    return true;
                }
            }
        }
        hosts.iter().all(|h| self.contains_parsed(h, url))
    }

    /// A file path by prefix, after lexical normalisation.
    pub fn contains_path(&self, path: &str) -> bool {
        let Some(norm) = normalize_path(path) else {
            return false;
        };
        self.path_prefixes.iter().any(|p| {
            norm.strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || p == "/")
        })
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(host, |(h, _)| h);
    }
    match host.rsplit_once(':') {
        // One colon: host:port. Several: a bare v6 address.
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Lexically normalised absolute path (`.`, `..`, duplicate `/` resolved; `\` read as `/`);
/// `None` for relative paths, which cannot be placed.
pub fn normalize_path(path: &str) -> Option<String> {
    let path = path.trim().replace('\\', "/");
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            cidrs: ["10.0.0.0/8", "fd00::/8", "192.168.1.7"]
                .iter()
                .filter_map(|c| Cidr::parse(c))
                .collect(),
            domains: ["*.internal", "*.testlab.local", "lab.example.com"]
                .iter()
                .filter_map(|d| Glob::compile(d).ok())
                .collect(),
            url_prefixes: vec!["https://api.partner.com/v1".to_owned()],
            path_prefixes: vec!["/srv/lab".to_owned()],
        }
    }

    #[test]
    fn ips_and_cidrs() {
        let s = scope();
        assert!(s.contains("10.0.0.5", TargetKind::Ip));
        assert!(s.contains("10.1.2.0/24", TargetKind::Ip));
        assert!(!s.contains("10.0.0.0/7", TargetKind::Ip));
        assert!(!s.contains("11.0.0.1", TargetKind::Ip));
        assert!(s.contains("::ffff:10.0.0.1", TargetKind::Ip));
        assert!(s.contains("[fd12::1]:8080", TargetKind::Host));
        assert!(s.contains("10.0.0.5:22", TargetKind::Host));
        assert!(s.contains("root@10.0.0.5", TargetKind::Host));
        assert!(s.contains("192.168.1.7", TargetKind::Ip));
        assert!(!s.contains("192.168.1.8", TargetKind::Ip));
        // Obfuscated forms are out of scope.
        assert!(!s.contains("167772165", TargetKind::Host));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.0/").is_none());
        assert!(Cidr::parse("0.0.0.0/0")
            .is_some_and(|c| c.contains_ip(IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)))));
    }

    #[test]
    fn domains() {
        let s = scope();
        assert!(s.contains("a.internal", TargetKind::Host));
        assert!(s.contains("DB.A.Internal.", TargetKind::Host));
        assert!(s.contains("web.testlab.local:8443", TargetKind::Host));
        assert!(!s.contains("internal", TargetKind::Host));
        assert!(!s.contains("internal.evil.com", TargetKind::Host));
        assert!(!s.contains("a.internal.evil.com", TargetKind::Host));
        assert!(!s.contains("evilinternal", TargetKind::Host));
        assert!(s.contains("lab.example.com", TargetKind::Host));
        assert!(!s.contains("x.lab.example.com", TargetKind::Host));
    }

    #[test]
    fn urls_and_paths() {
        let s = scope();
        assert!(s.contains("http://10.0.0.5/admin", TargetKind::Url));
        assert!(s.contains("https://user:pw@app.internal:8443/x?y", TargetKind::Url));
        assert!(!s.contains("https://app.internal.evil.com/", TargetKind::Url));
        assert!(!s.contains("https://evil.com/?u=app.internal", TargetKind::Url));
        assert!(!s.contains("https://evil.com\\@app.internal/", TargetKind::Url));
        assert!(!s.contains("https://app.internal\\@evil.com/", TargetKind::Url));
        assert!(s.contains("http:10.0.0.5/", TargetKind::Url));
        assert!(s.contains("http://APP.internal./", TargetKind::Url));
        // Obfuscated or smuggled addresses are out of scope (the safe side).
        assert!(!s.contains("http://0x0a000005/", TargetKind::Url));
        assert!(!s.contains("http://10.0.0.\t5/", TargetKind::Url));
        assert!(!s.contains("http://[::ffff:a00:5]/", TargetKind::Url));
        assert!(s.contains("http://[fd00::5]/", TargetKind::Url));
        assert!(!s.contains("http://10.0.0.5.evil.com/", TargetKind::Url));
        assert!(!s.contains("https://api.partner.com/v1@evil.com", TargetKind::Host));
        assert!(!s.contains("https://api.partner.com\\@evil.com/v1", TargetKind::Url));
        assert!(s.contains("https://API.partner.com/v1/items", TargetKind::Url));
        assert!(!s.contains("https://api.partner.com/v10", TargetKind::Url));
        assert!(!s.contains("https://api.partner.com.evil.io/v1", TargetKind::Url));
        assert!(s.contains("/srv/lab/data.txt", TargetKind::Path));
        assert!(s.contains("/srv/lab", TargetKind::Path));
        assert!(!s.contains("/srv/laboratory", TargetKind::Path));
        assert!(!s.contains("/srv/lab/../../etc/passwd", TargetKind::Path));
        assert!(!s.contains("lab/x", TargetKind::Path));
        assert!(!s.contains("customers", TargetKind::Database));
        assert!(!Scope::default().contains("10.0.0.1", TargetKind::Ip));
    }
}
