//! The one host extractor for scope, SSRF and exfiltration checks: the WHATWG URL Standard's basic
//! URL parser (no base URL), as far as the host — what Node's `fetch`, Chromium and Deno resolve.
//!
//! - Leading and trailing C0 controls and spaces are trimmed, then every tab, CR and LF is removed
//!   (`http://127.0.0.\t1/` is `127.0.0.1`).
//! - Special schemes (`http`, `https`, `ws`, `wss`, `ftp`) skip any run of `/` and `\` after the
//!   colon (`http:127.0.0.1/`, `http:\\127.0.0.1\`), end the authority at `/`, `\`, `?` or `#`,
//!   take the host after the last `@` (userinfo is dropped) and percent-decode it, map it through
//!   IDNA (see [`idna`]: full-width digits and dots, ideographic full stop, case, ignorables) and
//!   read a host that ends in a number as IPv4 in the `inet_aton` forms (decimal, octal, hex,
//!   1–4 parts: `0x7f.1`, `2130706433`, `017700000001`).
//! - `file:` has a host only after `//` (`localhost` is the empty host); other schemes have an
//!   opaque host only after `//` (not percent-decoded, never read as IPv4 by the standard).
//! - `[…]` is IPv6 (embedded dotted IPv4 allowed), with the standard's own IPv6 parser.
//!
//! [`host_of`] is the WHATWG reading. [`readings`] adds what an RFC 3986 client (curl, Python's
//! `urllib`) reads where the two disagree (`http://a.com\@127.0.0.1/`: WHATWG `a.com`, RFC 3986
//! `127.0.0.1`; an opaque `gopher://127.1/` that curl resolves as 127.0.0.1), so a check can be
//! conservative over both. The `url` crate is the test oracle (dev-dependency, property-tested in
//! `url_tests.rs`); it is not in the filter.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub mod idna;

/// Longest input read (longer URLs are an error, never judged on a prefix).
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// A parsed host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// An ASCII domain (lower case, IDNA-mapped, non-ASCII labels as `xn--` punycode).
    Domain(String),
    /// IPv4.
    Ipv4(Ipv4Addr),
    /// IPv6 (IPv4-mapped addresses stay v6 here; [`Host::ip`] maps them).
    Ipv6(Ipv6Addr),
    /// The opaque host of a non-special scheme (`foo://HoSt/`), as written, C0-percent-encoded.
    Opaque(String),
    /// The empty host (`file:///x`, `foo:///x`).
    Empty,
}

impl Host {
    /// The IP address, IPv4-mapped IPv6 as IPv4.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(a) => Some(match a.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(*a),
            }),
            _ => None,
        }
    }

    /// The domain (also an opaque host, lower-cased), without a trailing dot.
    pub fn domain(&self) -> Option<String> {
        match self {
            Host::Domain(d) => Some(d.trim_end_matches('.').to_owned()),
            Host::Opaque(o) => Some(o.trim_end_matches('.').to_ascii_lowercase()),
            _ => None,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) | Host::Opaque(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
            Host::Empty => Ok(()),
        }
    }
}

/// Why a URL or host did not parse. A caller must treat every error as "not known to be safe".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// No `scheme:` (a relative reference: there is no base URL).
    NoScheme,
    /// The URL has no host (`mailto:x`, `foo:bar`, `file:/x`).
    NoHost,
    /// The host is missing, has a forbidden code point, or is a bad IP literal.
    InvalidHost,
    /// The port is not a number up to 65535.
    InvalidPort,
    /// Longer than [`MAX_URL_BYTES`].
    TooLong,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::NoScheme => "no scheme",
            UrlError::NoHost => "no host",
            UrlError::InvalidHost => "invalid host",
            UrlError::InvalidPort => "invalid port",
            UrlError::TooLong => "too long",
        })
    }
}

/// What the parser keeps of a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Lower-case scheme.
    pub scheme: String,
    /// The host; `None` when the URL has no authority.
    pub host: Option<Host>,
    /// The port, if one was written and it is not the scheme's default.
    pub port: Option<u16>,
    /// The userinfo (`user:pass` before the last `@`), if present.
    pub userinfo: Option<String>,
}

/// True for the WHATWG special schemes.
pub fn is_special(scheme: &str) -> bool {
    matches!(scheme, "http" | "https" | "ws" | "wss" | "ftp" | "file")
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "ftp" => Some(21),
        _ => None,
    }
}

/// The host of a URL as the WHATWG URL Standard reads it.
pub fn host_of(input: &str) -> Result<Host, UrlError> {
    parse(input)?.host.ok_or(UrlError::NoHost)
}

/// The input as the standard sees it: outer C0 controls and spaces trimmed, tab/CR/LF removed.
fn preprocess(input: &str) -> Vec<char> {
    input
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

/// Parses a URL (WHATWG basic URL parser, no base) as far as scheme, host and port.
pub fn parse(input: &str) -> Result<Parsed, UrlError> {
    if input.len() > MAX_URL_BYTES {
        return Err(UrlError::TooLong);
    }
    let c = preprocess(input);
    // Scheme.
    let first = c.first().ok_or(UrlError::NoScheme)?;
    if !first.is_ascii_alphabetic() {
        return Err(UrlError::NoScheme);
    }
    let colon = c
        .iter()
        .position(|ch| !(ch.is_ascii_alphanumeric() || matches!(ch, '+' | '-' | '.')))
        .filter(|&i| c.get(i) == Some(&':'))
        .ok_or(UrlError::NoScheme)?;
    let scheme: String = c[..colon].iter().collect::<String>().to_ascii_lowercase();
    let rest = &c[colon + 1..];
    let slash = |ch: Option<&char>| matches!(ch, Some('/' | '\\'));
    if scheme == "file" {
        if !(slash(rest.first()) && slash(rest.get(1))) {
            return Ok(Parsed {
                scheme,
                host: None,
                port: None,
                userinfo: None,
            });
        }
        let body = &rest[2..];
        let end = body
            .iter()
            .position(|ch| matches!(ch, '/' | '\\' | '?' | '#'))
            .unwrap_or(body.len());
        let buf: String = body[..end].iter().collect();
        let drive = buf.len() == 2
            && buf.starts_with(|ch: char| ch.is_ascii_alphabetic())
            && (buf.ends_with(':') || buf.ends_with('|'));
        let host = if drive {
            None
        } else if buf.is_empty() {
            Some(Host::Empty)
        } else {
            match parse_host_special(&buf)? {
                Host::Domain(d) if d == "localhost" => Some(Host::Empty),
                h => Some(h),
            }
        };
        return Ok(Parsed {
            scheme,
            host,
            port: None,
            userinfo: None,
        });
    }
    let special = is_special(&scheme);
    let authority: &[char] = if special {
        let skip = rest
            .iter()
            .position(|ch| !matches!(ch, '/' | '\\'))
            .unwrap_or(rest.len());
        &rest[skip..]
    } else if rest.first() == Some(&'/') && rest.get(1) == Some(&'/') {
        &rest[2..]
    } else {
        return Ok(Parsed {
            scheme,
            host: None,
            port: None,
            userinfo: None,
        });
    };
    let end = authority
        .iter()
        .position(|ch| matches!(ch, '/' | '?' | '#') || (special && *ch == '\\'))
        .unwrap_or(authority.len());
    let at_end = end == authority.len();
    let authority = &authority[..end];
    let at = authority.iter().rposition(|ch| *ch == '@');
    let hostport = match at {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    // `http://user@/` has no host; the `url` crate lets a non-special `foo://@` (at the end of
    // the input only) be empty.
    if at.is_some() && hostport.is_empty() && (special || !at_end || at != Some(0)) {
        return Err(UrlError::InvalidHost);
    }
    // Host ends at a `:` outside brackets.
    let mut inside = false;
    let mut split = hostport.len();
    for (i, ch) in hostport.iter().enumerate() {
        match ch {
            '[' => inside = true,
            ']' => inside = false,
            ':' if !inside => {
                split = i;
                break;
            }
            _ => {}
        }
    }
    let host_buf: String = hostport[..split].iter().collect();
    let port_buf = hostport.get(split + 1..).unwrap_or(&[]);
    // The `url` crate (and with it every Rust client) ends a non-special port at `\` too.
    let port_buf = port_buf
        .iter()
        .position(|ch| *ch == '\\')
        .map_or(port_buf, |i| &port_buf[..i]);
    if split < hostport.len() && host_buf.is_empty() {
        return Err(UrlError::InvalidHost);
    }
    let host = if special {
        if host_buf.is_empty() {
            return Err(UrlError::InvalidHost);
        }
        parse_host_special(&host_buf)?
    } else {
        parse_host_opaque(&host_buf)?
    };
    let port = if port_buf.is_empty() {
        None
    } else {
        if !port_buf.iter().all(char::is_ascii_digit) {
            return Err(UrlError::InvalidPort);
        }
        let digits = port_buf.iter().skip_while(|d| **d == '0').count();
        let n: u32 = if digits > 5 {
            u32::MAX
        } else {
            port_buf
                .iter()
                .fold(0u32, |n, d| n * 10 + d.to_digit(10).unwrap_or(0))
        };
        let p = u16::try_from(n).map_err(|_| UrlError::InvalidPort)?;
        Some(p).filter(|p| Some(*p) != default_port(&scheme))
    };
    Ok(Parsed {
        scheme,
        host: Some(host),
        port,
        userinfo: at.map(|i| authority[..i].iter().collect()),
    })
}

const FORBIDDEN_HOST: &[char] = &[
    '\0', '\t', '\n', '\r', ' ', '#', '/', ':', '<', '>', '?', '@', '[', '\\', ']', '^', '|',
];

fn forbidden_domain(c: char) -> bool {
    FORBIDDEN_HOST.contains(&c) || c <= '\u{1f}' || c == '%' || c == '\u{7f}'
}

/// The host parser for a special scheme: `[v6]`, else percent-decoded, IDNA-mapped, and IPv4 when
/// it ends in a number. Also the reading of a bare host value (`host`, `target` arguments).
pub fn parse_host(input: &str) -> Result<Host, UrlError> {
    if input.len() > MAX_URL_BYTES {
        return Err(UrlError::TooLong);
    }
    parse_host_special(input)
}

fn parse_host_special(input: &str) -> Result<Host, UrlError> {
    if let Some(inner) = input.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(UrlError::InvalidHost)?;
        return parse_ipv6(inner)
            .map(Host::Ipv6)
            .ok_or(UrlError::InvalidHost);
    }
    let decoded = String::from_utf8_lossy(&percent_decode(input)).into_owned();
    let ascii = idna::domain_to_ascii(&decoded).ok_or(UrlError::InvalidHost)?;
    if ascii.is_empty() || ascii.chars().any(forbidden_domain) {
        return Err(UrlError::InvalidHost);
    }
    if ends_in_number(&ascii) {
        return parse_ipv4(&ascii)
            .map(Host::Ipv4)
            .ok_or(UrlError::InvalidHost);
    }
    Ok(Host::Domain(ascii))
}

fn parse_host_opaque(input: &str) -> Result<Host, UrlError> {
    if input.is_empty() {
        return Ok(Host::Empty);
    }
    if let Some(inner) = input.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(UrlError::InvalidHost)?;
        return parse_ipv6(inner)
            .map(Host::Ipv6)
            .ok_or(UrlError::InvalidHost);
    }
    if input.chars().any(|c| FORBIDDEN_HOST.contains(&c)) {
        return Err(UrlError::InvalidHost);
    }
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        if c <= '\u{1f}' || c > '\u{7e}' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    Ok(Host::Opaque(out))
}

/// `%XX` decoded to bytes (a `%` not followed by two hex digits stays).
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = |j: usize| b.get(j).and_then(|x| (*x as char).to_digit(16));
            if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The standard's "ends in a number": the last label (a trailing empty one dropped) is all
/// digits or parses as an IPv4 number (`0x…`).
fn ends_in_number(s: &str) -> bool {
    let mut parts: Vec<&str> = s.split('.').collect();
    if parts.last() == Some(&"") {
        if parts.len() == 1 {
            return false;
        }
        parts.pop();
    }
    let Some(last) = parts.last() else {
        return false;
    };
    (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())) || ipv4_number(last).is_some()
}

/// One IPv4 part: `0x` hex (empty = 0), leading-`0` octal, else decimal; `u64::MAX` stands for
/// any value too large to matter (every such value fails the range checks).
fn ipv4_number(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() {
        return Some(0);
    }
    let mut n: u64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        n = n
            .checked_mul(u64::from(radix))
            .and_then(|n| n.checked_add(u64::from(d)))
            .unwrap_or(u64::MAX);
    }
    Some(n)
}

/// The standard's IPv4 parser (1–4 parts, the last filling the remaining bytes).
pub fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut parts: Vec<&str> = s.split('.').collect();
    if parts.last() == Some(&"") && parts.len() > 1 {
        parts.pop();
    }
    if parts.len() > 4 || parts.is_empty() {
        return None;
    }
    let nums: Vec<u64> = parts
        .iter()
        .map(|p| ipv4_number(p))
        .collect::<Option<_>>()?;
    let (last, head) = nums.split_last()?;
    if head.iter().any(|n| *n > 255) {
        return None;
    }
    let room = 8 * (5 - nums.len() as u32);
    if *last >= (1u64 << room) {
        return None;
    }
    let mut v = *last;
    for (i, n) in head.iter().enumerate() {
        v += n << (8 * (3 - i as u32));
    }
    u32::try_from(v).ok().map(Ipv4Addr::from)
}

/// The standard's IPv6 parser (`::` compression, embedded dotted IPv4 in the last 32 bits).
pub fn parse_ipv6(s: &str) -> Option<Ipv6Addr> {
    let c: Vec<char> = s.chars().collect();
    let mut addr = [0u16; 8];
    let mut piece = 0usize;
    let mut compress: Option<usize> = None;
    let mut p = 0usize;
    if c.first() == Some(&':') {
        if c.get(1) != Some(&':') {
            return None;
        }
        p = 2;
        piece = 1;
        compress = Some(1);
    }
    while p < c.len() {
        if piece == 8 {
            return None;
        }
        if c[p] == ':' {
            if compress.is_some() {
                return None;
            }
            p += 1;
            piece += 1;
            compress = Some(piece);
            continue;
        }
        let mut value: u32 = 0;
        let mut length = 0;
        while length < 4 {
            match c.get(p).and_then(|ch| ch.to_digit(16)) {
                Some(d) => {
                    value = value * 16 + d;
                    p += 1;
                    length += 1;
                }
                None => break,
            }
        }
        if c.get(p) == Some(&'.') {
            if length == 0 || piece > 6 {
                return None;
            }
            p -= length;
            let mut seen = 0;
            while p < c.len() {
                if seen > 0 {
                    if c[p] == '.' && seen < 4 {
                        p += 1;
                    } else {
                        return None;
                    }
                }
                let mut v4: Option<u32> = None;
                if !c.get(p).is_some_and(char::is_ascii_digit) {
                    return None;
                }
                while let Some(d) = c.get(p).and_then(|ch| ch.to_digit(10)) {
                    v4 = match v4 {
                        None => Some(d),
                        Some(0) => return None,
                        Some(n) => Some(n * 10 + d),
                    };
                    if v4.is_some_and(|n| n > 255) {
                        return None;
                    }
                    p += 1;
                }
                let slot = addr.get_mut(piece)?;
                *slot = slot
                    .wrapping_mul(0x100)
                    .wrapping_add(v4.unwrap_or(0) as u16);
                seen += 1;
                if seen == 2 || seen == 4 {
                    piece += 1;
                }
            }
            if seen != 4 {
                return None;
            }
            break;
        } else if c.get(p) == Some(&':') {
            p += 1;
            if p >= c.len() {
                return None;
            }
        } else if p < c.len() {
            return None;
        }
        *addr.get_mut(piece)? = value as u16;
        piece += 1;
    }
    if let Some(comp) = compress {
        let mut swaps = piece - comp;
        let mut i = 7;
        while i != 0 && swaps > 0 {
            addr.swap(i, comp + swaps - 1);
            i -= 1;
            swaps -= 1;
        }
    } else if piece != 8 {
        return None;
    }
    Some(Ipv6Addr::from(addr))
}

/// The RFC 3986 reading of `scheme://authority`: the authority ends at the first `/`, `?` or `#`
/// (a `\` is part of it) and the host follows the last `@`. `None` without `://`.
fn rfc3986_host(input: &str) -> Option<Host> {
    let trimmed = input.trim_matches(|c: char| c <= ' ');
    let (scheme, rest) = trimmed.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if hostport.starts_with('[') {
        hostport
            .split_once(']')
            .map_or(hostport, |(h, _)| &hostport[..h.len() + 1])
    } else {
        hostport.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return None;
    }
    parse_host_special(host).ok()
}

/// Every host a client may reach for `input`: the WHATWG host, the RFC 3986 reading where it
/// differs, and for an opaque host its special reading (curl resolves `gopher://127.1/`). Empty
/// when nothing parses. With `bare`, a value without a scheme is read as `http://` + value (what
/// curl and most HTTP tools do with `10.0.0.5:8080/x`).
pub fn readings(input: &str, bare: bool) -> Result<Vec<Host>, UrlError> {
    let mut out: Vec<Host> = Vec::new();
    let push = |h: Host, out: &mut Vec<Host>| {
        if !out.contains(&h) {
            out.push(h);
        }
    };
    let whatwg = parse(input);
    if let Ok(p) = &whatwg {
        match &p.host {
            Some(Host::Opaque(o)) => {
                push(Host::Opaque(o.clone()), &mut out);
                if let Ok(h) = parse_host_special(o) {
                    push(h, &mut out);
                }
            }
            Some(h) => push(h.clone(), &mut out),
            None => {}
        }
    }
    if let Some(h) = rfc3986_host(input) {
        push(h, &mut out);
    }
    let schemeless = matches!(whatwg, Err(UrlError::NoScheme))
        || whatwg
            .as_ref()
            .is_ok_and(|p| p.host.is_none() && !is_special(&p.scheme))
            && !input.contains("//");
    if bare && schemeless && out.is_empty() {
        let with = format!("http://{}", input.trim_matches(|c: char| c <= ' '));
        match parse(&with) {
            Ok(Parsed { host: Some(h), .. }) => push(h, &mut out),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        if let Some(h) = rfc3986_host(&with) {
            push(h, &mut out);
        }
    }
    match whatwg {
        Err(e) if out.is_empty() => Err(e),
        Ok(p) if out.is_empty() && p.host.is_none() => Err(UrlError::NoHost),
        _ => Ok(out),
    }
}

#[cfg(test)]
#[path = "url_tests.rs"]
mod tests;
